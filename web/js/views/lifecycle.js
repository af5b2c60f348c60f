// lifecycle.js - start / pause / resume / stop / archive (and delete for drafts), each
// behind a confirmation dialog that says what will happen to users. Stopping also
// may record the conclusion (won / lost / inconclusive and notes), which a stopped
// experiment can get, change or clear later ("Record conclusion").

import { api } from '../api.js';
import { h, nextId, confirmDialog, announce } from '../dom.js';
import { fmtSharePct } from '../format.js';

/** The actions an experiment in `status` allows, in display order. */
export function actionsFor(status) {
  switch (status) {
    case 'draft':
      return ['start', 'archive', 'delete'];
    case 'running':
      return ['pause', 'stop'];
    case 'paused':
      return ['resume', 'stop'];
    case 'stopped':
      return ['archive'];
    default:
      return [];
  }
}

const LABEL = { start: 'Start', pause: 'Pause', resume: 'Resume', stop: 'Stop…', archive: 'Archive', delete: 'Delete' };

function variantList(x) {
  return x.variants.map((v) => `${v.key} (${Number((v.weight * 100).toFixed(2))}%)`).join(', ');
}

function explain(action, x) {
  const control = x.variants[0].key;
  const p = (...t) => h('p', {}, ...t);
  switch (action) {
    case 'start':
      return [
        p(`Users who match the targeting${x.coverage < 1 ? ` (${fmtSharePct(x.coverage)} of them)` : ''} will be split between ${variantList(x)}, and their exposures logged.`),
        p('From then on the variants, weights, seed, hash version, namespace and targeting are locked, because changing them would move users between variants.'),
      ];
    case 'pause':
      return [
        p(`Users will get the control (${control}) from /assign, the experiment’s default value from GrowthBook SDKs and their code default from OpenFeature; users in the forced list keep their variant. No new exposures are logged. Data collected so far is kept.`),
        p('When you resume, each user is hashed to the same variant as before.'),
      ];
    case 'resume':
      return [p(`Assignment starts again: each user gets the same variant as before the pause, and exposures are logged.`)];
    case 'stop':
      return [
        p('The experiment ends: no new exposures are logged and the results are final. This cannot be undone.'),
        p(`Without a release users get the control (${control}) from /assign and their code default from SDKs and OpenFeature. If you release a variant, every user gets that variant from now on (no exposures are logged). Either way users in the forced list keep their variant.`),
      ];
    case 'archive':
      // an archived experiment serves nothing (API.md): not its released variant, not its
      // forced users; OpenFeature and GrowthBook SDKs fall back to their code default
      return [
        p('The experiment is hidden from the default list and can no longer be edited or started.'),
        x.released_variant
          ? h('p', { class: 'alert alert-warn', id: 'archive-release' },
            `Services will stop getting the released variant (${x.released_variant}) and get their code default instead: OpenFeature answers “flag not found”, GrowthBook SDKs no longer find the feature, and /assign answers the control (${control}). Make ${x.released_variant} the default in the services’ code before archiving.`)
          : p(`Services get nothing from it any more: OpenFeature and GrowthBook SDKs use their code default, and /assign answers the control (${control}), forced users included.`),
      ];
    case 'delete':
      return [p('The draft is deleted for good. No user has seen it, so nobody is affected.')];
    default:
      return [];
  }
}

const OUTCOMES = [
  ['', 'None', 'no conclusion recorded (yet)'],
  ['won', 'Won', 'a variant beat the control; it ships'],
  ['lost', 'Lost', 'no variant beat the control, or one did harm'],
  ['inconclusive', 'Inconclusive', 'not enough evidence either way'],
];

/**
 * Outcome radios ("None" first) and a notes box; returns {el, value()}: {outcome, notes},
 * or null for none (value() throws when notes are given without an outcome).
 */
function conclusionFields(current) {
  const name = nextId('outcome');
  const radios = OUTCOMES.map(([v, t, hint]) => {
    const id = `${name}-${v || 'none'}`;
    const input = h('input', { type: 'radio', name, id, value: v, checked: (current ? current.outcome : '') === v });
    return { input, el: h('div', { class: 'check' }, input, h('label', { for: id }, h('strong', {}, t), ` — ${hint}`)) };
  });
  const notesId = nextId('notes');
  const notes = h('textarea', { id: notesId, rows: 3, maxlength: '2000', dataset: { field: 'conclusion.notes' } });
  notes.value = (current && current.notes) || '';
  const el = h('div', { class: 'conclusion-fields' },
    h('fieldset', { class: 'checks', dataset: { field: 'conclusion.outcome' } }, h('legend', {}, 'Outcome'), radios.map((r) => r.el)),
    h('div', { class: 'field' }, h('label', { for: notesId }, 'Notes: what did you learn, what ships?'), notes));
  return {
    el,
    value() {
      const picked = radios.find((r) => r.input.checked);
      if (!picked || picked.input.value === '') {
        if (notes.value.trim() !== '') throw new Error('Notes belong to an outcome: choose won, lost or inconclusive, or empty the notes.');
        return null;
      }
      return { outcome: picked.input.value, notes: notes.value.trim() };
    },
  };
}

/**
 * A start refused because the targeting names a saved group that does not exist (400,
 * field targeting, "... saved group 'k', which does not exist: create it with POST
 * /api/v1/saved-groups first"): the same error, said for the dashboard, with a link to
 * the saved-groups page that creates it (the key filled in).
 */
export function missingGroupLink(err) {
  const m = err && err.field === 'targeting' && /saved group '([^']*)', which does not exist/.exec(err.message || '');
  if (!m) return err;
  const k = m[1];
  err.message = `The targeting uses the saved group “${k}”, which does not exist: create it, then start again.`;
  err.link = { href: `#/saved-groups/new?key=${encodeURIComponent(k)}`, text: `Create saved group “${k}”` };
  return err;
}

/**
 * Show the dialog for `action` on experiment `x`; on confirm perform it.
 * Resolves to the updated experiment, {deleted: true}, or null when cancelled.
 */
export async function runLifecycle(x, action) {
  let result = null;
  let releaseSel = null;
  let concl = null;
  const body = [...explain(action, x)];
  if (action === 'stop') {
    const id = nextId('release');
    releaseSel = h(
      'select',
      { id, name: 'release' },
      h('option', { value: '' }, `No release (everyone gets ${x.variants[0].key})`),
      x.variants.map((v) => h('option', { value: v.key }, `Release ${v.key}${v.name && v.name !== v.key ? ` (${v.name})` : ''}`))
    );
    body.push(h('div', { class: 'field' }, h('label', { for: id }, 'Release a variant to everyone'), releaseSel));
    concl = conclusionFields(x.conclusion);
    body.push(h('p', {}, 'Record how it ended, for whoever reads this experiment later (optional; it can be recorded after stopping too):'), concl.el);
  }
  const ok = await confirmDialog({
    title: `${LABEL[action].replace('…', '')} “${x.name || x.key}”?`,
    body,
    confirmLabel: action === 'stop' ? 'Stop experiment' : `${LABEL[action]} experiment`,
    danger: action === 'stop' || action === 'delete' || action === 'archive',
    onConfirm: async () => {
      if (action === 'delete') {
        await api.deleteExperiment(x.key);
        result = { deleted: true };
        return;
      }
      const req = releaseSel && releaseSel.value ? { release: releaseSel.value } : {};
      const c = concl && concl.value();
      if (c) req.conclusion = c;
      try {
        result = await api.lifecycle(x.key, action, req);
      } catch (err) {
        throw missingGroupLink(err);
      }
    },
  });
  if (!ok) return null;
  const verb = { start: 'started', pause: 'paused', resume: 'resumed', stop: 'stopped', archive: 'archived', delete: 'deleted' }[action];
  announce(`Experiment ${x.key} ${verb}${result && result.released_variant ? `; ${result.released_variant} released to everyone` : ''}`, 'ok');
  return result;
}

/** The button row for an experiment (empty for roles that may not write). */
export function lifecycleButtons(ctx, x, onDone) {
  if (!ctx.can('editor')) return null;
  const wrap = h('div', { class: 'lifecycle', role: 'group', 'aria-label': 'Lifecycle' });
  for (const action of actionsFor(x.status)) {
    const btn = h(
      'button',
      { type: 'button', class: ['btn', action === 'start' || action === 'resume' ? 'btn-primary' : action === 'stop' || action === 'delete' ? 'btn-danger' : null], dataset: { action } },
      LABEL[action]
    );
    btn.addEventListener('click', async () => {
      const r = await runLifecycle(x, action);
      if (r) onDone(r, action);
      else btn.focus();
    });
    wrap.append(btn);
  }
  return wrap;
}

/** "Record conclusion" on a stopped experiment (editors): a dialog, then PATCH. */
export function concludeButton(ctx, x, onDone) {
  if (!ctx.can('editor') || x.status !== 'stopped') return null;
  const btn = h('button', { type: 'button', class: 'btn', id: 'record-conclusion' }, x.conclusion ? 'Edit conclusion' : 'Record conclusion');
  btn.addEventListener('click', async () => {
    const concl = conclusionFields(x.conclusion);
    let result = null;
    const ok = await confirmDialog({
      title: `Conclusion of “${x.name || x.key}”`,
      body: concl.el,
      confirmLabel: 'Save conclusion',
      onConfirm: async () => {
        // "None" clears a recorded conclusion
        result = await api.updateExperiment(x.key, { conclusion: concl.value() });
      },
    });
    if (!ok) {
      btn.focus();
      return;
    }
    announce(result.conclusion ? `Conclusion of ${x.key} saved` : `Conclusion of ${x.key} cleared`, 'ok');
    onDone(result, 'conclude');
  });
  return btn;
}

// lifecycle.js - start / pause / resume / stop / archive (and delete for drafts), each
// behind a confirmation dialog that says what will happen to users. Stopping also
// may record the conclusion (won / lost / inconclusive, the variant that won, and notes),
// which a stopped experiment can get, change or clear later ("Record conclusion").

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

/**
 * The share of the users who match the targeting that enter: the coverage of the
 * namespace (layer) range's share, e.g. " (45% of them: 90% of namespace checkout-layer's
 * range [0, 0.5), which holds 50%)"; "" when all of them do.
 */
function whoEnters(x) {
  const cov = typeof x.coverage === 'number' ? x.coverage : 1;
  const ns = x.namespace && Array.isArray(x.namespace.range) ? x.namespace : null;
  const width = ns ? Math.max(0, ns.range[1] - ns.range[0]) : 1;
  if (cov >= 1 && width >= 1) return '';
  if (!ns || width >= 1) return ` (${fmtSharePct(cov)} of them)`;
  const range = `namespace ${ns.name}’s range [${ns.range[0]}, ${ns.range[1]}), which holds ${fmtSharePct(width)}`;
  return ` (${fmtSharePct(cov * width)} of them: ${cov < 1 ? `${fmtSharePct(cov)} of ` : 'all of '}${range})`;
}

/** A JSON value as the dialogs show it: rendered, cut at 60 characters. */
function jsonText(v) {
  const t = JSON.stringify(v);
  return t.length > 60 ? `${t.slice(0, 59)}…` : t;
}

/** What variant v serves (API.md "Variant values"): its value, else its key as a string. */
const variantValue = (v) => (v.value === undefined || v.value === null ? v.key : v.value);

/**
 * What /assign answers a user who is not forced while x is paused, stopped without a
 * release, or archived (anyone then): its default value when it has one, else the
 * control's value, which is its key when the variants have no values (API.md "Not
 * running, per surface"; experiment_assigned_value in src/core/experiment.c), e.g.
 * 'the default value ("Buy")', 'the control’s value (10)' or 'the control’s key ("a")'.
 */
function notRunningText(x) {
  if (x.default_value !== undefined && x.default_value !== null) return `the default value (${jsonText(x.default_value)})`;
  const c = x.variants[0];
  if (c.value === undefined || c.value === null) return `the control’s key (${jsonText(c.key)})`;
  return `the control’s value (${jsonText(c.value)})`;
}

function explain(action, x) {
  const p = (...t) => h('p', {}, ...t);
  switch (action) {
    case 'start':
      return [
        p(`Users who match the targeting${whoEnters(x)} will be split between ${variantList(x)}, and their exposures logged.`),
        p('From then on the variants, weights, seed, hash version, namespace and targeting are locked, because changing them would move users between variants.'),
        // it may still start (a rollout watched by its exposures alone), but say so
        (x.metrics || []).length === 0
          ? h('p', { class: 'alert alert-warn', id: 'start-no-metrics' }, 'This experiment has no metrics: results will only show exposures. Edit it to add metrics first, or start it anyway.')
          : null,
      ];
    case 'pause':
      return [
        p(`Users will get ${notRunningText(x)} from /assign, the experiment’s default value from GrowthBook SDKs and their code default from OpenFeature; users in the forced list keep their variant. No new exposures are logged. Data collected so far is kept.`),
        p('When you resume, each user is hashed to the same variant as before.'),
      ];
    case 'resume':
      return [p(`Assignment starts again: each user gets the same variant as before the pause, and exposures are logged.`)];
    case 'stop':
      return [
        p('The experiment ends: no new exposures are logged and the results are final. This cannot be undone.'),
        p(`Without a release users get ${notRunningText(x)} from /assign and their code default from SDKs and OpenFeature. If you release a variant, every user gets that variant from now on (no exposures are logged). Either way users in the forced list keep their variant.`),
      ];
    case 'archive': {
      // an archived experiment serves nothing (API.md): not its released variant, not its
      // forced users; OpenFeature and GrowthBook SDKs fall back to their code default and
      // /assign answers as for a stopped one without a release (notRunningText)
      const rel = x.released_variant && x.variants.find((v) => v.key === x.released_variant);
      const relValue = rel ? jsonText(variantValue(rel)) : '';
      return [
        p('The experiment is hidden from the default list and can no longer be edited or started.'),
        x.released_variant
          ? h('p', { class: 'alert alert-warn', id: 'archive-release' },
            `Services will stop getting the released variant ${x.released_variant}${rel ? ` (${relValue})` : ''} and get their code default instead: OpenFeature answers “flag not found”, GrowthBook SDKs no longer find the feature, and /assign answers ${notRunningText(x)}, forced users included. Make ${rel ? `${relValue} (variant ${x.released_variant})` : x.released_variant} the default in the services’ code before archiving.`)
          : p(`Services get nothing from it any more: OpenFeature and GrowthBook SDKs use their code default, and /assign answers ${notRunningText(x)}, forced users included.`),
      ];
    }
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
 * "Won" says a variant beat the control and ships: with the control released, or nothing
 * released (users then get what notRunningText says), nothing ships. The warning for
 * that, or null when the outcome and the release agree; it does not block (a PM may
 * record a win that ships later, in code). `stopping`: the release can still be chosen.
 */
function wonWarning(x, outcome, release, stopping) {
  if (outcome !== 'won') return null;
  const control = x.variants[0].key;
  const ask = stopping ? 'Did you mean Lost or Inconclusive, or to release the variant that won?' : 'Did you mean Lost or Inconclusive?';
  if (release === control) {
    return `Won, but the control (${control}) is released: everyone gets what they had before the experiment. ${ask}`;
  }
  if (!release) {
    return `Won, but no variant is released: /assign answers ${notRunningText(x)} and SDKs their code default, so no winner ships from here. ${ask}`;
  }
  return null;
}

/** A variant as the dialogs name it: its key, and its name when it has another. */
const variantLabel = (v) => (v.name && v.name !== v.key ? `${v.key} (${v.name})` : v.key);

/**
 * Outcome radios ("None" first), a "Winner" select of the variants (shown and enabled only
 * with "Won") and a notes box; returns {el, value(), check()}: value() is {outcome, notes}
 * plus, with "won", winner (a variant key, or null for "Not recorded"), or null for no
 * conclusion (it throws when notes are given without an outcome).
 * `releaseOf()` tells the variant released (or "" for none) for the warning wonWarning
 * shows below the radios (`stopping`: in the Stop dialog, where the release is chosen);
 * check() updates it (call it when the release changes). The winner starts as the recorded
 * one of a "won" conclusion, else as the released variant, which it follows until the
 * winner is picked by hand.
 */
function conclusionFields(current, x, releaseOf, stopping) {
  const name = nextId('outcome');
  const radios = OUTCOMES.map(([v, t, hint]) => {
    const id = `${name}-${v || 'none'}`;
    const input = h('input', { type: 'radio', name, id, value: v, checked: (current ? current.outcome : '') === v });
    return { input, el: h('div', { class: 'check' }, input, h('label', { for: id }, h('strong', {}, t), ` — ${hint}`)) };
  });
  const winnerId = nextId('winner');
  const winner = h(
    'select',
    { id: winnerId, name: 'winner', class: 'winner-select', dataset: { field: 'conclusion.winner' } },
    h('option', { value: '' }, 'Not recorded'),
    x.variants.map((v) => h('option', { value: v.key }, variantLabel(v)))
  );
  // a recorded (or kept) "won" conclusion's winner as it is; else the released variant
  let pickedByHand = Boolean(current && current.outcome === 'won' && current.winnerByHand !== false);
  const known = (k) => x.variants.some((v) => v.key === k);
  const first = pickedByHand ? current.winner || '' : releaseOf();
  winner.value = known(first) ? first : '';
  winner.addEventListener('change', () => { pickedByHand = true; });
  const winnerField = h('div', { class: 'field winner-field' }, h('label', { for: winnerId }, 'Winner'), winner);
  const notesId = nextId('notes');
  const notes = h('textarea', { id: notesId, rows: 3, maxlength: '2000', dataset: { field: 'conclusion.notes' } });
  notes.value = (current && current.notes) || '';
  const warn = h('p', { class: 'alert alert-warn won-warning', 'aria-live': 'polite', hidden: true });
  const picked = () => radios.find((r) => r.input.checked);
  const won = () => { const p = picked(); return Boolean(p && p.input.value === 'won'); };
  const check = () => {
    const p = picked();
    const said = wonWarning(x, p ? p.input.value : '', releaseOf(), stopping);
    warn.textContent = said || '';
    warn.hidden = !said;
    if (!pickedByHand) winner.value = known(releaseOf()) ? releaseOf() : '';
    winnerField.hidden = !won();
    winner.disabled = !won();
  };
  for (const r of radios) r.input.addEventListener('change', check);
  check();
  // notes without an outcome: said beside "Outcome", the group marked, focus on its radio
  const outcomeMsgId = nextId('outcome-error');
  const outcomeMsg = h('p', { class: 'field-error', id: outcomeMsgId, hidden: true });
  const outcomeSet = h('fieldset', { class: 'checks', dataset: { field: 'conclusion.outcome' } }, h('legend', {}, 'Outcome'), outcomeMsg, radios.map((r) => r.el));
  const clearOutcomeError = () => {
    outcomeMsg.hidden = true;
    outcomeSet.removeAttribute('aria-invalid');
    outcomeSet.removeAttribute('aria-describedby');
    notes.removeAttribute('aria-invalid');
    notes.removeAttribute('aria-describedby');
  };
  for (const r of radios) r.input.addEventListener('change', clearOutcomeError);
  notes.addEventListener('input', clearOutcomeError);
  const outcomeError = (message) => {
    outcomeMsg.textContent = message;
    outcomeMsg.hidden = false;
    for (const el of [outcomeSet, notes]) {
      el.setAttribute('aria-invalid', 'true');
      el.setAttribute('aria-describedby', outcomeMsgId);
    }
    (picked() || radios[0]).input.focus();
    return Object.assign(new Error(message), { shownInField: true });
  };
  const el = h('div', { class: 'conclusion-fields' },
    outcomeSet,
    warn,
    winnerField,
    h('div', { class: 'field' }, h('label', { for: notesId }, 'Notes: what did you learn, what ships?'), notes));
  return {
    el,
    check,
    /** What is chosen and typed, unchecked ({outcome, winner, winnerByHand, notes}): kept
     * through a sign-in. */
    state() {
      const p = picked();
      return { outcome: p ? p.input.value : '', winner: winner.value, winnerByHand: pickedByHand, notes: notes.value };
    },
    value() {
      const p = picked();
      if (!p || p.input.value === '') {
        if (notes.value.trim() !== '') throw outcomeError('Notes belong to an outcome: choose won, lost or inconclusive, or empty the notes.');
        return null;
      }
      const c = { outcome: p.input.value, notes: notes.value.trim() };
      if (c.outcome === 'won') c.winner = winner.value || null;
      return c;
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

const VERB = { start: 'started', pause: 'paused', resume: 'resumed', stop: 'stopped', archive: 'archived', delete: 'deleted' };
const BUSY = { start: 'Starting…', pause: 'Pausing…', resume: 'Resuming…', stop: 'Stopping…', archive: 'Archiving…', delete: 'Deleting…', conclude: 'Saving…' };

/**
 * A dialog whose request met a 401 (the key was revoked or expired): the sign-in form
 * replaces the page, so the dialog closes, and what it held ({hash, key, action, release,
 * conclusion}) is kept in this page's memory until the experiment's page renders again
 * after the sign-in and opens it again, filled in.
 */
let held = null;

function holdDialog(key, action, release, concl) {
  held = { hash: location.hash, key, action, release, conclusion: concl ? concl.state() : null };
  const e = new Error('Signed out');
  e.status = 401;
  e.closeDialog = true;
  return e;
}

/** The dialog kept through a sign-in for experiment `x` on this page, once; or null. */
function takeHeld(x) {
  if (!held || held.key !== x.key || held.hash !== location.hash) return null;
  const kept = held;
  held = null;
  return kept;
}

/** A dialog closed by a 401 gives the focus back to nothing: the sign-in form takes it. */
function signInFocus() {
  const input = held && document.querySelector('form.signin input');
  if (input) input.focus();
}

const keptNote = () => h('p', { class: 'alert alert-info dialog-kept' }, 'You signed in again: what you had chosen and typed is kept. Nothing was done yet.');

/**
 * A 412 (someone else changed the experiment since this page loaded it): read it again
 * (which also takes its new version for the next try) and say whether `action` still
 * applies. Returns the error to show; `ui` renames the confirm button when it does.
 */
async function staleError(x, action, ui) {
  let fresh;
  try {
    fresh = await api.getExperiment(x.key);
  } catch (err) {
    return err;
  }
  const applies = action === 'conclude' ? fresh.status === 'stopped' : actionsFor(fresh.status).includes(action);
  const word = action === 'conclude' ? 'Save' : LABEL[action].replace('…', '');
  if (applies) {
    ui.setConfirmLabel(`${word} anyway`);
    return new Error(`Someone else changed this experiment since you opened the page (it is ${fresh.status} now). ` +
      `Your choices are kept: choose “${word} anyway” to go ahead with the latest version, or Cancel to see it first.`);
  }
  return new Error(`Someone else changed this experiment since you opened the page: it is ${fresh.status} now, ` +
    `so it can no longer be ${VERB[action] || 'changed'} this way. Cancel to see it as it is.`);
}

/**
 * Show the dialog for `action` on experiment `x`; on confirm perform it. `kept` is what a
 * dialog held through a sign-in (takeHeld). Resolves to {ok: true, result} (the updated
 * experiment, or {deleted: true}) once done, or {ok: false, asked} when not, `asked`
 * telling whether a request reached for the server (the page then shows its real state).
 */
export async function runLifecycle(x, action, kept = null) {
  let result = null;
  let releaseSel = null;
  let concl = null;
  let asked = false;
  const body = [kept ? keptNote() : null, ...explain(action, x)];
  if (action === 'stop') {
    const id = nextId('release');
    releaseSel = h(
      'select',
      { id, name: 'release', class: 'release-select' },
      h('option', { value: '' }, `No release (/assign answers ${notRunningText(x)})`),
      x.variants.map((v) => h('option', { value: v.key }, `Release ${v.key}${v.name && v.name !== v.key ? ` (${v.name})` : ''}`))
    );
    if (kept && kept.release) releaseSel.value = kept.release;
    body.push(h('div', { class: 'field' }, h('label', { for: id }, 'Release a variant to everyone'), releaseSel));
    concl = conclusionFields(kept && kept.conclusion ? kept.conclusion : x.conclusion, x, () => releaseSel.value, true);
    releaseSel.addEventListener('change', concl.check);
    body.push(h('p', {}, 'Record how it ended, for whoever reads this experiment later (optional; it can be recorded after stopping too):'), concl.el);
  }
  const ok = await confirmDialog({
    title: `${LABEL[action].replace('…', '')} “${x.name || x.key}”?`,
    body,
    confirmLabel: action === 'stop' ? 'Stop experiment' : `${LABEL[action]} experiment`,
    busyLabel: BUSY[action],
    danger: action === 'stop' || action === 'delete' || action === 'archive',
    onConfirm: async (form, ui) => {
      const req = releaseSel && releaseSel.value ? { release: releaseSel.value } : {};
      const c = concl && concl.value();
      if (c) req.conclusion = c;
      asked = true;
      try {
        if (action === 'delete') {
          await api.deleteExperiment(x.key);
          result = { deleted: true };
        } else {
          result = await api.lifecycle(x.key, action, req);
        }
      } catch (err) {
        if (err.status === 401) throw holdDialog(x.key, action, releaseSel && releaseSel.value, concl);
        if (err.status === 412) throw await staleError(x, action, ui);
        throw missingGroupLink(err);
      }
    },
  });
  if (!ok) return { ok: false, asked };
  announce(`Experiment ${x.key} ${VERB[action]}${result && result.released_variant ? `; ${result.released_variant} released to everyone` : ''}`, 'ok');
  return { ok: true, result };
}

/**
 * The button row for an experiment (empty for roles that may not write). `onDone(r,
 * action)` runs once an action is done, or with action "refresh" when a request was made
 * but the dialog ended without it (an error, a 412): the page then shows the server's
 * state. Neither runs once the page was left meanwhile (the toast says what happened).
 */
export function lifecycleButtons(ctx, x, onDone) {
  if (!ctx.can('editor')) return null;
  const wrap = h('div', { class: 'lifecycle', role: 'group', 'aria-label': 'Lifecycle' });
  const run = async (btn, action, kept) => {
    const r = await runLifecycle(x, action, kept);
    if (!ctx.alive()) return signInFocus();
    if (r.ok) onDone(r.result, action);
    else if (r.asked) onDone(null, 'refresh');
    else btn.focus();
  };
  const kept = held && held.action !== 'conclude' ? takeHeld(x) : null;
  for (const action of actionsFor(x.status)) {
    const btn = h(
      'button',
      { type: 'button', class: ['btn', action === 'start' || action === 'resume' ? 'btn-primary' : action === 'stop' || action === 'delete' ? 'btn-danger' : null], dataset: { action } },
      LABEL[action]
    );
    btn.addEventListener('click', () => run(btn, action, null));
    wrap.append(btn);
    if (kept && kept.action === action) setTimeout(() => wrap.isConnected && run(btn, action, kept), 0);
  }
  if (kept && !actionsFor(x.status).includes(kept.action)) {
    announce(`Not ${VERB[kept.action]}: the experiment is ${x.status} now.`, 'error');
  }
  return wrap;
}

/** "Record conclusion" on a stopped experiment (editors): a dialog, then PATCH. */
export function concludeButton(ctx, x, onDone) {
  if (!ctx.can('editor') || x.status !== 'stopped') return null;
  const btn = h('button', { type: 'button', class: 'btn', id: 'record-conclusion' }, x.conclusion ? 'Edit conclusion' : 'Record conclusion');
  const open = async (kept) => {
    const concl = conclusionFields(kept ? kept.conclusion : x.conclusion, x, () => x.released_variant || '', false);
    let result = null;
    let asked = false;
    const ok = await confirmDialog({
      title: `Conclusion of “${x.name || x.key}”`,
      body: [kept ? keptNote() : null, concl.el],
      confirmLabel: 'Save conclusion',
      busyLabel: BUSY.conclude,
      onConfirm: async (form, ui) => {
        // "None" clears a recorded conclusion
        const c = concl.value();
        asked = true;
        try {
          result = await api.updateExperiment(x.key, { conclusion: c });
        } catch (err) {
          if (err.status === 401) throw holdDialog(x.key, 'conclude', null, concl);
          if (err.status === 412) throw await staleError(x, 'conclude', ui);
          throw err;
        }
      },
    });
    if (ok) announce(result.conclusion ? `Conclusion of ${x.key} saved` : `Conclusion of ${x.key} cleared`, 'ok');
    if (!ctx.alive()) return signInFocus();
    if (!ok) {
      if (asked) onDone(null, 'refresh');
      else btn.focus();
      return;
    }
    onDone(result, 'conclude');
  };
  btn.addEventListener('click', () => open(null));
  const kept = held && held.action === 'conclude' ? takeHeld(x) : null;
  if (kept) setTimeout(() => btn.isConnected && open(kept), 0);
  return btn;
}

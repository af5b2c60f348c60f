// experiment_form.js - create and edit an experiment. Server validation errors land
// next to the control their `field` names ("variants[1].weight"); the fields the API
// refuses to change in the experiment's status (experiment_rules.js: a running or paused
// experiment's assignment, a stopped one's results too) are read-only with the reason
// shown. Leaving the form with changes not saved asks first (leave.js); when someone else
// saved the experiment meanwhile (412), the form reloads it and puts the person's changes
// back on top where they do not collide, showing those that do (merge.js); so does a sign-in
// after the key stopped working mid-edit.

import { api } from '../api.js';
import { h, clear, fill, errorBox, field, nextId, announce, clearFieldErrors, confirmDialog } from '../dom.js';
import { showErrors, serverErrors, badNumberProblems, mergeProblems } from '../validate.js';
import { targetingEditor } from './targeting.js';
import { guardLeaving, takeDraft, whileSaving, leaveAfterSave } from '../leave.js';
import { changedFields, mergeNote, takeMine, fieldOf, draftOnTop, reloadAfterStale } from '../merge.js';
import { pctText, frozenFields, coverageOnlyUp, lockReason, experimentProblems, refusedChange } from './experiment_rules.js';

function numOrNull(text) {
  const t = String(text).trim();
  if (t === '') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : t; // a non-number goes to the server, which names the field
}

/** Make the controls `els` read-only (text) or disabled (the rest), with a reason. */
function lockControls(els, reasonId) {
  for (const el of els) {
    if ((el.tagName === 'INPUT' && /^(text|number|search)$/.test(el.type)) || el.tagName === 'TEXTAREA') el.readOnly = true;
    else el.disabled = true;
    const ids = (el.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
    ids.push(reasonId);
    el.setAttribute('aria-describedby', ids.join(' '));
  }
}

/** Make every control inside `box` read-only or disabled, with a reason. */
function lockWithin(box, reasonId) {
  lockControls(box.querySelectorAll('input, select, textarea, button'), reasonId);
}

const BLANK = {
  key: '', name: '', description: '', hypothesis: '', owner: '',
  variants: [
    { key: 'control', name: 'Control', weight: 0.5 },
    { key: 'treatment', name: 'Treatment', weight: 0.5 },
  ],
  coverage: 1, seed: '', hash_version: 2, namespace: null, targeting: {}, forced: {},
  metrics: [], primary_metric: null, guardrails: [], sequential_tuning: 5000,
  analysis: { method: 'frequentist', alpha: 0.05, cuped: true, correction: 'none' },
  hash_attribute: 'id', fallback_attribute: null,
  status: 'draft',
};

// what the merge notice calls each field of the body
const FIELD_LABEL = {
  name: 'Name', owner: 'Owner', hypothesis: 'Hypothesis', description: 'Description',
  variants: 'Variants', default_value: 'Default value', coverage: 'Coverage', namespace: 'Namespace',
  seed: 'Seed', hash_version: 'Hash version', hash_attribute: 'Hashed attribute',
  fallback_attribute: 'Fallback attribute', targeting: 'Targeting', forced: 'Forced users',
  metrics: 'Metrics', guardrails: 'Guardrails', primary_metric: 'Primary metric',
  dimensions: 'Breakdown dimensions', sequential_tuning: 'Sequential tuning',
  mde: 'Minimum detectable effect', analysis: 'Analysis defaults',
};

// How fields both sides changed merge after a 412 or a sign-in (merge.js): the analysis
// defaults key by key, forced users user by user, variants by variant key and field; the
// targeting rules stay whole, and "Use mine" says it replaces the other person's.
const MERGE_SHAPES = { analysis: 'keys', forced: 'keys', variants: 'byKey', targeting: 'replace' };

export async function renderExperimentForm(ctx, key) {
  const editing = !!key;
  ctx.title(editing ? `Edit ${key}` : 'New experiment');
  let catalogue;
  let x;
  let others;
  try {
    [catalogue, x, others] = await Promise.all([
      api.listMetrics(),
      editing ? api.getExperiment(key) : Promise.resolve(null),
      editing ? Promise.resolve([]) : api.listExperiments().catch(() => []),
    ]);
  } catch (err) {
    if (!ctx.alive() || err.status === 401) return;
    fill(ctx.main, h('h1', {}, editing ? `Edit ${key}` : 'New experiment'), errorBox(err));
    return;
  }
  if (!ctx.alive()) return;
  x = x ? structuredClone(x) : structuredClone(BLANK);
  if (x.status === 'archived') {
    fill(ctx.main,
      h('h1', {}, `Edit ${x.name || x.key}`),
      h('p', { class: 'alert alert-warn' }, 'Archived experiments cannot be edited.'),
      h('p', {}, h('a', { href: `#/experiments/${encodeURIComponent(x.key)}` }, 'Back to the experiment'))
    );
    return;
  }
  // v1.1 fields this server may not know: with no experiment yet there is nothing to tell,
  // and this dashboard ships with a server that knows them
  const knows = (f) => (editing ? f in x : others.some((o) => f in o) || others.length === 0);
  const env = { editing, catalogue, hasMde: knows('mde'), hasDims: knows('dimensions'), hasHashAttr: knows('hash_attribute') };
  // changes typed before a sign-in (leave.js): back on top of the version just loaded
  const draft = takeDraft();
  if (draft) {
    let now;
    try {
      now = buildForm(env, x, x, { live: false }).buildPayload();
    } catch {
      now = {};
    }
    const { doc, note } = draftOnTop(draft, x, now, refusedChange(x.status), MERGE_SHAPES);
    showForm(ctx, env, doc, x, note);
  } else showForm(ctx, env, x, x, null);
}

/**
 * An edit that changes the primary metric of a running or paused experiment: ask first, as
 * its decision (the headline, the verdict) is then based on another metric, after data
 * came in. Resolves true to save (no such change, or confirmed).
 */
async function primaryChangeOk(stored, payload) {
  if (!('primary_metric' in payload) || (stored.status !== 'running' && stored.status !== 'paused')) return true;
  const was = stored.primary_metric || 'none';
  const now = payload.primary_metric || 'none';
  return confirmDialog({
    title: 'Change the primary metric?',
    body: [
      h('p', {}, `Changing the primary metric of a ${stored.status} experiment changes what its decision is based on: from ${was} to ${now}.`),
      h('p', {}, 'Choosing the decision metric after looking at the results makes a false win more likely. Change it only for a reason decided before the data came in.'),
    ],
    confirmLabel: 'Change and save',
  });
}

/**
 * Render the form into the page: `doc` is what it shows, `stored` the experiment as the
 * server has it (its status decides the locks; an edit sends what differs from it), `note`
 * the merge after a 412 ({mine, apply, conflicts, frozen}) or null.
 */
function showForm(ctx, env, doc, stored, note) {
  const { editing } = env;
  const f = buildForm(env, doc, stored, { live: true });
  // the version loaded (for a new experiment: the blank form), read from controls as the
  // shown form reads its own, so an untouched field is never a change
  const base = doc === stored ? f : buildForm(env, stored, stored, { live: false });
  let baseline;
  try {
    baseline = base.buildPayload();
  } catch {
    baseline = null; // then an edit sends every field
  }
  // the fields of payload `p` that differ from the version loaded
  const changed = (p) => changedFields(baseline, p);
  // what the person changed so far: a field that cannot be read keeps the last re-applied edits
  const mineSoFar = () => {
    try {
      return changed(f.buildPayload());
    } catch {
      return note ? note.apply : {};
    }
  };
  const release = guardLeaving(f.form, () => !baseline || Object.keys(changed(f.buildPayload())).length > 0, () => ({ was: baseline, mine: mineSoFar() }));

  // re-render with the person's changes so far kept, plus `extra` (fields to set)
  const rerender = (nextEnv, extra, nextNote) => {
    const { key, status, ...edits } = mineSoFar();
    showForm(ctx, nextEnv, { ...stored, ...(key === undefined ? {} : { key }), ...edits, ...extra }, stored, nextNote);
  };
  f.onReloadMetrics(async () => {
    try {
      const catalogue = await api.listMetrics();
      if (!ctx.alive()) return;
      rerender({ ...env, catalogue }, {}, note);
      announce(`Metrics reloaded: ${catalogue.length} in the catalogue`, 'ok');
    } catch (err) {
      if (err.status !== 401) announce(`The metrics could not be reloaded: ${err.message}`, 'error');
    }
  });

  // "Use mine" on a field, or a part of one (merge.js): into the field as the form has it now
  const useMine = (id) => {
    const field = fieldOf(note, id);
    let current;
    try {
      current = f.buildPayload()[field];
    } catch {
      current = undefined;
    }
    const next = takeMine(note, id, current);
    rerender(env, { [field]: next.apply[field] }, next);
  };
  const noteEl = note ? mergeNote(note, { what: 'experiment', labels: FIELD_LABEL, useMine }) : null;

  const afterStale = (mine) => reloadAfterStale({
    ctx,
    what: 'experiment',
    load: () => api.getExperiment(stored.key),
    payloadOf: (fresh) => buildForm(env, fresh, fresh, { live: false }).buildPayload(),
    was: baseline,
    mine,
    refuse: (fresh) => refusedChange(fresh.status),
    shapes: MERGE_SHAPES,
    gone: (fresh) => (fresh.status === 'archived' ? 'Someone else archived this experiment since you opened it: archived experiments cannot be edited, so nothing was saved. Your changes are still in the form.' : null),
    summary: f.summary,
    show: (doc, fresh, next) => showForm(ctx, env, doc, fresh, next),
  });

  f.form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(f.form);
    // a mistyped number reads as "": never send it as null or leave the field out
    const badNumbers = badNumberProblems(f.form);
    const running = editing && coverageOnlyUp(stored.status) ? { status: stored.status, coverage: stored.coverage ?? 1 } : null;
    let payload;
    try {
      payload = f.buildPayload();
    } catch (err) {
      // values that are not JSON, and with them every other problem of the form, at once
      const notJson = err.problems || [{ field: err.field || '', message: err.message }];
      const unparsed = new Set(notJson.map((q) => q.field));
      const rest = err.payload ? experimentProblems(err.payload, { forcedDupes: f.forcedDupes(), running, unparsed }) : [];
      showErrors(f.form, mergeProblems(badNumbers, [...notJson, ...rest]), f.summary);
      return;
    }
    const problems = mergeProblems(badNumbers, experimentProblems(payload, { forcedDupes: f.forcedDupes(), running }));
    if (showErrors(f.form, problems, f.summary)) return;
    if (editing) {
      payload = changed(payload);
      if (Object.keys(payload).length === 0) {
        release();
        announce('Nothing changed', 'ok');
        ctx.navigate(`#/experiments/${encodeURIComponent(stored.key)}`);
        return;
      }
    }
    if (editing && !(await primaryChangeOk(stored, payload))) return;
    f.saveBtn.disabled = true;
    try {
      const saved = await whileSaving(editing ? api.updateExperiment(stored.key, payload) : api.createExperiment(payload));
      release();
      announce(editing ? 'Experiment saved' : 'Experiment created', 'ok');
      if (ctx.alive()) ctx.navigate(leaveAfterSave(`#/experiments/${encodeURIComponent(saved.key)}`));
    } catch (err) {
      if (err.status === 401) return;
      if (err.status === 412 && editing) {
        await afterStale(payload);
      } else if (!err.field) {
        f.summary.append(errorBox(err, err.status === 409 ? 'Conflict:' : 'Not saved:'));
        f.summary.focus();
      } else {
        showErrors(f.form, serverErrors(err), f.summary);
      }
    } finally {
      f.saveBtn.disabled = false;
    }
  });

  fill(ctx.main,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/experiments' }, 'Experiments'), editing ? [' / ', h('a', { href: `#/experiments/${encodeURIComponent(stored.key)}` }, stored.key)] : null),
    h('h1', {}, editing ? `Edit ${stored.name || stored.key}` : 'New experiment'),
    editing ? h('p', { class: 'muted' }, `Status: ${stored.status}`) : null,
    noteEl,
    f.form
  );
}

/**
 * The form's controls for `doc`, locked as `stored.status` requires. `live` false builds a
 * copy that is never shown (to read the payload of a version): it asks the server nothing.
 * Returns {form, summary, saveBtn, buildPayload(), forcedDupes(), onReloadMetrics(fn)}.
 */
function buildForm(env, doc, stored, { live }) {
  const { editing, catalogue, hasMde, hasDims, hasHashAttr } = env;
  const x = doc;
  const status = editing ? stored.status : 'draft';
  const frozen = frozenFields(status);
  const assignLocked = frozen.has('variants');
  const resultsLocked = frozen.has('metrics');
  const upOnly = coverageOnlyUp(status);
  const lockId = nextId('lock');
  const lockNote = (id, what) => {
    const { lead, reason } = lockReason(status, what);
    return h('p', { class: 'lock-note', id }, h('strong', {}, lead), reason);
  };

  const form = h('form', { class: 'exp-form', novalidate: true });
  // Enter in a one-line field does not submit this long form (a PM "confirming" a table
  // cell created a half-made experiment): only the Create / Save button does
  form.addEventListener('keydown', (e) => {
    const t = e.target;
    if (e.key === 'Enter' && t instanceof HTMLInputElement && !['submit', 'button', 'reset', 'image'].includes(t.type)) e.preventDefault();
  });
  const summary = h('div', { class: 'form-errors', tabindex: '-1' });

  // ---- basics
  const keyIn = h('input', { type: 'text', name: 'key', value: x.key, required: true, autocomplete: 'off', spellcheck: 'false', readonly: editing });
  const nameIn = h('input', { type: 'text', name: 'name', value: x.name, autocomplete: 'off' });
  const ownerIn = h('input', { type: 'text', name: 'owner', value: x.owner, autocomplete: 'off' });
  const hypoIn = h('textarea', { name: 'hypothesis', rows: 2 });
  hypoIn.value = x.hypothesis || '';
  const descIn = h('textarea', { name: 'description', rows: 2 });
  descIn.value = x.description || '';
  const basics = h(
    'fieldset', { class: 'section' }, h('legend', {}, 'Basics'),
    h('div', { class: 'grid-2' },
      field('Key', keyIn, { field: 'key', hint: editing ? 'The key cannot change.' : 'Lower-case letters, digits, “_”, “.”, “-”; used by SDKs.' }).wrap,
      field('Name', nameIn, { field: 'name', hint: 'Empty: the key. At most 200 bytes (UTF-8).' }).wrap,
      field('Owner', ownerIn, { field: 'owner', hint: 'Who to ask about this experiment.' }).wrap),
    field('Hypothesis', hypoIn, { field: 'hypothesis', hint: 'What change do you expect, and why?' }).wrap,
    field('Description', descIn, { field: 'description' }).wrap
  );

  // ---- variants
  // id: stable while keys are typed, so a forced user stays with its variant through a
  // rename; value: the JSON text of the variant's value, '' = none (the value is the key)
  let vids = 0;
  // a new experiment's default names ("Control", "Treatment") belong to their default keys:
  // a key typed over one clears its untouched name (the key then names the variant), else
  // a variant keyed "green" was called "Treatment" in every decision (review dash36 F2)
  const variants = x.variants.map((v) => ({ id: ++vids, key: v.key, name: v.name || '', weight: v.weight, value: v.value === undefined || v.value === null ? '' : JSON.stringify(v.value), autoName: !editing && !!v.name }));
  const varRows = h('tbody');
  const sumOut = h('output', { class: 'sum-check', 'aria-live': 'polite' });
  const addVar = h('button', { type: 'button', class: 'btn btn-small' }, 'Add variant');
  const splitBtn = h('button', { type: 'button', class: 'btn btn-small' }, 'Split evenly');

  const updateSum = () => {
    const total = variants.reduce((s, v) => s + (Number.isFinite(v.weight) ? v.weight : NaN), 0);
    const ok = Number.isFinite(total) && Math.abs(total - 1) <= 1e-6;
    sumOut.textContent = Number.isFinite(total)
      ? `Total ${pctText(total)}%${ok ? ' ✓' : ' — weights must add up to 100%'}`
      : 'Total: every weight needs a number';
    sumOut.classList.toggle('sum-bad', !ok);
    sumOut.classList.toggle('sum-ok', ok);
  };

  const renderVariants = (focusIndex) => {
    clear(varRows);
    let focusKey = null;
    variants.forEach((v, i) => {
      const kIn = h('input', { type: 'text', value: v.key, 'aria-label': `Variant ${i + 1} key`, autocomplete: 'off', spellcheck: 'false', dataset: { field: `variants[${i}].key` } });
      const nIn = h('input', { type: 'text', value: v.name, 'aria-label': `Variant ${i + 1} name`, autocomplete: 'off', dataset: { field: `variants[${i}].name` } });
      const wIn = h('input', { type: 'number', value: pctText(v.weight), min: '0', max: '100', step: 'any', inputmode: 'decimal', 'aria-label': `Variant ${i + 1} weight (percent)`, dataset: { field: `variants[${i}].weight` } });
      const vIn = h('input', { type: 'text', value: v.value, placeholder: 'JSON, e.g. true', 'aria-label': `Variant ${i + 1} value (JSON)`, autocomplete: 'off', spellcheck: 'false', class: 'mono', dataset: { field: `variants[${i}].value` } });
      vIn.addEventListener('input', () => { v.value = vIn.value; });
      const rm = h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': `Remove variant ${i + 1}`, disabled: variants.length <= 2 }, '✕');
      kIn.addEventListener('input', () => {
        v.key = kIn.value.trim();
        if (v.autoName) {
          v.autoName = false;
          v.name = '';
          nIn.value = '';
        }
        renderForcedOptions();
      });
      nIn.addEventListener('input', () => { v.name = nIn.value; v.autoName = false; });
      wIn.addEventListener('input', () => { v.weight = wIn.value.trim() === '' ? NaN : Number(wIn.value) / 100; updateSum(); });
      rm.addEventListener('click', () => {
        variants.splice(i, 1);
        renderVariants(Math.max(0, i - 1));
        renderForcedOptions();
        const orphans = forced.filter((r) => r.vid === v.id && r.user !== '').map((r) => `“${r.user}”`);
        if (orphans.length) announce(`Variant “${v.key}” was removed: choose another variant for the forced user${orphans.length > 1 ? 's' : ''} ${orphans.join(', ')}.`, 'error');
      });
      varRows.append(h('tr', {},
        h('td', { class: 'cell' }, kIn, i === 0 ? h('span', { class: 'tag' }, 'control') : null),
        h('td', { class: 'cell' }, nIn),
        h('td', { class: 'cell weight-cell' }, wIn, h('span', { class: 'unit', 'aria-hidden': 'true' }, '%')),
        h('td', { class: 'cell' }, vIn),
        h('td', { class: 'cell' }, rm)));
      if (i === focusIndex) focusKey = kIn;
    });
    addVar.disabled = variants.length >= 20;
    updateSum();
    // at once when the rows are on the page (after "Add variant" or a removal): a focus moved
    // later, by a timer, took keys typed meanwhile into another field (CI saw a value's JSON
    // appended to the new variant's key)
    if (focusKey) {
      if (focusKey.isConnected) focusKey.focus();
      else setTimeout(() => focusKey.focus(), 0);
    }
  };
  addVar.addEventListener('click', () => {
    variants.push({ id: ++vids, key: `variant-${variants.length}`, name: '', weight: 0, value: '' });
    renderVariants(variants.length - 1);
    renderForcedOptions();
  });
  splitBtn.addEventListener('click', () => {
    for (const v of variants) v.weight = 1 / variants.length;
    renderVariants();
    announce(`Weights split evenly: ${pctText(1 / variants.length)}% each`);
  });

  // what users out of the experiment get (API v1.1); may change while running
  const dvIn = h('input', { type: 'text', class: 'mono', value: x.default_value === undefined || x.default_value === null ? '' : JSON.stringify(x.default_value), placeholder: 'JSON, e.g. "grey"; empty: the control’s value', autocomplete: 'off', spellcheck: 'false' });
  const dvField = field('Default value (JSON)', dvIn, { field: 'default_value', hint: 'What users not in the experiment get from /assign and SDKs: out of coverage, not targeted, or while paused. Empty: the control’s value.' });
  const variantsBox = h(
    'fieldset', { class: 'section', dataset: { field: 'variants' } }, h('legend', {}, 'Variants'),
    assignLocked ? lockNote(lockId, 'variants') : null,
    h('p', { class: 'hint' }, 'The first variant is the control. 2 to 20 variants; weights are percentages of the covered traffic. A value (any JSON: true, 42, "blue", {"a": 1}) is what SDKs get; empty = the key.'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table variants-table' },
      h('thead', {}, h('tr', {}, ['Key', 'Name', 'Weight', 'Value (JSON)', ''].map((t) => h('th', { scope: 'col' }, t === '' ? h('span', { class: 'visually-hidden' }, 'Remove') : t)))),
      varRows)),
    h('div', { class: 'row-actions' }, addVar, splitBtn, sumOut),
    dvField.wrap
  );

  // ---- traffic: coverage, namespace, hashing
  // The slider moves in whole percents; a stored coverage finer than that (0.255) is kept,
  // and shown as it is, until the slider is moved.
  const coverage0 = x.coverage ?? 1;
  let covMoved = false;
  const covIn = h('input', { type: 'range', min: '0', max: '100', step: '1', value: String(Math.round(coverage0 * 100)) });
  const covOut = h('output', { class: 'range-out' });
  const covText = () => {
    const t = covMoved ? covIn.value : pctText(coverage0);
    covOut.textContent = `${t}%`;
    covIn.setAttribute('aria-valuetext', `${t}% of users`);
  };
  covIn.addEventListener('input', () => { covMoved = true; covText(); });
  covText();
  const covField = field('Coverage', covIn, { field: 'coverage', hint: `Share of eligible users who enter the experiment; the rest get the default value (under Variants), else the control’s value, and are not counted.${upOnly ? ' While it runs or is paused it may only go up: lowering it would take users already exposed out of their variant.' : ''}` });
  covField.wrap.querySelector('label').after(covOut);

  const ns = x.namespace || { name: '', range: [0, 1] };
  const nsName = h('input', { type: 'text', value: ns.name, autocomplete: 'off', spellcheck: 'false' });
  const nsStart = h('input', { type: 'number', min: '0', max: '1', step: 'any', value: String(ns.range[0]) });
  const nsEnd = h('input', { type: 'number', min: '0', max: '1', step: 'any', value: String(ns.range[1]) });
  const seedIn = h('input', { type: 'text', value: editing ? x.seed : x.seed || '', placeholder: 'defaults to the key', autocomplete: 'off', spellcheck: 'false' });
  const hashSel = h('select', {}, [2, 1].map((v) => h('option', { value: String(v), selected: x.hash_version === v }, v === 2 ? '2 (recommended)' : '1 (legacy)')));
  const hashAttrIn = h('input', { type: 'text', value: x.hash_attribute || 'id', autocomplete: 'off', spellcheck: 'false' });
  const fallbackIn = h('input', { type: 'text', value: x.fallback_attribute || '', placeholder: 'none', autocomplete: 'off', spellcheck: 'false' });
  // open when it holds something other than the defaults, so a stored choice is seen
  const hashingOpen = (x.hash_attribute && x.hash_attribute !== 'id') || !!x.fallback_attribute;
  const trafficLocked = h('div', { class: 'locked-group' },
    h('div', { class: 'grid-3', dataset: { field: 'namespace' } },
      field('Namespace', nsName, { field: 'namespace.name', hint: 'Experiments in one namespace with disjoint ranges never share users; one whose range overlaps a running or paused experiment’s cannot start. Empty: none.' }).wrap,
      h('div', { class: 'field-pair', dataset: { field: 'namespace.range' } },
        field('Range start', nsStart, { field: 'namespace.range[0]' }).wrap,
        field('Range end', nsEnd, { field: 'namespace.range[1]' }).wrap)),
    h('details', { class: 'advanced', open: hashingOpen },
      h('summary', {}, 'Hashing (advanced)'),
      h('div', { class: 'grid-2' },
        hasHashAttr ? field('Hashed attribute', hashAttrIn, { field: 'hash_attribute', hint: 'The attribute whose value picks the variant (GrowthBook’s hashAttribute): id is the user id; company_id would give everyone in a company the same variant. A user without it is not in the experiment.' }).wrap : null,
        hasHashAttr ? field('Fallback attribute', fallbackIn, { field: 'fallback_attribute', hint: 'Hashed when the first is missing, e.g. device_id before sign-in. Empty: none.' }).wrap : null,
        field('Seed', seedIn, { field: 'seed' }).wrap,
        field('Hash version', hashSel, { field: 'hash_version' }).wrap)));
  const traffic = h('fieldset', { class: 'section' }, h('legend', {}, 'Traffic'),
    covField.wrap, assignLocked ? lockNote(lockId + '-t', 'traffic') : null, trafficLocked);

  // ---- targeting
  const savedGroups = live ? () => api.listSavedGroups().then((gs) => gs.map((g) => g.key)) : null;
  const tgt = targetingEditor(x.targeting || {}, { locked: assignLocked, savedGroups });
  const targeting = h('fieldset', { class: 'section', dataset: { field: 'targeting-box' } }, h('legend', {}, 'Targeting'),
    assignLocked ? lockNote(lockId + '-g', 'targeting') : null,
    h('p', { class: 'hint' }, 'Rules over the attributes your SDK sends. Values: numbers and true/false are typed (007 stays text: a leading zero keeps it); "quote" a value to force text.'),
    tgt.el);

  // ---- forced users: each row holds its variant's id, so a renamed variant keeps its
  // users and a removed one leaves them without a variant (an error, never the control)
  const forced = Object.entries(x.forced || {}).map(([user, key]) => {
    const v = variants.find((w) => w.key === key);
    return { user, vid: v ? v.id : null };
  });
  const keyOf = (vid) => {
    const v = variants.find((w) => w.id === vid);
    return v ? v.key : null;
  };
  const forcedRows = h('div', { class: 'forced-rows' });
  const addForced = h('button', { type: 'button', class: 'btn btn-small' }, 'Add forced user');
  const selects = [];
  function renderForcedOptions() {
    for (const { sel, row, msg } of selects) {
      const has = variants.some((v) => v.id === row.vid);
      fill(sel,
        has ? null : h('option', { value: '', selected: true }, '(choose a variant)'),
        ...variants.map((v) => h('option', { value: String(v.id), selected: v.id === row.vid }, v.key || '(no key)')));
      msg.textContent = has ? '' : 'Its variant was removed: choose another.';
      msg.hidden = has;
      if (has) sel.removeAttribute('aria-invalid');
      else sel.setAttribute('aria-invalid', 'true');
    }
  }
  const renderForced = (focusLast) => {
    clear(forcedRows);
    selects.length = 0;
    let focusUser = null;
    if (forced.length === 0) forcedRows.append(h('p', { class: 'muted' }, 'No forced users.'));
    forced.forEach((row, i) => {
      const uIn = h('input', { type: 'text', value: row.user, 'aria-label': `Forced user ${i + 1} id`, autocomplete: 'off', spellcheck: 'false', dataset: { field: `forced.${row.user}` } });
      const msgId = nextId('forced-msg');
      const sel = h('select', { 'aria-label': `Forced user ${i + 1} variant`, 'aria-describedby': msgId });
      const msg = h('p', { class: 'forced-orphan', id: msgId, hidden: true });
      const rm = h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': `Remove forced user ${i + 1}` }, '✕');
      uIn.addEventListener('input', () => { row.user = uIn.value.trim(); uIn.dataset.field = `forced.${row.user}`; });
      sel.addEventListener('change', () => { row.vid = sel.value === '' ? null : Number(sel.value); renderForcedOptions(); });
      rm.addEventListener('click', () => { forced.splice(i, 1); renderForced(); addForced.focus(); });
      selects.push({ sel, row, msg });
      forcedRows.append(h('div', { class: 'forced-row cell' }, uIn, h('span', { 'aria-hidden': 'true' }, '→'), sel, rm, msg));
      if (focusLast && i === forced.length - 1) focusUser = uIn;
    });
    renderForcedOptions();
    // at once, as the variants' keys (a timer's focus took keys typed meanwhile)
    if (focusUser) {
      if (focusUser.isConnected) focusUser.focus();
      else setTimeout(() => focusUser.focus(), 0);
    }
  };
  addForced.addEventListener('click', () => { forced.push({ user: '', vid: variants[0].id }); renderForced(true); });
  const forcedBox = h('fieldset', { class: 'section', dataset: { field: 'forced' } }, h('legend', {}, 'Forced users (QA)'),
    h('p', { class: 'hint' }, 'These users always get the chosen variant and are never counted in results.'),
    forcedRows, h('div', { class: 'row-actions' }, addForced));

  // ---- metrics
  const chosen = new Set(x.metrics || []);
  const guards = new Set(x.guardrails || []);
  const primarySel = h('select', { name: 'primary_metric' });
  const renderPrimary = () => {
    const cur = primarySel.value || x.primary_metric || '';
    const opts = catalogue.filter((m) => chosen.has(m.key));
    fill(primarySel, h('option', { value: '' }, '(none)'), ...opts.map((m) => h('option', { value: m.key, selected: m.key === cur }, m.name && m.name !== m.key ? `${m.name} (${m.key})` : m.key)));
    if (!opts.some((m) => m.key === cur) && opts.length) primarySel.value = opts[0].key;
  };
  const reloadBtn = h('button', { type: 'button', class: 'btn btn-small' }, 'Reload the metrics');
  // a new tab: this form and what is typed in it stay
  // rel=opener: Chromium copies this tab's sessionStorage (the key) only into a tab that
  // keeps its opener, and target=_blank alone now means noopener (a signed-out tab)
  const newMetric = () => h('a', { href: '#/metrics/new', target: '_blank', rel: 'opener' }, 'Create a metric');
  const metricChecks = (set, legend, fieldName, onChange) => {
    const box = h('fieldset', { class: 'checks', dataset: { field: fieldName } }, h('legend', {}, legend));
    if (catalogue.length === 0) box.append(h('p', { class: 'muted' }, 'The catalogue is empty. ', newMetric(), ' first (opens in a new tab).'));
    for (const m of catalogue) {
      const id = nextId('m');
      const cb = h('input', { type: 'checkbox', id, value: m.key, checked: set.has(m.key) });
      cb.addEventListener('change', () => { if (cb.checked) set.add(m.key); else set.delete(m.key); if (onChange) onChange(); });
      box.append(h('div', { class: 'check' }, cb, h('label', { for: id }, m.name && m.name !== m.key ? `${m.name} ` : '', h('code', {}, m.key),
        h('span', { class: 'muted' }, ` · ${m.type}, ${m.goal === 'decrease' ? 'lower is better' : 'higher is better'}`))));
    }
    return box;
  };
  const dimsIn = h('input', { type: 'text', name: 'dimensions', autocomplete: 'off', spellcheck: 'false', placeholder: 'country, device', value: (x.dimensions || []).join(', ') });
  const checksBox = h('div', { class: 'grid-2' },
    metricChecks(chosen, 'Metrics to analyse', 'metrics', renderPrimary),
    metricChecks(guards, 'Guardrails (must not get worse)', 'guardrails'));
  const primaryField = field('Primary metric', primarySel, { field: 'primary_metric', hint: 'The decision metric, shown as the headline in the list.' });
  const metricsBox = h('fieldset', { class: 'section' }, h('legend', {}, 'Metrics'),
    resultsLocked ? lockNote(lockId + '-m', 'metrics') : null,
    checksBox,
    resultsLocked ? null : h('p', { class: 'hint metric-missing' }, 'Missing one? ', newMetric(), ' (opens in a new tab), then ', reloadBtn, ' — what you typed here stays.'),
    primaryField.wrap,
    hasDims ? field('Breakdown dimensions', dimsIn, { field: 'dimensions', hint: 'Up to 3 user attributes, comma-separated (e.g. country, device). Each user’s values are recorded at the first exposure, so results can be broken down by them.' }).wrap : null);
  renderPrimary();

  // ---- analysis
  const an = x.analysis || BLANK.analysis;
  const methodSel = h('select', {}, [['frequentist', 'Frequentist'], ['bayesian', 'Bayesian'], ['sequential', 'Sequential (always valid)']].map(([v, t]) => h('option', { value: v, selected: an.method === v }, t)));
  const alphaIn = h('input', { type: 'number', min: '0', max: '1', step: 'any', value: String(an.alpha) });
  const cupedIn = h('input', { type: 'checkbox', checked: !!an.cuped, id: nextId('cuped'), dataset: { field: 'analysis.cuped' } });
  const corrSel = h('select', {}, [['none', 'None'], ['holm', 'Holm–Bonferroni'], ['bh', 'Benjamini–Hochberg']].map(([v, t]) => h('option', { value: v, selected: an.correction === v }, t)));
  const tuneIn = h('input', { type: 'number', min: '1', step: 'any', value: String(x.sequential_tuning ?? 5000) });
  // fixed at the start: sequential results are always valid only for a tuning chosen before the first look (the API answers 409)
  const tuneFixed = editing && x.status !== 'draft';
  if (tuneFixed) tuneIn.readOnly = true;
  const mde0Text = String(Number(((x.mde ?? 0.05) * 100).toFixed(4)));
  const mdeIn = h('input', { type: 'number', min: '0', step: 'any', inputmode: 'decimal', value: mde0Text });
  const analysis = h('fieldset', { class: 'section' }, h('legend', {}, 'Analysis defaults'),
    resultsLocked ? lockNote(lockId + '-a', 'analysis') : null,
    h('div', { class: 'grid-3' },
      field('Method', methodSel, { field: 'analysis.method' }).wrap,
      field('Alpha', alphaIn, { field: 'analysis.alpha', hint: 'False-positive rate, e.g. 0.05.' }).wrap,
      field('Multiple-comparison correction', corrSel, { field: 'analysis.correction' }).wrap,
      field('Sequential tuning', tuneIn, { field: 'sequential_tuning', hint: tuneFixed ? 'Fixed once the experiment has started: sequential results stay valid at every look only with the tuning chosen before the first.' : 'Expected sample size at which sequential intervals are tightest.' }).wrap,
      hasMde ? field('Minimum detectable effect (%)', mdeIn, { field: 'mde', hint: 'The smallest relative change of the primary metric worth detecting; sets the users needed.' }).wrap : null,
      h('div', { class: 'field check' }, cupedIn, h('label', { for: cupedIn.id }, 'Use CUPED variance reduction'))));

  // ---- actions
  const saveBtn = h('button', { type: 'submit', class: 'btn btn-primary' }, editing ? 'Save changes' : 'Create experiment');
  const cancel = h('a', { class: 'btn', href: editing ? `#/experiments/${encodeURIComponent(stored.key)}` : '#/experiments' }, 'Cancel');

  form.append(summary, basics, variantsBox, traffic, targeting, forcedBox, metricsBox, analysis, h('div', { class: 'form-actions' }, saveBtn, cancel));
  renderVariants();
  renderForced();
  if (assignLocked) {
    // names and values may change (they move nobody); keys, weights and the set of
    // variants may not
    lockControls(variantsBox.querySelectorAll('input[data-field$=".key"], input[data-field$=".weight"], button'), lockId);
    lockWithin(trafficLocked, lockId + '-t');
    lockWithin(tgt.el, lockId + '-g');
  }
  if (resultsLocked) {
    lockWithin(checksBox, lockId + '-m');
    lockControls([primarySel], lockId + '-m');
    lockControls([methodSel, alphaIn, corrSel, cupedIn, mdeIn], lockId + '-a');
  }

  const buildPayload = () => {
    const p = {
      // empty: the key, as on create (the API refuses "" and sets null to the key)
      name: nameIn.value.trim() || (editing ? stored.key : undefined),
      owner: ownerIn.value.trim(),
      hypothesis: hypoIn.value.trim(),
      description: descIn.value.trim(),
      coverage: covMoved ? Number(covIn.value) / 100 : coverage0,
      // a user whose variant was removed holds null: experimentProblems() names it
      forced: Object.fromEntries(forced.filter((r) => r.user !== '').map((r) => [r.user, keyOf(r.vid)])),
      sequential_tuning: numOrNull(tuneIn.value),
      dimensions: hasDims ? dimsIn.value.split(',').map((d) => d.trim()).filter((d) => d !== '') : undefined,
      mde: !hasMde ? undefined : mdeIn.value === mde0Text && x.mde != null ? x.mde : numOrNull(mdeIn.value) !== null ? Number(numOrNull(mdeIn.value)) / 100 : undefined,
      analysis: { method: methodSel.value, alpha: numOrNull(alphaIn.value), cuped: cupedIn.checked, correction: corrSel.value },
    };
    if (!editing) p.key = keyIn.value.trim();
    if (!resultsLocked) {
      // the experiment's own order, newly ticked ones at the end (a Set keeps insertion order)
      p.metrics = [...chosen];
      p.primary_metric = primarySel.value || null;
      p.guardrails = [...guards];
    }
    // values that are not JSON: every one is named (not only the first), its hint quoting
    // what was typed ("green" for green)
    const notJson = [];
    const parsed = (text, fieldName, what) => {
      try {
        return JSON.parse(text);
      } catch {
        notJson.push({ field: fieldName, message: `${what} must be JSON (a string needs quotes: ${JSON.stringify(text.trim())})` });
        return undefined;
      }
    };
    const dv = dvIn.value.trim();
    if (dv !== '') {
      const d = parsed(dv, 'default_value', 'The default value');
      if (d !== undefined) p.default_value = d;
    } else if (editing) p.default_value = null; // sent only when it was set (the edit sends changes)
    // while locked, keys and weights are read-only in the form, names and values are not
    p.variants = variants.map((v, i) => {
      const out = { key: v.key, name: v.name.trim() || v.key, weight: Number.isFinite(v.weight) ? v.weight : null };
      if (v.value.trim() !== '') {
        const value = parsed(v.value, `variants[${i}].value`, `Variant ${i + 1} value`);
        if (value !== undefined) out.value = value;
      }
      return out;
    });
    if (!assignLocked) {
      // a targeting JSON that does not parse is one more problem, listed with the others
      try {
        p.targeting = tgt.value();
      } catch (err) {
        notJson.push({ field: err.field || 'targeting', message: err.message });
      }
      const nsn = nsName.value.trim();
      const range = [numOrNull(nsStart.value), numOrNull(nsEnd.value)];
      // a range typed without a namespace name is kept (name '') for the checks to name it
      const rangeTyped = !((range[0] ?? 0) === 0 && (range[1] ?? 1) === 1);
      p.namespace = nsn || rangeTyped ? { name: nsn, range } : null;
      if (seedIn.value.trim()) p.seed = seedIn.value.trim();
      p.hash_version = Number(hashSel.value);
      if (hasHashAttr) {
        p.hash_attribute = hashAttrIn.value.trim() || 'id';
        p.fallback_attribute = fallbackIn.value.trim() || null;
      }
    }
    if (notJson.length) {
      // `problems`: each value that is not JSON; `payload`: the rest, for the form's other checks
      throw Object.assign(new Error(notJson[0].message), { field: notJson[0].field, problems: notJson, payload: p });
    }
    return p;
  };

  return {
    form,
    summary,
    saveBtn,
    buildPayload,
    forcedDupes: () => forced.map((r) => r.user).filter((u, i, all) => u !== '' && all.indexOf(u) !== i),
    onReloadMetrics: (fn) => reloadBtn.addEventListener('click', fn),
  };
}

// experiment_form.js - create and edit an experiment. Server validation errors land
// next to the control their `field` names ("variants[1].weight"); while an experiment
// runs, the fields that would reassign users are read-only with the reason shown.

import { api } from '../api.js';
import { h, clear, fill, errorBox, field, nextId, announce, clearFieldErrors } from '../dom.js';
import { keyProblem, showErrors, serverErrors, badNumberProblems, mergeProblems } from '../validate.js';
import { targetingEditor } from './targeting.js';

const LOCK_REASON = {
  variants: 'changing variant keys or weights, or adding or removing variants, would move users between variants. Stop it and start a new experiment instead. Names and values may change.',
  traffic: 'changing the namespace, seed or hash version would reassign users. Coverage may go up, not down.',
  targeting: 'changing targeting would change who is in the experiment.',
};

function pctText(w) {
  if (typeof w !== 'number' || !Number.isFinite(w)) return '';
  return String(Number((w * 100).toFixed(4)));
}

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

function lockNote(id, what) {
  return h('p', { class: 'lock-note', id }, h('strong', {}, 'Read-only while the experiment is running or paused: '), LOCK_REASON[what]);
}

/**
 * Every problem of an experiment body `p` at once, in words ([{field, message}]).
 * `forcedDupes` lists forced user ids typed twice (the body's map keeps only one).
 */
/**
 * Why a running or paused experiment's coverage may not go below what it is: users already
 * exposed to a variant would leave it while the results still count them there (the API
 * answers 409). `status` is the experiment's, `was` its coverage (0-1).
 */
export function coverageDownProblem(status, was) {
  const what = status === 'paused' ? 'stop it' : 'pause or stop it';
  return `While the experiment is ${status}, coverage can only go up (it is ${pctText(was)}%): lowering it would move users already exposed to a variant out of it, while the results still count them there. To send fewer users into it, ${what}, or start a new experiment.`;
}

export function experimentProblems(p, { forcedDupes = [], running = null } = {}) {
  const out = [];
  const add = (field, message) => out.push({ field, message });
  // running: {status, coverage} of a running or paused experiment as loaded
  if (running && typeof p.coverage === 'number' && p.coverage < running.coverage) add('coverage', coverageDownProblem(running.status, running.coverage));
  if (p.key !== undefined) {
    const k = keyProblem(p.key);
    if (k) add('key', k);
  }
  if (p.name && p.name.length > 200) add('name', 'The name is too long: at most 200 characters.');
  if (p.variants) {
    const seen = new Set();
    p.variants.forEach((v, i) => {
      const k = keyProblem(v.key, `Variant ${i + 1}’s key`);
      if (k) add(`variants[${i}].key`, k);
      else if (seen.has(v.key)) add(`variants[${i}].key`, `Variant ${i + 1}’s key “${v.key}” is used twice: each variant needs its own key.`);
      seen.add(v.key);
      if (!(typeof v.weight === 'number' && v.weight >= 0 && v.weight <= 1)) add(`variants[${i}].weight`, `Variant ${i + 1}’s weight must be a percentage from 0 to 100.`);
    });
    const total = p.variants.reduce((a, v) => a + (typeof v.weight === 'number' ? v.weight : NaN), 0);
    if (Number.isFinite(total) && Math.abs(total - 1) > 1e-6) {
      add(`variants[${p.variants.length - 1}].weight`, `The weights must add up to 100% (the sum is now ${Number((total * 100).toFixed(4))}%).`);
    }
  }
  if (p.namespace) {
    const [a, b] = p.namespace.range;
    const ok = (x) => typeof x === 'number' && x >= 0 && x <= 1;
    if (keyProblem(p.namespace.name, 'The namespace')) add('namespace.name', keyProblem(p.namespace.name, 'The namespace'));
    if (!ok(a)) add('namespace.range[0]', 'The range start is a number from 0 to 1.');
    if (!ok(b)) add('namespace.range[1]', 'The range end is a number from 0 to 1.');
    if (ok(a) && ok(b) && !(a < b)) add('namespace.range', `The range start must be below its end (start < end; now ${a} to ${b}).`);
  }
  const users = Object.keys(p.forced || {});
  for (const u of forcedDupes) add(`forced.${u}`, `The forced user “${u}” is listed twice.`);
  for (const u of users) if (u.length > 256) add(`forced.${u}`, 'A user id is at most 256 characters.');
  const al = p.analysis && p.analysis.alpha;
  if (!(typeof al === 'number' && al > 0 && al < 1)) add('analysis.alpha', 'Alpha is the false-positive rate, a number between 0 and 1 (e.g. 0.05).');
  if (!(typeof p.sequential_tuning === 'number' && p.sequential_tuning >= 1)) add('sequential_tuning', 'Sequential tuning is a number of users, at least 1 (e.g. 5000).');
  if (p.mde !== undefined && p.mde !== null && !(p.mde > 0 && p.mde < 10)) add('mde', 'The minimum detectable effect is a percentage above 0 (e.g. 5 for 5%).');
  if (Array.isArray(p.dimensions)) {
    if (p.dimensions.length > 3) add('dimensions', 'Break results down by at most 3 attributes.');
    const bad = p.dimensions.find((d) => !/^[A-Za-z0-9_.-]{1,64}$/.test(d));
    if (bad !== undefined) add('dimensions', `“${bad}” is not an attribute name: use letters, digits, _ . - (at most 64).`);
    else if (new Set(p.dimensions).size !== p.dimensions.length) add('dimensions', 'An attribute is listed twice.');
  }
  return out;
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
  status: 'draft',
};

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
  const locked = editing && (x.status === 'running' || x.status === 'paused');
  // the experiment's minimum detectable effect (API v1.1), when this server knows the field;
  // with no experiment yet there is nothing to tell, and this dashboard ships with a server
  // that knows it (as dimensions below)
  const hasMde = editing ? 'mde' in x : others.some((o) => 'mde' in o) || others.length === 0;
  const lockId = nextId('lock');

  const form = h('form', { class: 'exp-form', novalidate: true });
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
      field('Name', nameIn, { field: 'name', hint: 'Empty: the key.' }).wrap,
      field('Owner', ownerIn, { field: 'owner', hint: 'Who to ask about this experiment.' }).wrap),
    field('Hypothesis', hypoIn, { field: 'hypothesis', hint: 'What change do you expect, and why?' }).wrap,
    field('Description', descIn, { field: 'description' }).wrap
  );

  // ---- variants
  // value: the JSON text of the variant's value (issue 15), '' = none (the value is the key)
  const variants = x.variants.map((v) => ({ key: v.key, name: v.name || '', weight: v.weight, value: v.value === undefined || v.value === null ? '' : JSON.stringify(v.value) }));
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
    variants.forEach((v, i) => {
      const kIn = h('input', { type: 'text', value: v.key, 'aria-label': `Variant ${i + 1} key`, autocomplete: 'off', spellcheck: 'false', dataset: { field: `variants[${i}].key` } });
      const nIn = h('input', { type: 'text', value: v.name, 'aria-label': `Variant ${i + 1} name`, autocomplete: 'off', dataset: { field: `variants[${i}].name` } });
      const wIn = h('input', { type: 'number', value: pctText(v.weight), min: '0', max: '100', step: 'any', inputmode: 'decimal', 'aria-label': `Variant ${i + 1} weight (percent)`, dataset: { field: `variants[${i}].weight` } });
      const vIn = h('input', { type: 'text', value: v.value, placeholder: 'JSON, e.g. true', 'aria-label': `Variant ${i + 1} value (JSON)`, autocomplete: 'off', spellcheck: 'false', class: 'mono', dataset: { field: `variants[${i}].value` } });
      vIn.addEventListener('input', () => { v.value = vIn.value; });
      const rm = h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': `Remove variant ${i + 1}`, disabled: variants.length <= 2 }, '✕');
      kIn.addEventListener('input', () => { v.key = kIn.value.trim(); renderForcedOptions(); });
      nIn.addEventListener('input', () => { v.name = nIn.value; });
      wIn.addEventListener('input', () => { v.weight = wIn.value.trim() === '' ? NaN : Number(wIn.value) / 100; updateSum(); });
      rm.addEventListener('click', () => { variants.splice(i, 1); renderVariants(Math.max(0, i - 1)); renderForcedOptions(); });
      varRows.append(h('tr', {},
        h('td', { class: 'cell' }, kIn, i === 0 ? h('span', { class: 'tag' }, 'control') : null),
        h('td', { class: 'cell' }, nIn),
        h('td', { class: 'cell weight-cell' }, wIn, h('span', { class: 'unit', 'aria-hidden': 'true' }, '%')),
        h('td', { class: 'cell' }, vIn),
        h('td', { class: 'cell' }, rm)));
      if (i === focusIndex) setTimeout(() => kIn.focus(), 0);
    });
    addVar.disabled = variants.length >= 20;
    updateSum();
  };
  addVar.addEventListener('click', () => {
    variants.push({ key: `variant-${variants.length}`, name: '', weight: 0, value: '' });
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
    locked ? lockNote(lockId, 'variants') : null,
    h('p', { class: 'hint' }, 'The first variant is the control. 2 to 20 variants; weights are percentages of the covered traffic. A value (any JSON: true, 42, "blue", {"a": 1}) is what SDKs get; empty = the key.'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table variants-table' },
      h('thead', {}, h('tr', {}, ['Key', 'Name', 'Weight', 'Value (JSON)', ''].map((t) => h('th', { scope: 'col' }, t === '' ? h('span', { class: 'visually-hidden' }, 'Remove') : t)))),
      varRows)),
    h('div', { class: 'row-actions' }, addVar, splitBtn, sumOut),
    dvField.wrap
  );

  // ---- traffic: coverage, namespace, seed, hash version
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
  const covField = field('Coverage', covIn, { field: 'coverage', hint: `Share of eligible users who enter the experiment; the rest get the default value (under Variants), else the control’s value, and are not counted.${locked ? ' While it runs or is paused it may only go up: lowering it would take users already exposed out of their variant.' : ''}` });
  covField.wrap.querySelector('label').after(covOut);

  const ns = x.namespace || { name: '', range: [0, 1] };
  const nsName = h('input', { type: 'text', value: ns.name, autocomplete: 'off', spellcheck: 'false' });
  const nsStart = h('input', { type: 'number', min: '0', max: '1', step: 'any', value: String(ns.range[0]) });
  const nsEnd = h('input', { type: 'number', min: '0', max: '1', step: 'any', value: String(ns.range[1]) });
  const seedIn = h('input', { type: 'text', value: editing ? x.seed : '', placeholder: 'defaults to the key', autocomplete: 'off', spellcheck: 'false' });
  const hashSel = h('select', {}, [2, 1].map((v) => h('option', { value: String(v), selected: x.hash_version === v }, v === 2 ? '2 (recommended)' : '1 (legacy)')));
  const trafficLocked = h('div', { class: 'locked-group' },
    h('div', { class: 'grid-3', dataset: { field: 'namespace' } },
      field('Namespace', nsName, { field: 'namespace.name', hint: 'Experiments in one namespace with disjoint ranges never share users; one whose range overlaps a running or paused experiment’s cannot start. Empty: none.' }).wrap,
      h('div', { class: 'field-pair', dataset: { field: 'namespace.range' } },
        field('Range start', nsStart, { field: 'namespace.range[0]' }).wrap,
        field('Range end', nsEnd, { field: 'namespace.range[1]' }).wrap)),
    h('details', { class: 'advanced', open: false },
      h('summary', {}, 'Hashing (advanced)'),
      h('div', { class: 'grid-2' },
        field('Seed', seedIn, { field: 'seed' }).wrap,
        field('Hash version', hashSel, { field: 'hash_version' }).wrap)));
  const traffic = h('fieldset', { class: 'section' }, h('legend', {}, 'Traffic'),
    covField.wrap, locked ? lockNote(lockId + '-t', 'traffic') : null, trafficLocked);

  // ---- targeting
  const tgt = targetingEditor(x.targeting || {}, { locked, savedGroups: () => api.listSavedGroups().then((gs) => gs.map((g) => g.key)) });
  const targeting = h('fieldset', { class: 'section', dataset: { field: 'targeting-box' } }, h('legend', {}, 'Targeting'),
    locked ? lockNote(lockId + '-g', 'targeting') : null,
    h('p', { class: 'hint' }, 'Rules over the attributes your SDK sends. Values: numbers and true/false are typed; "quote" a value to force text.'),
    tgt.el);

  // ---- forced users
  const forced = Object.entries(x.forced || {}).map(([user, variant]) => ({ user, variant }));
  const forcedRows = h('div', { class: 'forced-rows' });
  const addForced = h('button', { type: 'button', class: 'btn btn-small' }, 'Add forced user');
  const selects = [];
  function renderForcedOptions() {
    for (const { sel, row } of selects) {
      const cur = row.variant;
      fill(sel, ...variants.map((v) => h('option', { value: v.key, selected: v.key === cur }, v.key || '(no key)')));
      if (!variants.some((v) => v.key === cur)) row.variant = sel.value;
    }
  }
  const renderForced = (focusLast) => {
    clear(forcedRows);
    selects.length = 0;
    if (forced.length === 0) forcedRows.append(h('p', { class: 'muted' }, 'No forced users.'));
    forced.forEach((row, i) => {
      const uIn = h('input', { type: 'text', value: row.user, 'aria-label': `Forced user ${i + 1} id`, autocomplete: 'off', spellcheck: 'false', dataset: { field: `forced.${row.user}` } });
      const sel = h('select', { 'aria-label': `Forced user ${i + 1} variant` });
      const rm = h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': `Remove forced user ${i + 1}` }, '✕');
      uIn.addEventListener('input', () => { row.user = uIn.value.trim(); uIn.dataset.field = `forced.${row.user}`; });
      sel.addEventListener('change', () => { row.variant = sel.value; });
      rm.addEventListener('click', () => { forced.splice(i, 1); renderForced(); addForced.focus(); });
      selects.push({ sel, row });
      forcedRows.append(h('div', { class: 'forced-row cell' }, uIn, h('span', { 'aria-hidden': 'true' }, '→'), sel, rm));
      if (focusLast && i === forced.length - 1) setTimeout(() => uIn.focus(), 0);
    });
    renderForcedOptions();
  };
  addForced.addEventListener('click', () => { forced.push({ user: '', variant: variants[0].key }); renderForced(true); });
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
  const metricChecks = (set, legend, fieldName, onChange) => {
    const box = h('fieldset', { class: 'checks', dataset: { field: fieldName } }, h('legend', {}, legend));
    if (catalogue.length === 0) {
      box.append(h('p', { class: 'muted' }, 'The catalogue is empty. ', h('a', { href: '#/metrics/new' }, 'Create a metric'), ' first.'));
    }
    for (const m of catalogue) {
      const id = nextId('m');
      const cb = h('input', { type: 'checkbox', id, value: m.key, checked: set.has(m.key) });
      cb.addEventListener('change', () => { if (cb.checked) set.add(m.key); else set.delete(m.key); if (onChange) onChange(); });
      box.append(h('div', { class: 'check' }, cb, h('label', { for: id }, m.name && m.name !== m.key ? `${m.name} ` : '', h('code', {}, m.key),
        h('span', { class: 'muted' }, ` · ${m.type}, ${m.goal === 'decrease' ? 'lower is better' : 'higher is better'}`))));
    }
    return box;
  };
  // dimensions (API v1.1), when this server knows the field
  const hasDims = editing ? 'dimensions' in x : others.some((o) => 'dimensions' in o) || others.length === 0;
  const dimsIn = h('input', { type: 'text', name: 'dimensions', autocomplete: 'off', spellcheck: 'false', placeholder: 'country, device', value: (x.dimensions || []).join(', ') });
  const metricsBox = h('fieldset', { class: 'section' }, h('legend', {}, 'Metrics'),
    h('div', { class: 'grid-2' },
      metricChecks(chosen, 'Metrics to analyse', 'metrics', renderPrimary),
      metricChecks(guards, 'Guardrails (must not get worse)', 'guardrails')),
    field('Primary metric', primarySel, { field: 'primary_metric', hint: 'The decision metric, shown as the headline in the list.' }).wrap,
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
    h('div', { class: 'grid-3' },
      field('Method', methodSel, { field: 'analysis.method' }).wrap,
      field('Alpha', alphaIn, { field: 'analysis.alpha', hint: 'False-positive rate, e.g. 0.05.' }).wrap,
      field('Multiple-comparison correction', corrSel, { field: 'analysis.correction' }).wrap,
      field('Sequential tuning', tuneIn, { field: 'sequential_tuning', hint: tuneFixed ? 'Fixed once the experiment has started: sequential results stay valid at every look only with the tuning chosen before the first.' : 'Expected sample size at which sequential intervals are tightest.' }).wrap,
      hasMde ? field('Minimum detectable effect (%)', mdeIn, { field: 'mde', hint: 'The smallest relative change of the primary metric worth detecting; sets the users needed.' }).wrap : null,
      h('div', { class: 'field check' }, cupedIn, h('label', { for: cupedIn.id }, 'Use CUPED variance reduction'))));

  // ---- actions
  const saveBtn = h('button', { type: 'submit', class: 'btn btn-primary' }, editing ? 'Save changes' : 'Create experiment');
  const cancel = h('a', { class: 'btn', href: editing ? `#/experiments/${encodeURIComponent(x.key)}` : '#/experiments' }, 'Cancel');

  form.append(summary, basics, variantsBox, traffic, targeting, forcedBox, metricsBox, analysis, h('div', { class: 'form-actions' }, saveBtn, cancel));
  renderVariants();
  renderForced();
  if (locked) {
    // names and values may change while running (they move nobody); keys, weights and the
    // set of variants may not
    lockControls(variantsBox.querySelectorAll('input[data-field$=".key"], input[data-field$=".weight"], button'), lockId);
    lockWithin(trafficLocked, lockId + '-t');
    lockWithin(tgt.el, lockId + '-g');
  }

  const buildPayload = () => {
    const p = {
      // empty: the key, as on create (the API refuses "" and sets null to the key)
      name: nameIn.value.trim() || (editing ? x.key : undefined),
      owner: ownerIn.value.trim(),
      hypothesis: hypoIn.value.trim(),
      description: descIn.value.trim(),
      coverage: covMoved ? Number(covIn.value) / 100 : coverage0,
      forced: Object.fromEntries(forced.filter((f) => f.user !== '').map((f) => [f.user, f.variant])),
      // the experiment's own order, newly ticked ones at the end (a Set keeps insertion
      // order): on a stopped experiment any change of the list is refused
      metrics: [...chosen],
      primary_metric: primarySel.value || null,
      guardrails: [...guards],
      sequential_tuning: numOrNull(tuneIn.value),
      dimensions: hasDims ? dimsIn.value.split(',').map((d) => d.trim()).filter((d) => d !== '') : undefined,
      mde: !hasMde ? undefined : mdeIn.value === mde0Text && x.mde != null ? x.mde : numOrNull(mdeIn.value) !== null ? Number(numOrNull(mdeIn.value)) / 100 : undefined,
      analysis: { method: methodSel.value, alpha: numOrNull(alphaIn.value), cuped: cupedIn.checked, correction: corrSel.value },
    };
    if (!editing) p.key = keyIn.value.trim();
    const dv = dvIn.value.trim();
    if (dv !== '') {
      try {
        p.default_value = JSON.parse(dv);
      } catch {
        throw Object.assign(new Error('The default value must be JSON (a string needs quotes: "grey")'), { field: 'default_value' });
      }
    } else if (editing) p.default_value = null; // sent only when it was set (the edit sends changes)
    // while running, keys and weights are read-only in the form, names and values are not
    p.variants = variants.map((v, i) => {
      const out = { key: v.key, name: v.name.trim() || v.key, weight: Number.isFinite(v.weight) ? v.weight : null };
      if (v.value.trim() !== '') {
        try {
          out.value = JSON.parse(v.value);
        } catch {
          throw Object.assign(new Error(`variants[${i}].value must be JSON (a string needs quotes: "blue")`), { field: `variants[${i}].value` });
        }
      }
      return out;
    });
    if (!locked) {
      p.targeting = tgt.value();
      const nsn = nsName.value.trim();
      p.namespace = nsn ? { name: nsn, range: [numOrNull(nsStart.value), numOrNull(nsEnd.value)] } : null;
      if (seedIn.value.trim()) p.seed = seedIn.value.trim();
      p.hash_version = Number(hashSel.value);
    }
    return p;
  };

  // The payload of the form as loaded: an edit sends only the fields that differ from it,
  // so a field the user did not touch is never rewritten (a stored value the controls
  // cannot show exactly, a list in its own order, a field frozen by the status).
  let loaded = null;
  if (editing) {
    try {
      loaded = buildPayload();
    } catch {
      loaded = null; // then every field is sent
    }
  }
  const changedOnly = (p) => {
    if (!loaded) return p;
    // a field left out (undefined) is not a change: it is not sent at all
    return Object.fromEntries(Object.entries(p).filter(([k, v]) => v !== undefined && JSON.stringify(v) !== JSON.stringify(loaded[k])));
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    // a mistyped number reads as "": never send it as null or leave the field out
    const badNumbers = badNumberProblems(form);
    let payload;
    try {
      payload = buildPayload();
    } catch (err) {
      showErrors(form, mergeProblems(badNumbers, [{ field: err.field || '', message: err.message }]), summary);
      return;
    }
    const forcedDupes = forced.map((f) => f.user).filter((u, i, all) => u !== '' && all.indexOf(u) !== i);
    const problems = mergeProblems(badNumbers, experimentProblems(payload, { forcedDupes, running: locked ? { status: x.status, coverage: coverage0 } : null }));
    if (showErrors(form, problems, summary)) return;
    if (editing) {
      payload = changedOnly(payload);
      if (Object.keys(payload).length === 0) {
        announce('Nothing changed', 'ok');
        ctx.navigate(`#/experiments/${encodeURIComponent(x.key)}`);
        return;
      }
    }
    saveBtn.disabled = true;
    try {
      const saved = editing ? await api.updateExperiment(x.key, payload) : await api.createExperiment(payload);
      announce(editing ? 'Experiment saved' : 'Experiment created', 'ok');
      ctx.navigate(`#/experiments/${encodeURIComponent(saved.key)}`);
    } catch (err) {
      if (err.status === 401) return;
      if (err.status === 412 || !err.field) {
        summary.append(errorBox(err, err.status === 409 ? 'Conflict:' : 'Not saved:'));
        summary.focus();
      } else {
        showErrors(form, serverErrors(err), summary);
      }
    } finally {
      saveBtn.disabled = false;
    }
  });

  fill(ctx.main,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/experiments' }, 'Experiments'), editing ? [' / ', h('a', { href: `#/experiments/${encodeURIComponent(x.key)}` }, x.key)] : null),
    h('h1', {}, editing ? `Edit ${x.name || x.key}` : 'New experiment'),
    editing ? h('p', { class: 'muted' }, `Status: ${x.status}`) : null,
    form
  );
}

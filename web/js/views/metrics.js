// metrics.js - the metrics catalogue: list, create, edit (read-only for viewers), delete.
// Event metrics (binomial, count, sum) count one event; a ratio metric divides one
// catalogue metric by another (numerator / denominator, each with its own event, window
// and cap), so the form swaps the event fields for two selects when the type is ratio.
// Leaving the form with changes not saved asks first (leave.js); after a 412 (someone else
// saved the metric meanwhile) or a sign-in mid-edit the form shows the latest version with
// the person's changes put back on top (merge.js).

import { api } from '../api.js';
import { fmtCap } from '../format.js';
import { h, fill, errorBox, field, announce, clearFieldErrors, confirmDialog } from '../dom.js';
import { keyProblem, numberOf, showErrors, serverErrors, badNumberProblems, mergeProblems } from '../validate.js';
import { guardLeaving, takeDraft, whileSaving, leaveAfterSave } from '../leave.js';
import { changedFields, mergeNote, takeMine, draftOnTop, reloadAfterStale } from '../merge.js';

const UNITS = [
  ['', 'By type (rates as %, others as numbers)'],
  ['count', 'Count (items, visits…)'],
  ['percent', 'Percent (values are fractions)'],
  ['currency', 'Currency'],
  ['duration', 'Duration (values in milliseconds)'],
];

/** "EUR", "percent", "count", "duration" or "—" for the catalogue table. */
export function unitText(m) {
  if (m.unit === 'currency') return m.currency || 'currency';
  return m.unit || (m.type === 'binomial' ? 'percent (rate)' : '—');
}

/**
 * The unit a ratio of `num` over `den` (catalogue metrics) reads in, as {unit, currency}:
 * money over anything else is money per that thing (revenue per order: EUR); money over
 * the same currency is a share (margin = profit / revenue: percent); a duration over
 * anything else is a duration per thing (time per page view); anything else is a plain
 * number (clicks per page view).
 */
export function ratioUnit(num, den) {
  const u = (m) => (m && m.unit) || null;
  if (u(num) === 'currency' && num.currency) {
    if (u(den) === 'currency' && den.currency === num.currency) return { unit: 'percent', currency: null };
    return { unit: 'currency', currency: num.currency };
  }
  if (u(num) === 'duration' && u(den) !== 'duration') return { unit: 'duration', currency: null };
  return { unit: null, currency: null };
}

/** "revenue / orders" for a ratio metric, its event for the others. */
export function definitionText(m) {
  return m.type === 'ratio' ? `${m.numerator} / ${m.denominator}` : m.event || '';
}

/**
 * Every problem of a metric body at once, in words. `catalogue` (the metrics as listed)
 * and `self` (the key of the metric being edited) let a ratio's parts be checked: chosen,
 * existing, not ratios themselves, different; and a part of a ratio cannot become one.
 */
export function metricProblems(body, editing, { catalogue = [], self = null } = {}) {
  const out = [];
  if (!editing) {
    const k = keyProblem(body.key);
    if (k) out.push({ field: 'key', message: k });
  }
  if (body.type === 'ratio') {
    const me = editing ? self : body.key;
    const byKey = new Map(catalogue.map((m) => [m.key, m]));
    for (const [f, example] of [['numerator', 'summed above the line (e.g. revenue)'], ['denominator', 'summed below the line (e.g. orders)']]) {
      const k = body[f];
      const p = byKey.get(k);
      if (!k) out.push({ field: f, message: `Choose the ${f}: the metric ${example}.` });
      else if (catalogue.length && !p) out.push({ field: f, message: `There is no metric “${k}” in the catalogue any more: choose another.` });
      else if (p && p.type === 'ratio') out.push({ field: f, message: `“${k}” is itself a ratio: choose a binomial, count or sum metric.` });
      else if (k === me) out.push({ field: f, message: 'A ratio cannot use itself as a part: choose another metric.' });
      else if (f === 'denominator' && k === body.numerator) out.push({ field: f, message: 'The numerator and the denominator are the same metric, so their ratio is always 1: choose another denominator.' });
    }
    const uses = editing ? catalogue.filter((m) => m.type === 'ratio' && m.key !== me && (m.numerator === me || m.denominator === me)) : [];
    if (uses.length) out.push({ field: 'type', message: `This metric is a part of the ratio ${uses.map((m) => `“${m.key}”`).join(', ')}, so it cannot become a ratio itself: keep its type, or create a new metric.` });
  } else if (!body.event && EVENT_TYPES.includes(body.type)) out.push({ field: 'event', message: 'Enter the event name this metric counts (the “event” your application sends).' });
  else if (body.event && body.event.length > 128) out.push({ field: 'event', message: 'The event name is too long: at most 128 characters.' });
  const w = body.window_hours;
  if (w != null && !(Number.isInteger(w) && w >= 1 && w <= 87600)) out.push({ field: 'window_hours', message: 'The window is a whole number of hours from 1 to 87,600 (ten years), or empty for “until the experiment stops”.' });
  if (body.cap != null && !(Number.isFinite(body.cap) && body.cap > 0)) out.push({ field: 'cap', message: 'The cap is a number above 0, or empty for no cap.' });
  else if (body.type === 'binomial' && body.cap != null) {
    // the server refuses a cap on a binomial metric, except one stored earlier and sent back
    const was = editing ? catalogue.find((m) => m.key === self) : null;
    if (!(was && was.type === 'binomial' && was.cap === body.cap)) out.push({ field: 'cap', message: 'A binomial metric counts each user 0 or 1, so it takes no cap: leave the cap empty.' });
  }
  const l = body.cuped_lookback_hours;
  if (l != null && !(Number.isInteger(l) && l >= 0 && l <= 8760)) out.push({ field: 'cuped_lookback_hours', message: 'The CUPED lookback is a whole number of hours from 0 (off) to 8,760 (one year).' });
  if (body.unit === 'currency' && !/^[A-Z]{3}$/.test(body.currency || '')) out.push({ field: 'currency', message: 'Give the currency as its three-letter code, e.g. EUR or USD.' });
  if (body.type === 'binomial' && body.unit && body.unit !== 'percent') out.push({ field: 'unit', message: 'A binomial metric is a conversion rate: choose “By type” or “Percent”.' });
  return out;
}

const TYPES = [
  ['binomial', 'Binomial — did the user do it at least once (conversion)'],
  ['count', 'Count — how many times'],
  ['sum', 'Sum — total of the event values (e.g. revenue)'],
  ['ratio', 'Ratio — one metric divided by another (e.g. revenue per order)'],
];
const EVENT_TYPES = TYPES.filter(([v]) => v !== 'ratio').map(([v]) => v);

function windowText(m) {
  return m.window_hours === null || m.window_hours === undefined ? 'until stop' : `${m.window_hours} h`;
}

export async function renderMetrics(ctx) {
  ctx.title('Metrics');
  const metrics = await api.listMetrics();
  if (!ctx.alive()) return;
  const canEdit = ctx.can('editor');
  const names = new Map(metrics.map((m) => [m.key, m.name || m.key]));
  const table = h('table', { class: 'table table-cards', id: 'metrics-table' },
    h('caption', { class: 'visually-hidden' }, 'Metrics catalogue'),
    h('thead', {}, h('tr', {}, ['Metric', 'Event or ratio', 'Type', 'Unit', 'Goal', 'Window', 'Cap', 'CUPED lookback'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, metrics.map((m) => h('tr', { dataset: { key: m.key } },
      h('th', { scope: 'row', 'data-label': 'Metric' }, h('a', { href: `#/metrics/${encodeURIComponent(m.key)}` }, m.name || m.key), h('div', { class: 'muted small' }, h('code', {}, m.key))),
      h('td', { 'data-label': 'Event or ratio', class: 'definition', title: m.type === 'ratio' ? `${names.get(m.numerator) || m.numerator} divided by ${names.get(m.denominator) || m.denominator}` : null },
        m.type === 'ratio' ? [h('code', {}, m.numerator), ' / ', h('code', {}, m.denominator)] : h('code', {}, m.event)),
      h('td', { 'data-label': 'Type' }, m.type),
      h('td', { 'data-label': 'Unit' }, unitText(m)),
      h('td', { 'data-label': 'Goal' }, m.goal === 'decrease' ? '▼ decrease' : '▲ increase'),
      // a ratio's window and cap are its parts'; CUPED does not apply to ratios
      h('td', { 'data-label': 'Window' }, m.type === 'ratio' ? 'per part' : windowText(m)),
      h('td', { 'data-label': 'Cap' }, m.type === 'ratio' ? 'per part' : fmtCap(m)),
      h('td', { 'data-label': 'CUPED lookback' }, m.type !== 'ratio' && m.cuped_lookback_hours ? `${m.cuped_lookback_hours} h` : 'off')))));
  fill(ctx.main,
    h('div', { class: 'page-head' }, h('h1', {}, 'Metrics'),
      canEdit ? h('a', { class: 'btn btn-primary', href: '#/metrics/new' }, 'New metric') : null),
    h('p', { class: 'muted' }, 'A catalogue of metrics, each computed per user from events after the user’s first exposure, and reused across experiments.'),
    metrics.length ? h('div', { class: 'table-wrap' }, table) : h('p', { class: 'empty' }, 'No metrics yet.')
  );
}

function numOrNull(text) {
  const n = numberOf(text);
  return n === undefined ? null : n;
}

const BLANK = { key: '', name: '', description: '', event: '', type: 'binomial', goal: 'increase', window_hours: null, cap: null, cuped_lookback_hours: 336, unit: null, currency: null };

// what the merge notice calls each field of the body
const FIELD_LABEL = {
  name: 'Name', type: 'Type', goal: 'Goal', description: 'Description', unit: 'Unit', currency: 'Currency code',
  event: 'Event name', window_hours: 'Window', cap: 'Cap per user', cuped_lookback_hours: 'CUPED lookback',
  numerator: 'Numerator', denominator: 'Denominator',
};

// Fields only a metric of its own event has, and only a ratio has (metricForm's body()).
const EVENT_ONLY = new Set(['event', 'window_hours', 'cap', 'cuped_lookback_hours']);
const RATIO_ONLY = new Set(['numerator', 'denominator']);

/**
 * Which of a person's changes (`mine`, on a form that loaded `was`) the latest version `fresh`
 * refuses (merge.js `mergeEdits`): an event's field on a metric that is a ratio now, a
 * ratio's part on one that is not. The type that counts is the person's when only they
 * changed it (it goes back on top), else the latest's. Clearing a field (null) is no harm.
 */
function metricRefuse(fresh, was, mine) {
  const type = 'type' in mine && was && was.type === fresh.type ? mine.type : fresh.type;
  return (field, value) => {
    if (value === null || value === undefined) return null;
    if (type === 'ratio' && EVENT_ONLY.has(field)) return 'the metric is a ratio now: its parts carry the event, window, cap and lookback';
    if (type !== 'ratio' && RATIO_ONLY.has(field)) return 'the metric is no longer a ratio';
    return null;
  };
}

// The fields that define what a metric counts: changing one rebuilds the results of the
// experiments that use it (docs/API.md "Rebuilds after a definition change").
const DEFINITION = ['type', 'event', 'window_hours', 'cap', 'cuped_lookback_hours', 'numerator', 'denominator'];

/** The running and paused experiments that use metric `key`, directly or as a ratio's part. */
function liveUsers(key, catalogue, experiments) {
  if (!key) return [];
  const keys = new Set([key, ...catalogue.filter((c) => c.type === 'ratio' && (c.numerator === key || c.denominator === key)).map((c) => c.key)]);
  return experiments.filter((x) => (x.status === 'running' || x.status === 'paused') &&
    [...(x.metrics || []), ...(x.guardrails || [])].some((k) => keys.has(k)));
}

/**
 * The note above Save on a metric that live experiments use: which ones, and what a change
 * of its definition does to their results; a warning once such a change is in the form.
 */
function usedByNote(users, definitionChanged) {
  const n = users.length;
  const list = users.map((x, i) => [i ? ', ' : '', h('a', { href: `#/experiments/${encodeURIComponent(x.key)}` }, x.key)]);
  const which = [`${n === 1 ? 'one running experiment' : `${n} running experiments`} (`, list, ')'];
  return definitionChanged
    ? [h('strong', {}, 'This changes the definition of a metric in use. '), 'Saving recomputes the results of ', which,
      ' in the background; until that ends their pages show the numbers under the current definition, marked as recomputing.']
    : ['Used by ', which, '. A change to its type, event, window, cap, CUPED lookback or parts recomputes their results in the background; until then they show the numbers under the current definition.'];
}

export async function renderMetricForm(ctx, key) {
  const editing = !!key;
  let m = structuredClone(BLANK);
  const listing = api.listMetrics().catch(() => []); // for a ratio's parts
  // for an edit: the running and paused experiments whose results a definition change rebuilds
  const experiments = editing && ctx.can('editor') ? api.listExperiments().catch(() => []) : Promise.resolve([]);
  if (editing) {
    try {
      m = await api.getMetric(key);
    } catch (err) {
      if (!ctx.alive() || err.status === 401) return;
      fill(ctx.main, h('p', { class: 'breadcrumb' }, h('a', { href: '#/metrics' }, 'Metrics')), h('h1', {}, 'Metric not found'), errorBox(err));
      return;
    }
  }
  const catalogue = await listing;
  const users = liveUsers(key, catalogue, await experiments);
  if (!ctx.alive()) return;
  const env = { editing, readOnly: !ctx.can('editor'), catalogue, users };
  ctx.title(editing ? m.name || m.key : 'New metric');
  // changes typed before a sign-in (leave.js): back on top of the version just loaded
  const draft = env.readOnly ? null : takeDraft();
  if (draft) {
    const { doc, note } = draftOnTop(draft, m, metricForm(env, m, m).body(), metricRefuse(m, draft.was, draft.mine));
    showMetricForm(ctx, env, doc, m, note);
  } else showMetricForm(ctx, env, m, m, null);
}

/**
 * Render the metric form into the page: `doc` is what it shows, `stored` the metric as the
 * server has it (an edit is checked against it), `note` the notice after a 412 or a sign-in
 * (merge.js) or null. Leaving it with changes not saved asks first (leave.js).
 */
function showMetricForm(ctx, env, doc, stored, note) {
  const { editing, readOnly } = env;
  const f = metricForm(env, doc, stored);
  // the version loaded (for a new metric: the blank form), read as the shown form reads its own
  const baseline = (doc === stored ? f : metricForm(env, stored, stored)).body();
  const changed = (p) => changedFields(baseline, p);
  const release = readOnly ? () => {} : guardLeaving(f.form, () => Object.keys(changed(f.body())).length > 0, () => ({ was: baseline, mine: changed(f.body()) }));
  // which running experiments use the metric, before Save (a definition change rebuilds them)
  const users = env.users || [];
  const usedBy = users.length && !readOnly ? h('div', { class: 'used-by muted small', id: 'metric-used-by', 'aria-live': 'polite' }) : null;
  if (usedBy) {
    let was = null;
    const showUsed = () => {
      const b = f.body();
      const now = DEFINITION.some((k) => k in b && (b[k] ?? null) !== (baseline[k] ?? null));
      if (now === was) return;
      was = now;
      usedBy.className = now ? 'used-by alert alert-warn' : 'used-by muted small';
      fill(usedBy, usedByNote(users, now));
    };
    f.form.addEventListener('input', showUsed);
    f.form.addEventListener('change', showUsed);
    f.saveBtn.parentElement.before(usedBy);
    showUsed();
  }
  const noteEl = note
    ? mergeNote(note, { what: 'metric', labels: FIELD_LABEL, useMine: (field) => showMetricForm(ctx, env, { ...stored, ...changed(f.body()), [field]: note.mine[field] }, stored, takeMine(note, field)) })
    : null;

  f.form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (readOnly) return;
    clearFieldErrors(f.form);
    const body = f.body();
    // a mistyped number reads as "": never send it as an empty cap or window
    if (showErrors(f.form, mergeProblems(badNumberProblems(f.form), metricProblems(body, editing, { catalogue: env.catalogue, self: stored.key })), f.summary)) return;
    // nothing changed: no PATCH (it would write an audit entry that changes nothing)
    if (editing && Object.keys(changed(body)).length === 0) {
      release();
      announce('Nothing changed', 'ok');
      if (ctx.alive()) ctx.navigate(leaveAfterSave('#/metrics'));
      return;
    }
    f.saveBtn.disabled = true;
    try {
      await whileSaving(editing ? api.updateMetric(stored.key, body) : api.createMetric(body));
      release();
      announce(editing ? `Metric ${stored.key} saved` : `Metric ${body.key} created`, 'ok');
      if (ctx.alive()) ctx.navigate(leaveAfterSave('#/metrics'));
    } catch (err) {
      if (err.status === 401) return;
      if (err.status === 412 && editing) {
        await reloadAfterStale({
          ctx,
          what: 'metric',
          load: () => api.getMetric(stored.key),
          payloadOf: (fresh) => metricForm(env, fresh, fresh).body(),
          was: baseline,
          mine: changed(body),
          refuse: (fresh) => metricRefuse(fresh, baseline, changed(body)),
          summary: f.summary,
          show: (d, fresh, next) => showMetricForm(ctx, env, d, fresh, next),
        });
      } else if (!err.field) {
        // a 409 that names a field ("metric 'buy' already exists", field "key") marks
        // that field, as the experiment form does
        f.summary.append(errorBox(err, err.status === 409 ? 'Conflict:' : 'Not saved:'));
        f.summary.focus();
      } else showErrors(f.form, serverErrors(err), f.summary);
    } finally {
      f.saveBtn.disabled = false;
    }
  });
  if (f.delBtn) {
    f.delBtn.addEventListener('click', async () => {
      // a ratio's part cannot go while the ratio needs it
      const ratios = env.catalogue.filter((c) => c.type === 'ratio' && c.key !== stored.key && (c.numerator === stored.key || c.denominator === stored.key)).map((c) => `“${c.key}”`);
      const inRatios = ratios.length ? `It is a part of the ratio metric${ratios.length > 1 ? 's' : ''} ${ratios.join(', ')}: delete or change ${ratios.length > 1 ? 'them' : 'it'} first.` : null;
      const ok = await confirmDialog({
        title: `Delete metric “${stored.key}”?`,
        // archived and stopped experiments block it too, for good: their results read it
        body: h('p', {}, inRatios || 'No experiment may use it, archived and stopped ones included; the server refuses otherwise. A draft, running or paused experiment can drop it in its edit form; a stopped or archived one keeps its metrics, so a metric it uses stays (rename it, or create a new metric for new experiments).'),
        confirmLabel: 'Delete metric',
        danger: true,
        onConfirm: () => {
          if (inRatios) throw new Error(`Not deleted. ${inRatios}`);
          return api.deleteMetric(stored.key);
        },
      });
      if (ok) {
        release();
        announce(`Metric ${stored.key} deleted`, 'ok');
        ctx.navigate('#/metrics');
      } else f.delBtn.focus();
    });
  }

  fill(ctx.main,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/metrics' }, 'Metrics'), editing ? ` / ${stored.key}` : null),
    h('h1', {}, editing ? `${readOnly ? '' : 'Edit '}${stored.name || stored.key}` : 'New metric'),
    noteEl,
    f.form
  );
}

/**
 * The metric form's controls for `m` (what it shows; `stored`: the metric as the server has
 * it). Returns {form, summary, saveBtn, delBtn, body}: `body()` reads the controls into the
 * API body (for an edit, the parts a change of type drops are sent as null).
 */
function metricForm(env, m, stored) {
  const { editing, readOnly, catalogue } = env;
  const ro = (el) => {
    if (readOnly) {
      if (el.tagName === 'SELECT') el.disabled = true;
      else el.readOnly = true;
    }
    return el;
  };
  const keyIn = ro(h('input', { type: 'text', value: m.key, required: true, readonly: editing, autocomplete: 'off', spellcheck: 'false' }));
  const nameIn = ro(h('input', { type: 'text', value: m.name, autocomplete: 'off' }));
  const eventIn = ro(h('input', { type: 'text', value: m.event, required: true, autocomplete: 'off', spellcheck: 'false' }));
  const types = TYPES.some(([v]) => v === m.type) ? TYPES : [...TYPES, [m.type, `${m.type} (see the API for its definition)`]];
  const typeSel = ro(h('select', {}, types.map(([v, t]) => h('option', { value: v, selected: m.type === v }, t))));
  const goalSel = ro(h('select', {}, h('option', { value: 'increase', selected: m.goal === 'increase' }, 'Increase (higher is better)'), h('option', { value: 'decrease', selected: m.goal === 'decrease' }, 'Decrease (lower is better)')));
  const winIn = ro(h('input', { type: 'number', min: '0', step: 'any', value: m.window_hours ?? '', placeholder: 'until the experiment stops' }));
  const capIn = ro(h('input', { type: 'number', step: 'any', value: m.cap ?? '', placeholder: 'no cap' }));
  const lookIn = ro(h('input', { type: 'number', min: '0', step: 'any', value: m.cuped_lookback_hours ?? 336 }));
  const unitSel = ro(h('select', {}, UNITS.map(([v, t]) => h('option', { value: v, selected: (m.unit || '') === v }, t))));
  const curIn = ro(h('input', { type: 'text', value: m.currency || '', maxlength: '3', autocomplete: 'off', spellcheck: 'false', placeholder: 'EUR' }));
  const curField = field('Currency code', curIn, { field: 'currency', hint: 'Three letters (ISO 4217), e.g. EUR, USD.' });
  const showCur = () => { curField.wrap.hidden = unitSel.value !== 'currency'; };
  unitSel.addEventListener('change', showCur);
  showCur();
  const descIn = ro(h('textarea', { rows: 2 }));
  descIn.value = m.description || '';

  // ratio: numerator and denominator among the catalogue's other event metrics
  const byKey = new Map(catalogue.map((c) => [c.key, c]));
  const partChoices = catalogue.filter((c) => c.type !== 'ratio' && c.key !== m.key);
  const partSel = (cur) => {
    const keys = partChoices.map((c) => c.key);
    if (cur && !keys.includes(cur)) keys.push(cur); // keep what is stored, even if odd
    return ro(h('select', {}, h('option', { value: '' }, partChoices.length ? 'Choose a metric…' : 'No event metric in the catalogue yet'),
      keys.map((k) => {
        const c = byKey.get(k);
        return h('option', { value: k, selected: cur === k }, c ? `${c.name && c.name !== k ? `${c.name} (${k})` : k} — ${c.type}${c.unit && c.unit !== c.type ? `, ${unitText(c)}` : ''}` : k);
      })));
  };
  const numSel = partSel(m.numerator);
  const denSel = partSel(m.denominator);
  const numField = field('Numerator (above the line)', numSel, { field: 'numerator', hint: 'Summed over each variant’s users, e.g. revenue.' });
  const denField = field('Denominator (below the line)', denSel, { field: 'denominator', hint: 'Summed over the same users, e.g. orders.' });
  const ratioNote = h('p', { class: 'muted small ratio-note', id: 'ratio-note', 'aria-live': 'polite' });
  const eventField = field('Event name', eventIn, { field: 'event', hint: 'The “event” of the events that feed this metric.' });
  const winField = field('Window (hours after first exposure)', winIn, { field: 'window_hours', hint: 'Empty: until the experiment stops.' });
  const capField = field('Cap per user', capIn, { field: 'cap', hint: 'Winsorize each user’s value at this number. Empty: no cap.' });
  const lookField = field('CUPED lookback (hours)', lookIn, { field: 'cuped_lookback_hours', hint: 'Pre-exposure period for the CUPED covariate; 0 turns it off.' });
  const unitField = field('Unit', unitSel, { field: 'unit', hint: 'How values read in tables and charts.' });
  const unitHint = unitField.wrap.querySelector('.hint');
  // a new ratio takes its unit from its parts until the person picks one (a unit put back
  // after a 412 or a sign-in was picked)
  let unitTouched = (editing && m.type === 'ratio') || (m.unit || null) !== (stored.unit || null) || (m.currency || null) !== (stored.currency || null);
  unitSel.addEventListener('change', () => { unitTouched = true; });
  curIn.addEventListener('input', () => { unitTouched = true; });
  const showType = () => {
    const ratio = typeSel.value === 'ratio';
    for (const f of [eventField, winField, capField, lookField]) f.wrap.hidden = ratio;
    // a binomial metric takes no cap (each user counts 0 or 1); one stored by an earlier
    // version stays visible so that it can be cleared
    if (typeSel.value === 'binomial' && !(editing && stored.type === 'binomial' && stored.cap != null)) capField.wrap.hidden = true;
    for (const f of [numField, denField]) f.wrap.hidden = !ratio;
    ratioNote.hidden = !ratio;
    const num = byKey.get(numSel.value);
    const den = byKey.get(denSel.value);
    const sug = ratioUnit(num, den);
    const sugText = { currency: `${sug.currency}, the numerator’s currency`, percent: 'percent, a share of the same currency', duration: 'duration, the numerator’s' }[sug.unit] || 'a plain number';
    unitHint.textContent = ratio && num && den ? `How values read in tables and charts. From the parts: ${sugText}.` : 'How values read in tables and charts.';
    if (ratio && num && den && !unitTouched && !readOnly) {
      unitSel.value = sug.unit || '';
      curIn.value = sug.currency || '';
      showCur();
    }
    ratioNote.textContent = ratio
      ? `Per variant: ${num ? `the sum of ${num.name || num.key}` : 'the numerator’s sum'} over its users divided by ${den ? `the sum of ${den.name || den.key}` : 'the denominator’s sum'} over the same users (delta-method intervals). Each part keeps its own event, window and cap; CUPED does not apply to ratios.`
      : '';
  };
  for (const el of [typeSel, numSel, denSel]) el.addEventListener('change', showType);

  const summary = h('div', { class: 'form-errors', tabindex: '-1' });
  const saveBtn = h('button', { type: 'submit', class: 'btn btn-primary' }, editing ? 'Save metric' : 'Create metric');
  const delBtn = editing && !readOnly ? h('button', { type: 'button', class: 'btn btn-danger' }, 'Delete') : null;
  const form = h('form', { class: 'metric-form card', novalidate: true },
    summary,
    h('div', { class: 'grid-2' },
      field('Key', keyIn, { field: 'key', hint: editing ? 'The key cannot change.' : 'Lower-case letters, digits, “_”, “.”, “-”.' }).wrap,
      field('Name', nameIn, { field: 'name' }).wrap,
      eventField.wrap,
      field('Type', typeSel, { field: 'type' }).wrap,
      numField.wrap,
      denField.wrap,
      field('Goal', goalSel, { field: 'goal' }).wrap,
      unitField.wrap,
      curField.wrap,
      winField.wrap,
      capField.wrap,
      lookField.wrap),
    ratioNote,
    field('Description', descIn, { field: 'description' }).wrap,
    readOnly ? h('p', { class: 'muted' }, 'Read-only: your role cannot change metrics.') : h('div', { class: 'form-actions' }, saveBtn, h('a', { class: 'btn', href: '#/metrics' }, 'Cancel'), delBtn));

  const body = () => {
    const ratio = typeSel.value === 'ratio';
    const b = {
      name: nameIn.value.trim() || (editing ? stored.key : keyIn.value.trim()),
      type: typeSel.value,
      goal: goalSel.value,
      description: descIn.value.trim(),
      unit: unitSel.value || null,
      currency: unitSel.value === 'currency' ? curIn.value.trim().toUpperCase() : null,
    };
    if (ratio) {
      // the parts carry the event, window, cap and CUPED lookback
      b.numerator = numSel.value;
      b.denominator = denSel.value;
      // a metric made a ratio drops its own (the server refuses them on a ratio)
      if (editing && stored.type !== 'ratio') Object.assign(b, { event: null, window_hours: null, cap: null, cuped_lookback_hours: null });
      else if (editing && stored.event) b.event = null;
    } else {
      Object.assign(b, {
        event: eventIn.value.trim() || undefined,
        window_hours: numOrNull(winIn.value),
        cap: capField.wrap.hidden ? null : numOrNull(capIn.value),
        cuped_lookback_hours: numOrNull(lookIn.value) ?? 336,
      });
      if (editing && stored.type === 'ratio') Object.assign(b, { numerator: null, denominator: null });
    }
    if (!editing) b.key = keyIn.value.trim();
    return b;
  };

  showType();
  return { form, summary, saveBtn, delBtn, body };
}

// metrics.js - the metrics catalogue: list, create, edit (read-only for viewers), delete.

import { api } from '../api.js';
import { h, fill, errorBox, field, announce, clearFieldErrors, confirmDialog } from '../dom.js';
import { keyProblem, numberOf, showErrors, serverErrors } from '../validate.js';

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

/** Every problem of a metric body at once, in words. */
export function metricProblems(body, editing) {
  const out = [];
  if (!editing) {
    const k = keyProblem(body.key);
    if (k) out.push({ field: 'key', message: k });
  }
  if (!body.event && TYPES.some(([v]) => v === body.type)) out.push({ field: 'event', message: 'Enter the event name this metric counts (the “event” your application sends).' });
  else if (body.event && body.event.length > 128) out.push({ field: 'event', message: 'The event name is too long: at most 128 characters.' });
  const w = body.window_hours;
  if (w !== null && !(Number.isInteger(w) && w >= 1 && w <= 87600)) out.push({ field: 'window_hours', message: 'The window is a whole number of hours from 1 to 87,600 (ten years), or empty for “until the experiment stops”.' });
  if (body.cap !== null && !(Number.isFinite(body.cap) && body.cap > 0)) out.push({ field: 'cap', message: 'The cap is a number above 0, or empty for no cap.' });
  const l = body.cuped_lookback_hours;
  if (!(Number.isInteger(l) && l >= 0 && l <= 8760)) out.push({ field: 'cuped_lookback_hours', message: 'The CUPED lookback is a whole number of hours from 0 (off) to 8,760 (one year).' });
  if (body.unit === 'currency' && !/^[A-Z]{3}$/.test(body.currency || '')) out.push({ field: 'currency', message: 'Give the currency as its three-letter code, e.g. EUR or USD.' });
  if (body.type === 'binomial' && body.unit && body.unit !== 'percent') out.push({ field: 'unit', message: 'A binomial metric is a conversion rate: choose “By type” or “Percent”.' });
  return out;
}

const TYPES = [
  ['binomial', 'Binomial — did the user do it at least once (conversion)'],
  ['count', 'Count — how many times'],
  ['sum', 'Sum — total of the event values (e.g. revenue)'],
];

function windowText(m) {
  return m.window_hours === null || m.window_hours === undefined ? 'until stop' : `${m.window_hours} h`;
}

export async function renderMetrics(ctx) {
  ctx.title('Metrics');
  const metrics = await api.listMetrics();
  if (!ctx.alive()) return;
  const canEdit = ctx.can('editor');
  const table = h('table', { class: 'table table-cards', id: 'metrics-table' },
    h('caption', { class: 'visually-hidden' }, 'Metrics catalogue'),
    h('thead', {}, h('tr', {}, ['Metric', 'Event', 'Type', 'Unit', 'Goal', 'Window', 'Cap', 'CUPED lookback'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, metrics.map((m) => h('tr', { dataset: { key: m.key } },
      h('th', { scope: 'row', 'data-label': 'Metric' }, h('a', { href: `#/metrics/${encodeURIComponent(m.key)}` }, m.name || m.key), h('div', { class: 'muted small' }, h('code', {}, m.key))),
      h('td', { 'data-label': 'Event' }, h('code', {}, m.event)),
      h('td', { 'data-label': 'Type' }, m.type),
      h('td', { 'data-label': 'Unit' }, unitText(m)),
      h('td', { 'data-label': 'Goal' }, m.goal === 'decrease' ? '▼ decrease' : '▲ increase'),
      h('td', { 'data-label': 'Window' }, windowText(m)),
      h('td', { 'data-label': 'Cap' }, m.cap === null || m.cap === undefined ? '—' : String(m.cap)),
      h('td', { 'data-label': 'CUPED lookback' }, m.cuped_lookback_hours ? `${m.cuped_lookback_hours} h` : 'off')))));
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

export async function renderMetricForm(ctx, key) {
  const editing = !!key;
  let m = { key: '', name: '', description: '', event: '', type: 'binomial', goal: 'increase', window_hours: null, cap: null, cuped_lookback_hours: 336, unit: null, currency: null };
  if (editing) {
    try {
      m = await api.getMetric(key);
    } catch (err) {
      if (!ctx.alive() || err.status === 401) return;
      fill(ctx.main, h('p', { class: 'breadcrumb' }, h('a', { href: '#/metrics' }, 'Metrics')), h('h1', {}, 'Metric not found'), errorBox(err));
      return;
    }
    if (!ctx.alive()) return;
  }
  const readOnly = !ctx.can('editor');
  ctx.title(editing ? m.name || m.key : 'New metric');

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
  // a type this page does not create (e.g. ratio, defined by other metrics) stays as it is
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

  const summary = h('div', { class: 'form-errors', tabindex: '-1' });
  const saveBtn = h('button', { type: 'submit', class: 'btn btn-primary' }, editing ? 'Save metric' : 'Create metric');
  const delBtn = editing && !readOnly ? h('button', { type: 'button', class: 'btn btn-danger' }, 'Delete') : null;
  const form = h('form', { class: 'metric-form card', novalidate: true },
    summary,
    h('div', { class: 'grid-2' },
      field('Key', keyIn, { field: 'key', hint: editing ? 'The key cannot change.' : 'Lower-case letters, digits, “_”, “.”, “-”.' }).wrap,
      field('Name', nameIn, { field: 'name' }).wrap,
      field('Event name', eventIn, { field: 'event', hint: 'The `event` of the events that feed this metric.' }).wrap,
      field('Type', typeSel, { field: 'type' }).wrap,
      field('Goal', goalSel, { field: 'goal' }).wrap,
      field('Unit', unitSel, { field: 'unit', hint: 'How values read in tables and charts.' }).wrap,
      curField.wrap,
      field('Window (hours after first exposure)', winIn, { field: 'window_hours', hint: 'Empty: until the experiment stops.' }).wrap,
      field('Cap per user', capIn, { field: 'cap', hint: 'Winsorize each user’s value at this number. Empty: no cap.' }).wrap,
      field('CUPED lookback (hours)', lookIn, { field: 'cuped_lookback_hours', hint: 'Pre-exposure period for the CUPED covariate; 0 turns it off.' }).wrap),
    field('Description', descIn, { field: 'description' }).wrap,
    readOnly ? h('p', { class: 'muted' }, 'Read-only: your role cannot change metrics.') : h('div', { class: 'form-actions' }, saveBtn, h('a', { class: 'btn', href: '#/metrics' }, 'Cancel'), delBtn));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (readOnly) return;
    clearFieldErrors(form);
    const body = {
      name: nameIn.value.trim() || (editing ? m.key : keyIn.value.trim()),
      event: eventIn.value.trim() || undefined,
      type: typeSel.value,
      goal: goalSel.value,
      window_hours: numOrNull(winIn.value),
      cap: numOrNull(capIn.value),
      cuped_lookback_hours: numOrNull(lookIn.value) ?? 336,
      description: descIn.value.trim(),
      unit: unitSel.value || null,
      currency: unitSel.value === 'currency' ? curIn.value.trim().toUpperCase() : null,
    };
    if (!editing) body.key = keyIn.value.trim();
    if (showErrors(form, metricProblems(body, editing), summary)) return;
    saveBtn.disabled = true;
    try {
      if (editing) await api.updateMetric(m.key, body);
      else await api.createMetric(body);
      announce(editing ? `Metric ${m.key} saved` : `Metric ${body.key} created`, 'ok');
      ctx.navigate('#/metrics');
    } catch (err) {
      if (err.status === 401) return;
      if (err.status === 412 || err.status === 409 || !err.field) {
        summary.append(errorBox(err, 'Not saved:'));
        summary.focus();
      } else showErrors(form, serverErrors(err), summary);
    } finally {
      saveBtn.disabled = false;
    }
  });
  if (delBtn) {
    delBtn.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: `Delete metric “${m.key}”?`,
        body: h('p', {}, 'Experiments that are not archived must not use it; the server refuses otherwise.'),
        confirmLabel: 'Delete metric',
        danger: true,
        onConfirm: () => api.deleteMetric(m.key),
      });
      if (ok) {
        announce(`Metric ${m.key} deleted`, 'ok');
        ctx.navigate('#/metrics');
      } else delBtn.focus();
    });
  }

  fill(ctx.main,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/metrics' }, 'Metrics'), editing ? ` / ${m.key}` : null),
    h('h1', {}, editing ? `${readOnly ? '' : 'Edit '}${m.name || m.key}` : 'New metric'),
    form
  );
}

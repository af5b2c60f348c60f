// metrics.js - the metrics catalogue: list, create, edit (read-only for viewers), delete.

import { api } from '../api.js';
import { h, fill, errorBox, field, announce, showFieldError, clearFieldErrors, confirmDialog } from '../dom.js';

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
    h('thead', {}, h('tr', {}, ['Metric', 'Event', 'Type', 'Goal', 'Window', 'Cap', 'CUPED lookback'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, metrics.map((m) => h('tr', { dataset: { key: m.key } },
      h('th', { scope: 'row', 'data-label': 'Metric' }, h('a', { href: `#/metrics/${encodeURIComponent(m.key)}` }, m.name || m.key), h('div', { class: 'muted small' }, h('code', {}, m.key))),
      h('td', { 'data-label': 'Event' }, h('code', {}, m.event)),
      h('td', { 'data-label': 'Type' }, m.type),
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
  const t = String(text).trim();
  if (t === '') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

export async function renderMetricForm(ctx, key) {
  const editing = !!key;
  let m = { key: '', name: '', description: '', event: '', type: 'binomial', goal: 'increase', window_hours: null, cap: null, cuped_lookback_hours: 336 };
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
  const typeSel = ro(h('select', {}, TYPES.map(([v, t]) => h('option', { value: v, selected: m.type === v }, t))));
  const goalSel = ro(h('select', {}, h('option', { value: 'increase', selected: m.goal === 'increase' }, 'Increase (higher is better)'), h('option', { value: 'decrease', selected: m.goal === 'decrease' }, 'Decrease (lower is better)')));
  const winIn = ro(h('input', { type: 'number', min: '0', step: 'any', value: m.window_hours ?? '', placeholder: 'until the experiment stops' }));
  const capIn = ro(h('input', { type: 'number', step: 'any', value: m.cap ?? '', placeholder: 'no cap' }));
  const lookIn = ro(h('input', { type: 'number', min: '0', step: 'any', value: m.cuped_lookback_hours ?? 336 }));
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
      event: eventIn.value.trim(),
      type: typeSel.value,
      goal: goalSel.value,
      window_hours: numOrNull(winIn.value),
      cap: numOrNull(capIn.value),
      cuped_lookback_hours: numOrNull(lookIn.value) ?? 336,
      description: descIn.value.trim(),
    };
    if (!editing) body.key = keyIn.value.trim();
    saveBtn.disabled = true;
    try {
      if (editing) await api.updateMetric(m.key, body);
      else await api.createMetric(body);
      announce(editing ? `Metric ${m.key} saved` : `Metric ${body.key} created`, 'ok');
      ctx.navigate('#/metrics');
    } catch (err) {
      if (err.status === 401) return;
      summary.append(errorBox(err, 'Not saved:'));
      const at = err.field ? showFieldError(form, err.field, err.message) : null;
      if (at) at.focus();
      else summary.focus();
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

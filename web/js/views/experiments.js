// experiments.js - the experiments list: status filter, search, and per row the status,
// variants, start date, users so far, the primary metric's headline and an SRM warning
// (the last three from each experiment's results, fetched a few at a time).

import { api } from '../api.js';
import { h, fill, errorBox, statusBadge, debounce } from '../dom.js';
import { fmtInt, fmtDate, fmtPct, fmtPEq, fmtProb, headline, totalUsers, significanceText, VERDICT_TEXT } from '../format.js';
import { outcomeTag } from './decision.js';
import { decide } from '../decide.js';

const STATUSES = ['draft', 'running', 'paused', 'stopped', 'archived'];

function matches(x, q) {
  if (!q) return true;
  const hay = [x.key, x.name, x.owner, x.hypothesis, x.description].join(' ').toLowerCase();
  return q
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((w) => hay.includes(w));
}

/** Run `fn` over `items` with at most `limit` in flight. */
async function pool(items, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function headlineCell(x, results) {
  if (!x.primary_metric) return h('span', { class: 'muted' }, 'No primary metric');
  const hl = headline(results, x.primary_metric);
  if (!hl) return h('span', { class: 'muted' }, '—');
  const metricName = hl.metric.name || hl.metric.key;
  const d = x.status === 'running' || x.status === 'paused' ? decide(x, results, []) : null;
  return h(
    'div',
    { class: 'headline' },
    d ? h('span', { class: ['list-decision', `decision-text-${d.overall.action}`] }, d.overall.headline) : null,
    h('span', { class: 'headline-metric' }, metricName),
    hl.treatments.map((t) => {
      const v = hl.metric.variants.find((y) => y.key === t.key);
      const sig = results.method === 'bayesian' ? `chance to beat control ${fmtProb(v.chance_to_beat_control)}` : `p = ${significanceText(v, results)}`;
      return h(
        'span',
        { class: ['lift', `verdict-${t.verdict}`], title: `${t.key}: ${VERDICT_TEXT[t.verdict]}, ${sig}` },
        h('span', { class: 'lift-variant' }, t.key),
        ' ',
        h('strong', { dataset: { value: String(t.lift) } }, fmtPct(t.lift, { signed: true })),
        ' ',
        h('span', { class: 'lift-verdict' }, VERDICT_TEXT[t.verdict])
      );
    })
  );
}

function srmCell(results) {
  const total = totalUsers(results);
  if (!results || !results.srm || !total) return h('span', { class: 'muted', title: 'No exposed users yet' }, '—');
  if (!results.srm.mismatch) {
    const p = typeof results.srm.p_value === 'number' ? fmtPEq(results.srm.p_value) : 'not tested';
    return h('span', { class: 'srm-ok', title: `Sample ratio OK (${p})` }, 'OK');
  }
  const p = fmtPEq(results.srm.p_value);
  return h(
    'span',
    { class: 'srm-icon', role: 'img', 'aria-label': `Sample ratio mismatch (${p})`, title: `Sample ratio mismatch (${p}): the split of users does not match the weights.` },
    '⚠'
  );
}

export async function renderExperimentList(ctx) {
  ctx.title('Experiments');
  const status = STATUSES.includes(ctx.query.status) ? ctx.query.status : '';
  const q = ctx.query.q || '';

  const statusSel = h(
    'select',
    { id: 'f-status', name: 'status' },
    h('option', { value: '' }, 'All but archived'),
    STATUSES.map((s) => h('option', { value: s, selected: s === status }, s))
  );
  const search = h('input', { id: 'f-search', type: 'search', name: 'q', value: q, placeholder: 'key, name, owner…', autocomplete: 'off' });
  const count = h('p', { class: 'muted', role: 'status', id: 'list-count' });
  const body = h('div', { class: 'list-body' });

  const header = h(
    'div',
    { class: 'page-head' },
    h('h1', {}, 'Experiments'),
    ctx.can('editor') ? h('a', { class: 'btn btn-primary', href: '#/experiments/new' }, 'New experiment') : null
  );
  const filters = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter experiments' },
    h('div', { class: 'field' }, h('label', { for: 'f-status' }, 'Status'), statusSel),
    h('div', { class: 'field field-grow' }, h('label', { for: 'f-search' }, 'Search'), search)
  );
  filters.addEventListener('submit', (e) => e.preventDefault());
  fill(ctx.main, header, filters, count, body);

  let experiments;
  try {
    experiments = await api.listExperiments(status || undefined);
  } catch (err) {
    if (!ctx.alive()) return;
    body.append(errorBox(err, 'Cannot load experiments:'));
    return;
  }
  if (!ctx.alive()) return;
  const archived = status ? 0 : experiments.filter((x) => x.status === 'archived').length;
  if (!status) experiments = experiments.filter((x) => x.status !== 'archived');
  experiments.sort((a, b) => (b.started_at || b.created_at) - (a.started_at || a.created_at));

  const results = new Map();
  const rows = new Map();

  const cells = (x) => {
    const r = results.get(x.key);
    const pending = x.status !== 'draft' && r === undefined;
    return {
      users: x.status === 'draft' ? h('span', { class: 'muted' }, '—') : pending ? h('span', { class: 'muted' }, '…') : r ? h('span', { dataset: { value: String(totalUsers(r)) } }, fmtInt(totalUsers(r))) : h('span', { class: 'muted' }, 'unavailable'),
      headline: x.status === 'draft' ? h('span', { class: 'muted' }, 'Not started') : pending ? h('span', { class: 'muted' }, '…') : headlineCell(x, r),
      srm: srmCell(r),
    };
  };

  const renderRow = (x) => {
    const c = cells(x);
    const tr = h(
      'tr',
      { dataset: { key: x.key } },
      h('th', { scope: 'row', 'data-label': 'Experiment' },
        h('a', { href: `#/experiments/${encodeURIComponent(x.key)}` }, x.name || x.key),
        h('div', { class: 'muted small' }, h('code', {}, x.key), x.owner ? ` · ${x.owner}` : '')),
      h('td', { 'data-label': 'Status' }, statusBadge(x.status), outcomeTag(x.conclusion)),
      h('td', { 'data-label': 'Variants' }, x.variants.map((v) => v.key).join(', ')),
      h('td', { 'data-label': 'Started' }, x.started_at ? fmtDate(x.started_at) : h('span', { class: 'muted' }, '—')),
      h('td', { 'data-label': 'Users', class: 'num' }, c.users),
      h('td', { 'data-label': 'Primary metric' }, c.headline),
      h('td', { 'data-label': 'SRM', class: 'srm-cell' }, c.srm)
    );
    const old = rows.get(x.key);
    if (old) old.replaceWith(tr);
    rows.set(x.key, tr);
    return tr;
  };

  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'table table-cards', id: 'experiments-table' },
    h('caption', { class: 'visually-hidden' }, 'Experiments'),
    h('thead', {}, h('tr', {},
      ['Experiment', 'Status', 'Variants', 'Started', 'Users', 'Primary metric', 'SRM'].map((t) =>
        h('th', { scope: 'col', class: t === 'Users' ? 'num' : null }, t === 'SRM' ? h('abbr', { title: 'Sample ratio mismatch' }, 'SRM') : t)))),
    tbody
  );
  const empty = h('p', { class: 'empty' });

  const apply = () => {
    const needle = search.value.trim();
    let shown = 0;
    for (const x of experiments) {
      const tr = rows.get(x.key);
      const ok = matches(x, needle);
      tr.hidden = !ok;
      if (ok) shown++;
    }
    count.textContent = `${shown} experiment${shown === 1 ? '' : 's'}${needle ? ` matching “${needle}”` : ''}`;
    // every experiment archived is not "none yet": say where they are
    if (experiments.length === 0 && archived > 0) {
      fill(empty, `${archived === 1 ? 'The only experiment is' : `All ${archived} experiments are`} archived, and archived experiments are hidden here: `,
        h('a', { href: '#/experiments?status=archived', id: 'show-archived' }, 'show the archived experiments'), ' (Status: archived).');
    } else {
      empty.textContent = experiments.length === 0
        ? (status ? `No ${status} experiments.` : 'No experiments yet.')
        : shown === 0 ? 'No experiment matches the search.' : '';
    }
    empty.hidden = shown > 0;
  };

  for (const x of experiments) tbody.append(renderRow(x));
  body.append(h('div', { class: 'table-wrap' }, table), empty);
  apply();

  statusSel.addEventListener('change', () => {
    // a new status asks the server again (GET /experiments?status=)
    const q = new URLSearchParams();
    if (statusSel.value) q.set('status', statusSel.value);
    if (search.value.trim()) q.set('q', search.value.trim());
    ctx.navigate(`#/experiments${q.toString() ? '?' + q : ''}`);
  });
  search.addEventListener('input', debounce(() => {
    apply();
    ctx.setQuery({ status: statusSel.value, q: search.value.trim() });
  }, 150));

  // Results (users, headline, SRM) for everything that has started.
  const started = experiments.filter((x) => x.status !== 'draft');
  await pool(started, 4, async (x) => {
    let r = null;
    try {
      r = await api.results(x.key);
    } catch (err) {
      if (err.status === 401) throw err;
      r = null;
    }
    if (!ctx.alive()) return;
    results.set(x.key, r);
    const tr = renderRow(x);
    tr.hidden = !matches(x, search.value.trim());
  });
}

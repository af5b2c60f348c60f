// experiments.js - the experiments list: status filter, search, pages of PAGE_SIZE rows,
// and per row the status, variants, start date, users so far, the primary metric's headline
// and an SRM warning. The last three come from each experiment's results, fetched a few at
// a time for the rows of the page shown only, and never once the page is left.

import { api } from '../api.js';
import { h, fill, errorBox, statusBadge, debounce } from '../dom.js';
import { fmtInt, fmtDate, fmtPct, fmtPEq, fmtProb, headline, totalUsers, significanceText } from '../format.js';
import { outcomeTag } from './decision.js';
import { decide } from '../decide.js';

const STATUSES = ['draft', 'running', 'paused', 'stopped', 'archived'];
export const PAGE_SIZE = 25;
const IN_FLIGHT = 4;

function matches(x, q) {
  if (!q) return true;
  const hay = [x.key, x.name, x.owner, x.hypothesis, x.description].join(' ').toLowerCase();
  return q
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((w) => hay.includes(w));
}

/**
 * Loads results for the rows `wanted()` returns (recomputed after every answer, so a page
 * left or a search changed drops what is no longer shown), at most `limit` at a time, until
 * `live()` is false. `load(x)` fetches one; returns {pump}: call it when `wanted()` changes.
 */
function resultsLoader({ wanted, live, limit, load }) {
  const busy = new Set();
  let stopped = false;
  const pump = () => {
    if (stopped || !live()) return;
    for (const x of wanted()) {
      if (busy.size >= limit) break;
      if (busy.has(x.key)) continue;
      busy.add(x.key);
      load(x)
        .catch((err) => {
          if (err && err.status === 401) stopped = true; // signed out: the shell shows sign-in
        })
        .finally(() => {
          busy.delete(x.key);
          pump();
        });
    }
  };
  return { pump };
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
        { class: ['lift', `verdict-${t.verdict}`], title: `${t.key}: ${t.text}, ${sig}` },
        h('span', { class: 'lift-variant' }, t.key),
        ' ',
        h('strong', { dataset: { value: String(t.lift) } }, fmtPct(t.lift, { signed: true })),
        ' ',
        h('span', { class: 'lift-verdict' }, t.text)
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
  let page = Math.max(1, Math.floor(Number(ctx.query.page)) || 1);
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
  const prevBtn = h('button', { type: 'button', class: 'btn btn-small', id: 'page-prev' }, '← Previous');
  const nextBtn = h('button', { type: 'button', class: 'btn btn-small', id: 'page-next' }, 'Next →');
  const pageText = h('span', { id: 'page-status' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of experiments' }, prevBtn, pageText, nextBtn);

  // the rows on screen: the current page of those matching the search
  let shownRows = [];
  const apply = () => {
    const needle = search.value.trim();
    const matching = experiments.filter((x) => matches(x, needle));
    const shown = matching.length;
    const pages = Math.max(1, Math.ceil(shown / PAGE_SIZE));
    page = Math.min(Math.max(1, page), pages);
    shownRows = matching.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
    tbody.replaceChildren(...shownRows.map((x) => rows.get(x.key)));
    pager.hidden = pages === 1;
    prevBtn.disabled = page === 1;
    nextBtn.disabled = page === pages;
    pageText.textContent = `Page ${page} of ${pages} (${(page - 1) * PAGE_SIZE + 1}–${(page - 1) * PAGE_SIZE + shownRows.length})`;
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

  for (const x of experiments) renderRow(x);
  body.append(h('div', { class: 'table-wrap' }, table), empty, pager);
  const query = () => ({ status: statusSel.value, q: search.value.trim(), page: page > 1 ? String(page) : undefined });

  // Results (users, headline, SRM) of the started experiments on the page shown.
  const loader = resultsLoader({
    wanted: () => shownRows.filter((x) => x.status !== 'draft' && !results.has(x.key)),
    live: () => ctx.alive() && table.isConnected,
    limit: IN_FLIGHT,
    load: async (x) => {
      let r = null;
      try {
        r = await api.results(x.key);
      } catch (err) {
        if (err.status === 401) throw err;
        r = null;
      }
      if (!ctx.alive()) return;
      results.set(x.key, r);
      renderRow(x);
    },
  });
  const show = () => {
    apply();
    loader.pump();
  };
  const turn = (by) => {
    page += by;
    show();
    ctx.setQuery(query());
    table.scrollIntoView({ block: 'start' });
  };
  prevBtn.addEventListener('click', () => turn(-1));
  nextBtn.addEventListener('click', () => turn(1));
  show();

  statusSel.addEventListener('change', () => {
    // a new status asks the server again (GET /experiments?status=)
    const q = new URLSearchParams();
    if (statusSel.value) q.set('status', statusSel.value);
    if (search.value.trim()) q.set('q', search.value.trim());
    ctx.navigate(`#/experiments${q.toString() ? '?' + q : ''}`);
  });
  search.addEventListener('input', debounce(() => {
    if (!ctx.alive()) return;
    page = 1;
    show();
    ctx.setQuery(query());
  }, 150));
}

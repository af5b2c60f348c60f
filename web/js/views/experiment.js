// experiment.js - one experiment: header with status and lifecycle buttons, its
// configuration, and the results block (results.js).
// Reading order for a person deciding: the decision (decision.js), traffic health
// (health.js), the conclusion once stopped, then the detailed results.

import { api } from '../api.js';
import { h, fill, errorBox, statusBadge } from '../dom.js';
import { fmtDateTime, fmtPct } from '../format.js';
import { lifecycleButtons, concludeButton } from './lifecycle.js';
import { resultsSection } from './results.js';
import { decisionPanel, conclusionBlock } from './decision.js';
import { healthSection } from './health.js';

function dl(pairs) {
  return h('dl', { class: 'meta' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function configBlock(x) {
  const tgt = x.targeting && Object.keys(x.targeting).length ? JSON.stringify(x.targeting, null, 2) : null;
  const forced = Object.entries(x.forced || {});
  return h('details', { class: 'card config' },
    h('summary', {}, 'Configuration'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table small' },
      h('caption', { class: 'visually-hidden' }, 'Variants'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Variant'), h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col', class: 'num' }, 'Weight'))),
      h('tbody', {}, x.variants.map((v, i) => h('tr', {},
        h('th', { scope: 'row' }, h('code', {}, v.key), i === 0 ? h('span', { class: 'tag' }, 'control') : null),
        h('td', {}, v.name), h('td', { class: 'num' }, fmtPct(v.weight, { digits: 2 }))))))),
    dl([
      ['Coverage', fmtPct(x.coverage, { digits: 0 })],
      ['Namespace', x.namespace ? `${x.namespace.name} [${x.namespace.range[0]}, ${x.namespace.range[1]})` : 'none'],
      ['Targeting', tgt ? h('pre', { class: 'code' }, tgt) : 'everyone'],
      ['Forced users', forced.length ? forced.map(([u, v]) => `${u} → ${v}`).join(', ') : 'none'],
      ['Metrics', (x.metrics || []).join(', ') || 'none'],
      ['Primary metric', x.primary_metric || 'none'],
      ['Guardrails', (x.guardrails || []).join(', ') || 'none'],
      x.dimensions ? ['Breakdown dimensions', x.dimensions.join(', ') || 'none'] : null,
      ['Seed / hash version', `${x.seed} / v${x.hash_version}`],
      ['Sequential tuning', String(x.sequential_tuning)],
    ]));
}

export async function renderExperiment(ctx, key) {
  let x;
  let catalogue = [];
  try {
    [x, catalogue] = await Promise.all([api.getExperiment(key), api.listMetrics().catch(() => [])]);
  } catch (err) {
    if (!ctx.alive() || err.status === 401) return;
    ctx.title(key);
    fill(ctx.main,
      h('p', { class: 'breadcrumb' }, h('a', { href: '#/experiments' }, 'Experiments')),
      h('h1', {}, err.status === 404 ? 'Experiment not found' : key),
      errorBox(err)
    );
    return;
  }
  if (!ctx.alive()) return;
  ctx.title(x.name || x.key);

  const onDone = (r, action) => {
    if (action === 'delete') ctx.navigate('#/experiments');
    else ctx.navigate(`#/experiments/${encodeURIComponent(x.key)}`);
  };
  const actions = h('div', { class: 'head-actions' },
    ctx.can('editor') && x.status !== 'archived'
      ? h('a', { class: 'btn', href: `#/experiments/${encodeURIComponent(x.key)}/edit`, id: 'edit-experiment' }, 'Edit')
      : null,
    lifecycleButtons(ctx, x, onDone),
    concludeButton(ctx, x, onDone));
  const decision = decisionPanel(x, catalogue);
  const health = healthSection(ctx, x, catalogue);
  const onResults = (r) => {
    decision.update(r);
    health.setResults(r);
  };

  fill(ctx.main,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/experiments' }, 'Experiments'), ' / ', x.key),
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, x.name || x.key, ' ', statusBadge(x.status)), h('p', { class: 'muted' }, h('code', {}, x.key), x.owner ? ` · owner ${x.owner}` : '')),
      actions),
    x.hypothesis ? h('p', { class: 'hypothesis' }, h('strong', {}, 'Hypothesis: '), x.hypothesis) : null,
    x.description ? h('p', {}, x.description) : null,
    conclusionBlock(x),
    decision.el,
    health.el,
    dl([
      ['Created', fmtDateTime(x.created_at)],
      x.started_at ? ['Started', fmtDateTime(x.started_at)] : null,
      x.stopped_at ? ['Stopped', fmtDateTime(x.stopped_at)] : null,
      x.released_variant ? ['Released to everyone', h('strong', { id: 'released-variant' }, x.released_variant)] : null,
    ]),
    configBlock(x),
    resultsSection(ctx, x, { catalogue, onResults })
  );
}

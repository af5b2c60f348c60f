// experiment.js - one experiment: header with status and lifecycle buttons, its
// configuration, "check a user" (check_user.js), and the results block (results.js).
// Reading order for a person deciding: the decision (decision.js), traffic health
// (health.js), the conclusion once stopped, then the detailed results.

import { api } from '../api.js';
import { h, fill, errorBox, statusBadge } from '../dom.js';
import { retryDelay } from '../retry.js';
import { fmtDateTime, fmtPct, fmtSharePct } from '../format.js';
import { lifecycleButtons, concludeButton } from './lifecycle.js';
import { resultsSection } from './results.js';
import { decisionPanel, conclusionBlock } from './decision.js';
import { healthSection } from './health.js';
import { checkUserBlock } from './check_user.js';

function dl(pairs) {
  return h('dl', { class: 'meta' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** A variant's or the default value as JSON, cut at 120 characters (a value may be 64 KiB). */
function valueText(v) {
  const t = JSON.stringify(v);
  return h('code', { class: 'value-json', title: t.length > 120 ? t : null }, t.length > 120 ? `${t.slice(0, 119)}…` : t);
}

/** Who is hashed: the user id, or an attribute (with its fallback) that a user may lack. */
function hashedText(x) {
  const ha = x.hash_attribute || 'id';
  if (ha === 'id') return 'the user id';
  return [h('code', {}, ha), x.fallback_attribute ? [', else ', h('code', {}, x.fallback_attribute)] : null,
    ` (users without ${x.fallback_attribute ? 'either' : 'it'} are never in the experiment)`];
}

function configBlock(x) {
  const tgt = x.targeting && Object.keys(x.targeting).length ? JSON.stringify(x.targeting, null, 2) : null;
  const forced = Object.entries(x.forced || {});
  const byAttr = x.hash_attribute && x.hash_attribute !== 'id';
  const an = x.analysis || null;
  const hasDefault = x.default_value !== undefined && x.default_value !== null;
  // what users out of the experiment get (API.md: the default value, else the control's)
  const outside = hasDefault ? 'the default value' : `the control’s value (${x.variants[0].key})`;
  const attrs = [h('code', {}, x.hash_attribute), x.fallback_attribute ? [' or ', h('code', {}, x.fallback_attribute)] : null];
  return h('details', { class: 'card config' },
    h('summary', {}, 'Configuration'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table small' },
      h('caption', { class: 'visually-hidden' }, 'Variants'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Variant'), h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col', class: 'num' }, 'Weight'), h('th', { scope: 'col' }, 'Value'))),
      h('tbody', {}, x.variants.map((v, i) => h('tr', {},
        h('th', { scope: 'row' }, h('code', {}, v.key), i === 0 ? h('span', { class: 'tag' }, 'control') : null),
        h('td', {}, v.name), h('td', { class: 'num' }, fmtPct(v.weight, { digits: 2 })),
        h('td', { dataset: { col: 'value' } }, v.value === undefined || v.value === null ? h('span', { class: 'muted' }, 'its key') : valueText(v.value))))))),
    dl([
      ['Coverage', `${fmtSharePct(x.coverage)}${x.coverage < 1 ? `; the rest get ${outside} and are not counted` : ''}`],
      ['Default value', h('span', { id: 'config-default' }, hasDefault ? valueText(x.default_value) : `none: users not in the experiment get the control’s value`)],
      ['Namespace', x.namespace ? `${x.namespace.name} [${x.namespace.range[0]}, ${x.namespace.range[1]})` : 'none'],
      ['Targeting', h('span', { id: 'config-targeting' }, tgt ? h('pre', { class: 'code' }, tgt) : null,
        tgt ? (byAttr ? ['and only users with ', attrs] : null) : byAttr ? ['everyone with ', attrs] : 'everyone')],
      ['Hashed on', h('span', { id: 'config-hashed' }, hashedText(x))],
      ['Forced users', forced.length ? forced.map(([u, v]) => `${u} → ${v}`).join(', ') : 'none'],
      ['Metrics', (x.metrics || []).join(', ') || 'none'],
      ['Primary metric', x.primary_metric || 'none'],
      ['Guardrails', (x.guardrails || []).join(', ') || 'none'],
      typeof x.mde === 'number' ? ['Minimum detectable effect', `${Number((x.mde * 100).toFixed(4))}% (relative, on the primary metric)`] : null,
      x.dimensions ? ['Breakdown dimensions', x.dimensions.join(', ') || 'none'] : null,
      an ? ['Analysis defaults', `${an.method}, alpha ${an.alpha}, CUPED ${an.cuped ? 'on' : 'off'}, correction ${an.correction}`] : null,
      ['Seed / hash version', `${x.seed} / v${x.hash_version}`],
      ['Sequential tuning', String(x.sequential_tuning)],
    ]));
}

/**
 * A "Try again" button for a read that failed, and, when the failure may pass (the server
 * down or busy: retry.js), an automatic try after the wait retry.js says. `again()` runs
 * once, whichever comes first, while `el` is still on the page.
 */
function retryControls(err, attempt, again, el) {
  const wait = retryDelay(err, attempt);
  let fired = false;
  const fire = () => {
    if (fired || !el.isConnected) return;
    fired = true;
    again();
  };
  const timer = wait === null ? null : setTimeout(fire, wait * 1000);
  const btn = h('button', { type: 'button', class: 'btn btn-small retry-btn' }, 'Try again');
  btn.addEventListener('click', () => {
    clearTimeout(timer);
    fire();
  });
  return [' ', btn, wait === null ? null : h('span', { class: 'muted small' }, ` (trying again by itself in ${wait} s)`)];
}

export async function renderExperiment(ctx, key, attempt = 0) {
  let x;
  let catalogue = [];
  let catalogueErr = null;
  try {
    [x, catalogue] = await Promise.all([api.getExperiment(key), api.listMetrics().catch((err) => {
      catalogueErr = err;
      return [];
    })]);
  } catch (err) {
    if (!ctx.alive() || err.status === 401) return;
    ctx.title(key);
    const box = errorBox(err);
    fill(ctx.main,
      h('p', { class: 'breadcrumb' }, h('a', { href: '#/experiments' }, 'Experiments')),
      h('h1', {}, err.status === 404 ? 'Experiment not found' : key),
      box
    );
    if (err.status !== 404) box.append(...retryControls(err, attempt, () => renderExperiment(ctx, key, attempt + 1), box));
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
  // the metric definitions failed to load: the results lack units, names and ratio parts,
  // which is said, and the page renders again once they load (asked again as retry.js says)
  let catalogueNote = null;
  if (catalogueErr && catalogueErr.status !== 401) {
    catalogueNote = h('div', { class: 'alert alert-warn', id: 'catalogue-notice', role: 'status' },
      `The metric definitions could not be loaded (${catalogueErr.message}): units, metric names and ratio details are not shown.`);
    catalogueNote.append(...retryControls(catalogueErr, attempt, () => ctx.alive() && renderExperiment(ctx, key, attempt + 1), catalogueNote));
  }
  // the decision's "Check it under Holm–Bonferroni" sets the Results section's correction
  let resultsControls = null;
  const decision = decisionPanel(x, catalogue, { onCorrection: (c) => resultsControls && resultsControls.setCorrection(c) });
  const health = healthSection(ctx, x, catalogue);
  // returns the decision's headline: the Results section announces it after a change
  const onResults = (r) => {
    const headline = decision.update(r);
    health.setResults(r);
    return headline;
  };
  const onUnavailable = (info) => {
    decision.unavailable(info);
    health.setUnavailable(info);
  };

  fill(ctx.main,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/experiments' }, 'Experiments'), ' / ', x.key),
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, x.name || x.key, ' ', statusBadge(x.status)), h('p', { class: 'muted' }, h('code', {}, x.key), x.owner ? ` · owner ${x.owner}` : '')),
      actions),
    x.hypothesis ? h('p', { class: 'hypothesis' }, h('strong', {}, 'Hypothesis: '), x.hypothesis) : null,
    x.description ? h('p', { class: 'description' }, x.description) : null,
    catalogueNote,
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
    checkUserBlock(ctx, x),
    resultsSection(ctx, x, { catalogue, noCatalogue: !!catalogueErr, onResults, onUnavailable, onControls: (c) => { resultsControls = c; } })
  );
}

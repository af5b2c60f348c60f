// results.js - the results of one experiment: SRM banner, method / CUPED / correction
// toggles, per metric a table and a forest plot, the cumulative lift over time, CSV
// download and the JSON URL. Under a correction the intervals shown (table, forest plot,
// breakdown) are the adjusted ones, the intervals of the adjusted p-values that the
// verdicts beside them follow. The toggles live in the page's query string. While the
// roll-ups rebuild after a definition change, the page looks again every few seconds and
// shows the new numbers when the rebuild ends. When the results fail (503 while the server
// is busy) the page asks again as retry.js says and tells the decision and health panels
// (onUnavailable), which then say "unavailable" rather than "not started". The tables are no
// live region: after a change of the options one line announces the decision they give.

import { api } from '../api.js';
import { h, add, clear, fill, errorBox, loading, nextId, announce, variantCell } from '../dom.js';
import { fmtInt, fmtPct, fmtPctInterval, fmtSmallPct, fmtPEq, significanceText, variantName, fmtDateTime, fmtLevel, verdict, shownVerdict, relSignificant, resultsFormat, ratioPartsText, isAdjusted, correctionName, shownInterval, fmtShownPct, UNBOUNDED_INTERVAL } from '../format.js';
import { forestPlot, liftChart, seriesClasses } from '../charts.js';
import { retryDelay } from '../retry.js';
import { saveFile, seriesCsvButton, usersExportBlock } from './downloads.js';

const METHODS = [
  ['frequentist', 'Frequentist'],
  ['bayesian', 'Bayesian'],
  ['sequential', 'Sequential'],
];
const CORRECTIONS = [
  ['none', 'None'],
  ['holm', 'Holm–Bonferroni'],
  ['bh', 'Benjamini–Hochberg'],
];

function settingsFrom(ctx, x) {
  const a = x.analysis || {};
  const q = ctx.query;
  return {
    method: METHODS.some((m) => m[0] === q.method) ? q.method : a.method || 'frequentist',
    cuped: q.cuped ? q.cuped === 'true' : a.cuped !== false,
    correction: CORRECTIONS.some((c) => c[0] === q.correction) ? q.correction : a.correction || 'none',
    alpha: q.alpha && Number(q.alpha) > 0 && Number(q.alpha) < 1 ? Number(q.alpha) : a.alpha || 0.05,
    metric: q.metric || x.primary_metric || (x.metrics || [])[0] || '',
    dimension: (x.dimensions || []).includes(q.dimension) ? q.dimension : '',
  };
}

function apiParams(st) {
  return { method: st.method, cuped: String(st.cuped), correction: st.correction, alpha: st.alpha };
}

/** The parameters of the results as shown: with the breakdown's dimension when one is chosen. */
function exportParams(st) {
  return st.dimension ? { ...apiParams(st), dimension: st.dimension } : apiParams(st);
}

/**
 * A request counter per box: `next()` marks a new request and returns its check, true
 * while no later request of that box has started (an older, slower answer is dropped).
 */
function latest() {
  let n = 0;
  return {
    next() {
      const mine = ++n;
      return () => mine === n;
    },
  };
}

/**
 * Whether the lifts of results metric `m` (of results or a breakdown `r`) are CUPED-adjusted:
 * CUPED on and a treatment whose theta is not 0 (theta 0: no pre-period, no adjustment).
 * The means beside them stay the raw ones (the API gives no adjusted means).
 */
export function cupedAdjusted(m, r) {
  return r.cuped === true && m.variants.slice(1).some((v) => v.cuped && typeof v.cuped.theta === 'number' && v.cuped.theta !== 0);
}

/** The note under a table whose lifts are CUPED-adjusted beside raw means. */
const CUPED_MEANS_NOTE = 'Lifts and intervals are CUPED-adjusted (pre-period differences between the groups removed); the means are unadjusted, so a lift can differ from the ratio of the means, even in sign.';

/**
 * Whether treatment `v`'s absolute-lift test and relative-lift test disagree (one
 * significant, the other not): they use different standard errors and can, near alpha.
 * The verdict is the relative one's, so the absolute interval beside it is marked.
 */
export function testsDisagree(v, r) {
  if (r.method === 'bayesian') return false;
  const rl = v.relative_lift || {};
  return typeof v.significant === 'boolean' && typeof rl.significant === 'boolean' && v.significant !== rl.significant;
}

/** The note under a table for a treatment whose two tests disagree (testsDisagree). */
function disagreeNote(v, r) {
  const rl = v.relative_lift || {};
  const adj = isAdjusted(r);
  const pa = adj ? v.p_value_adjusted : v.p_value;
  const pr = adj ? rl.p_value_adjusted : rl.p_value;
  return `† ${v.key}: the absolute lift’s own test (${fmtPEq(pa)}) ${v.significant ? 'finds' : 'does not find'} a difference and the relative lift’s (${fmtPEq(pr)}) ${rl.significant ? 'does' : 'does not'}: they use different standard errors and can disagree near alpha ${r.alpha}. The result follows the relative lift and its interval; the absolute interval (greyed) is not the result’s.`;
}

function metricTable(m, r, def, defs, x) {
  const f = resultsFormat(m, def);
  const bayes = r.method === 'bayesian';
  const adjusted = isAdjusted(r);
  const level = fmtLevel(r.alpha);
  // the unit of the cells ("ms" or "s" for a duration), and "unadjusted" beside CUPED lifts
  const unit = m.type === 'binomial' || !f.label || f.label === '%' ? [] : [f.label];
  const meanWords = [...(cupedAdjusted(m, r) ? ['unadjusted'] : []), ...unit];
  const cols = [
    ['variant', 'Variant'],
    ['users', 'Users'],
    ['mean', `${m.type === 'binomial' ? 'Conversion' : m.type === 'ratio' ? 'Ratio' : 'Mean per user'}${meanWords.length ? ` (${meanWords.join(', ')})` : ''}`],
    ['lift', 'Relative lift'],
    ['ci', bayes ? `${level} credible interval` : `${level} ${r.method === 'sequential' ? 'always-valid ' : ''}interval${adjusted ? ` (${correctionName(r.correction)}-adjusted)` : ''}`],
    ['abs', adjusted ? `Absolute lift (${correctionName(r.correction)}-adjusted interval)` : 'Absolute lift'],
    // the relative lift's (the headline), not the absolute lift's beside it: the JSON's
    // relative_lift.p_value, where its top-level p_value is the absolute one (journey35 F3)
    ['p', bayes ? 'Chance to beat control' : adjusted ? `p-value (${correctionName(r.correction)}, relative lift)` : 'p-value (relative lift)'],
    ['verdict', 'Result'],
  ];
  const tbody = h('tbody');
  m.variants.forEach((v, i) => {
    const isControl = i === 0;
    const sv = isControl ? null : shownVerdict(v, m.goal, r);
    const vd = sv ? sv.verdict : null;
    const rl = v.relative_lift || {};
    const al = v.absolute_lift || {};
    const rci = shownInterval(rl, r);
    const aci = shownInterval(al, r);
    const pv = significanceText(v, r);
    const conv = m.type === 'binomial' && typeof v.sum === 'number' ? h('span', { class: 'converters' }, `${fmtInt(v.sum)} / ${fmtInt(v.users)} converted`)
      : m.type === 'ratio' ? h('span', { class: 'converters ratio-parts' }, ratioPartsText(v, m, defs)) : null;
    const td = (col, content, cls) => h('td', { 'data-col': col, 'data-label': cols.find((c) => c[0] === col)[1], class: cls }, content);
    tbody.append(h('tr', { class: vd ? `verdict-${vd}` : 'control-row', dataset: { variant: v.key } },
      h('th', { scope: 'row', 'data-col': 'variant' }, variantCell(variantName(x, v.key), v.key, isControl ? h('span', { class: 'tag' }, 'control') : null)),
      td('users', fmtInt(v.users), 'num'),
      td('mean', [h('span', { class: 'mean-value' }, f.mean(v.mean)), conv], 'num'),
      td('lift', isControl ? '—' : fmtPct(rl.estimate, { signed: true }), 'num'),
      td('ci', isControl ? '—' : fmtShownPct(rci), 'num'),
      // an absolute test that disagrees with the verdict's: its interval greyed, a † (style.css) to the note
      td('abs', isControl ? '—' : [h('span', { class: 'abs-est' }, f.abs(al.estimate)), ' ',
        h('span', { class: testsDisagree(v, r) ? 'abs-ci abs-disagrees' : 'abs-ci' }, aci.unbounded ? UNBOUNDED_INTERVAL : f.absInterval(aci.ci))], 'num'),
      td('p', isControl ? '—' : pv, 'num'),
      td('verdict', isControl ? h('span', { class: 'muted' }, 'baseline') : h('span', { class: ['verdict', `verdict-${vd}`] }, vd === 'win' ? '▲ ' : vd === 'loss' ? '▼ ' : '', sv.text))));
  });
  return h('div', { class: 'table-wrap', role: 'region', 'aria-label': `${m.name || m.key} results table`, tabindex: '0' },
    h('table', { class: 'table table-cards results-table', dataset: { metric: m.key } },
      h('caption', { class: 'visually-hidden' }, `Results for ${m.name || m.key}`),
      h('thead', {}, h('tr', {}, cols.map(([k, t]) => h('th', { scope: 'col', class: k === 'variant' || k === 'verdict' ? null : 'num' }, t)))),
      tbody));
}

// the engine's warning when the users' metric values before the experiment do not vary
// (none at all, or all the same: compare.c W_NO_PRE), and what the page says instead (once
// per metric)
const NO_PRE = 'no pre-period variance: CUPED not applied (theta = 0)';
const NO_PRE_NOTE = 'CUPED made no adjustment: these users’ values of this metric before the experiment do not vary (none, or all the same), so there is nothing to adjust with (the interval is the unadjusted one).';

function metricNotes(m, r, def) {
  const f = resultsFormat(m, def);
  const notes = [];
  const control = m.variants[0] || {};
  // said once per metric; the server also says it in each treatment's warning
  const ratioCuped = 'CUPED is not applied to ratio metrics';
  let noPre = false;
  if (cupedAdjusted(m, r)) notes.push(CUPED_MEANS_NOTE);
  if (m.type === 'ratio' && r.cuped) notes.push('CUPED does not apply to ratio metrics: this interval is without it.');
  if (m.warning) notes.push(`${m.warning}.`);
  for (const v of m.variants.slice(1)) {
    // 1 - SE_cuped^2 / SE_raw^2: below 0 when a pre-period that does not predict the metric
    // made the estimate noisier; a tiny share is not "0.0%"
    const vr = r.cuped && v.cuped ? v.cuped.variance_reduction : null;
    if (typeof vr === 'number' && Number.isFinite(vr) && vr !== 0) {
      const size = Math.abs(vr) < 0.001 ? 'less than 0.1%' : fmtPct(Math.abs(vr));
      notes.push(vr > 0 ? `${v.key}: CUPED reduced variance by ${size}.`
        : `${v.key}: CUPED increased variance by ${size}: the pre-period does not predict this metric, so the adjustment made the estimate noisier.`);
    }
    const parts = v.warning ? v.warning.split('; ').filter((w) => w !== ratioCuped) : [];
    // users without events before the experiment (a new product, new users): said once per
    // metric in plain words, not per variant in the engine's (review journey35 N3)
    if (parts.includes(NO_PRE)) noPre = true;
    const warning = parts.filter((w) => w !== NO_PRE).join('; ');
    if (warning) notes.push(`${v.key}: ${warning}.`);
    if (testsDisagree(v, r)) notes.push(disagreeNote(v, r));
    if (typeof v.expected_loss === 'number') {
      const rel = typeof control.mean === 'number' && control.mean !== 0 ? ` (${fmtSmallPct(v.expected_loss / Math.abs(control.mean))} of the control’s mean)` : '';
      notes.push(`${v.key}: expected loss if shipped and wrong ${f.abs(v.expected_loss).replace(/^\+/, '')}${rel}.`);
    }
    if (isAdjusted(r) && v.relative_lift && Array.isArray(v.relative_lift.ci) &&
        (v.relative_lift.ci[0] > 0 || v.relative_lift.ci[1] < 0) && !relSignificant(v, r)) {
      const n = r.metrics.reduce((a, y) => a + Math.max(0, y.variants.length - 1), 0);
      notes.push(`${v.key}: the unadjusted interval ${fmtPctInterval(v.relative_lift.ci)} excludes zero, but not after the ${r.correction === 'holm' ? 'Holm' : 'Benjamini–Hochberg'} correction over ${n} comparisons.`);
    }
  }
  if (noPre) notes.push(NO_PRE_NOTE);
  return notes.length ? h('ul', { class: 'notes' }, notes.map((n) => h('li', {}, n))) : null;
}

/**
 * The kind of the intervals of results or a series `r`, as the results table's header
 * words it: "95%", "95% credible", "95% always-valid", "95% Holm-adjusted".
 */
function intervalKind(r) {
  const level = fmtLevel(r.alpha);
  if (r.method === 'bayesian') return `${level} credible`;
  return `${level}${r.method === 'sequential' ? ' always-valid' : ''}${isAdjusted(r) ? ` ${correctionName(r.correction)}-adjusted` : ''}`;
}

/**
 * The Bayesian note's sentence on the Result column (review dash36 F6): it follows the
 * two-sided credible interval at the experiment's alpha, not the one-sided chance, so a
 * chance just past 1 - alpha/2 (97.5% at alpha 0.05) can sit beside "No credible difference".
 */
export function bayesResultRule(alpha) {
  const a = typeof alpha === 'number' && alpha > 0 && alpha < 1 ? alpha : 0.05;
  const edge = `${Number(((1 - a / 2) * 100).toFixed(2))}%`;
  const low = `${Number(((a / 2) * 100).toFixed(2))}%`;
  return `The Result column follows the two-sided ${fmtLevel(a)} credible interval of the relative lift, not the chance: “Better” or “Worse” needs the whole interval on one side of 0, so a chance to beat control a little above ${edge} (or below ${low}) can still read “No credible difference” while the interval holds 0.`;
}

function metricSection(m, r, def, defs, x) {
  const goal = m.goal === 'decrease' ? 'lower is better' : 'higher is better';
  const rows = m.variants.slice(1).map((v) => {
    const shown = shownInterval(v.relative_lift, r);
    return {
      label: v.key,
      estimate: v.relative_lift ? v.relative_lift.estimate : null,
      lo: shown.ci ? shown.ci[0] : null,
      hi: shown.ci ? shown.ci[1] : null,
      unbounded: shown.unbounded,
      verdict: shownVerdict(v, m.goal, r).verdict,
    };
  });
  const kind = intervalKind(r);
  const headId = nextId('metric');
  return h('section', { class: 'metric-result card', 'aria-labelledby': headId, dataset: { metric: m.key } },
    h('h3', { id: headId }, m.name || m.key, ' ',
      h('span', { class: 'tag' }, m.type), ' ',
      def && def.unit ? [h('span', { class: 'tag tag-unit' }, def.unit === 'currency' ? def.currency : def.unit), ' '] : null,
      h('span', { class: 'tag' }, goal),
      m.guardrail ? [' ', h('span', { class: 'tag tag-guard' }, 'guardrail')] : null),
    metricTable(m, r, def, defs, x),
    h('figure', { class: 'forest-figure' },
      forestPlot(rows, { title: `Relative lift of each variant against control for ${m.name || m.key}, with ${kind} intervals` }),
      h('figcaption', { class: 'muted small' }, `Relative lift vs control with ${kind} interval; the dashed line is no change.`,
        rows.some((row) => row.unbounded) ? ` A dotted line across the whole axis is an unbounded interval, ${UNBOUNDED_INTERVAL} (an adjusted p-value of 1).` : null)),
    metricNotes(m, r, def));
}

/** Milliseconds between two looks at results that are rebuilding. */
const REBUILD_POLL_MS = 3000;

function rebuildingText(r) {
  return `rebuilding ${Math.floor(r.rebuilding.progress * 100)}%`;
}

/** What the rebuild means for the numbers shown, in words (no tooltip), with its progress. */
function rebuildingNote(r) {
  const rb = r.rebuilding;
  return [h('strong', {}, 'Recomputing after a definition change. '),
    'A metric’s definition (or this experiment’s metrics) changed: the numbers below are the last complete ones, under the previous definition, and they update here when the rebuild ends. ',
    h('span', { class: 'rebuilding-progress' }, `${Math.floor(rb.progress * 100)}% done (${fmtInt(rb.users_done)} of ${fmtInt(rb.users_total)} users).`)];
}

function srmText(srm) {
  if (!srm || typeof srm.p_value !== 'number') return h('span', { class: 'muted' }, 'no test');
  // as the traffic health panel: 4 decimals ("p = 0.0030"), "p < 0.0001" below
  return srm.mismatch
    ? h('span', { class: 'srm-bad' }, `Mismatch, ${fmtPEq(srm.p_value)}`)
    : h('span', { class: 'srm-ok' }, `OK, ${fmtPEq(srm.p_value)}`);
}

/** One table per metric: a row per (value, treatment) of the dimension breakdown `b`. */
function breakdownTables(b, defs, x) {
  const first = b.slices[0];
  if (!first) return [h('p', { class: 'muted' }, `No exposures recorded with a ${b.dimension} yet (values are recorded at each user’s first exposure).`)];
  const adjusted = isAdjusted(b);
  const bayes = b.method === 'bayesian';
  // the card layout (phones) labels each cell with its column's header: the same words
  const ciHead = `${fmtLevel(b.alpha)} ${bayes ? 'credible ' : b.method === 'sequential' ? 'always-valid ' : ''}interval${adjusted ? ` (${correctionName(b.correction)}-adjusted)` : ''}`;
  const pHead = bayes ? 'Chance to beat control' : adjusted ? `p-value (${correctionName(b.correction)}, all slices)` : 'p-value';
  return first.metrics.map((m0) => {
    const tbody = h('tbody');
    // CUPED-adjusted lifts beside raw means in any slice: the means say "unadjusted"
    const cuped = b.slices.some((sl) => {
      const m = sl.metrics.find((y) => y.key === m0.key);
      return m && cupedAdjusted(m, b);
    });
    const ctlHead = cuped ? 'Control (unadjusted)' : 'Control';
    const meanHead = cuped ? 'Variant mean (unadjusted)' : 'Variant mean';
    for (const sl of b.slices) {
      const m = sl.metrics.find((y) => y.key === m0.key);
      if (!m) continue;
      const f = resultsFormat(m, defs.get(m.key));
      const users = sl.variants.reduce((a, v) => a + v.users, 0);
      m.variants.slice(1).forEach((v, i) => {
        const sv = shownVerdict(v, m.goal, b);
        const vd = sv.verdict;
        const rl = v.relative_lift || {};
        const ctl = m.variants[0] || {};
        // the value, its users and its split span the value's rows in the table; the phone
        // layout makes each row a card of its own, so the later rows repeat them (shown only
        // there: a card without its value would not say which slice it is)
        const span = i === 0 ? { rowspan: String(m.variants.length - 1) } : { class: 'card-only' };
        const cls = (c) => (i === 0 ? c : ['card-only', c]);
        tbody.append(h('tr', { class: `verdict-${vd}`, dataset: { value: sl.dimension_value, variant: v.key } },
          h('th', { scope: 'row', ...span, 'data-label': b.dimension }, sl.dimension_value),
          h('td', { ...span, class: cls('num'), 'data-label': 'Users' }, fmtInt(users)),
          h('td', { ...span, 'data-label': 'Sample ratio' }, srmText(sl.srm)),
          h('td', { 'data-label': 'Variant' }, variantCell(variantName(x, v.key), v.key)),
          h('td', { class: 'num', 'data-label': ctlHead }, f.mean(ctl.mean)),
          h('td', { class: 'num', 'data-label': meanHead }, f.mean(v.mean)),
          h('td', { class: 'num', 'data-label': 'Relative lift' }, fmtPct(rl.estimate, { signed: true })),
          h('td', { class: 'num', 'data-label': ciHead }, fmtShownPct(shownInterval(rl, b))),
          h('td', { class: 'num', 'data-label': pHead }, significanceText(v, b)),
          h('td', { 'data-label': 'Result' }, h('span', { class: ['verdict', `verdict-${vd}`] }, vd === 'win' ? '▲ ' : vd === 'loss' ? '▼ ' : '', sv.text))));
      });
    }
    return h('div', { class: 'table-wrap', role: 'region', 'aria-label': `${m0.name || m0.key} by ${b.dimension}`, tabindex: '0' },
      h('table', { class: 'table small table-cards breakdown-table', dataset: { metric: m0.key } },
        h('caption', {}, `${m0.name || m0.key} by ${b.dimension}`),
        h('thead', {}, h('tr', {}, [b.dimension, 'Users', 'Sample ratio', 'Variant', ctlHead, meanHead, 'Relative lift', ciHead, pHead, 'Result']
          .map((t) => h('th', { scope: 'col' }, t)))),
        tbody),
      m0.warning ? h('p', { class: 'muted small breakdown-note' }, `${m0.warning}.`) : null,
      cuped ? h('p', { class: 'muted small breakdown-note cuped-means-note' }, CUPED_MEANS_NOTE) : null);
  });
}

/** Load the breakdown into `box`; `say`: after a change of the dimension, announce it in one line. */
async function loadBreakdown(ctx, x, st, box, defs, turn, say = false) {
  const current = turn.next();
  if (!st.dimension) {
    clear(box);
    box.hidden = true;
    return;
  }
  box.hidden = false;
  fill(box, loading(`Breaking the results down by ${st.dimension}…`));
  let b;
  try {
    b = await api.results(x.key, { ...apiParams(st), dimension: st.dimension });
  } catch (err) {
    if (err.status === 401 || !ctx.alive() || !current()) return;
    fill(box, errorBox(err, 'Cannot compute the breakdown:'));
    return;
  }
  if (!ctx.alive() || !current()) return;
  const mismatched = b.slices.filter((sl) => sl.srm && sl.srm.mismatch).map((sl) => sl.dimension_value);
  // users exposed before the dimension was listed have no recorded value: in no slice
  const unrecorded = (b.variants || []).filter((v) => v.users_not_recorded > 0);
  const unrecordedTotal = unrecorded.reduce((n, v) => n + v.users_not_recorded, 0);
  fill(box,
    h('h3', { id: 'breakdown-h' }, `Breakdown by ${b.dimension}`),
    h('p', { class: 'muted small breakdown-note' },
      `${b.slices.length} ${b.slices.length === 1 ? 'value' : 'values'} (the 20 largest; the rest as “(other)”; users who had no ${b.dimension} at their first exposure as “(none)”). Values are recorded at each user’s first exposure, only while ${b.dimension} is one of the experiment’s dimensions.`,
      // Bayesian: corrections do not apply, so it does not advise one
      b.method === 'bayesian' ? ' Many slices mean many chances of a fluke: confirm a segment’s result in a new experiment.'
        : b.correction !== 'none' ? ` The ${b.correction === 'holm' ? 'Holm' : 'Benjamini–Hochberg'} correction counts every slice.` : ' Many slices mean many chances of a fluke: use a correction, and confirm a segment’s result in a new experiment.'),
    unrecordedTotal ? h('p', { class: 'small breakdown-unrecorded' },
      `${fmtInt(unrecordedTotal)} ${unrecordedTotal === 1 ? 'user was' : 'users were'} exposed before ${b.dimension} was added to the experiment’s dimensions: no value was recorded for them, so they are in no row below (${unrecorded.map((v) => `${v.name || v.key}: ${fmtInt(v.users_not_recorded)}`).join(', ')}).`) : null,
    mismatched.length ? h('p', { class: 'alert alert-error' }, `Sample ratio mismatch in ${mismatched.join(', ')}: the split is broken there; do not trust those rows.`) : null,
    breakdownTables(b, defs, x));
  if (say) announce(`Breakdown by ${b.dimension}: ${b.slices.length} ${b.slices.length === 1 ? 'value' : 'values'}${mismatched.length ? `, sample ratio mismatch in ${mismatched.join(', ')}` : ''}.`);
}

function legendFor(keys) {
  return h('ul', { class: 'legend' }, keys.map((k, i) => h('li', {}, h('span', { class: ['swatch', ...seriesClasses(i)], 'aria-hidden': 'true' }), k)));
}

async function loadTimeseries(ctx, x, st, box, turn, defs) {
  const current = turn.next();
  const metric = st.metric; // the title names the metric of this answer
  const name = (defs.get(metric) || {}).name || metric; // as the selector names it
  fill(box, loading('Loading the time series…'));
  let ts;
  try {
    ts = await api.timeseries(x.key, { metric, method: st.method, alpha: st.alpha, cuped: String(st.cuped), correction: st.correction });
  } catch (err) {
    if (err.status === 401 || !ctx.alive() || !current()) return;
    fill(box, errorBox(err, 'Cannot load the time series:'));
    return;
  }
  if (!ctx.alive() || !current()) return;
  const treat = x.variants.slice(1).map((v) => v.key);
  // days before the first exposure (every variant at 0 users, the series being cumulative)
  // are no days: no empty chart and no "one day so far" for an experiment nobody saw
  const days = ts.days.filter((d) => d.variants.some((v) => v.users > 0));
  if (days.length === 0) {
    fill(box, h('p', { class: 'muted ts-empty' }, 'No exposures yet: the chart starts with the first day that has users.'));
    return;
  }
  ts = { ...ts, days };
  const dates = ts.days.map((d) => d.date);
  const series = treat.map((k) => ({
    label: k,
    points: ts.days.map((d) => {
      const v = d.variants.find((y) => y.key === k) || {};
      const rl = v.relative_lift || {};
      // the interval the results table shows beside its verdict: under a correction the
      // adjusted one, unbounded when the adjusted p-value is 1 (ci_adjusted [null, null])
      const shown = shownInterval(rl, ts);
      return { date: d.date, estimate: rl.estimate ?? null, lo: shown.ci ? shown.ci[0] : null, hi: shown.ci ? shown.ci[1] : null, unbounded: shown.unbounded, users: v.users };
    }),
  }));
  const unbounded = series.some((se) => se.points.some((p) => p.unbounded));
  const table = h('table', { class: 'table small' },
    h('caption', { class: 'visually-hidden' }, 'Cumulative lift per day'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Day'), treat.map((k) => h('th', { scope: 'col', class: 'num' }, `${k} lift (${intervalKind(ts)} interval)`)))),
    h('tbody', {}, ts.days.map((d, i) => h('tr', {}, h('th', { scope: 'row' }, d.date),
      series.map((se) => h('td', { class: 'num' }, `${fmtPct(se.points[i].estimate, { signed: true })} ${se.points[i].unbounded ? UNBOUNDED_INTERVAL : fmtPctInterval([se.points[i].lo, se.points[i].hi])}`))))));
  fill(box,
    liftChart(series, dates, { title: `Cumulative relative lift of ${name} per day with ${intervalKind(ts)} intervals${ts.cuped ? ', CUPED' : ''}${unbounded ? `; a dotted vertical line is a day whose adjusted interval is unbounded ${UNBOUNDED_INTERVAL}` : ''}` }),
    legendFor(treat),
    unbounded ? h('p', { class: 'muted small ts-unbounded' }, `A dotted vertical line across the chart is a day whose adjusted interval is unbounded, ${UNBOUNDED_INTERVAL} (an adjusted p-value of 1): that day says nothing about the size of the lift.`) : null,
    ts.days.length === 1 ? h('p', { class: 'muted small' }, 'One day of data so far: the chart becomes a line as days accumulate.') : null,
    h('details', { class: 'data-table' }, h('summary', {}, 'Show the numbers'), h('div', { class: 'table-wrap' }, table)));
}

async function download(x, st, btn) {
  btn.disabled = true;
  try {
    const csv = await api.resultsCsv(x.key, exportParams(st));
    saveFile(new Blob([csv], { type: 'text/csv' }), `${x.key}-results${st.dimension ? `-by-${st.dimension}` : ''}.csv`);
    announce('CSV downloaded', 'ok');
  } catch (err) {
    if (err.status !== 401) announce(`CSV download failed: ${err.message}`, 'error');
  } finally {
    btn.disabled = false;
  }
}

/**
 * The results' JSON as a curl command: the API takes the key only as a header, so the
 * command has a placeholder for it (an environment variable), never the key of this tab.
 */
export function curlCommand(url) {
  return `curl -H "Authorization: Bearer $BUNSEN_API_KEY" '${url.replace(/'/g, "'\\''")}'`;
}

const COPIED = {
  url: ['JSON URL copied: it needs an API key, sent as “Authorization: Bearer <key>”', 'JSON URL (copy it; it needs an API key, sent as “Authorization: Bearer <key>”)'],
  curl: ['curl command copied: set BUNSEN_API_KEY to an API key first', 'curl command (copy it; set BUNSEN_API_KEY to an API key first)'],
};

async function copyText(what, textToCopy, slot) {
  try {
    await navigator.clipboard.writeText(textToCopy);
    announce(COPIED[what][0], 'ok');
    clear(slot);
  } catch {
    // no clipboard (insecure origin, permission): show it for a manual copy
    const id = nextId('url');
    const input = h('input', { id, type: 'text', readonly: true, value: textToCopy, class: 'code' });
    fill(slot, h('label', { for: id }, COPIED[what][1]), input);
    input.focus();
    input.select();
  }
}

/**
 * The results block of experiment `x`; loads itself. `onResults(r)` gets every results
 * document shown and may return the decision's headline (announced, with the options, after
 * a change of the options); `onUnavailable({error, retryIn, retry})` each failure (retryIn:
 * seconds until the page asks again by itself, null when it will not; retry(): ask now);
 * `onControls({setCorrection(c)})` once, to set the correction from outside (the decision).
 */
export function resultsSection(ctx, x, { catalogue = [], noCatalogue = false, onResults = () => {}, onUnavailable = () => {}, onControls = () => {} } = {}) {
  const defs = new Map(catalogue.map((m) => [m.key, m]));
  const st = settingsFrom(ctx, x);
  // a ratio has no daily series (its parts do): the time series offers the other metrics;
  // without the metric definitions (noCatalogue: they failed to load) which are ratios is
  // unknown, so neither it nor the per-user export offers any (the API would refuse a ratio)
  // the results' metrics, once each: the primary, the others, then the guardrails (as
  // downloads.js exportableMetrics lists them)
  const family = [];
  for (const k of [x.primary_metric, ...(x.metrics || []), ...(x.guardrails || [])]) if (k && !family.includes(k)) family.push(k);
  const series = noCatalogue ? [] : family.filter((k) => (defs.get(k) || {}).type !== 'ratio');
  if (!series.includes(st.metric)) st.metric = series[0] || '';
  // per ratio: follow its parts when they are in the selector, else add them (the missing ones)
  const nameOf = (k) => (defs.get(k) || {}).name || k;
  const ratioNote = (k) => {
    const d = defs.get(k) || {};
    const parts = [d.numerator, d.denominator].filter(Boolean);
    const missing = parts.filter((p) => !series.includes(p));
    const follow = parts.filter((p) => series.includes(p));
    const what = `${nameOf(k)} (a ratio) has no daily series`;
    if (!missing.length) return `${what}; follow its parts ${follow.map(nameOf).join(' and ')} day by day.`;
    return `${what}: add ${missing.map(nameOf).join(' and ')} (its ${missing.length === 2 ? 'numerator and denominator' : missing[0] === d.numerator ? 'numerator' : 'denominator'}) to the experiment’s metrics to follow ${missing.length === 2 ? 'them' : 'it'} day by day${follow.length ? `; ${follow.map(nameOf).join(' and ')} is already in the list` : ''}.`;
  };
  const ratios = noCatalogue ? [] : family.filter((k) => !series.includes(k));
  const noSeries = noCatalogue
    ? h('p', { class: 'muted small no-series' }, 'The daily series and the per-user download come back once the metric definitions load.')
    : ratios.length
      ? h('p', { class: 'muted small no-series' }, ratios.map(ratioNote).join(' '))
      : null;
  const section = h('section', { class: 'results', 'aria-labelledby': 'results-h' });
  section.append(h('h2', { id: 'results-h' }, 'Results'));
  if (x.status === 'draft') {
    section.append(h('p', { class: 'muted' }, 'No results yet: start the experiment to collect exposures.'));
    return section;
  }

  const name = nextId('method');
  const methodBox = h('fieldset', { class: 'inline-radios' }, h('legend', {}, 'Method'),
    METHODS.map(([v, t]) => {
      const id = `${name}-${v}`;
      const input = h('input', { type: 'radio', name, id, value: v, checked: st.method === v });
      input.addEventListener('change', () => { st.method = v; reload(true, false, true); });
      return h('span', { class: 'radio' }, input, h('label', { for: id }, t));
    }));
  const cupedId = nextId('cuped');
  const cupedIn = h('input', { type: 'checkbox', id: cupedId, checked: st.cuped });
  // the daily series takes CUPED and the correction too: its last day equals the results
  cupedIn.addEventListener('change', () => { st.cuped = cupedIn.checked; reload(true, false, true); });
  const corrId = nextId('corr');
  const corrSel = h('select', { id: corrId }, CORRECTIONS.map(([v, t]) => h('option', { value: v, selected: st.correction === v }, t)));
  corrSel.addEventListener('change', () => { st.correction = corrSel.value; reload(true, false, true); });
  const dimId = nextId('dim');
  const dims = x.dimensions || [];
  const dimSel = dims.length
    ? h('select', { id: dimId, name: 'dimension' }, h('option', { value: '' }, 'Nothing (all users)'),
      dims.map((d) => h('option', { value: d, selected: st.dimension === d }, d)))
    : null;
  const breakdownTurn = latest();
  // not a live region (it holds a table per metric): a change of the dimension is announced in one line
  const breakdownBox = h('section', { class: 'card breakdown', 'aria-labelledby': 'breakdown-h', hidden: true });
  if (dimSel) dimSel.addEventListener('change', () => { st.dimension = dimSel.value; sync(); loadBreakdown(ctx, x, st, breakdownBox, defs, breakdownTurn, true); });
  const csvBtn = h('button', { type: 'button', class: 'btn', id: 'download-csv' }, 'Download CSV');
  // the URL alone does not open in a browser: the API wants a key in a header
  const keyNote = 'The API answers it only with an API key, sent as “Authorization: Bearer <key>”; the link alone does not open in a browser.';
  const copyBtn = h('button', { type: 'button', class: 'btn', id: 'copy-json-url', title: keyNote }, 'Copy JSON URL (needs an API key)');
  const curlBtn = h('button', { type: 'button', class: 'btn', id: 'copy-curl', title: 'A curl command for the JSON, with $BUNSEN_API_KEY in place of the key (never this tab’s key).' }, 'Copy as curl');
  const copySlot = h('div', { class: 'copy-slot' });
  csvBtn.addEventListener('click', () => download(x, st, csvBtn));
  copyBtn.addEventListener('click', () => copyText('url', api.resultsUrl(x.key, exportParams(st)), copySlot));
  curlBtn.addEventListener('click', () => copyText('curl', curlCommand(api.resultsUrl(x.key, exportParams(st))), copySlot));

  const controls = h('form', { class: 'results-controls', 'aria-label': 'Analysis options' },
    methodBox,
    h('div', { class: 'field check' }, cupedIn, h('label', { for: cupedId }, 'CUPED')),
    h('div', { class: 'field' }, h('label', { for: corrId }, 'Correction'), corrSel),
    dimSel ? h('div', { class: 'field' }, h('label', { for: dimId }, 'Breakdown by'), dimSel) : null,
    // the decision at the top of the page is computed from these results: say so here,
    // where a change of the options moves it out of view
    h('p', { class: 'muted small decision-follows', id: 'decision-follows' }, 'The decision at the top of the page follows these options (method, CUPED, correction).'),
    h('div', { class: 'results-export' }, csvBtn, copyBtn, curlBtn),
    copySlot);
  controls.addEventListener('submit', (e) => e.preventDefault());

  // not a live region: it holds every table; after a change of the options one short line
  // is announced instead (the options and the decision, announceUpdate)
  const body = h('div', { class: 'results-body', 'aria-busy': 'false' });

  const tsSelId = nextId('tsmetric');
  const tsSel = h('select', { id: tsSelId }, series.map((k) => h('option', { value: k, selected: k === st.metric }, (defs.get(k) || {}).name || k)));
  const tsBox = h('div', { class: 'ts-box' });
  const tsTurn = latest();
  tsSel.addEventListener('change', () => { st.metric = tsSel.value; sync(); loadTimeseries(ctx, x, st, tsBox, tsTurn, defs); });
  const tsCsv = seriesCsvButton(x, () => ({ metric: st.metric, method: st.method, alpha: st.alpha, cuped: String(st.cuped), correction: st.correction }));
  const tsSection = series.length
    ? h('section', { class: 'card timeseries', 'aria-labelledby': 'ts-h' },
      h('h3', { id: 'ts-h' }, 'Cumulative lift over time'),
      h('div', { class: 'ts-head' }, h('div', { class: 'field field-inline' }, h('label', { for: tsSelId }, 'Metric'), tsSel), tsCsv),
      noSeries,
      tsBox)
    : noSeries;

  const sync = () => ctx.setQuery({ method: st.method, cuped: String(st.cuped), correction: st.correction, alpha: ctx.query.alpha, metric: st.metric, dimension: st.dimension || undefined });

  // While a definition change rebuilds the roll-ups the results are the last complete ones
  // with a "rebuilding" badge: ask again every few seconds (not while the tab is hidden, and
  // never once the page is left), move the badge on, and show the new numbers (with their
  // series and breakdown) when the rebuild ends. A poll that fails is asked again as
  // retry.js says (a 503's Retry-After, a few times); then, or at once for an error that
  // will not pass (a 500), polling stops with "Try again" beside the badge.
  let pollTimer = null;
  let pollFails = 0;
  let rebuildBadge = null;
  let rebuildNote = null;
  // the poll gave up: say so beside the badge, with "Try again" (a full reload)
  const pollStopped = (err) => {
    const againBtn = h('button', { type: 'button', class: 'btn btn-small', id: 'results-retry' }, 'Try again');
    againBtn.addEventListener('click', () => reload(true));
    const note = h('span', { class: 'results-poll-stopped' }, ` Stopped checking for the end of the rebuild: ${err.message || 'the read failed'}. `, againBtn);
    if (rebuildBadge && rebuildBadge.isConnected) rebuildBadge.after(note);
    else body.append(h('p', { class: 'muted small' }, note));
  };
  const schedulePoll = () => {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, REBUILD_POLL_MS);
  };
  async function poll() {
    pollTimer = null;
    if (!ctx.alive() || !section.isConnected) return;
    if (document.hidden) {
      document.addEventListener('visibilitychange', poll, { once: true });
      return;
    }
    const mine = token; // a reload started meanwhile answers instead
    let r;
    try {
      r = await api.results(x.key, apiParams(st));
    } catch (err) {
      if (err.status === 401 || !ctx.alive() || mine !== token) return;
      // a read that keeps failing is not asked forever: retry.js says how often and how long
      const wait = retryDelay(err, pollFails);
      if (wait === null) {
        pollStopped(err);
        return;
      }
      pollFails += 1;
      clearTimeout(pollTimer);
      pollTimer = setTimeout(poll, Math.max(REBUILD_POLL_MS, wait * 1000));
      return;
    }
    if (!ctx.alive() || mine !== token) return;
    pollFails = 0;
    if (r.rebuilding) {
      if (rebuildBadge) rebuildBadge.textContent = rebuildingText(r);
      if (rebuildNote) fill(rebuildNote, rebuildingNote(r));
      schedulePoll();
    } else reload(true);
  }

  // A failed read is asked again after the server's Retry-After (retry.js: a few times, at
  // least a second apart, never once the page is left, not while the tab is hidden); a
  // change of the options or "Try again" starts the count again.
  let retryTimer = null;
  let attempts = 0;
  const retryLater = (withSeries, mine, wait, announceNext) => {
    retryTimer = setTimeout(function again() {
      retryTimer = null;
      if (!ctx.alive() || !section.isConnected || mine !== token) return;
      if (document.hidden) {
        document.addEventListener('visibilitychange', again, { once: true });
        return;
      }
      reload(withSeries, true, announceNext);
    }, wait * 1000);
  };

  // the decision's headline as last shown (onResults returns it), for "was ..." below
  let headline = null;
  const announceUpdate = (r, next, was) => {
    const opts = [METHODS.find((m) => m[0] === r.method)[1], r.cuped ? 'CUPED' : 'no CUPED',
      r.method === 'bayesian' ? null : r.correction === 'none' ? 'no correction' : CORRECTIONS.find((c) => c[0] === r.correction)[1]].filter(Boolean);
    const decision = typeof next !== 'string' ? '' : next === was || typeof was !== 'string' ? `: the decision is still ${next}` : `: the decision is now ${next} (was ${was})`;
    announce(`Results updated (${opts.join(', ')})${decision}.`);
  };

  let token = 0;
  /**
   * Ask for the results with the options as they are; `changed`: after a change of the
   * options, announce the result in one line.
   */
  async function reload(withSeries, isRetry = false, changed = false) {
    sync();
    clearTimeout(pollTimer);
    clearTimeout(retryTimer);
    pollFails = 0;
    if (!isRetry) attempts = 0;
    const mine = ++token;
    body.setAttribute('aria-busy', 'true');
    cupedIn.disabled = false;
    corrSel.disabled = st.method === 'bayesian';
    let r;
    try {
      r = await api.results(x.key, apiParams(st));
    } catch (err) {
      if (err.status === 401 || !ctx.alive() || mine !== token) return;
      const wait = retryDelay(err, attempts);
      const retry = () => reload(withSeries, false, changed);
      const info = { error: err, retryIn: wait, retry: wait === null ? retry : null };
      const againBtn = h('button', { type: 'button', class: 'btn btn-small', id: 'results-retry' }, 'Try again');
      againBtn.addEventListener('click', retry);
      fill(body, errorBox(err, 'Cannot compute the results:'),
        wait === null ? againBtn : h('p', { class: 'muted small results-retry-note' }, `Trying again in ${wait} second${wait === 1 ? '' : 's'}.`));
      onUnavailable(info);
      body.setAttribute('aria-busy', 'false');
      if (wait !== null) {
        attempts += 1;
        retryLater(withSeries, mine, wait, changed);
      }
      return;
    }
    if (!ctx.alive() || mine !== token) return;
    attempts = 0;
    const total = r.variants.reduce((a, v) => a + v.users, 0);
    const was = headline;
    const next = onResults(r);
    if (typeof next === 'string') headline = next;
    if (changed) announceUpdate(r, next, was);
    rebuildBadge = r.rebuilding
      ? h('span', { class: 'badge badge-rebuilding', title: 'A definition changed: these are the last complete numbers while the roll-ups are rebuilt in the background. They update here when it ends.' },
        rebuildingText(r))
      : null;
    rebuildNote = r.rebuilding ? h('p', { class: 'alert alert-info rebuilding-note', id: 'rebuilding-note' }, rebuildingNote(r)) : null;
    fill(body,
      rebuildNote,
      r.data_quality && r.data_quality.conflicting_exposures > 0
        ? h('p', { class: 'alert alert-warn' }, `${fmtInt(r.data_quality.conflicting_exposures)} users were exposed to more than one variant; each counts in the first.`)
        : null,
      r.always_valid
        ? h('p', { class: 'alert alert-info always-valid' }, h('strong', {}, 'Always valid. '),
          `Sequential intervals and p-values stay valid however often you look, so you may stop as soon as a result is significant. They are wider than fixed-horizon ones (tuned for about ${fmtInt(x.sequential_tuning)} users).`)
        : null,
      r.method === 'bayesian'
        ? h('p', { class: 'muted small', id: 'bayes-note' }, 'Bayesian: intervals are credible intervals; “chance to beat control” is the posterior probability that the variant is better in the metric’s goal direction; “expected loss” is what you lose on average if you ship it and it is in fact worse. Corrections do not apply. ', bayesResultRule(r.alpha))
        : null,
      h('p', { class: 'muted small computed' },
        `${fmtInt(total)} users · computed ${fmtDateTime(r.computed_at)} · ${r.method}${r.cuped ? ', CUPED' : ''}${r.method !== 'bayesian' && r.correction !== 'none' ? `, ${r.correction} correction` : ''}, alpha ${r.alpha}`,
        rebuildBadge),
      r.metrics.length === 0 ? h('p', { class: 'muted' }, 'This experiment has no metrics.') : r.metrics.map((m) => metricSection(m, r, defs.get(m.key), defs, x))
    );
    body.setAttribute('aria-busy', 'false');
    if (r.rebuilding) schedulePoll();
    if (withSeries && series.length) loadTimeseries(ctx, x, st, tsBox, tsTurn, defs);
    loadBreakdown(ctx, x, st, breakdownBox, defs, breakdownTurn);
  }

  // setCorrection(c): as choosing `c` under Correction (the decision's "Check it under Holm")
  onControls({
    setCorrection(c) {
      if (!CORRECTIONS.some((y) => y[0] === c) || st.method === 'bayesian') return;
      corrSel.value = c;
      st.correction = c;
      reload(true, false, true);
    },
  });
  add(section, controls, body, breakdownBox, tsSection, noCatalogue ? null : usersExportBlock(x, catalogue));
  body.append(loading('Computing results…'));
  reload(true);
  return section;
}

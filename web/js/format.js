// format.js - number, date and verdict formatting shared by the views.
// Pure functions with no DOM access: tests/browser/format_unit.mjs checks them against
// literal texts (the page comparisons use tests/browser/expect.mjs, written apart).

const MINUS = '\u2212';
const DASH = '\u2014';

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const sigFmt = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 4 });

function isNum(x) {
  return typeof x === 'number' && Number.isFinite(x);
}

function sign(text, x, signed) {
  if (text.startsWith('-')) return MINUS + text.slice(1);
  return signed && x > 0 ? '+' + text : text;
}

/** 5012 -> "5,012"; null -> em dash. */
export function fmtInt(n) {
  return isNum(n) ? sign(intFmt.format(n), n, false) : DASH;
}

/** A plain number with 4 significant digits: 2.7193 -> "2.719", 1234.5 -> "1,235". */
export function fmtNum(x, { signed = false } = {}) {
  if (!isNum(x)) return DASH;
  if (x === 0) return '0';
  return sign(sigFmt.format(x), x, signed);
}

/** A fraction as a percentage: 0.118 -> "11.8%" (signed: "+11.8%"). */
export function fmtPct(x, { signed = false, digits = 1 } = {}) {
  if (!isNum(x)) return DASH;
  let v = (x * 100).toFixed(digits);
  if (Number(v) === 0) v = (0).toFixed(digits); // no "-0.0%"
  return sign(v, Number(v), signed) + '%';
}

/**
 * A share that was typed as a percentage (coverage, a weight) as the form shows it: up to
 * four decimals, no trailing zeros: 0.004 -> "0.4%", 0.995 -> "99.5%", 0.255 -> "25.5%".
 */
export function fmtSharePct(x) {
  if (!isNum(x)) return DASH;
  return `${Number((x * 100).toFixed(4))}%`;
}

/** A probability as a percentage that never claims certainty: ">99.9%", "<0.1%", "97.6%". */
export function fmtProb(p) {
  if (!isNum(p)) return DASH;
  if (p > 0.999) return '>99.9%';
  if (p < 0.001) return '<0.1%';
  return (p * 100).toFixed(1) + '%';
}

/** A small non-negative share as a percentage with two significant digits: "0.011%", "<0.001%". */
export function fmtSmallPct(x) {
  if (!isNum(x)) return DASH;
  if (x === 0) return '0%';
  const v = Math.abs(x) * 100;
  if (v < 0.001) return '<0.001%';
  return `${Number(v.toPrecision(2))}%`;
}

// ---- metric units (the catalogue's "unit": count, percent, currency, duration, or none) ----

/**
 * How a metric's values read: {kind, currency} where kind is "percent" (values are
 * fractions), "currency", "duration" (milliseconds), "count" or "number". A binomial metric
 * without a unit is a rate, hence a percentage.
 */
export function unitOf(metric) {
  const u = metric && metric.unit;
  if (u === 'currency' && metric.currency) return { kind: 'currency', currency: metric.currency };
  if (u === 'percent' || u === 'duration' || u === 'count') return { kind: u };
  if (metric && metric.type === 'binomial') return { kind: 'percent' };
  return { kind: 'number' };
}

/**
 * A short name of a unit for headers and hints: "%", "EUR", "ms", "count", "". A duration
 * is stored in milliseconds: "ms" (a results table whose values reach seconds says "s":
 * metricFormat's `label`).
 */
export function unitLabel(metric) {
  const u = unitOf(metric);
  return { percent: '%', currency: u.currency, duration: 'ms', count: 'count', number: '' }[u.kind];
}

/**
 * A metric's cap per user (the catalogue) in its unit: "€500", "1,500 ms", "20"; null
 * (no cap) is "—".
 */
export function fmtCap(metric) {
  const c = metric && metric.cap;
  if (!isNum(c)) return DASH;
  const u = unitOf(metric);
  if (u.kind === 'currency') {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency: u.currency, minimumFractionDigits: Number.isInteger(c) ? 0 : 2, maximumFractionDigits: 2 }).format(c);
  }
  const n = new Intl.NumberFormat('en-US', { maximumFractionDigits: 6 }).format(c);
  return u.kind === 'duration' ? `${n} ms` : n;
}

const DURATION_SCALES = [
  [1, 'ms'],
  [1000, 's'],
  [60000, 'min'],
  [3600000, 'h'],
];

/** Decimals that give about four significant digits to the largest of `values`. */
function decimalsFor(values, scale) {
  const v = values.filter(isNum).map((x) => Math.abs(x) / scale);
  const top = v.length ? Math.max(...v) : 0;
  if (!(top > 0)) return 2;
  return Math.min(6, Math.max(0, 3 - Math.floor(Math.log10(top))));
}

/**
 * A formatter for one metric's values, with one precision for the whole table (so that
 * "7.07" and "11.30" line up instead of "7.073" beside "11.3"). `values` are the numbers
 * the table will show (means; lifts are formatted to match). Returns
 * {mean(x), abs(x), absInterval(ci), unit}.
 */
export function metricFormat(metric, values) {
  const u = unitOf(metric);
  if (u.kind === 'percent') {
    const d = Math.max(1, decimalsFor(values, 0.01) > 2 ? 3 : 2);
    const abs = (x) => (isNum(x) ? fmtPct(x, { signed: true, digits: d }).slice(0, -1) + ' pp' : DASH);
    return {
      unit: u,
      label: '%',
      mean: (x) => fmtPct(x, { digits: d }),
      abs,
      absInterval: (ci) => (Array.isArray(ci) && isNum(ci[0]) && isNum(ci[1]) ? `[${abs(ci[0])}, ${abs(ci[1])}]` : DASH),
    };
  }
  let scale = 1;
  let suffix = '';
  if (u.kind === 'duration') {
    const top = Math.max(0, ...values.filter(isNum).map(Math.abs));
    for (const [sc, name] of DURATION_SCALES) if (top >= sc || sc === 1) [scale, suffix] = [sc, name];
    suffix = ' ' + suffix;
  }
  let d = decimalsFor(values, scale);
  if (u.kind === 'currency' && Math.max(0, ...values.filter(isNum).map(Math.abs)) >= 1) d = Math.min(d, 2); // cents
  const nf = u.kind === 'currency'
    ? new Intl.NumberFormat('en-US', { style: 'currency', currency: u.currency, minimumFractionDigits: d, maximumFractionDigits: d })
    : new Intl.NumberFormat('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  const one = (x, signed) => {
    if (!isNum(x)) return DASH;
    let r = Number((x / scale).toFixed(d));
    if (r === 0) r = 0; // no "-0.00"
    return sign(nf.format(r), r, signed) + suffix;
  };
  return {
    unit: u,
    // the unit of the cells, for a column's header: "ms" or "s" as the values reach
    label: u.kind === 'duration' ? suffix.trim() : unitLabel(metric),
    mean: (x) => one(x, false),
    abs: (x) => one(x, true),
    absInterval: (ci) => (Array.isArray(ci) && isNum(ci[0]) && isNum(ci[1]) ? `[${one(ci[0], true)}, ${one(ci[1], true)}]` : DASH),
  };
}

/** The formatter of a results metric (`m`, from GET /results) with its catalogue entry. */
export function resultsFormat(m, catalogueMetric) {
  const def = { type: m.type, ...(catalogueMetric || {}) };
  return metricFormat(def, m.variants.map((v) => v.mean));
}

/**
 * The sums behind a ratio metric's mean for one variant `v` of the results metric `m`
 * (`sum` of the numerator, `denominator_sum`), each part in its own metric's unit and named
 * as the catalogue (`defs`, a Map of key to metric) names it, with one number of decimals
 * per part over all of `m`'s variants: "€6,755.50 Revenue / 134 converters (Purchase)".
 * A binomial part sums users who converted; a currency part is to the cent; a duration part
 * in ms; other parts whole numbers when every variant's sum is one, else two decimals.
 * Without a definition the part is named by its key: "12,345.68 revenue / 321 orders".
 */
export function ratioPartsText(v, m, defs = new Map()) {
  const part = (x, key, field) => {
    if (!isNum(x)) return `${DASH} ${key}`;
    const def = defs.get(key);
    const name = (def && def.name) || key;
    if (def && def.type === 'binomial') return `${fmtInt(x)} ${x === 1 ? 'converter' : 'converters'} (${name})`;
    const u = unitOf(def);
    const all = (m.variants || [v]).map((y) => y[field]).filter(isNum);
    const d = u.kind === 'currency' ? 2 : all.every((y) => Number.isInteger(y)) ? 0 : 2;
    const nf = new Intl.NumberFormat('en-US', u.kind === 'currency'
      ? { style: 'currency', currency: u.currency, minimumFractionDigits: d, maximumFractionDigits: d }
      : { minimumFractionDigits: d, maximumFractionDigits: d });
    return `${sign(nf.format(x), x, false)}${u.kind === 'duration' ? ' ms' : ''} ${name}`;
  };
  return `${part(v.sum, m.numerator, 'sum')} / ${part(v.denominator_sum, m.denominator, 'denominator_sum')}`;
}

/** A metric mean: conversion rates as percentages, other means as plain numbers. */
export function fmtMean(type, x) {
  return type === 'binomial' ? fmtPct(x, { digits: 2 }) : fmtNum(x);
}

/** An interval [lo, hi] of fractions: "[-17.6%, +151.0%]". */
export function fmtPctInterval(ci) {
  if (!Array.isArray(ci) || !isNum(ci[0]) || !isNum(ci[1])) return DASH;
  return `[${fmtPct(ci[0], { signed: true })}, ${fmtPct(ci[1], { signed: true })}]`;
}

/** The text of an unbounded interval (an adjusted p-value of 1 under the t test). */
export const UNBOUNDED_INTERVAL = `[${MINUS}\u221e, +\u221e]`;

/** Whether `r` (a results document) shows multiplicity-adjusted intervals: a correction on,
 * outside bayesian (which has no p-values to adjust). */
export function isAdjusted(r = {}) {
  return !!r.correction && r.correction !== 'none' && r.method !== 'bayesian';
}

/** The correction's short name: "Holm", "BH". */
export function correctionName(c) {
  return c === 'holm' ? 'Holm' : c === 'bh' ? 'BH' : c;
}

/**
 * The interval shown beside a verdict (STATS.md "Multiple comparisons"): under a correction
 * the lift's `ci_adjusted`, the interval of the adjusted p-value that the verdict follows
 * (it excludes 0 exactly when that p-value is below alpha; [null, null] is unbounded), else
 * its `ci`. Returns {ci, adjusted, unbounded}; ci null when there is none.
 */
export function shownInterval(lift, r = {}) {
  const l = lift || {};
  if (isAdjusted(r) && Object.prototype.hasOwnProperty.call(l, 'ci_adjusted')) {
    const c = l.ci_adjusted;
    const unbounded = Array.isArray(c) && c[0] === null && c[1] === null;
    return { ci: Array.isArray(c) && !unbounded ? c : null, adjusted: true, unbounded };
  }
  return { ci: Array.isArray(l.ci) ? l.ci : null, adjusted: false, unbounded: false };
}

/** A shown interval (shownInterval) of fractions as text: fmtPctInterval, or unbounded. */
export function fmtShownPct(shown) {
  return shown.unbounded ? UNBOUNDED_INTERVAL : fmtPctInterval(shown.ci);
}

/** A p-value: 4 decimals, "<0.0001" below that. */
export function fmtP(p) {
  if (!isNum(p)) return DASH;
  if (p < 0.0001) return '<0.0001';
  return p.toFixed(4);
}

/** "p = 0.0123", or "p < 0.0001" for tiny values. */
export function fmtPEq(p) {
  const t = fmtP(p);
  return t.startsWith('<') ? `p < ${t.slice(1)}` : `p = ${t}`; // not "p <0.0001"
}

function pad(n) {
  return String(n).padStart(2, '0');
}

/** Milliseconds since the epoch -> "2026-11-28" (UTC). */
export function fmtDate(ms) {
  if (!isNum(ms)) return DASH;
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** Milliseconds since the epoch -> "2026-11-28 14:05 UTC". */
export function fmtDateTime(ms) {
  if (!isNum(ms)) return DASH;
  const d = new Date(ms);
  return `${fmtDate(ms)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

/**
 * Is the relative lift (the headline, the interval drawn) significant? Its own verdict
 * when the server gives one, else its interval excluding 0, else its p-value < alpha
 * (STATS.md "Multiple comparisons"). With a correction, the adjusted p-value must pass
 * too. null when there is no interval and no p-value.
 */
export function relSignificant(v, r = {}) {
  const rl = v && v.relative_lift;
  if (!rl) return null;
  const alpha = isNum(r.alpha) ? r.alpha : 0.05;
  let sig = null;
  if (typeof rl.significant === 'boolean') sig = rl.significant;
  else if (Array.isArray(rl.ci) && isNum(rl.ci[0]) && isNum(rl.ci[1])) sig = rl.ci[0] > 0 || rl.ci[1] < 0;
  else if (isNum(rl.p_value)) sig = rl.p_value < alpha;
  if (sig && r.correction && r.correction !== 'none' && r.method !== 'bayesian') {
    const adj = isNum(rl.p_value_adjusted) ? rl.p_value_adjusted : v.p_value_adjusted;
    if (isNum(adj)) sig = adj < alpha;
  }
  return sig;
}

/**
 * The verdict of one treatment against control for a metric with a goal, from the
 * relative lift shown beside it (the server's `verdict` when it sends one, computed the
 * same way): "win" (significant, in the goal's direction), "loss"
 * (significant, against it), "flat" (not significant) or "none" (no relative test: no
 * estimate, or neither an interval nor a p-value for it).
 * `r` is the results document (alpha, method, correction).
 */
export function verdict(v, goal, r = {}) {
  if (v && ['win', 'loss', 'flat', 'none'].includes(v.verdict)) return v.verdict; // the server's (API v1.1)
  const est = v && v.relative_lift ? v.relative_lift.estimate : null;
  if (!isNum(est)) return 'none';
  const sig = relSignificant(v, r);
  if (sig === null) return 'none';
  if (!sig || est === 0) return 'flat';
  const better = goal === 'decrease' ? est < 0 : est > 0;
  return better ? 'win' : 'loss';
}

/**
 * The significance shown beside the headline: the chance to beat control (Bayesian) or
 * the relative lift's p-value (adjusted under a correction), falling back to the
 * comparison's p-value when the relative one is missing.
 */
export function significanceText(v, r) {
  if (r.method === 'bayesian') return fmtProb(v.chance_to_beat_control);
  const rl = v.relative_lift || {};
  const adjusted = r.correction && r.correction !== 'none';
  const p = adjusted
    ? isNum(rl.p_value_adjusted) ? rl.p_value_adjusted : v.p_value_adjusted
    : isNum(rl.p_value) ? rl.p_value : v.p_value;
  return fmtP(p);
}

export const VERDICT_TEXT = {
  win: 'Better',
  loss: 'Worse',
  flat: 'Not significant',
  none: 'No test',
};

/** The flat verdict under the Bayesian method: its credible interval holds 0, and it has
 * no significance test to fail. */
export const BAYES_FLAT_TEXT = 'No credible difference';

/** The text of verdict `vd` for results `r` (its method): VERDICT_TEXT, but "No credible
 * difference" for a flat one under the Bayesian method. */
export function verdictText(vd, r = {}) {
  return vd === 'flat' && r.method === 'bayesian' ? BAYES_FLAT_TEXT : VERDICT_TEXT[vd];
}

/**
 * The verdict shown for one treatment (the results table, the experiment list and the
 * decision read this one): the relative lift's (verdict above), or, when the relative
 * lift has no test (a control mean of 0, or a treatment with no conversions: its standard
 * error is 0, STATS.md "Degenerate inputs") while the absolute lift has one, the absolute
 * lift's (`significant`; Bayesian: its interval excluding 0) in the goal's direction: a
 * treatment that lost every conversion is "Worse", not "No test" beside p < 0.0001.
 * {verdict, absolute, text}: text "Worse (absolute lift)" when the absolute lift decided
 * (verdictText: a flat one under the Bayesian method reads "No credible difference").
 */
export function shownVerdict(v, goal, r = {}) {
  const vd = verdict(v, goal, r);
  const al = v && v.absolute_lift;
  let out = { verdict: vd, absolute: false };
  if (vd === 'none' && al && isNum(al.estimate) && al.estimate !== 0) {
    let sig;
    if (r.method === 'bayesian') {
      const ci = al.ci;
      sig = Array.isArray(ci) && isNum(ci[0]) && isNum(ci[1]) && (ci[0] > 0 || ci[1] < 0);
    } else {
      sig = v.significant === true;
    }
    const better = goal === 'decrease' ? al.estimate < 0 : al.estimate > 0;
    if (sig) out = { verdict: better ? 'win' : 'loss', absolute: true };
  }
  out.text = verdictText(out.verdict, r) + (out.absolute ? ' (absolute lift)' : '');
  return out;
}

/** Whole days between two instants (ms): 0.4 -> 0, 2.7 -> 2. */
export function daysBetween(from, to) {
  if (!isNum(from) || !isNum(to)) return null;
  return Math.max(0, Math.floor((to - from) / 86400000));
}

/** "less than a day", "1 day", "12 days". */
export function fmtDays(n) {
  if (!isNum(n)) return DASH;
  if (n < 1) return 'less than a day';
  return `${fmtInt(n)} day${n === 1 ? '' : 's'}`;
}

/** The confidence level of an alpha: 0.05 -> "95%". */
export function fmtLevel(alpha) {
  if (!isNum(alpha)) return DASH;
  const v = (1 - alpha) * 100;
  return `${Number(v.toFixed(2))}%`;
}

/**
 * The headline of a results document for one metric: per treatment its relative lift,
 * significance and shown verdict (shownVerdict: verdict, absolute, text). Returns null when the metric is not in the results.
 */
export function headline(results, metricKey) {
  if (!results || !Array.isArray(results.metrics)) return null;
  const m = results.metrics.find((x) => x.key === metricKey);
  if (!m) return null;
  return {
    metric: m,
    treatments: m.variants.slice(1).map((v) => ({
      key: v.key,
      lift: v.relative_lift ? v.relative_lift.estimate : null,
      significant: !!relSignificant(v, results),
      ...shownVerdict(v, m.goal, results), // verdict, absolute, text
    })),
  };
}

/** Total exposed users in a results document. */
export function totalUsers(results) {
  if (!results || !Array.isArray(results.variants)) return null;
  return results.variants.reduce((s, v) => s + (v.users || 0), 0);
}

/**
 * What the page calls variant `key` of experiment `x` in prose: the name the PM typed
 * (`variants[].name`) when it has one, else its key (review dash36 F2).
 */
export function variantName(x, key) {
  const v = ((x && x.variants) || []).find((y) => y.key === key);
  const name = v && typeof v.name === 'string' ? v.name.trim() : '';
  return name || key;
}

// format.js - number, date and verdict formatting shared by the views.
// Pure functions with no DOM access, so the browser tests import this very file to
// check that the page shows exactly what the JSON API returned.

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

/** A metric mean: conversion rates as percentages, other means as plain numbers. */
export function fmtMean(type, x) {
  return type === 'binomial' ? fmtPct(x, { digits: 2 }) : fmtNum(x);
}

/** An absolute difference of means: percentage points for rates, else a signed number. */
export function fmtAbs(type, x) {
  if (!isNum(x)) return DASH;
  if (type === 'binomial') {
    const t = fmtPct(x, { signed: true, digits: 2 });
    return t.slice(0, -1) + ' pp';
  }
  return fmtNum(x, { signed: true });
}

/** An interval of absolute differences: "[+0.21 pp, +10.13 pp]". */
export function fmtAbsInterval(type, ci) {
  if (!Array.isArray(ci) || !isNum(ci[0]) || !isNum(ci[1])) return DASH;
  return `[${fmtAbs(type, ci[0])}, ${fmtAbs(type, ci[1])}]`;
}

/** An interval [lo, hi] of fractions: "[-17.6%, +151.0%]". */
export function fmtPctInterval(ci) {
  if (!Array.isArray(ci) || !isNum(ci[0]) || !isNum(ci[1])) return DASH;
  return `[${fmtPct(ci[0], { signed: true })}, ${fmtPct(ci[1], { signed: true })}]`;
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
  return t.startsWith('<') ? `p ${t}` : `p = ${t}`;
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
 * The verdict of one treatment against control for a metric with a goal:
 * "win" (significant, in the goal's direction), "loss" (significant, against it),
 * "flat" (not significant) or "none" (no estimate).
 */
export function verdict(v, goal) {
  /* The server's verdict is the relative lift's (the headline), STATS.md. */
  if (v && typeof v.verdict === 'string') return v.verdict;
  const est = v && v.relative_lift ? v.relative_lift.estimate : null;
  if (!isNum(est)) return 'none';
  const sig = v.relative_lift && typeof v.relative_lift.significant === 'boolean'
    ? v.relative_lift.significant : !!v.significant;
  if (!sig) return 'flat';
  if (est === 0) return 'flat';
  const better = goal === 'decrease' ? est < 0 : est > 0;
  return better ? 'win' : 'loss';
}

export const VERDICT_TEXT = {
  win: 'Better',
  loss: 'Worse',
  flat: 'Not significant',
  none: 'No estimate',
};

/** The confidence level of an alpha: 0.05 -> "95%". */
export function fmtLevel(alpha) {
  if (!isNum(alpha)) return DASH;
  const v = (1 - alpha) * 100;
  return `${Number(v.toFixed(2))}%`;
}

/**
 * The headline of a results document for one metric: per treatment its relative lift,
 * verdict and significance. Returns null when the metric is not in the results.
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
      significant: !!v.significant,
      verdict: verdict(v, m.goal),
    })),
  };
}

/** Total exposed users in a results document. */
export function totalUsers(results) {
  if (!results || !Array.isArray(results.variants)) return null;
  return results.variants.reduce((s, v) => s + (v.users || 0), 0);
}

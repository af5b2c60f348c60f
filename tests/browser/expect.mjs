// expect.mjs - the texts the browser tests expect the dashboard to show for numbers of the
// JSON API, written apart from web/js/format.js (DASHBOARD.md's formats: "+40.0%", "5,012",
// "[−10.7%, +90.7%]", "p = 0.0123"), so that a bug in format.js fails the page comparisons
// instead of moving the expected text with it. format_unit.mjs pins format.js itself to
// literal texts. No imports: plain functions of numbers.

const MINUS = '\u2212';

/** "+40.0%", "−10.0%", "0.0%" (never "−0.0%"); signed: a "+" before a positive value. */
export function pct(x, { signed = true, digits = 1 } = {}) {
  const scaled = x * 100;
  let t = Math.abs(scaled).toFixed(digits);
  if (Number(t) === 0) return `${t}%`;
  return `${scaled < 0 ? MINUS : signed ? '+' : ''}${t}%`;
}

/** 5012 -> "5,012"; -1234 -> "−1,234". */
export function int(n) {
  const digits = String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 ? MINUS + digits : digits;
}

export const UNBOUNDED = `[${MINUS}\u221e, +\u221e]`;

/** [lo, hi] -> "[−10.7%, +90.7%]"; [null, null] (an unbounded adjusted interval) -> UNBOUNDED. */
export function interval(ci) {
  if (ci[0] === null && ci[1] === null) return UNBOUNDED;
  return `[${pct(ci[0])}, ${pct(ci[1])}]`;
}

/** The relative interval the table shows for results r: ci_adjusted under a correction
 * (frequentist), else ci. */
export function shownRelInterval(lift, r) {
  const adjusted = r.correction && r.correction !== 'none' && r.method !== 'bayesian' && 'ci_adjusted' in lift;
  return interval(adjusted ? lift.ci_adjusted : lift.ci);
}

/** A p-value with four decimals, "<0.0001" below. */
export function p(x) {
  return x < 0.0001 ? '<0.0001' : x.toFixed(4);
}

/** "p = 0.0123", "p < 0.0001". */
export function pEq(x) {
  return x < 0.0001 ? 'p < 0.0001' : `p = ${x.toFixed(4)}`;
}

/** The significance column for treatment v of results r: chance to beat control (bayesian:
 * ">99.9%", "<0.1%", "97.6%"), else the relative lift's p-value (adjusted under a correction). */
export function significance(v, r) {
  if (r.method === 'bayesian') {
    const c = v.chance_to_beat_control;
    return c > 0.999 ? '>99.9%' : c < 0.001 ? '<0.1%' : `${(c * 100).toFixed(1)}%`;
  }
  const rl = v.relative_lift || {};
  const adjusted = r.correction && r.correction !== 'none';
  return p(adjusted ? rl.p_value_adjusted ?? v.p_value_adjusted : rl.p_value ?? v.p_value);
}

/** The verdict texts (DASHBOARD.md). */
export const VERDICT = { win: 'Better', loss: 'Worse', flat: 'Not significant', none: 'No test' };

/** The verdict text for results r: VERDICT, but a flat one under the Bayesian method (no
 * significance test: its credible interval holds 0) reads "No credible difference". */
export function verdictText(vd, r) {
  return vd === 'flat' && r.method === 'bayesian' ? 'No credible difference' : VERDICT[vd];
}

// format_unit.mjs - table-driven tests of the dashboard's pure modules, web/js/format.js and
// web/js/decide.js: each input beside the literal text it must give, written by hand from the
// functions' contracts (their comments, DASHBOARD.md), never computed with the modules
// themselves. Plain Node (no browser, no daemon, no npm packages): run.sh runs it first;
// `node tests/browser/format_unit.mjs` alone works too. Prints TAP.

import * as fmt from '../../web/js/format.js';
import { decide, runningMs, totalNeeded, usersNeeded, leastWeight, STATE_TEXT } from '../../web/js/decide.js';

const M = '\u2212'; // the minus sign the dashboard writes
const DASH = '\u2014';
const tests = [];
const test = (name, fn) => tests.push({ name, fn });

function eq(actual, expected, msg) {
  if (actual !== expected) throw new Error(`${msg}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

/** Each row [args..., expected] through f. */
function table(name, f, rows) {
  for (const row of rows) {
    const args = row.slice(0, -1);
    eq(f(...args), row[row.length - 1], `${name}(${args.map((a) => JSON.stringify(a)).join(', ')})`);
  }
}

test('fmtPct, fmtInt, fmtNum, fmtProb, fmtP, fmtPEq, fmtLevel, fmtDays', () => {
  table('fmtPct', fmt.fmtPct, [
    [0.118, undefined, '11.8%'],
    [0.4, { signed: true }, '+40.0%'],
    [-0.1, { signed: true }, `${M}10.0%`],
    [1, { signed: true }, '+100.0%'],
    [0, { signed: true }, '0.0%'],
    [-0.0004, { signed: true }, '0.0%'], // no "-0.0%"
    [0.1, { digits: 2 }, '10.00%'],
    [0.14, { digits: 2 }, '14.00%'],
    [null, undefined, DASH],
  ]);
  table('fmtInt', fmt.fmtInt, [[5012, '5,012'], [0, '0'], [-1234, `${M}1,234`], [1234567, '1,234,567'], [null, DASH]]);
  table('fmtNum', fmt.fmtNum, [[2.7193, undefined, '2.719'], [1234.5, undefined, '1,235'], [0, undefined, '0'], [0.5, { signed: true }, '+0.5'], [-0.5, { signed: true }, `${M}0.5`]]);
  table('fmtProb', fmt.fmtProb, [[0.9999, '>99.9%'], [0.0001, '<0.1%'], [0.976, '97.6%'], [0.5, '50.0%']]);
  table('fmtP', fmt.fmtP, [[0.02, '0.0200'], [0.00001, '<0.0001'], [1, '1.0000'], [undefined, DASH]]);
  table('fmtPEq', fmt.fmtPEq, [[0.0123, 'p = 0.0123'], [0.00001, 'p < 0.0001']]);
  table('fmtLevel', fmt.fmtLevel, [[0.05, '95%'], [0.01, '99%'], [0.1, '90%']]);
  table('fmtDays', fmt.fmtDays, [[0, 'less than a day'], [1, '1 day'], [12, '12 days'], [1500, '1,500 days']]);
  table('fmtSharePct', fmt.fmtSharePct, [[0.004, '0.4%'], [0.995, '99.5%'], [0.255, '25.5%']]);
  table('fmtSmallPct', fmt.fmtSmallPct, [[0.00011, '0.011%'], [0, '0%'], [0.000000001, '<0.001%']]);
  table('daysBetween', fmt.daysBetween, [[0, 0.4 * 86400000, 0], [0, 2.7 * 86400000, 2]]);
  table('fmtDate', fmt.fmtDate, [[Date.UTC(2026, 10, 28, 14, 5), '2026-11-28']]);
  table('fmtDateTime', fmt.fmtDateTime, [[Date.UTC(2026, 10, 28, 14, 5), '2026-11-28 14:05 UTC']]);
});

test('intervals: fmtPctInterval, shownInterval, fmtShownPct', () => {
  table('fmtPctInterval', fmt.fmtPctInterval, [
    [[-0.176, 1.51], `[${M}17.6%, +151.0%]`],
    [[0.0123, 0.907], '[+1.2%, +90.7%]'],
    [[null, 0.1], DASH],
  ]);
  eq(fmt.UNBOUNDED_INTERVAL, `[${M}\u221e, +\u221e]`, 'the unbounded interval');
  const lift = { estimate: 0.4, ci: [0.05, 0.75], ci_adjusted: [-0.02, 0.82] };
  const holm = { correction: 'holm', method: 'frequentist' };
  eq(fmt.fmtShownPct(fmt.shownInterval(lift, {})), '[+5.0%, +75.0%]', 'no correction: ci');
  eq(fmt.fmtShownPct(fmt.shownInterval(lift, holm)), `[${M}2.0%, +82.0%]`, 'holm: ci_adjusted');
  eq(fmt.fmtShownPct(fmt.shownInterval({ ...lift, ci_adjusted: [null, null] }, holm)), `[${M}\u221e, +\u221e]`, 'unbounded');
  eq(fmt.fmtShownPct(fmt.shownInterval(lift, { ...holm, method: 'bayesian' })), '[+5.0%, +75.0%]', 'bayesian adjusts nothing');
  eq(fmt.correctionName('holm'), 'Holm', 'Holm');
  eq(fmt.correctionName('bh'), 'BH', 'BH');
});

test('metric formats: resultsFormat, fmtMean, ratioPartsText', () => {
  // a rate: percentages with one precision for the column (two decimals from 10% up)
  const rate = fmt.resultsFormat({ type: 'binomial', variants: [{ mean: 0.1 }, { mean: 0.14 }] }, {});
  eq(rate.mean(0.1), '10.00%', 'rate mean');
  eq(rate.abs(0.04), '+4.00 pp', 'rate absolute lift');
  eq(rate.absInterval([-0.0123, 0.0456]), `[${M}1.23 pp, +4.56 pp]`, 'rate absolute interval');
  // a small rate gets three decimals
  eq(fmt.resultsFormat({ type: 'binomial', variants: [{ mean: 0.002 }] }, {}).mean(0.002), '0.200%', 'small rate');
  // currency: cents from one unit up
  const eur = fmt.resultsFormat({ type: 'sum', variants: [{ mean: 12.5 }, { mean: 13.25 }] }, { unit: 'currency', currency: 'EUR' });
  eq(eur.mean(12.5), '€12.50', 'currency mean');
  eq(eur.abs(0.75), '+€0.75', 'currency lift');
  // durations in the largest unit the values reach
  const dur = fmt.resultsFormat({ type: 'mean', variants: [{ mean: 2500 }, { mean: 3000 }] }, { unit: 'duration' });
  eq(dur.mean(2500), '2.500 s', 'duration mean');
  // plain numbers: about four significant digits for the largest
  const num = fmt.resultsFormat({ type: 'mean', variants: [{ mean: 7.073 }, { mean: 11.3 }] }, {});
  eq(num.mean(7.073), '7.07', 'aligned decimals');
  eq(num.mean(11.3), '11.30', 'aligned decimals');
  eq(num.abs(-0.001), '0.00', 'no "-0.00"');
  table('fmtMean', fmt.fmtMean, [['binomial', 0.1234, '12.34%'], ['mean', 2.7193, '2.719']]);
  eq(fmt.ratioPartsText({ sum: 12345.678, denominator_sum: 321 }, { numerator: 'revenue', denominator: 'orders' }), '12,345.68 revenue / 321 orders', 'ratio parts');
});

test('verdicts: relSignificant, verdict, significanceText, headline, totalUsers', () => {
  const r = { alpha: 0.05, method: 'frequentist' };
  const v = (estimate, ci, p, extra = {}) => ({ relative_lift: { estimate, ci, p_value: p, ...extra } });
  table('verdict', (x, goal, res) => fmt.verdict(x, goal, res), [
    [v(0.4, [0.05, 0.75], 0.02), 'increase', r, 'win'],
    [v(0.4, [0.05, 0.75], 0.02), 'decrease', r, 'loss'],
    [v(-0.4, [-0.6, -0.2], 0.001), 'decrease', r, 'win'],
    [v(0.1, [-0.05, 0.25], 0.2), 'increase', r, 'flat'],
    [v(0.4, [0.05, 0.75], 0.02, { p_value_adjusted: 0.08 }), 'increase', { ...r, correction: 'holm' }, 'flat'],
    [{ relative_lift: { estimate: null } }, 'increase', r, 'none'],
    [{ verdict: 'loss', relative_lift: { estimate: 0.4, ci: [0.1, 0.7] } }, 'increase', r, 'loss'], // the server's
  ]);
  eq(fmt.significanceText(v(0.4, [0.05, 0.75], 0.0213), r), '0.0213', 'p-value');
  eq(fmt.significanceText(v(0.4, [0.05, 0.75], 0.0213, { p_value_adjusted: 0.0852 }), { ...r, correction: 'holm' }), '0.0852', 'adjusted p-value');
  eq(fmt.significanceText({ chance_to_beat_control: 0.9731 }, { method: 'bayesian' }), '97.3%', 'chance to beat control');
  eq(fmt.VERDICT_TEXT.flat, 'Not significant', 'flat text');
  const res = { alpha: 0.05, variants: [{ users: 1000 }, { users: 1012 }], metrics: [{ key: 'm', goal: 'increase', variants: [{}, { key: 'b', ...v(0.4, [0.05, 0.75], 0.02) }] }] };
  eq(fmt.totalUsers(res), 2012, 'total users');
  const h = fmt.headline(res, 'm');
  eq(JSON.stringify(h.treatments), '[{"key":"b","lift":0.4,"significant":true,"verdict":"win","absolute":false,"text":"Better"}]', 'headline');
  eq(fmt.headline(res, 'nope'), null, 'no such metric');
});

test('shownVerdict: a relative lift with no test reads the absolute lift (table, list, decision)', () => {
  const r = { alpha: 0.05, method: 'frequentist' };
  // a treatment with no conversions: the server's verdict "none", relative p null, the
  // absolute lift significant (top-level significant and p_value)
  const zero = (est, significant, ci = [-0.11, -0.09]) => ({ key: 'b', verdict: 'none', relative_lift: { estimate: -1, ci: null, p_value: null }, absolute_lift: { estimate: est, ci }, significant, p_value: 0.00001 });
  const text = (x, goal, res) => fmt.shownVerdict(x, goal, res).text;
  table('shownVerdict', text, [
    [zero(-0.1, true), 'increase', r, 'Worse (absolute lift)'],
    [zero(-0.1, true), 'decrease', r, 'Better (absolute lift)'],
    [zero(0.1, true, [0.09, 0.11]), 'increase', r, 'Better (absolute lift)'],
    [zero(-0.1, false), 'increase', r, 'No test'],
    [zero(0, true), 'increase', r, 'No test'],
    [zero(-0.1, undefined), 'increase', { method: 'bayesian' }, 'Worse (absolute lift)'], // its interval excludes 0
    [zero(-0.1, undefined, [-0.2, 0.01]), 'increase', { method: 'bayesian' }, 'No test'],
    [{ verdict: 'loss', relative_lift: { estimate: -0.3, ci: [-0.5, -0.1] }, absolute_lift: { estimate: -0.03 }, significant: true }, 'increase', r, 'Worse'],
    [{ verdict: 'flat', relative_lift: { estimate: 0.1, ci: [-0.1, 0.3] } }, 'increase', r, 'Not significant'],
    // dash27 2: Bayesian has no significance test: its credible interval holds 0
    [{ verdict: 'flat', relative_lift: { estimate: 0.1, ci: [-0.1, 0.3] } }, 'increase', { method: 'bayesian' }, 'No credible difference'],
    [{ relative_lift: { estimate: 0.1, ci: [-0.1, 0.3] } }, 'increase', { method: 'bayesian' }, 'No credible difference'],
    [{ relative_lift: { estimate: 0.1, ci: [-0.1, 0.3], p_value: 0.3 } }, 'increase', { method: 'sequential' }, 'Not significant'],
  ]);
  table('verdictText', fmt.verdictText, [['flat', { method: 'bayesian' }, 'No credible difference'], ['flat', { method: 'frequentist' }, 'Not significant'], ['win', { method: 'bayesian' }, 'Better'], ['none', {}, 'No test']]);
  eq(fmt.shownVerdict(zero(-0.1, true), 'increase', r).verdict, 'loss', 'verdict loss');
  const res = { alpha: 0.05, method: 'frequentist', variants: [{ users: 1000 }, { users: 1000 }], metrics: [{ key: 'm', goal: 'increase', variants: [{ key: 'a' }, zero(-0.1, true)] }] };
  const t = fmt.headline(res, 'm').treatments[0];
  eq(`${t.verdict} ${t.text}`, 'loss Worse (absolute lift)', 'the list reads it too');
});

test('decide.js: runningMs, leastWeight, totalNeeded, usersNeeded', () => {
  const D = 86400000;
  const x = { status: 'running', started_at: 0, stopped_at: null, paused_at: null, paused_ms: 2 * D, variants: [{ key: 'a', weight: 0.5 }, { key: 'b', weight: 0.5 }] };
  eq(runningMs(x, 10 * D), 8 * D, 'ten days less two paused');
  eq(runningMs({ ...x, status: 'paused', paused_at: 9 * D }, 10 * D), 7 * D, 'the current pause too');
  eq(runningMs({ ...x, started_at: null }, 10 * D), null, 'never started');
  eq(leastWeight({ variants: [{ weight: 0.7 }, { weight: 0.2 }, { weight: 0 }, { weight: 0.1 }] }), 0.1, 'least positive weight');
  eq(totalNeeded(x, 1000), 2000, 'equal weights: needed x variants');
  eq(totalNeeded({ variants: [{ weight: 0.333333 }, { weight: 0.333333 }, { weight: 0.333334 }] }, 1000), 3000, 'stored thirds are equal');
  eq(totalNeeded({ variants: [{ weight: 0.9 }, { weight: 0.1 }] }, 1000), 10000, 'unequal: needed / least weight');
  // 2 (1.959964 + 0.841621)^2 0.3^2 / (0.05 x 0.1)^2 = 56,511.93 -> 56,512 (python's NormalDist)
  eq(usersNeeded(0.1, 0.3, 0.05, 0.05), 56512, 'users needed from the control');
  eq(usersNeeded(0, 0.3, 0.05, 0.05), null, 'no mean');
});

test('decide.js: decide() headlines and rows', () => {
  const D = 86400000;
  const now = 20 * D;
  const x = { key: 'e', status: 'running', started_at: now - 10 * D, stopped_at: null, paused_at: null, paused_ms: 0, primary_metric: 'm', guardrails: [], mde: 0.05, variants: [{ key: 'a', weight: 0.5 }, { key: 'b', weight: 0.5 }] };
  const cat = [{ key: 'm', name: 'Checkout' }];
  const res = (lift, ci, users = 1000, decision = { mde: 0.05, users_needed_per_variant: 4000, days_left: null }) => ({
    alpha: 0.05, method: 'frequentist', srm: { mismatch: false },
    variants: [{ key: 'a', users }, { key: 'b', users }],
    metrics: [{ key: 'm', goal: 'increase', variants: [{ key: 'a' }, { key: 'b', relative_lift: { estimate: lift, ci, p_value: 0.5 } }] }],
    decision,
  });
  let d = decide(x, res(0.01, [-0.05, 0.07]), cat, now);
  eq(d.daysRunning, 10, 'days running');
  eq(d.usersSoFar, 2000, 'users so far');
  eq(d.needed, 4000, 'the server\'s users needed');
  eq(d.neededTotal, 8000, 'total needed');
  // 1,000 users in 10 days per variant: 3,000 more take 30 days
  eq(d.daysLeft, 30, 'days left at the rate so far');
  eq(d.rows[0].text, 'keep running', 'row state');
  eq(d.overall.headline, 'Keep running about 30 more days', 'headline');
  eq(d.overall.why, 'Checkout has not moved significantly yet, and not every variant has the 4,000 users needed to see a 5% change.', 'why');
  // s26 journey 3: a stopped experiment's rows say it ended, as its headline does
  d = decide({ ...x, status: 'stopped', stopped_at: now }, res(0.01, [-0.05, 0.07]), cat, now);
  eq(d.rows[0].state, 'ended', 'stopped early: not "running"');
  eq(d.rows[0].text, 'inconclusive: ended early', 'stopped early: row text');
  eq(d.rows[0].why, 'Checkout did not move significantly, and not every variant had the 4,000 users needed to see a 5% change.', 'stopped early: row why');
  eq(d.overall.headline, 'Inconclusive: ended before enough data', 'stopped early: headline');
  // dash27 1: a paused experiment's rows say paused, as its headline does (no users
  // arrive, so "keep running" would wait for ever)
  d = decide({ ...x, status: 'paused', paused_at: now - D }, res(0.01, [-0.05, 0.07]), cat, now);
  eq(d.rows[0].state, 'paused', 'paused: row state');
  eq(d.rows[0].text, 'paused: resume to collect more data', 'paused: row text');
  eq(d.rows[0].why, 'Checkout has not moved significantly yet, and not every variant has the 4,000 users needed to see a 5% change.', 'paused: row why');
  eq(STATE_TEXT.paused, 'paused: resume to collect more data', 'paused state text');
  // stopped with one treatment ended early and one worse: inconclusive, not "no effect
  // detected" (which says the users needed were reached)
  const three = { ...x, status: 'stopped', stopped_at: now, variants: [...x.variants, { key: 'c', weight: 0.5 }] };
  const r3 = res(0.01, [-0.05, 0.07]);
  r3.variants.push({ key: 'c', users: 1000 });
  r3.metrics[0].variants.push({ key: 'c', relative_lift: { estimate: -0.3, ci: [-0.5, -0.1], p_value: 0.001 } });
  d = decide(three, r3, cat, now);
  eq(d.rows.map((row) => row.text).join(', '), 'inconclusive: ended early, worse than control', 'stopped, mixed: rows');
  eq(d.overall.headline, 'Inconclusive: ended before enough data', 'stopped, mixed: headline');
  eq(d.overall.why, 'Checkout did not move significantly, and not every variant had the 4,000 users needed to see a 5% change. The experiment has ended, so no decision can be drawn from it. Do not ship c: Checkout is significantly worse than control.', 'stopped, mixed: why');
  d = decide({ ...three, status: 'paused', stopped_at: null, paused_at: now - D }, r3, cat, now);
  eq(d.rows.map((row) => row.state).join(', '), 'paused, worse', 'paused, mixed: rows');
  eq(d.overall.headline, 'Paused: resume to reach the users needed', 'paused, mixed: headline');
  // paused with data: no users arrive, so no "keep running" headline, and no days left
  // (the server's days_left null and its warning)
  const paused = { ...x, status: 'paused', paused_at: now - D };
  d = decide(paused, res(0.01, [-0.05, 0.07], 1000, { mde: 0.05, users_needed_per_variant: 4000, days_left: null, warning: 'the experiment is paused: no projection until it resumes' }), cat, now);
  eq(d.overall.headline, 'Paused: resume to reach the users needed', 'paused: headline');
  eq(d.overall.why, 'Checkout has not moved significantly yet, and not every variant has the 4,000 users needed to see a 5% change. No users arrive while the experiment is paused: resume it to go on.', 'paused: why');
  eq(d.daysLeft, null, 'paused: no days left');
  eq(d.warning, 'the experiment is paused: no projection until it resumes', 'paused: the server\'s warning');
  eq(decide(paused, res(0.01, [-0.05, 0.07], 1000, null), cat, now).daysLeft, null, 'paused, no server decision: no projection here either');
  d = decide(x, res(0.2, [0.1, 0.3], 5000), cat, now);
  eq(d.rows[0].state, 'ship', 'significant win');
  eq(d.overall.headline, 'Ship b', 'ship headline');
  eq(d.overall.why, 'b: Checkout is significantly better than control.', 'ship why (enough users)');
  // dash36 F2: the names the PM typed, not the keys; a blank name falls back to the key
  const named = { ...x, variants: [{ key: 'a', name: 'Control', weight: 0.5 }, { key: 'b', name: 'Bold copy', weight: 0.5 }] };
  d = decide(named, res(0.2, [0.1, 0.3], 5000), cat, now);
  eq(d.overall.headline, 'Ship Bold copy', 'ship headline: the name');
  eq(d.overall.why, 'Bold copy: Checkout is significantly better than control.', 'ship why: the name');
  eq(`${d.rows[0].variant} ${d.rows[0].name}`, 'b Bold copy', 'row: key and name');
  d = decide({ ...x, variants: [{ key: 'a', weight: 0.5 }, { key: 'b', name: '  ', weight: 0.5 }] }, res(0.2, [0.1, 0.3], 5000), cat, now);
  eq(d.overall.headline, 'Ship b', 'a blank name: the key');
  eq(fmt.variantName(named, 'b'), 'Bold copy', 'variantName');
  eq(fmt.variantName(named, 'z'), 'z', 'variantName of an unknown key');
  d = decide({ ...three, variants: [...three.variants.slice(0, 2), { key: 'c', name: 'Red', weight: 0.5 }] }, r3, cat, now);
  eq(d.overall.why.split('. Do not ship ')[1], 'Red: Checkout is significantly worse than control.', 'a worse variant by its name');
  // Bayesian: no significance test, a chance to beat control
  const bay = (lift, ci, chance) => {
    const b = res(lift, ci, 5000);
    b.method = 'bayesian';
    b.metrics[0].variants[1].chance_to_beat_control = chance;
    return b;
  };
  eq(decide(x, bay(0.2, [0.1, 0.3], 0.9731), cat, now).rows[0].why, 'Checkout beats control with a 97.3% chance.', 'bayesian win why');
  eq(decide(x, bay(-0.2, [-0.3, -0.1], 0.012), cat, now).rows[0].why, 'Checkout beats control with only a 1.2% chance.', 'bayesian loss why');
  eq(decide(x, bay(0.2, [0.1, 0.3], null), cat, now).rows[0].why, 'Checkout is credibly better than control.', 'bayesian, no chance given');
  // CUPED on a binomial metric: the chance (unadjusted conversions) on the other side of the
  // adjusted interval's verdict (review stats27 2): the reason says the interval decided
  const bayCuped = (lift, ci, chance, theta) => {
    const b = bay(lift, ci, chance);
    b.cuped = true;
    b.metrics[0].variants[1].cuped = { theta, variance_reduction: 0.4 };
    return b;
  };
  eq(decide(x, bayCuped(-0.13, [-0.21, -0.06], 1.0, 0.9), cat, now).rows[0].why, 'Checkout is credibly worse than control (by its CUPED-adjusted interval: the chance to beat control, from the unadjusted conversions, points the other way).', 'bayesian loss, chance the other way');
  eq(decide(x, bayCuped(0.13, [0.06, 0.21], 0.02, 0.9), cat, now).rows[0].why, 'Checkout is credibly better than control (by its CUPED-adjusted interval: the chance to beat control, from the unadjusted conversions, points the other way).', 'bayesian win, chance the other way');
  // rev-diff27a 3: no such note at a chance of exactly one half, nor without CUPED applied
  eq(decide(x, bayCuped(0.13, [0.06, 0.21], 0.5, 0.9), cat, now).rows[0].why, 'Checkout is credibly better than control.', 'bayesian win, chance one half');
  eq(decide(x, bayCuped(0.13, [0.06, 0.21], 0.02, 0), cat, now).rows[0].why, 'Checkout is credibly better than control.', 'bayesian win, theta 0');
  eq(decide(x, bay(0.13, [0.06, 0.21], 0.02), cat, now).rows[0].why, 'Checkout is credibly better than control.', 'bayesian win, CUPED off');
  // dash27 2: every Bayesian reason in Bayesian words, never "significantly"
  const bayFew = (chance) => {
    const b = bay(0.01, [-0.05, 0.07], chance);
    for (const v of b.variants) v.users = 1000;
    return b;
  };
  eq(decide(x, bayFew(0.61), cat, now).rows[0].why, 'Checkout shows no credible change yet, and not every variant has the 4,000 users needed to see a 5% change.', 'bayesian running why');
  eq(decide({ ...x, status: 'paused', paused_at: now - D }, bayFew(0.61), cat, now).rows[0].why, 'Checkout shows no credible change yet, and not every variant has the 4,000 users needed to see a 5% change.', 'bayesian paused why');
  eq(decide({ ...x, status: 'stopped', stopped_at: now }, bayFew(0.61), cat, now).rows[0].why, 'Checkout showed no credible change, and not every variant had the 4,000 users needed to see a 5% change.', 'bayesian ended why');
  eq(decide(x, bay(0.01, [-0.05, 0.07], 0.61), cat, now).rows[0].why, 'Every variant has the 4,000 users needed to see a 5% change, and Checkout shows no credible change.', 'bayesian no-effect why');
  // a guardrail worse under Bayesian: its chance to be worse (1 - chance to beat control)
  const bayG = (chance) => {
    const b = bay(0.2, [0.1, 0.3], 0.9731);
    b.metrics.push({ key: 'g', goal: 'increase', variants: [{ key: 'a' }, { key: 'b', relative_lift: { estimate: -0.2, ci: [-0.35, -0.05], p_value: null }, chance_to_beat_control: chance }] });
    return b;
  };
  const gcat = [...cat, { key: 'g', name: 'Retention' }];
  d = decide({ ...x, guardrails: ['g'] }, bayG(0.019), gcat, now);
  eq(d.rows[0].state, 'harm', 'bayesian guardrail: harm');
  eq(d.rows[0].why, 'Retention (a guardrail) is worse than control with a 98.1% chance.', 'bayesian guardrail why');
  eq(decide({ ...x, guardrails: ['g'] }, bayG(null), gcat, now).rows[0].why, 'Retention (a guardrail) is credibly worse than control.', 'bayesian guardrail, no chance given');
  const freqG = res(0.2, [0.1, 0.3], 5000);
  freqG.metrics.push({ key: 'g', goal: 'increase', variants: [{ key: 'a' }, { key: 'b', relative_lift: { estimate: -0.2, ci: [-0.35, -0.05], p_value: 0.01 } }] });
  eq(decide({ ...x, guardrails: ['g'] }, freqG, gcat, now).rows[0].why, 'Retention (a guardrail) got significantly worse.', 'frequentist guardrail why (unchanged)');
  d = decide({ ...x, status: 'stopped', stopped_at: now }, res(-0.2, [-0.3, -0.1], 5000), cat, now);
  eq(d.overall.headline, 'Stop: keep the control', 'worse and ended');
  d = decide(x, { ...res(0.01, [-0.05, 0.07]), srm: { mismatch: true } }, cat, now);
  eq(d.overall.headline, 'Do not decide yet: fix the traffic split', 'sample ratio mismatch');
  d = decide(x, res(0.01, [-0.05, 0.07], 0), cat, now);
  eq(d.overall.headline, 'Wait: no exposures yet', 'no exposures');
  eq(decide({ ...x, status: 'draft' }, null, cat, now).overall.headline, 'Not started', 'draft');
  eq(decide(x, null, cat, now).overall.headline, 'Decision unavailable', 'results failed');
  eq(STATE_TEXT['no-effect'], 'no effect detected at this power', 'state text');
  // rev-stats25 1: a treatment with no conversions has no relative test (SE 0, verdict
  // "none") while its absolute lift is significant: worse, not "not moved significantly"
  const zero = (absolute, significant, goal = 'increase', method = 'frequentist') => ({
    ...res(-1, null, 10000), method,
    metrics: [{ key: 'm', goal, variants: [{ key: 'a' }, { key: 'b', verdict: 'none', relative_lift: { estimate: -1, se: 0, ci: null, p_value: null }, absolute_lift: absolute, significant }] }],
  });
  d = decide(x, zero({ estimate: -0.1, ci: [-0.10588, -0.09412] }, true), cat, now);
  eq(d.rows[0].state, 'worse', 'no conversions left: worse');
  eq(d.overall.headline, 'Stop: keep the control', 'the only treatment lost every conversion');
  eq(d.rows[0].why, 'Checkout is significantly worse than control (by its absolute lift: the relative lift has no test, as a mean or its standard error is 0).', 'why names the absolute lift');
  d = decide({ ...x, status: 'stopped', stopped_at: now }, zero({ estimate: -0.1, ci: [-0.10588, -0.09412] }, true), cat, now);
  eq(d.overall.headline, 'Stop: keep the control', 'no conversions left, ended');
  d = decide(x, zero({ estimate: -0.1, ci: [-0.10588, -0.09412] }, true, 'decrease'), cat, now);
  eq(d.rows[0].state, 'ship', 'fewer of a decrease metric: better');
  d = decide(x, zero({ estimate: -0.01, ci: [-0.03, 0.01] }, false), cat, now);
  eq(d.rows[0].state, 'no-effect', 'absolute not significant: as before');
  d = decide(x, zero({ estimate: -0.1, ci: [-0.12, -0.08] }, undefined, 'increase', 'bayesian'), cat, now);
  eq(d.rows[0].state, 'worse', 'bayesian: the absolute interval excludes 0');
  // a guardrail that lost every conversion harms
  const xg = { ...x, guardrails: ['g'] };
  const rg = res(0.2, [0.1, 0.3], 10000);
  rg.metrics.push({ key: 'g', goal: 'increase', variants: [{ key: 'a' }, { key: 'b', verdict: 'none', relative_lift: { estimate: -1, ci: null, p_value: null }, absolute_lift: { estimate: -0.1, ci: [-0.11, -0.09] }, significant: true }] });
  d = decide(xg, rg, [...cat, { key: 'g', name: 'Retention' }], now);
  eq(d.rows[0].state, 'harm', 'guardrail with no conversions left: harm');
  eq(d.guardrails[0].verdict, 'loss', 'guardrail verdict');
});

let failed = 0;
tests.forEach((t, i) => {
  try {
    t.fn();
    console.log(`ok ${i + 1} - ${t.name}`);
  } catch (e) {
    failed += 1;
    console.log(`not ok ${i + 1} - ${t.name}`);
    for (const line of String(e && e.stack ? e.stack : e).split('\n').slice(0, 6)) console.log(`# ${line}`);
  }
});
console.log(`1..${tests.length}`);
process.exit(failed ? 1 : 0);

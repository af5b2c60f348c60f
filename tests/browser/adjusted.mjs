// adjusted.mjs - intervals beside verdicts under a multiple-comparison correction
// (STATS.md "Multiple comparisons"): the reviewer's case, a relative interval excluding 0
// (p 0.02) whose Holm-adjusted p-value is above alpha, showed "Not significant" beside that
// interval. Under a correction the results table, the forest plot and the breakdown now
// show the adjusted interval (`ci_adjusted`, labelled so), which holds 0 exactly when the
// verdict is "Not significant"; an adjusted p-value of 1 reads as an unbounded interval.
// Run through run.sh (its own daemon and Chromium).

import { suite, assert, assertEq } from './lib.mjs';
import * as txt from './expect.mjs';
import * as fmt from '../../web/js/format.js';

const EXP = 'many-metrics';
const METRICS = ['mc_a', 'mc_b', 'mc_c', 'mc_d'];
// converters of 1,000 users per variant (v0 the control): mc_a/v1 +40% with p 0.02, mc_a/v2
// exactly the control's (p 1), mc_b/v1 and mc_d/v1 significant after any correction
const CONV = { mc_a: [100, 140, 100], mc_b: [100, 200, 110], mc_c: [100, 90, 95], mc_d: [100, 60, 105] };

const { T, daemon, admin, page, go, noErrors, text, run } = await suite({ label: 'adjusted intervals' });

function cell(metric, variant, col) {
  return page.locator(`table.results-table[data-metric="${metric}"] tr[data-variant="${variant}"] [data-col="${col}"]`);
}

/** "[−10.7%, +90.7%]" -> [-0.107, 0.907]; the unbounded text -> [-Infinity, Infinity]. */
function parseInterval(t) {
  if (t === txt.UNBOUNDED) return [-Infinity, Infinity];
  const m = t.match(/^\[([−+-]?[\d.,]+)%, ([−+-]?[\d.,]+)%\]$/);
  assert(m, `an interval: ${t}`);
  const num = (s) => Number(s.replace('−', '-').replace(/,/g, '')) / 100;
  return [num(m[1]), num(m[2])];
}

/** The verdict shown is the one of the interval shown beside it, for every treatment. */
async function verdictsFollowIntervals(r) {
  let n = 0;
  for (const m of r.metrics) {
    for (const v of m.variants.slice(1)) {
      const ciText = await text(cell(m.key, v.key, 'ci'));
      assertEq(ciText, txt.shownRelInterval(v.relative_lift, r), `${m.key}/${v.key} interval`);
      const [lo, hi] = parseInterval(ciText);
      const shown = await text(cell(m.key, v.key, 'verdict'));
      const flat = shown.endsWith(txt.VERDICT.flat);
      assert(flat === !(lo > 0 || hi < 0), `${m.key}/${v.key}: "${shown}" beside ${ciText}`);
      n++;
    }
  }
  assertEq(n, 8, 'treatments checked');
}

T.test('four metrics, three variants, 1,000 users each (API)', async () => {
  for (const k of METRICS) await admin.post('/metrics', { key: k, event: k, type: 'binomial' });
  await admin.post('/experiments', {
    key: EXP,
    variants: [{ key: 'v0', weight: 0.25 }, { key: 'v1', weight: 0.25 }, { key: 'v2', weight: 0.5 }],
    metrics: METRICS,
    dimensions: ['plan'],
  });
  const st = await admin.post(`/experiments/${EXP}/start`);
  const exposures = [];
  const events = [];
  for (let arm = 0; arm < 3; arm++) {
    for (let i = 0; i < 1000; i++) {
      const user = `u${arm}-${i}`;
      exposures.push({ experiment: EXP, user_id: user, variant: `v${arm}`, ts: st.started_at + 1, attributes: { plan: i % 2 ? 'pro' : 'free' } });
      for (const k of METRICS) if (i < CONV[k][arm]) events.push({ user_id: user, event: k, ts: st.started_at + 2 });
    }
  }
  while (Date.now() < st.started_at + 10) await new Promise((r) => setTimeout(r, 5));
  assertEq((await admin.post('/exposures', { exposures })).accepted, exposures.length, 'exposures accepted');
  assertEq((await admin.post('/events', { events })).accepted, events.length, 'events accepted');
  const r = await admin.get(`/experiments/${EXP}/results?correction=holm&cuped=false`);
  const v = r.metrics[0].variants[1];
  assert(v.relative_lift.ci[0] > 0 && v.relative_lift.p_value < 0.05, 'the unadjusted interval excludes 0');
  assert(v.relative_lift.p_value_adjusted > 0.05 && v.verdict === 'flat', 'not after Holm');
});

T.test('sign in', async () => {
  await go(`/experiments/${EXP}`);
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await page.getByLabel('API key').fill(daemon.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.results-body[aria-busy="false"] table.results-table').first().waitFor();
  noErrors();
});

T.test('Holm: the adjusted interval beside “Not significant”, labelled so, in the table and the forest plot', async () => {
  await go(`/experiments/${EXP}?correction=holm&cuped=false`);
  await page.locator('.results-body[aria-busy="false"] table.results-table thead th', { hasText: 'p-value (Holm, relative lift)' }).first().waitFor();
  const r = await admin.get(`/experiments/${EXP}/results?correction=holm&cuped=false`);
  const v1 = r.metrics[0].variants[1];
  const head = await text(page.locator('table.results-table[data-metric="mc_a"] thead th').nth(4));
  assertEq(head, '95% interval (Holm-adjusted)', 'the interval column says it is adjusted');
  // what the fixture fixes, as literals (CONV over 1,000 users per variant): the lifts
  // (140 / 100 - 1 = +40.0%...), the rates, the converters and the absolute lift
  const LIFTS = { mc_a: ['+40.0%', '0.0%'], mc_b: ['+100.0%', '+10.0%'], mc_c: ['\u221210.0%', '\u22125.0%'], mc_d: ['\u221240.0%', '+5.0%'] };
  for (const [k, [l1, l2]] of Object.entries(LIFTS)) {
    assertEq(await text(cell(k, 'v1', 'lift')), l1, `${k}/v1 lift`);
    assertEq(await text(cell(k, 'v2', 'lift')), l2, `${k}/v2 lift`);
  }
  assertEq(await text(cell('mc_a', 'v1', 'users')), '1,000', 'mc_a/v1 users');
  assertEq(await text(cell('mc_a', 'v1', 'mean').locator('.mean-value')), '14.00%', 'mc_a/v1 rate');
  assertEq(await text(cell('mc_a', 'v1', 'mean').locator('.converters')), '140 / 1,000 converted', 'mc_a/v1 converters');
  assert((await text(cell('mc_a', 'v1', 'abs'))).startsWith('+4.00 pp '), 'mc_a/v1 absolute lift: 14% - 10%');
  // the reviewer's row: the interval shown holds 0 beside "Not significant"
  const ciText = await text(cell('mc_a', 'v1', 'ci'));
  assertEq(ciText, txt.interval(v1.relative_lift.ci_adjusted), 'mc_a/v1: the adjusted interval');
  const [lo, hi] = parseInterval(ciText);
  assert(lo < 0 && hi > 0, `mc_a/v1: ${ciText} holds 0`);
  assertEq(await text(cell('mc_a', 'v1', 'verdict')), 'Not significant', 'mc_a/v1 verdict');
  assert(ciText !== txt.interval(v1.relative_lift.ci), 'not the unadjusted interval');
  const notes = await text(page.locator('section.metric-result[data-metric="mc_a"] .notes'));
  assert(notes.includes(`v1: the unadjusted interval ${txt.interval(v1.relative_lift.ci)} excludes zero, but not after the Holm correction over 8 comparisons.`), `the note (${notes})`);
  // an adjusted p-value of 1 (a lift of exactly 0): unbounded, in the table and the plot
  assertEq(await text(cell('mc_a', 'v2', 'ci')), txt.UNBOUNDED, 'mc_a/v2: unbounded');
  const forest = page.locator('section.metric-result[data-metric="mc_a"] svg.forest');
  assertEq(await forest.locator('.forest-row[data-variant="v2"] line.ci-unbounded').count(), 1, 'mc_a/v2: an open line');
  const title = await text(forest.locator('title'));
  const pct = (x) => txt.pct(x);
  assert(title.includes(`v1: ${pct(v1.relative_lift.estimate)} (${pct(v1.relative_lift.ci_adjusted[0])} to ${pct(v1.relative_lift.ci_adjusted[1])})`), `the forest plot draws the adjusted interval (${title})`);
  assert(title.includes('Holm-adjusted'), `the forest plot says so (${title})`);
  assert(title.includes('v2: +0.0% (unbounded interval)') || title.includes('v2: 0.0% (unbounded interval)'), `v2 unbounded in the plot (${title})`);
  // the absolute lift's interval: adjusted too (beside the absolute test's own adjusted
  // p-value; the verdict is the relative lift's)
  const f = fmt.resultsFormat(r.metrics[0], await admin.get('/metrics/mc_a'));
  assertEq(await text(cell('mc_a', 'v1', 'abs').locator('.abs-ci')), f.absInterval(v1.absolute_lift.ci_adjusted), 'mc_a/v1: adjusted absolute interval');
  assertEq(await text(cell('mc_a', 'v2', 'abs').locator('.abs-ci')), txt.UNBOUNDED, 'mc_a/v2: unbounded absolute interval');
  assert((await text(page.locator('table.results-table[data-metric="mc_a"] thead th').nth(5))).includes('Holm-adjusted'), 'the absolute column says so');
  await verdictsFollowIntervals(r);
  noErrors();
});

T.test('BH and sequential + Holm: every verdict is the one of its interval', async () => {
  for (const q of ['correction=bh&cuped=false', 'correction=holm&cuped=false&method=sequential']) {
    await go(`/experiments/${EXP}?${q}`);
    const r = await admin.get(`/experiments/${EXP}/results?${q}`);
    await page.locator('.results-body[aria-busy="false"] .computed', { hasText: `${r.correction} correction` }).waitFor();
    await page.locator('table.results-table thead th', { hasText: `${fmt.correctionName(r.correction)}-adjusted` }).first().waitFor();
    await verdictsFollowIntervals(r);
  }
  noErrors();
});

T.test('no correction: the unadjusted interval, excluding 0, beside “Better”', async () => {
  await go(`/experiments/${EXP}?correction=none&cuped=false`);
  await page.locator('.results-body[aria-busy="false"] table.results-table thead th', { hasText: /^p-value \(relative lift\)$/ }).first().waitFor();
  const r = await admin.get(`/experiments/${EXP}/results?correction=none&cuped=false`);
  assertEq(await text(cell('mc_a', 'v1', 'ci')), txt.interval(r.metrics[0].variants[1].relative_lift.ci), 'mc_a/v1: the interval');
  assertEq(await text(cell('mc_a', 'v1', 'verdict')), '▲ Better', 'mc_a/v1 verdict');
  assertEq(await text(page.locator('table.results-table[data-metric="mc_a"] thead th').nth(4)), '95% interval', 'no adjusted label');
  await verdictsFollowIntervals(r);
  noErrors();
});

T.test('breakdown under Holm: each slice’s adjusted interval, labelled so', async () => {
  await go(`/experiments/${EXP}?correction=holm&cuped=false&dimension=plan`);
  await page.getByRole('heading', { name: 'Breakdown by plan' }).waitFor();
  const table = page.locator('table.breakdown-table[data-metric="mc_a"]');
  await table.waitFor();
  assert((await text(table.locator('thead'))).includes('95% interval (Holm-adjusted)'), 'the breakdown interval says it is adjusted');
  const b = await admin.get(`/experiments/${EXP}/results?correction=holm&cuped=false&dimension=plan`);
  for (const sl of b.slices) {
    const m = sl.metrics.find((y) => y.key === 'mc_a');
    for (const v of m.variants.slice(1)) {
      const cells = await table.locator(`tr[data-value="${sl.dimension_value}"][data-variant="${v.key}"] td`).allTextContents();
      const ci = cells[cells.length - 3].trim();
      assertEq(ci, txt.shownRelInterval(v.relative_lift, b), `${sl.dimension_value}/${v.key}: adjusted interval`);
      const [lo, hi] = parseInterval(ci);
      assert(cells[cells.length - 1].trim().endsWith(txt.VERDICT.flat) === !(lo > 0 || hi < 0), `${sl.dimension_value}/${v.key}: verdict beside ${ci}`);
    }
  }
  noErrors();
});

// ------------------------------------------------------------------ main

await run();

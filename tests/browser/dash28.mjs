// dash28.mjs - the findings of the dashboard review rev-dash28 (s28), each checked in the
// page against the API, numbered as the review numbers them: 1. the cumulative lift follows
// CUPED and the correction; 2. an unbounded adjusted interval in the daily series is drawn
// and written as unbounded; 3. "Ship" on a fixed-horizon experiment stopped before its
// planned sample keeps a caveat; 4. the breakdown's phone cards are complete; 5. a ratio's
// sums and intervals wrap on a phone; 6. eight variants, eight looks, whiskers side by side;
// 7. no "ship candidate" under a sample ratio mismatch, and days left while paused in the
// page's words; 8. the CUPED note for tiny reductions and increases; 9. the API keys page;
// 10. the labels of intervals, verdicts, charts and card headings. Run through run.sh (its
// own daemon and Chromium).

import { suite, assert, assertEq, signIn, rng } from './lib.mjs';
import * as txt from './expect.mjs';
import * as charts from '../../web/js/charts.js';

const { T, daemon, admin, page, go, noErrors, text, run } = await suite({ label: 'review rev-dash28' });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Start experiment `key` and wait until its start is in the past (exposures at +1 ms). */
async function start(key) {
  const st = await admin.post(`/experiments/${key}/start`);
  while (Date.now() < st.started_at + 10) await sleep(5);
  return st.started_at;
}

/**
 * Expose `n[i]` users to variant `vs[i]` of experiment `key` (country NL or BE in turn) and
 * send `event` for the first `conv[i]` of them; `extra(user, i, events)` may add events.
 */
async function seed(key, vs, n, conv, { event = 'd28_buy', extra = null } = {}) {
  const t0 = await start(key);
  const exposures = [];
  const events = [];
  vs.forEach((v, i) => {
    for (let j = 0; j < n[i]; j++) {
      const user = `${key}-${v}-${j}`;
      exposures.push({ experiment: key, user_id: user, variant: v, ts: t0 + 1, attributes: { country: j % 2 ? 'NL' : 'BE' } });
      if (j < conv[i]) events.push({ user_id: user, event, ts: t0 + 2 });
      if (extra) extra(user, t0, events);
    }
  });
  assertEq((await admin.post('/exposures', { exposures })).accepted, exposures.length, `${key}: exposures accepted`);
  assertEq((await admin.post('/events', { events })).accepted, events.length, `${key}: events accepted`);
}

const THREE = ['control', 'b', 'c'].map((key) => ({ key, weight: 1 / 3 }));

T.test('setup (API) and sign in', async () => {
  await admin.post('/metrics', { key: 'd28_buy', name: 'Purchase rate', event: 'd28_buy', type: 'binomial' });
  await admin.post('/metrics', { key: 'd28_visits', name: 'Visits', event: 'd28_visit', type: 'count' });
  await admin.post('/metrics', { key: 'd28_clicks', name: 'Clicks', event: 'd28_click', type: 'count' });
  // d28-main: b doubles the purchase rate, c converts exactly as the control (p = 1: its
  // adjusted interval is unbounded under a correction); visits and clicks have a pre-period
  // nearly independent of the experiment period (CUPED changes their variance by next to
  // nothing, one way or the other)
  await admin.post('/experiments', { key: 'd28-main', variants: THREE, metrics: ['d28_buy', 'd28_visits', 'd28_clicks'], primary_metric: 'd28_buy', dimensions: ['country'] });
  const R = rng(1);
  const prePost = (user, t0, events) => {
    for (const ev of ['d28_visit', 'd28_click']) {
      const x = Math.floor(R() * 4);
      const y = Math.floor(R() * 4);
      for (let k = 0; k < x; k++) events.push({ user_id: user, event: ev, ts: t0 - 3600000 - k });
      for (let k = 0; k < y; k++) events.push({ user_id: user, event: ev, ts: t0 + 2 + k });
    }
  };
  await seed('d28-main', ['control', 'b', 'c'], [200, 200, 200], [60, 120, 60], { extra: prePost });
  // d28-stopped: b better on 400 users a variant (20% against 50%: significant under the
  // sequential analysis too), far from the users needed for a 5% change, then stopped
  await admin.post('/experiments', { key: 'd28-stopped', variants: THREE.slice(0, 2).map((v) => ({ ...v, weight: 0.5 })), metrics: ['d28_buy'], primary_metric: 'd28_buy' });
  await seed('d28-stopped', ['control', 'b'], [400, 400], [80, 200]);
  await admin.post('/experiments/d28-stopped/stop');
  // d28-ratio: revenue per order, its parts with long keys, thousands of euros a variant
  await admin.post('/metrics', { key: 'd28_revenue_eur', name: 'Revenue', event: 'd28_rev', type: 'sum', unit: 'currency', currency: 'EUR' });
  await admin.post('/metrics', { key: 'd28_orders_placed', name: 'Orders', event: 'd28_order', type: 'count' });
  await admin.post('/metrics', { key: 'd28_rev_per_order', name: 'Revenue per order', type: 'ratio', numerator: 'd28_revenue_eur', denominator: 'd28_orders_placed', unit: 'currency', currency: 'EUR' });
  await admin.post('/experiments', { key: 'd28-ratio', variants: THREE, metrics: ['d28_rev_per_order'], primary_metric: 'd28_rev_per_order' });
  const R2 = rng(28);
  await seed('d28-ratio', ['control', 'b', 'c'], [300, 300, 300], [0, 0, 0], {
    extra: (user, t0, events) => {
      const orders = 1 + Math.floor(R2() * 3);
      for (let k = 0; k < orders; k++) {
        events.push({ user_id: user, event: 'd28_order', ts: t0 + 2 + k });
        events.push({ user_id: user, event: 'd28_rev', value: Math.round(R2() * 10000) / 100 + 20, ts: t0 + 2 + k });
      }
    },
  });
  // d28-many: eight variants, one day of data
  const many = ['control', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7'];
  await admin.post('/experiments', { key: 'd28-many', variants: many.map((key) => ({ key, weight: 0.125 })), metrics: ['d28_buy'], primary_metric: 'd28_buy' });
  await seed('d28-many', many, many.map(() => 40), many.map((_, i) => 8 + 2 * i));
  // d28-srm: 50/50 weights, 60 users in the control and 200 in b, which converts 60%
  // against 20%: significantly better, and a sample ratio mismatch
  const HALF = THREE.slice(0, 2).map((v) => ({ ...v, weight: 0.5 }));
  await admin.post('/experiments', { key: 'd28-srm', variants: HALF, metrics: ['d28_buy'], primary_metric: 'd28_buy' });
  await seed('d28-srm', ['control', 'b'], [60, 200], [12, 120]);
  // d28-paused: paused with the users needed known; d28-paused-zero: paused with a control
  // that never converted (no users needed: a relative effect is undefined)
  await admin.post('/experiments', { key: 'd28-paused', variants: HALF, metrics: ['d28_buy'], primary_metric: 'd28_buy' });
  await seed('d28-paused', ['control', 'b'], [100, 100], [30, 33]);
  await admin.post('/experiments/d28-paused/pause');
  await admin.post('/experiments', { key: 'd28-paused-zero', variants: HALF, metrics: ['d28_buy'], primary_metric: 'd28_buy' });
  await seed('d28-paused-zero', ['control', 'b'], [100, 100], [0, 3]);
  await admin.post('/experiments/d28-paused-zero/pause');
  await go('/experiments');
  await signIn(page, daemon.adminKey);
  noErrors();
});

/** The cumulative lift chart's title (its SVG title, which starts with the chart's label). */
async function seriesTitle() {
  const t = page.locator('.ts-box svg.chart > title');
  await t.waitFor({ state: 'attached' });
  return text(t);
}

/** The text of "Show the numbers" for treatment `k` on the last day. */
async function lastDayCell(k) {
  const heads = await page.locator('.ts-box details.data-table thead th').allTextContents();
  const col = heads.findIndex((h) => h.startsWith(`${k} lift`));
  assert(col > 0, `a column for ${k}: ${heads.join(' | ')}`);
  return text(page.locator('.ts-box details.data-table tbody tr').last().locator('th, td').nth(col));
}

/** Wait until the results and the daily series have answered for the options in the URL. */
async function settled() {
  await page.locator('.results-body[aria-busy="false"] table.results-table').first().waitFor();
  await page.locator('.ts-box svg.chart').waitFor();
}

T.test('1. CUPED and the correction reload the cumulative lift: chart, title and numbers follow', async () => {
  await go('/experiments/d28-main');
  await settled();
  assert((await seriesTitle()).includes(', CUPED'), `the series is CUPED's: ${await seriesTitle()}`);
  const asked = [];
  page.on('request', (q) => {
    if (q.url().includes('/timeseries?')) asked.push(new URL(q.url()).searchParams);
  });
  await page.getByRole('checkbox', { name: 'CUPED' }).uncheck();
  for (let i = 0; i < 50 && !asked.some((q) => q.get('cuped') === 'false'); i++) await sleep(100);
  assert(asked.some((q) => q.get('cuped') === 'false' && q.get('metric') === 'd28_buy'), 'the series is asked again without CUPED');
  await page.waitForFunction(() => !/CUPED/.test((document.querySelector('.ts-box svg.chart > title') || {}).textContent || 'CUPED'));
  await page.getByRole('combobox', { name: 'Correction' }).selectOption('holm');
  await page.waitForFunction(() => /Holm/.test((document.querySelector('.ts-box svg.chart > title') || {}).textContent || ''));
  await settled();
  const title = await seriesTitle();
  assert(!title.includes('CUPED') && title.includes('Holm-adjusted'), `the chart's title: ${title}`);
  // the last day equals the results under every setting: b's adjusted interval in both
  const ts = await admin.get('/experiments/d28-main/timeseries?metric=d28_buy&cuped=false&correction=holm&method=frequentist&alpha=0.05');
  const last = ts.days[ts.days.length - 1].variants.find((v) => v.key === 'b').relative_lift;
  const want = `${txt.pct(last.estimate)} ${txt.interval(last.ci_adjusted)}`;
  assertEq(await lastDayCell('b'), want, 'b on the last day, Holm-adjusted');
  const table = await text(page.locator('table.results-table[data-metric="d28_buy"] tr[data-variant="b"] [data-col="ci"]'));
  assertEq(table, txt.interval(last.ci_adjusted), 'the results table agrees');
  noErrors();
});

T.test('2. an unbounded adjusted interval in the daily series is drawn and written as unbounded', async () => {
  const utcDay = Math.floor(Date.now() / 86400000);
  const ts = await admin.get('/experiments/d28-main/timeseries?metric=d28_buy&cuped=false&correction=holm&method=frequentist&alpha=0.05');
  const c = ts.days[ts.days.length - 1].variants.find((v) => v.key === 'c');
  assertEq(JSON.stringify(c.relative_lift.ci_adjusted), '[null,null]', 'c converts as the control: its Holm-adjusted interval is unbounded');
  await go('/experiments/d28-main?cuped=false&correction=holm');
  await settled();
  // the table says what the results table says for it, never "—"
  assertEq(await lastDayCell('c'), `${txt.pct(c.relative_lift.estimate)} ${txt.UNBOUNDED}`, 'c on the last day');
  assertEq(await text(page.locator('table.results-table[data-metric="d28_buy"] tr[data-variant="c"] [data-col="ci"]')), txt.UNBOUNDED, 'the results table');
  // the chart: a dotted line across the whole height, not a missing band
  const line = page.locator('.ts-box svg.chart .series[data-variant="c"] line.whisker-unbounded');
  // the series ends today: when 00:00 UTC passed since `ts` was read, the page has a day more
  const days = Math.floor(Date.now() / 86400000) === utcDay ? ts.days.length : await line.count();
  assertEq(await line.count(), days, 'one unbounded line per day');
  const [y1, y2, h] = await line.first().evaluate((l) => [Number(l.getAttribute('y1')), Number(l.getAttribute('y2')), l.ownerSVGElement.viewBox.baseVal.height]);
  assert(y2 - y1 > h * 0.6, `the line spans the plot: ${y1}..${y2} of ${h}`);
  assertEq(await page.locator('.ts-box svg.chart .series[data-variant="b"] line.whisker-unbounded').count(), 0, 'b has a bounded interval');
  const title = await seriesTitle();
  assert(title.includes('unbounded') && title.includes(`c ${txt.pct(c.relative_lift.estimate)} ${txt.UNBOUNDED} (unbounded)`), `the chart's label says so: ${title}`);
  assert((await text(page.locator('.ts-box .ts-unbounded'))).includes('unbounded'), 'a note under the chart says what the line means');
  noErrors();
});

T.test('3. a fixed-horizon experiment stopped before its planned sample keeps its caveat on "Ship"', async () => {
  const r = await admin.get('/experiments/d28-stopped/results');
  const dec = r.decision;
  assert(dec.users_smallest_variant < dec.users_needed_per_variant, `ended early: ${dec.users_smallest_variant} of ${dec.users_needed_per_variant}`);
  assertEq(r.metrics[0].variants[1].verdict, 'win', 'b is significantly better');
  await go('/experiments/d28-stopped');
  const head = page.locator('#decision-headline');
  await head.waitFor();
  assertEq(await text(head), 'Ship b (the experiment has ended)', 'headline');
  const why = await text(page.locator('#decision-why'));
  const pct = Math.round((dec.users_smallest_variant / dec.users_needed_per_variant) * 100);
  assert(why.includes(`Ended early: the smallest variant had ${txt.int(dec.users_smallest_variant)} of the ${txt.int(dec.users_needed_per_variant)} users planned per variant (${pct}%)`) &&
    why.includes('confirm it in a follow-up experiment or with the Sequential analysis before shipping'), `the caveat: ${why}`);
  // the sequential analysis is valid at any look: the same Ship, without the caveat
  const seq = await admin.get('/experiments/d28-stopped/results?method=sequential');
  assertEq(seq.metrics[0].variants[1].verdict, 'win', 'b is better under the sequential analysis too');
  await go('/experiments/d28-stopped?method=sequential');
  await page.locator('.results-body[aria-busy="false"] table.results-table').first().waitFor();
  await page.waitForFunction(() => /Ship|Inconclusive/.test((document.querySelector('#decision-headline') || {}).textContent || ''));
  assertEq(await text(head), 'Ship b (the experiment has ended)', 'headline under the sequential analysis');
  assert(!(await text(page.locator('#decision-why'))).includes('Ended early'), 'no caveat under the sequential analysis');
  // the users needed are the sequential plan's (more than the fixed-sample one), and say so
  // (review journey35 F1: the page showed the fixed-sample plan under the sequential analysis)
  assertEq(seq.decision.planned_for, 'sequential', 'the decision is planned for the sequential test');
  assert(seq.decision.users_needed_per_variant > dec.users_needed_per_variant, `sequential needs more: ${seq.decision.users_needed_per_variant} > ${dec.users_needed_per_variant}`);
  const needed = await text(page.locator('#users-needed'));
  assert(needed.startsWith(txt.int(seq.decision.users_needed_per_variant)) && needed.includes('for the sequential test'), `users needed under the sequential analysis: ${needed}`);
  noErrors();
});

/** Run `fn` with page at a phone's width (375 px), then back at 1280x800. */
async function onPhone(fn, width = 375) {
  await page.setViewportSize({ width, height: 800 });
  try {
    await fn();
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
}

T.test('4. the breakdown on a phone: one complete card per value and treatment, nothing off-screen', async () => {
  await onPhone(async () => {
    await go('/experiments/d28-main?dimension=country');
    const table = page.locator('table.breakdown-table[data-metric="d28_buy"]');
    await table.waitFor();
    assertEq(await table.evaluate((t) => getComputedStyle(t).display), 'block', 'the card layout');
    const b = await admin.get('/experiments/d28-main/results?dimension=country');
    for (const sl of b.slices) {
      const users = txt.int(sl.variants.reduce((a, v) => a + v.users, 0));
      for (const k of ['b', 'c']) {
        const card = table.locator(`tr[data-value="${sl.dimension_value}"][data-variant="${k}"]`);
        // every card says its value, users and split, the second treatment's too
        const shown = await card.locator('th, td').evaluateAll((cells) => cells.filter((c) => c.offsetParent !== null).map((c) => [c.dataset.label, c.textContent.trim()]));
        const get = (label) => (shown.find(([l]) => l === label) || [])[1];
        assertEq(get('country'), sl.dimension_value, `${sl.dimension_value}/${k}: its value`);
        assertEq(get('Users'), users, `${sl.dimension_value}/${k}: its users`);
        assert((get('Sample ratio') || '').includes(txt.pEq(sl.srm.p_value)), `${sl.dimension_value}/${k}: its split (${get('Sample ratio')})`);
        assertEq(shown.filter(([l]) => l === 'country').length, 1, `${sl.dimension_value}/${k}: the value once`);
        for (const label of ['Relative lift', 'p-value', 'Result']) assert(get(label), `${sl.dimension_value}/${k}: ${label} shown`);
        const right = await card.locator('td[data-label="Result"]').evaluate((td) => td.getBoundingClientRect().right);
        assert(right <= 375, `${sl.dimension_value}/${k}: the result is on screen (right edge ${right})`);
      }
    }
    const wrap = await table.evaluate((t) => [t.parentElement.scrollWidth, t.parentElement.clientWidth]);
    assert(wrap[0] <= wrap[1], `the breakdown does not scroll sideways (${wrap[0]} > ${wrap[1]})`);
  });
  // the table on a wide screen: the rowspan cells once, no repeated copies
  await go('/experiments/d28-main?dimension=country');
  const table = page.locator('table.breakdown-table[data-metric="d28_buy"]');
  await table.waitFor();
  assertEq(await table.evaluate((t) => getComputedStyle(t).display), 'table', 'a table on a wide screen');
  const copies = await table.locator('.card-only').evaluateAll((cells) => cells.filter((c) => c.offsetParent !== null).length);
  assertEq(copies, 0, 'no repeated cell shown in the table');
  noErrors();
});

T.test('5. a ratio’s sums and the intervals wrap in the phone cards: nothing cut off, no sideways scroll', async () => {
  for (const width of [375, 390]) {
    await onPhone(async () => {
      await go('/experiments/d28-ratio');
      const table = page.locator('table.results-table[data-metric="d28_rev_per_order"]');
      await table.waitFor();
      const parts = await table.locator('.ratio-parts').evaluateAll((els) => els.map((e) => [e.textContent, e.getBoundingClientRect().right, e.closest('td').getBoundingClientRect().right]));
      assertEq(parts.length, 3, 'the sums of each variant');
      for (const [t, right, cell] of parts) {
        // each part in its unit, named as the catalogue names it (dash30 F6)
        assert(/^€[\d,]+\.\d{2} Revenue \/ [\d,]+ Orders$/.test(t), `the sums: ${t}`);
        assert(right <= cell + 0.5, `${width} px: "${t}" ends at ${right}, past its cell (${cell})`);
      }
      const cis = await table.locator('[data-col="ci"], [data-col="abs"]').evaluateAll((els) => els.map((e) => [e.textContent, e.scrollWidth, e.clientWidth]));
      for (const [t, sw, cw] of cis) assert(sw <= cw, `${width} px: "${t}" overhangs its cell (${sw} > ${cw})`);
      const wraps = await page.locator('.results-body .table-wrap').evaluateAll((els) => els.map((e) => [e.scrollWidth, e.clientWidth]));
      for (const [sw, cw] of wraps) assert(sw <= cw, `${width} px: a results table scrolls sideways (${sw} > ${cw})`);
      const doc = await page.evaluate(() => document.documentElement.scrollWidth);
      assert(doc <= width, `${width} px: the page is ${doc} px wide`);
    }, width);
  }
  noErrors();
});

T.test('6. eight variants: each its own colour in the exposure bars, the lift chart and their legends; whiskers side by side', async () => {
  await go('/experiments/d28-many');
  await page.locator('#health svg.chart.bars').waitFor();
  await settled();
  // how each element is painted: fill, stroke and dash (an SVG shape) or background (a swatch)
  const looks = await page.evaluate(() => {
    const look = (el) => {
      const c = getComputedStyle(el);
      return el instanceof SVGElement ? `${c.fill} ${c.stroke} ${c.strokeDasharray}` : `${c.backgroundColor} ${c.backgroundImage}`;
    };
    const all = (sel) => [...document.querySelectorAll(sel)].map(look);
    const bars = new Map([...document.querySelectorAll('#health svg.chart.bars rect.bar')].map((r) => [r.dataset.variant, look(r)]));
    return {
      bars: [...bars.values()],
      v6: bars.get('v6'),
      control: bars.get('control'),
      barLegend: all('#health .legend .swatch'),
      seriesLegend: all('.ts-box .legend .swatch'),
      dots: all('.ts-box svg.chart .series .dot'),
      // one day: each series' whisker at its own x
      whiskers: [...document.querySelectorAll('.ts-box svg.chart .series')].map((g) => g.querySelector('line.whisker').getAttribute('x1')),
    };
  });
  const distinct = (xs, what, n) => assertEq(new Set(xs).size, n, `${what}: ${xs.join(' | ')}`);
  distinct(looks.bars, 'the bars of the 8 variants', 8);
  assert(looks.v6 !== looks.control, `v6 is not drawn as the control (${looks.v6})`);
  distinct(looks.barLegend, 'the exposures legend', 8);
  distinct(looks.seriesLegend, 'the lift chart legend', 7);
  distinct(looks.dots, 'the lift chart dots', 7);
  distinct(looks.whiskers, 'the whiskers’ x on day one', 7);
  // the 19 treatments the API allows: eight colours, then dashed, then dotted
  assert(typeof charts.seriesClasses === 'function', 'charts.js says each treatment’s classes');
  const classes = Array.from({ length: 19 }, (_, k) => charts.seriesClasses(k).join(' '));
  distinct(classes, 'the classes of 19 treatments', 19);
  noErrors();
});

T.test('7. a sample ratio mismatch: no row says "ship candidate"; paused: days left in the page’s words', async () => {
  const r = await admin.get('/experiments/d28-srm/results');
  assert(r.srm.mismatch, 'the split is broken');
  assertEq(r.metrics[0].variants[1].verdict, 'win', 'b is significantly better, as measured');
  await go('/experiments/d28-srm');
  const head = page.locator('#decision-headline');
  await head.waitFor();
  assertEq(await text(head), 'Do not decide yet: fix the traffic split', 'headline');
  const row = page.locator('#decision-table tr[data-variant="b"]');
  assertEq(await row.getAttribute('data-state'), 'untrusted', 'b’s state');
  assertEq(await text(row.locator('.state')), 'untrusted (sample ratio mismatch)', 'b’s state text');
  const why = await text(row.locator('td[data-label="Why"]'));
  assert(why.startsWith('The split of users does not match the weights, so this cannot be trusted. As measured: Purchase rate is significantly better than control.'), `the reason: ${why}`);
  assert(!/ship candidate/.test(await text(page.locator('#decision'))), 'no ship candidate');
  // paused with the users needed known: the server's "the experiment is paused: ..." is not
  // glued to the page's words
  const paused = await admin.get('/experiments/d28-paused/results');
  assertEq(paused.decision.warning, 'the experiment is paused: no projection until it resumes', 'the server’s warning');
  await go('/experiments/d28-paused');
  const left = page.locator('#days-left');
  await left.waitFor();
  assertEq(await text(left), 'none while paused (no users arrive, so no projection until it resumes)', 'days left');
  // paused without users needed: the server's reason goes beside them, not beside days left
  const zero = await admin.get('/experiments/d28-paused-zero/results');
  assertEq(zero.decision.users_needed_per_variant, null, 'no users needed');
  await go('/experiments/d28-paused-zero');
  await page.locator('#decision-table').waitFor();
  assertEq(await text(page.locator('#days-left')), 'none while paused (no users arrive, so no projection until it resumes)', 'days left');
  assertEq(await text(page.locator('#users-needed')), `not known yet (${zero.decision.warning})`, 'users needed and why not');
  noErrors();
});

T.test('8. the CUPED note: a tiny reduction is "less than 0.1%", an increase is said as one', async () => {
  const r = await admin.get('/experiments/d28-main/results');
  await go('/experiments/d28-main');
  await settled();
  const seen = [];
  for (const key of ['d28_visits', 'd28_clicks']) {
    const notes = await page.locator(`section.metric-result[data-metric="${key}"] ul.notes li`).allTextContents();
    for (const v of r.metrics.find((m) => m.key === key).variants.slice(1)) {
      const vr = v.cuped.variance_reduction;
      seen.push(vr);
      const size = Math.abs(vr) < 0.001 ? 'less than 0.1%' : txt.pct(Math.abs(vr), { signed: false });
      const want = vr > 0 ? `${v.key}: CUPED reduced variance by ${size}.` : `${v.key}: CUPED increased variance by ${size}: the pre-period does not predict this metric, so the adjustment made the estimate noisier.`;
      assert(notes.includes(want), `${key}/${v.key} (variance_reduction ${vr}): "${want}" in ${JSON.stringify(notes)}`);
      assert(!notes.some((n) => n.includes('by 0.0%')), `${key}: no "0.0%"`);
    }
  }
  assert(seen.some((x) => x < 0) && seen.some((x) => x > 0 && x < 0.0005) && seen.some((x) => x >= 0.001), `the fixture has an increase, a tiny and a visible reduction: ${seen}`);
  // users without values before the experiment: one plain note per metric, not the engine's
  // words per variant (review journey35 N3)
  const noPre = 'no pre-period variance: CUPED not applied (theta = 0)';
  const plain = 'CUPED made no adjustment: these users’ values of this metric before the experiment do not vary (none, or all the same), so there is nothing to adjust with (the interval is the unadjusted one).';
  let withoutPre = 0;
  for (const m of r.metrics) {
    const notes = await page.locator(`section.metric-result[data-metric="${m.key}"] ul.notes li`).allTextContents();
    const has = m.variants.some((v) => (v.warning || '').split('; ').includes(noPre));
    withoutPre += has ? 1 : 0;
    assertEq(notes.filter((n) => n === plain).length, has ? 1 : 0, `${m.key}: the no-pre-period note once when the API warns (${JSON.stringify(notes)})`);
    assert(!notes.some((n) => n.includes(noPre)), `${m.key}: not the engine's words`);
  }
  assert(withoutPre > 0, 'the fixture has a metric without pre-period values');
  noErrors();
});

T.test('9. API keys: encrypted sdk keys marked, a line per role, revoked keys on request', async () => {
  await admin.post('/keys', { name: 'd28-enc', role: 'sdk', encrypt: true });
  await admin.post('/keys', { name: 'd28-plain', role: 'sdk' });
  const gone = await admin.post('/keys', { name: 'd28-gone', role: 'viewer' });
  await admin.del(`/keys/${gone.id}`);
  await go('/keys');
  const table = page.locator('#keys-table');
  await table.locator('tr', { hasText: 'd28-enc' }).waitFor();
  const tag = (name) => table.locator('tr', { hasText: name }).locator('.tag-encrypted');
  assertEq(await text(tag('d28-enc')), 'encrypted payload', 'the encrypted sdk key');
  assertEq(await tag('d28-plain').count(), 0, 'a plain sdk key has no tag');
  // the Role select's hint: one line per role
  const help = await page.locator('.role-help').evaluateAll((els) => els.map((e) => [e.dataset.role, e.textContent]));
  assertEq(help.map(([r]) => r).join(','), 'viewer,editor,admin,sdk', 'a line per role');
  for (const [r, t] of help) assert(t.startsWith(`${r}: `) && t.length > r.length + 20, `the ${r} line: ${t}`);
  const described = await page.getByLabel('Role', { exact: true }).getAttribute('aria-describedby');
  assert(described && (await text(page.locator(`#${described}`))).includes('sdk: for applications'), 'the select is described by its hint');
  // an encrypted key created in the form is marked at once
  await page.getByLabel('Name', { exact: true }).fill('d28-form-enc');
  await page.getByLabel('Role', { exact: true }).selectOption('sdk');
  await page.getByLabel(/Encrypt this key/).check();
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.locator('.new-key').waitFor();
  assertEq(await text(tag('d28-form-enc')), 'encrypted payload', 'the key created in the form');
  // revoked keys: hidden, then listed on request with their date and no Revoke button
  assertEq(await table.locator('tr', { hasText: 'd28-gone' }).count(), 0, 'a revoked key is not listed');
  await page.getByLabel('Show revoked keys').check();
  const row = table.locator('tr', { hasText: 'd28-gone' });
  await row.waitFor();
  const keys = await admin.get('/keys?include_revoked=true');
  const revokedAt = keys.keys.find((k) => k.id === gone.id).revoked_at;
  assert(revokedAt > 0, 'the API says when');
  assert((await text(row.locator('td[data-label="Actions"]'))).startsWith('revoked '), `the revoked row: ${await text(row)}`);
  assertEq(await row.getByRole('button').count(), 0, 'nothing to revoke');
  assertEq(await text(page.getByRole('heading', { name: /Keys, revoked ones included/ })), 'Keys, revoked ones included', 'the heading says so');
  await page.getByLabel('Show revoked keys').uncheck();
  await row.waitFor({ state: 'detached' });
  noErrors();
});

T.test('10. labels: always-valid and Holm-adjusted everywhere, ▲/▼ in the breakdown, the metric’s name, the unbounded line explained, card headings', async () => {
  // sequential: every interval label says always-valid, as the table's header does
  await go('/experiments/d28-main?method=sequential');
  await settled();
  const section = page.locator('section.metric-result[data-metric="d28_buy"]');
  assertEq(await text(section.locator('table.results-table thead th').nth(4)), '95% always-valid interval', 'the results table');
  assert((await text(section.locator('figcaption'))).startsWith('Relative lift vs control with 95% always-valid interval;'), `the forest caption: ${await text(section.locator('figcaption'))}`);
  assert((await text(section.locator('svg.forest > title'))).includes('with 95% always-valid intervals'), 'the forest plot’s title');
  let title = await seriesTitle();
  // the chart names the metric as its selector does
  assert(title.startsWith('Cumulative relative lift of Purchase rate per day with 95% always-valid intervals'), `the series’ title: ${title}`);
  assertEq(await text(page.locator('.ts-box details.data-table thead th').nth(1)), 'b lift (95% always-valid interval)', 'the series’ numbers');
  // Holm: the series' numbers say adjusted; the forest plot's unbounded line is dotted and
  // explained, apart from the dashed "no change" line
  await go('/experiments/d28-main?cuped=false&correction=holm');
  await settled();
  assertEq(await text(page.locator('.ts-box details.data-table thead th').nth(1)), 'b lift (95% Holm-adjusted interval)', 'the series’ numbers under Holm');
  title = await seriesTitle();
  assert(title.startsWith('Cumulative relative lift of Purchase rate per day with 95% Holm-adjusted intervals'), `the series’ title: ${title}`);
  const [open, zero] = await section.locator('svg.forest').evaluate((svg) => [svg.querySelector('.forest-row[data-variant="c"] line.ci-unbounded'), svg.querySelector('line.zero')]
    .map((l) => `${getComputedStyle(l).strokeDasharray} ${getComputedStyle(l).strokeLinecap}`));
  // dots (round caps on dashes of at most 2 px), where the no-change line has dashes
  assert(/^[0-2](\.\d+)?px, .* round$/.test(open) && !/round$/.test(zero), `the unbounded line (${open}) is dotted, apart from the no-change line (${zero})`);
  const caption = await text(section.locator('figcaption'));
  assert(caption.includes(`A dotted line across the whole axis is an unbounded interval, ${txt.UNBOUNDED}`), `the caption: ${caption}`);
  // the breakdown's verdicts carry the arrows of the results table
  await go('/experiments/d28-main?dimension=country');
  const bd = page.locator('table.breakdown-table[data-metric="d28_buy"]');
  await bd.waitFor();
  const b = await admin.get('/experiments/d28-main/results?dimension=country');
  for (const sl of b.slices) {
    const v = sl.metrics.find((m) => m.key === 'd28_buy').variants[1];
    const want = { win: `▲ ${txt.VERDICT.win}`, loss: `▼ ${txt.VERDICT.loss}` }[v.verdict] || txt.VERDICT[v.verdict];
    assertEq(await text(bd.locator(`tr[data-value="${sl.dimension_value}"][data-variant="b"] td[data-label="Result"]`)), want, `${sl.dimension_value}/b`);
  }
  assert(b.slices.some((sl) => sl.metrics[0].variants[1].verdict === 'win'), 'a slice where b is better');
  // under the sequential analysis the breakdown's intervals are always-valid too
  await go('/experiments/d28-main?method=sequential&dimension=country');
  await bd.waitFor();
  await page.locator('.results-body[aria-busy="false"]').first().waitFor();
  const heads = await bd.locator('thead th').allTextContents();
  assert(heads.some((t) => t.trim() === '95% always-valid interval'), `the breakdown's interval header: ${heads.join(' | ')}`);
  // a heading first in a card: the card's padding, no margin on top of it
  const gap = async (card) => page.locator(card).evaluate((c) => c.querySelector('h2').getBoundingClientRect().top - c.getBoundingClientRect().top);
  await page.locator('#health h2').waitFor();
  const health = await gap('#health');
  assert(health < 20, `Traffic health: ${health} px above its heading`);
  await go('/keys');
  await page.locator('.key-form h2').waitFor();
  const keys = await gap('.key-form');
  assert(keys < 20, `Create a key: ${keys} px above its heading`);
  noErrors();
});

await run();

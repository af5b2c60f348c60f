// ratio.mjs - ratio metrics in the dashboard (issue 14 item 5): the metric form creates
// and edits them (numerator and denominator chosen from the catalogue, every problem at
// once, the unit taken from the parts, If-Match), the catalogue shows "revenue / orders",
// and the experiment page shows the ratio of sums per variant that this test computes
// from the events it sends, with no console error at 1280x800 and 390 px, and broken down
// by a dimension (plan) the ratio per plan as sent.
// Run through run.sh (its own daemon and Chromium, after e2e.mjs).

import { suite, assert, assertEq, rng } from './lib.mjs';
import * as txt from './expect.mjs';
import * as fmt from '../../web/js/format.js';

const SHOTS = process.env.SHOTS_DIR || ''; // screenshots of the pages, for a human to look at
const EXP = 'bundle-offer';
const RATIO = 'revenue-per-order';

const { T, daemon, admin, page, go, goDiscarding, noErrors, text, run } = await suite({ label: 'ratio metrics' });

function cell(metric, variant, col) {
  return page.locator(`table.results-table[data-metric="${metric}"] tr[data-variant="${variant}"] [data-col="${col}"]`);
}

/** The data-field names of the controls marked invalid. */
async function invalidFields() {
  return page.locator('[aria-invalid="true"]').evaluateAll((els) => els.map((e) => e.dataset.field));
}

function fieldError(name) {
  return page.locator(`.field:has([data-field="${name}"]) .field-error`);
}

T.test('sign in', async () => {
  await go('/metrics');
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await page.getByLabel('API key').fill(daemon.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Metrics', level: 1 }).waitFor();
  noErrors();
});

T.test('create the two parts in the form: revenue (sum, EUR) and orders (count)', async () => {
  for (const [key, name, type, unit] of [['revenue', 'Revenue', 'sum', 'currency'], ['orders', 'Orders', 'count', 'count']]) {
    await go('/metrics/new');
    await page.getByRole('heading', { name: 'New metric' }).waitFor();
    await page.getByLabel('Key', { exact: true }).fill(key);
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Event name').fill('purchase');
    await page.getByLabel('Type').selectOption(type);
    await page.getByLabel('Unit', { exact: true }).selectOption(unit);
    if (unit === 'currency') await page.getByLabel('Currency code').fill('EUR');
    await page.getByRole('button', { name: 'Create metric' }).click();
    await page.locator(`#metrics-table tr[data-key="${key}"]`).waitFor();
  }
  const r = await admin.get('/metrics/revenue');
  assertEq(`${r.type} ${r.unit} ${r.currency}`, 'sum currency EUR', 'revenue stored');
  assertEq((await admin.get('/metrics/orders')).type, 'count', 'orders stored');
  // a refunds metric in the same currency, for the unit suggestion below
  await admin.post('/metrics', { key: 'refunds', name: 'Refunds', event: 'refund', type: 'sum', unit: 'currency', currency: 'EUR' });
  noErrors();
});

T.test('ratio form: parts instead of an event; every problem at once, beside its field', async () => {
  await go('/metrics/new');
  await page.getByRole('heading', { name: 'New metric' }).waitFor();
  await page.getByLabel('Type').selectOption('ratio');
  for (const l of ['Event name', 'Window (hours after first exposure)', 'Cap per user', 'CUPED lookback (hours)']) {
    assert(await page.getByLabel(l).isHidden(), `${l} hidden for a ratio`);
  }
  const num = page.getByLabel('Numerator (above the line)');
  const den = page.getByLabel('Denominator (below the line)');
  assert((await num.isVisible()) && (await den.isVisible()), 'numerator and denominator shown');
  const options = await num.locator('option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
  assertEq(options.sort().join(','), 'orders,refunds,revenue', 'the parts offered are the event metrics');

  // nothing filled: the key and both parts at once
  await page.getByRole('button', { name: 'Create metric' }).click();
  await page.locator('.form-errors [role="alert"]').waitFor();
  const marked = await invalidFields();
  for (const f of ['key', 'numerator', 'denominator']) assert(marked.includes(f), `${f} marked invalid (${marked})`);
  assert(!marked.includes('event'), 'no event needed for a ratio');
  assert(/3 fields need attention/.test(await text(page.locator('.form-errors'))), 'the summary counts three problems');
  assert(/Choose the numerator/.test(await text(fieldError('numerator'))), 'the numerator error beside it');
  assert(/Choose the denominator/.test(await text(fieldError('denominator'))), 'the denominator error beside it');

  // the same metric twice
  await page.getByLabel('Key', { exact: true }).fill(RATIO);
  await num.selectOption('revenue');
  await den.selectOption('revenue');
  await page.getByRole('button', { name: 'Create metric' }).click();
  await fieldError('denominator').waitFor();
  assertEq((await invalidFields()).join(','), 'denominator', 'only the denominator is wrong now');
  assert(/same metric/.test(await text(fieldError('denominator'))), 'says why');

  // the unit follows the parts: money over money of the same currency is a share
  await den.selectOption('refunds');
  assertEq(await page.getByLabel('Unit', { exact: true }).inputValue(), 'percent', 'EUR / EUR reads as a percentage');
  noErrors();
});

T.test('create the ratio revenue / orders: unit EUR from the parts; the catalogue shows it', async () => {
  await page.getByLabel('Denominator (below the line)').selectOption('orders');
  assertEq(await page.getByLabel('Unit', { exact: true }).inputValue(), 'currency', 'EUR / orders reads as money');
  assertEq(await page.getByLabel('Currency code').inputValue(), 'EUR', 'in the numerator’s currency');
  assert(/sum of Revenue .* divided by the sum of Orders/.test(await text(page.locator('#ratio-note'))), 'the definition in words');
  await page.getByLabel('Name', { exact: true }).fill('Revenue per order');
  await page.getByRole('button', { name: 'Create metric' }).click();
  const row = page.locator(`#metrics-table tr[data-key="${RATIO}"]`);
  await row.waitFor();
  const m = await admin.get(`/metrics/${RATIO}`);
  assertEq(`${m.type} ${m.numerator} ${m.denominator} ${m.unit} ${m.currency} ${m.event}`, 'ratio revenue orders currency EUR null', 'stored as a ratio');
  assertEq(await text(row.locator('[data-label="Event or ratio"]')), 'revenue / orders', 'the definition in the catalogue');
  assertEq(await text(row.locator('[data-label="Type"]')), 'ratio', 'type');
  assertEq(await text(row.locator('[data-label="Unit"]')), 'EUR', 'unit');
  assertEq(await text(row.locator('[data-label="Window"]')), 'per part', 'the window is the parts’');
  assertEq(await text(row.locator('[data-label="CUPED lookback"]')), 'off', 'no CUPED for a ratio');
  noErrors();
});

T.test('edit the ratio with If-Match; a concurrent change shows the latest version beside mine; a part cannot become a ratio', async () => {
  const sent = [];
  const onReq = (req) => {
    if (req.method() === 'PATCH') sent.push(req.headers()['if-match'] || null);
  };
  page.on('request', onReq);
  try {
    await go(`/metrics/${RATIO}`);
    await page.getByRole('heading', { name: 'Edit Revenue per order' }).waitFor();
    assertEq(await page.getByLabel('Type').inputValue(), 'ratio', 'type ratio');
    assertEq(await page.getByLabel('Numerator (above the line)').inputValue(), 'revenue', 'numerator shown');
    assertEq(await page.getByLabel('Denominator (below the line)').inputValue(), 'orders', 'denominator shown');
    assertEq(await page.getByLabel('Currency code').inputValue(), 'EUR', 'the stored unit is kept');
    await page.getByLabel('Description').fill('Average order value');
    await page.getByRole('button', { name: 'Save metric' }).click();
    await page.locator('#metrics-table').waitFor();
    const m = await admin.get(`/metrics/${RATIO}`);
    assertEq(m.description, 'Average order value', 'saved');
    assertEq(`${m.numerator}/${m.denominator} ${m.currency}`, 'revenue/orders EUR', 'definition unchanged');

    // someone else changes it meanwhile
    await go(`/metrics/${RATIO}`);
    await page.getByRole('heading', { name: 'Edit Revenue per order' }).waitFor();
    await admin.patch(`/metrics/${RATIO}`, { goal: 'increase', description: 'AOV' });
    await page.getByLabel('Description').fill('mine');
    await page.getByRole('button', { name: 'Save metric' }).click();
    // the latest version comes back, the collision shown with "Use mine" (forms_followup.mjs)
    const stale = page.locator('.merge-note');
    await stale.waitFor();
    assert(/Someone else changed this metric/.test(await text(stale)) && /Description: yours was “mine”/.test(await text(stale)), `says what happened (${await text(stale)})`);
    assertEq(await page.getByLabel('Description').inputValue(), 'AOV', 'the form shows the latest description');
    assertEq((await admin.get(`/metrics/${RATIO}`)).description, 'AOV', 'the other change is kept');
    assert(sent.length === 2 && sent.every(Boolean), `If-Match on every PATCH (${JSON.stringify(sent)})`);
    noErrors([/status of 412/]);

    // orders is a part of the ratio: it cannot become a ratio itself
    await go('/metrics/orders');
    await page.getByRole('heading', { name: 'Edit Orders' }).waitFor();
    await page.getByLabel('Type').selectOption('ratio');
    const opts = await page.getByLabel('Numerator (above the line)').locator('option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
    assert(!opts.includes('orders') && !opts.includes(RATIO), `neither itself nor a ratio offered (${opts})`);
    await page.getByRole('button', { name: 'Save metric' }).click();
    await fieldError('type').waitFor();
    assert(/part of the ratio “revenue-per-order”/.test(await text(fieldError('type'))), 'says which ratio');
    assertEq(sent.length, 2, 'nothing sent');
    assertEq((await admin.get('/metrics/orders')).type, 'count', 'still a count');
    await goDiscarding('/metrics'); // the type chosen is a change not saved: leaving asks
  } finally {
    page.off('request', onReq);
  }
  noErrors();
});

T.test('a part of a ratio is not deleted from under it', async () => {
  await go('/metrics/revenue');
  await page.getByRole('heading', { name: 'Edit Revenue' }).waitFor();
  await page.getByRole('button', { name: 'Delete' }).click();
  const dlg = page.getByRole('dialog');
  assert(/part of the ratio metric “revenue-per-order”/.test(await text(dlg)), 'the dialog says why');
  await dlg.getByRole('button', { name: 'Delete metric' }).click();
  await dlg.locator('[role="alert"]').waitFor();
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  assertEq((await admin.get('/metrics/revenue')).key, 'revenue', 'still there');
  noErrors();
});

// per variant: [users, sum of revenue, number of orders] as this test sent them
const truth = {};
const truthByPlan = {}; // "plan/variant" -> [users, revenue, orders]

T.test('an experiment on the ratio (API): exposures and purchases', async () => {
  await admin.post('/experiments', {
    key: EXP,
    name: 'Bundle offer at checkout',
    variants: [{ key: 'control' }, { key: 'bundle' }],
    metrics: [RATIO],
    primary_metric: RATIO,
    dimensions: ['plan'],
  });
  const st = await admin.post(`/experiments/${EXP}/start`);
  const rand = rng(7);
  const exposures = [];
  const events = [];
  for (let i = 0; i < 800; i++) {
    const user = `shopper-${i}`;
    const variant = i % 2 ? 'bundle' : 'control';
    const plan = i % 3 ? 'pro' : 'free';
    exposures.push({ experiment: EXP, user_id: user, variant, ts: st.started_at + 1, attributes: { plan } });
    const s = (truth[variant] ||= [0, 0, 0]);
    const sp = (truthByPlan[`${plan}/${variant}`] ||= [0, 0, 0]);
    s[0] += 1;
    sp[0] += 1;
    const orders = Math.floor(rand() * (variant === 'bundle' ? 3.2 : 3));
    for (let k = 0; k < orders; k++) {
      const value = Math.round((variant === 'bundle' ? 30 + 50 * rand() : 25 + 45 * rand()) * 100) / 100;
      events.push({ user_id: user, event: 'purchase', value, ts: st.started_at + 2 + k, id: `${user}-${k}` });
      s[1] += value;
      s[2] += 1;
      sp[1] += value;
      sp[2] += 1;
    }
  }
  while (Date.now() < st.started_at + 10) await new Promise((r) => setTimeout(r, 5));
  assertEq((await admin.post('/exposures', { exposures })).accepted, exposures.length, 'exposures accepted');
  assertEq((await admin.post('/events', { events })).accepted, events.length, 'events accepted');
  const r = await admin.get(`/experiments/${EXP}/results`);
  const m = r.metrics.find((x) => x.key === RATIO);
  for (const v of m.variants) {
    const [, rev, n] = truth[v.key];
    assert(Math.abs(v.mean - rev / n) < 1e-9 * (rev / n), `${v.key}: API mean ${v.mean} = ${rev} / ${n}`);
  }
  noErrors();
});

T.test('results: the ratio of sums per variant, its lift, interval and unit; no console errors', async () => {
  const r = await admin.get(`/experiments/${EXP}/results`);
  const m = r.metrics.find((x) => x.key === RATIO);
  const def = await admin.get(`/metrics/${RATIO}`);
  const defs = new Map((await admin.get('/metrics')).metrics.map((y) => [y.key, y]));
  const f = fmt.resultsFormat(m, def);
  for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    await page.setViewportSize(size);
    await go(`/experiments/${EXP}`);
    await page.locator('.results-body[aria-busy="false"] table.results-table').first().waitFor();
    await page.waitForLoadState('networkidle');
    for (const [i, v] of m.variants.entries()) {
      const [users, rev, n] = truth[v.key];
      assertEq(await text(cell(RATIO, v.key, 'users')), txt.int(users), `${v.key} users`);
      const mean = await text(cell(RATIO, v.key, 'mean').locator('.mean-value'));
      assertEq(mean, f.mean(rev / n), `${v.key}: the ratio of the sums sent (${rev} / ${n})`);
      assert(mean.startsWith('€'), `${v.key} in EUR (${mean})`);
      assert(/^€[\d,]+\.\d{2}$/.test(mean), `${v.key} to the cent (${mean})`);
      const parts = await text(cell(RATIO, v.key, 'mean').locator('.ratio-parts'));
      assertEq(parts, fmt.ratioPartsText(v, m, defs), `${v.key} parts`);
      assert(parts.includes(txt.int(n)), `${v.key}: the orders in the parts (${parts})`);
      if (i === 0) continue;
      assertEq(await text(cell(RATIO, v.key, 'lift')), txt.pct(v.relative_lift.estimate), `${v.key} lift`);
      assertEq(await text(cell(RATIO, v.key, 'ci')), txt.interval(v.relative_lift.ci), `${v.key} interval`);
      const abs = await text(cell(RATIO, v.key, 'abs'));
      assertEq(abs, `${f.abs(v.absolute_lift.estimate)} ${f.absInterval(v.absolute_lift.ci)}`, `${v.key} absolute lift`);
      assert(/€/.test(abs), `absolute lift in EUR (${abs})`);
    }
    const head = await text(page.locator(`table.results-table[data-metric="${RATIO}"] thead`));
    assert(/Ratio \(EUR\)/.test(head) && !/per user/.test(head), `the mean column says ratio, not per user (${head})`);
    assertEq(await page.locator(`section.metric-result[data-metric="${RATIO}"] svg.forest .forest-row`).count(), 1, 'forest plot row');
    const notes = await text(page.locator(`section.metric-result[data-metric="${RATIO}"] .notes`));
    assert(/CUPED does not apply to ratio metrics/.test(notes), 'says CUPED is off for the ratio');
    // once: the server's own warning on each treatment (API) is not repeated per variant
    assertEq((notes.match(/CUPED/g) || []).length, 1, `CUPED said once (${notes})`);
    assert(/\(a ratio\) has no daily series: add Revenue and Orders \(its numerator and denominator\)/.test(await text(page.locator('.results'))), 'the time series says why it is missing, and what to add');
    await page.locator('#srm-status').waitFor();
    assertEq(await page.locator('#srm-status').getAttribute('data-srm'), 'ok', 'SRM checked');
    assert(/ratio/i.test(await text(page.locator('#health'))), 'health says why there are no exposures per day');
    await page.locator('#decision-headline').waitFor();
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/ratio-${size.width}-experiment.png`, fullPage: true });
    const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    assert(!wide, `no sideways scroll at ${size.width}px`);
    noErrors();
    for (const [hash, heading] of [['/experiments', 'Experiments'], [`/power?experiment=${EXP}`, 'Power calculator'], ['/metrics', 'Metrics'], [`/metrics/${RATIO}`, 'Edit Revenue per order'], ['/metrics/new', 'New metric']]) {
      await go(hash);
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      await page.waitForLoadState('networkidle');
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/ratio-${size.width}${hash.replace(/\//g, '_')}.png`, fullPage: true });
      assert(!(await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1)), `${hash}: no sideways scroll at ${size.width}px`);
      noErrors();
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 });
});

T.test('breakdown by plan: the ratio of sums per plan and variant, as sent and as the API', async () => {
  const b = await admin.get(`/experiments/${EXP}/results?dimension=plan`);
  assertEq(b.metrics_not_broken_down.length, 0, 'the ratio is broken down');
  const def = await admin.get(`/metrics/${RATIO}`);
  await go(`/experiments/${EXP}?dimension=plan`);
  await page.getByRole('heading', { name: 'Breakdown by plan' }).waitFor();
  const table = page.locator(`table.breakdown-table[data-metric="${RATIO}"]`);
  await table.waitFor();
  assertEq(b.slices.map((s) => s.dimension_value).sort().join(','), 'free,pro', 'one slice per plan');
  for (const sl of b.slices) {
    const m = sl.metrics.find((y) => y.key === RATIO);
    const f = fmt.resultsFormat(m, def);
    for (const v of m.variants) {
      const [users, rev, n] = truthByPlan[`${sl.dimension_value}/${v.key}`];
      assertEq(v.users, users, `${sl.dimension_value}/${v.key}: users`);
      assert(Math.abs(v.mean - rev / n) < 1e-9 * (rev / n), `${sl.dimension_value}/${v.key}: API mean ${v.mean} = ${rev} / ${n}`);
    }
    const cells = await table.locator(`tr[data-value="${sl.dimension_value}"][data-variant="bundle"] td`).allTextContents();
    const [, crev, cn] = truthByPlan[`${sl.dimension_value}/control`];
    const [, brev, bn] = truthByPlan[`${sl.dimension_value}/bundle`];
    assertEq(cells[3].trim(), f.mean(crev / cn), `${sl.dimension_value}: control ratio shown`);
    assertEq(cells[4].trim(), f.mean(brev / bn), `${sl.dimension_value}: bundle ratio shown`);
    assertEq(cells[5].trim(), txt.pct(m.variants[1].relative_lift.estimate), `${sl.dimension_value}: lift`);
  }
  noErrors();
});

T.test('Bayesian and sequential on the ratio: the API’s numbers, the expected loss in EUR', async () => {
  for (const method of ['bayesian', 'sequential']) {
    await go(`/experiments/${EXP}?method=${method}`);
    const header = method === 'bayesian' ? 'Chance to beat control' : 'p-value';
    await page.locator('.results-body[aria-busy="false"] table.results-table thead th', { hasText: header }).first().waitFor();
    const r = await admin.get(`/experiments/${EXP}/results?method=${method}`);
    const m = r.metrics.find((x) => x.key === RATIO);
    const v = m.variants[1];
    const f = fmt.resultsFormat(m, await admin.get(`/metrics/${RATIO}`));
    assertEq(await text(cell(RATIO, v.key, 'mean').locator('.mean-value')), f.mean(v.mean), `${method}: the ratio`);
    assertEq(await text(cell(RATIO, v.key, 'ci')), txt.interval(v.relative_lift.ci), `${method}: interval`);
    assertEq(await text(cell(RATIO, v.key, 'p')), txt.significance(v, r), `${method}: ${header}`);
    if (method === 'bayesian') {
      const notes = await text(page.locator(`section.metric-result[data-metric="${RATIO}"] .notes`));
      assert(/expected loss if shipped and wrong −?€[\d,.]+/.test(notes), `expected loss in EUR (${notes})`);
    }
    noErrors();
  }
});

// ------------------------------------------------------------------ main

await run();

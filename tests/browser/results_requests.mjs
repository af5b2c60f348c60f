// results_requests.mjs - the results page's requests: an older, slower answer never
// replaces a newer one (the time series after a change of metric, the breakdown after a
// change of method), and the CSV download and the JSON URL follow the breakdown's
// dimension. Slowness is made with Playwright's request routing. Run through run.sh
// (its own daemon and Chromium).

import { readFileSync } from 'node:fs';
import { suite, assert, assertEq } from './lib.mjs';
import * as txt from './expect.mjs';

const EXP = 'late-answers';
const SLOW_MS = 2500;

const { T, daemon, admin, page, go, noErrors, text, run } = await suite({ label: 'results requests' });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Delay the requests that `match` (a URL -> bool) by SLOW_MS while `fn` runs. */
async function slowWhile(match, fn) {
  const handler = async (route) => {
    await sleep(SLOW_MS);
    await route.continue().catch(() => {}); // the page may have moved on
  };
  await page.route(match, handler);
  try {
    await fn();
  } finally {
    await page.unroute(match, handler);
  }
}

/** The time series table's first day, first treatment, as the page writes it. */
async function seriesCell(metric) {
  const ts = await admin.get(`/experiments/${EXP}/timeseries?metric=${metric}&method=frequentist&alpha=0.05`);
  const v = ts.days[0].variants.find((y) => y.key === 'short');
  return `${txt.pct(v.relative_lift.estimate)} ${txt.interval(v.relative_lift.ci)}`.replace(/\s+/g, ' ').trim();
}

T.test('an experiment with two metrics of opposite lifts and a dimension (API)', async () => {
  await admin.post('/metrics', { key: 'a-orders', event: 'purchase', type: 'count' });
  await admin.post('/metrics', { key: 'b-visits', event: 'visit', type: 'count' });
  await admin.post('/experiments', {
    key: EXP,
    variants: [{ key: 'control' }, { key: 'short' }],
    metrics: ['a-orders', 'b-visits'],
    primary_metric: 'b-visits', // traffic health reads its series: not the slowed one
    dimensions: ['plan'],
  });
  const st = await admin.post(`/experiments/${EXP}/start`);
  const exposures = [];
  const events = [];
  for (let i = 0; i < 60; i++) {
    const user = `u-${i}`;
    const treat = i % 2 === 1;
    exposures.push({ experiment: EXP, user_id: user, variant: treat ? 'short' : 'control', ts: st.started_at + 1, attributes: { plan: i % 3 ? 'pro' : 'free' } });
    const orders = (treat ? 2 : 1) + (i % 3 === 0 ? 1 : 0);
    const visits = (treat ? 1 : 3) + (i % 4 === 0 ? 1 : 0);
    for (let k = 0; k < orders; k++) events.push({ user_id: user, event: 'purchase', ts: st.started_at + 2 + k });
    for (let k = 0; k < visits; k++) events.push({ user_id: user, event: 'visit', ts: st.started_at + 2 + k });
  }
  while (Date.now() < st.started_at + 10) await sleep(5);
  assertEq((await admin.post('/exposures', { exposures })).accepted, exposures.length, 'exposures accepted');
  assertEq((await admin.post('/events', { events })).accepted, events.length, 'events accepted');
  assert((await seriesCell('a-orders')) !== (await seriesCell('b-visits')), 'the two metrics’ series differ');
});

T.test('sign in', async () => {
  await go(`/experiments/${EXP}`);
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await page.getByLabel('API key').fill(daemon.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who-role').filter({ hasText: /\w/ }).waitFor();
  noErrors();
});

T.test('the time series: a slow answer for the previous metric does not replace the chosen one’s', async () => {
  const slowA = (u) => u.pathname.endsWith(`/experiments/${EXP}/timeseries`) && u.searchParams.get('metric') === 'a-orders';
  await slowWhile(slowA, async () => {
    const asked = page.waitForRequest((r) => slowA(new URL(r.url())));
    await go(`/experiments/${EXP}?metric=a-orders`);
    await page.locator('.results-body[aria-busy="false"] table.results-table').first().waitFor();
    await asked;
    await page.locator('.timeseries').getByLabel('Metric').selectOption('b-visits');
    const cell = page.locator('.ts-box details.data-table tbody tr').first().locator('td').first();
    await cell.waitFor({ state: 'attached' });
    await sleep(SLOW_MS + 700); // the slow answer for a-orders has come back by now
    assertEq(await text(cell), await seriesCell('b-visits'), 'the numbers are b-visits’');
    const title = await text(page.locator('.ts-box svg.chart > title'));
    assert(title.startsWith('Cumulative relative lift of b-visits'), `the chart’s title (${title})`);
  });
  noErrors();
});

T.test('the breakdown: a slow answer for the previous method does not replace the chosen one’s', async () => {
  const slowFreq = (u) => u.pathname.endsWith(`/experiments/${EXP}/results`) && u.searchParams.get('dimension') === 'plan' && u.searchParams.get('method') === 'frequentist';
  await slowWhile(slowFreq, async () => {
    const asked = page.waitForRequest((r) => slowFreq(new URL(r.url())));
    await go(`/experiments/${EXP}?method=frequentist&dimension=plan`);
    await asked;
    await page.getByLabel('Bayesian').check();
    const head = page.locator('table.breakdown-table thead').first();
    await head.locator('th', { hasText: 'Chance to beat control' }).waitFor();
    await sleep(SLOW_MS + 700);
    const cols = await text(head);
    assert(/Chance to beat control/.test(cols) && !/p-value/.test(cols), `the Bayesian breakdown stays (${cols})`);
  });
  noErrors();
});

T.test('with a breakdown chosen, the CSV and the JSON URL are the breakdown’s', async () => {
  await go(`/experiments/${EXP}?dimension=plan`);
  await page.getByRole('heading', { name: 'Breakdown by plan' }).waitFor();
  const params = { method: 'frequentist', cuped: 'true', correction: 'none', alpha: '0.05', dimension: 'plan' };
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  const csv = readFileSync(await download.path(), 'utf8');
  const api = await admin.get(`/experiments/${EXP}/results?${new URLSearchParams({ ...params, format: 'csv' })}`, { text: true });
  assert(csv === api, `the CSV is the breakdown’s (its first row: ${csv.split('\n')[1]})`);
  assertEq(download.suggestedFilename(), `${EXP}-results-by-plan.csv`, 'the file name says the dimension');
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: daemon.url });
  await page.getByRole('button', { name: 'Copy JSON URL' }).click();
  // the page writes the clipboard asynchronously and says so once written
  await page.locator('#toasts .toast', { hasText: 'JSON URL copied' }).waitFor();
  const u = new URL(await page.evaluate(() => navigator.clipboard.readText()));
  for (const [k, v] of Object.entries(params)) assertEq(u.searchParams.get(k), v, `copied URL ${k}`);
  noErrors();
});

// ------------------------------------------------------------------ main

await run();

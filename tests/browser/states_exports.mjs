// states_exports.mjs - the experiment page when its results fail (the decision and health
// panels say "unavailable", the page asks again after Retry-After, a bounded number of
// times, never after leaving), a stopped experiment that never had an exposure, the list
// loading results only for its current page and never after it is left, the power
// calculator prefilled with the decision panel's baseline, coverage as the form writes it,
// a phone's width with long texts, a broken URL escape, the downloads (time series CSV,
// per-user data) and "Check a user". Failures are made with Playwright's request routing.
// Run through run.sh (its own daemon and Chromium).

import { readFileSync } from 'node:fs';
import { suite, assert, assertEq, signIn, watchPage } from './lib.mjs';

const { T, daemon, admin, browser, page, go, noErrors, text, run } = await suite({ label: 'states and exports' });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const BULK = 30; // more running experiments than one page of the list (25)

/** Whether `u` (a URL) is a main results request (no breakdown) of experiment `key`. */
const resultsOf = (key) => (u) => u.pathname.endsWith(`/experiments/${key}/results`) && !u.searchParams.get('dimension');

async function waitFor(cond, msg, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(100);
  }
  throw new Error(`timed out: ${msg}`);
}

/** Start `key`, expose `users` ({id, variant}) and send events ({user_id, event}). */
async function running(key, users = [], events = []) {
  const st = await admin.post(`/experiments/${key}/start`);
  if (users.length) {
    while (Date.now() < st.started_at + 10) await sleep(5);
    await admin.post('/exposures', { exposures: users.map((u) => ({ experiment: key, user_id: u.id, variant: u.variant, ts: st.started_at + 1 })) });
  }
  if (events.length) await admin.post('/events', { events: events.map((e) => ({ ...e, ts: st.started_at + 2 })) });
}

T.test('experiments for each state (API)', async () => {
  await admin.post('/metrics', { key: 'buy', name: 'Purchase', event: 'buy', type: 'binomial' });
  await admin.post('/metrics', { key: 'spend', event: 'spend', type: 'sum' });
  // busy: results that the test makes fail
  await admin.post('/experiments', { key: 'busy', variants: [{ key: 'control' }, { key: 'treat' }], metrics: ['buy'], primary_metric: 'buy' });
  const busyUsers = Array.from({ length: 40 }, (_, i) => ({ id: `b-${i}`, variant: i % 2 ? 'treat' : 'control' }));
  await running('busy', busyUsers, busyUsers.filter((_, i) => i % 3 === 0).map((u) => ({ user_id: u.id, event: 'buy' })));
  // stopped before anyone was exposed
  await admin.post('/experiments', { key: 'ended-empty', variants: [{ key: 'control' }, { key: 'treat' }], metrics: ['buy'], primary_metric: 'buy' });
  await running('ended-empty');
  await admin.post('/experiments/ended-empty/stop', {});
  // a low conversion rate with many digits: 3 of 700 = 0.428571...%
  await admin.post('/experiments', { key: 'low-rate', variants: [{ key: 'control' }, { key: 'treat' }], metrics: ['buy', 'spend'], primary_metric: 'buy', targeting: { country: { $in: ['NL'] } }, forced: { 'qa-1': 'treat' } });
  const low = Array.from({ length: 1400 }, (_, i) => ({ id: `l-${i}`, variant: i % 2 ? 'treat' : 'control' }));
  const lowEvents = [0, 2, 4].map((i) => ({ user_id: `l-${i}`, event: 'buy' }))
    .concat([1, 3, 5, 7, 9].map((i) => ({ user_id: `l-${i}`, event: 'buy' })))
    .concat(low.slice(0, 50).map((u, i) => ({ user_id: u.id, event: 'spend', value: 1 + i })));
  await running('low-rate', low, lowEvents);
  // coverage below a whole percent, and a draft just under 100%
  await admin.post('/experiments', { key: 'thin', variants: [{ key: 'control' }, { key: 'treat' }], coverage: 0.004 });
  await admin.post('/experiments', { key: 'almost-all', variants: [{ key: 'control' }, { key: 'treat' }], coverage: 0.995 });
  // long unbroken texts, line breaks and a long dimension
  const dim = 'd'.repeat(64);
  await admin.post('/metrics', { key: `m${'q'.repeat(63)}`, name: 'N'.repeat(200), event: 'e'.repeat(128), type: 'count' });
  await admin.post('/experiments', {
    key: 'longtext', name: 'L'.repeat(200), hypothesis: `line one\nline two\n${'H'.repeat(500)}`, description: 'D'.repeat(500),
    variants: [{ key: 'a'.repeat(64) }, { key: 'b' }], metrics: [`m${'q'.repeat(63)}`], primary_metric: `m${'q'.repeat(63)}`, dimensions: [dim],
  });
  await running('longtext', [{ id: 'x1', variant: 'a'.repeat(64) }, { id: 'x2', variant: 'b' }]);
  for (let i = 0; i < BULK; i++) {
    const key = `bulk-${String(i).padStart(2, '0')}`;
    await admin.post('/experiments', { key, variants: [{ key: 'control' }, { key: 'treat' }], metrics: ['buy'], primary_metric: 'buy' });
    await admin.post(`/experiments/${key}/start`);
  }
});

T.test('sign in', async () => {
  await go('/experiments');
  await signIn(page, daemon.adminKey);
  noErrors();
});

T.test('results failing with 503: decision and health say unavailable, then the retry after Retry-After shows them', async () => {
  const isBusy = resultsOf('busy');
  const times = [];
  let refuse = 2;
  const handler = async (route) => {
    times.push(Date.now());
    if (refuse > 0) {
      refuse -= 1;
      await route.fulfill({ status: 503, headers: { 'Retry-After': '2', 'Content-Type': 'application/json' }, body: JSON.stringify({ error: { code: 'unavailable', message: 'too many slow reads queued' } }) });
    } else await route.continue();
  };
  await page.route(isBusy, handler);
  try {
    await go('/experiments/busy');
    await page.locator('#decision[data-decision="unavailable"]').waitFor();
    const head = await text(page.locator('#decision-headline'));
    assertEq(head, 'Decision unavailable', 'the decision while the results fail');
    const why = await text(page.locator('#decision-why'));
    assert(/too many slow reads queued/.test(why) && /Trying again in 2 seconds/.test(why), `the reason and the retry (${why})`);
    const srm = page.locator('#srm-status');
    assertEq(await srm.getAttribute('data-srm'), 'unavailable', 'the health panel');
    assert(!/No user has been exposed/.test(await text(srm)), 'health does not claim no exposures');
    // the third answer is the real one
    await page.locator('#decision[data-decision]:not([data-decision="unavailable"])').waitFor({ timeout: 10000 });
    assertEq(await page.locator('#srm-status').getAttribute('data-srm'), 'ok', 'health after the retry');
    assertEq(times.length, 3, 'two refusals, one answer');
    assert(times[1] - times[0] >= 1900 && times[2] - times[1] >= 1900, `waited Retry-After between tries (${times[1] - times[0]}, ${times[2] - times[1]} ms)`);
  } finally {
    await page.unroute(isBusy, handler);
  }
  noErrors([/status of 503/]);
});

T.test('results that keep failing: a bounded number of retries, then "Try again"; none after leaving', async () => {
  const isBusy = resultsOf('busy');
  let asked = 0;
  const handler = async (route) => {
    asked += 1;
    await route.fulfill({ status: 503, headers: { 'Retry-After': '1', 'Content-Type': 'application/json' }, body: JSON.stringify({ error: { code: 'unavailable', message: 'busy' } }) });
  };
  await page.route(isBusy, handler);
  try {
    await go('/experiments/busy');
    await page.locator('#decision-retry').waitFor({ timeout: 12000 });
    assertEq(asked, 6, 'the first request and 5 retries');
    await sleep(2500);
    assertEq(asked, 6, 'no more once given up');
    await page.locator('#decision-retry').click();
    await waitFor(() => asked === 7, '"Try again" asks again');
    await page.locator('#decision[data-decision="unavailable"]').waitFor();
    // leave while a retry is pending: it never fires
    await page.locator('#decision-why', { hasText: 'Trying again' }).waitFor();
    await go('/metrics');
    await page.getByRole('heading', { name: 'Metrics' }).waitFor();
    const before = asked;
    await sleep(2500);
    assertEq(asked, before, 'no retry after leaving the page');
  } finally {
    await page.unroute(isBusy, handler);
  }
  noErrors([/status of 503/]);
});

T.test('a stopped experiment with no exposures: ended, not "check your /assign calls"', async () => {
  await go('/experiments/ended-empty');
  await page.locator('#decision[data-decision]').waitFor();
  assertEq(await text(page.locator('#decision-headline')), 'Ended with no exposures', 'headline');
  const why = await text(page.locator('#decision-why'));
  assert(/before the experiment stopped/.test(why), `why (${why})`);
  noErrors();
});

T.test('the list loads results for its current page only', async () => {
  let asked = 0;
  const onReq = (r) => {
    if (/\/api\/v1\/experiments\/[^/]+\/results/.test(r.url())) asked += 1;
  };
  page.on('request', onReq);
  try {
    await go('/experiments');
    await page.locator('#list-count', { hasText: 'experiments' }).waitFor();
    const rows = page.locator('#experiments-table tbody tr');
    await waitFor(async () => (await rows.count()) > 0 && (await page.locator('#experiments-table tbody td >> text="…"').count()) === 0, 'the first page’s results');
    assertEq(await rows.count(), 25, 'one page of rows');
    await sleep(500);
    assertEq(asked, 25, 'results of the 25 rows shown only');
    assert(/Page 1 of 2/.test(await text(page.locator('#page-status'))), 'page status');
    await page.locator('#page-next').click();
    await waitFor(async () => (await page.locator('#experiments-table tbody td >> text="…"').count()) === 0, 'the second page’s results');
    const second = await rows.count();
    const drafts = await page.locator('#experiments-table tbody tr', { hasText: 'Not started' }).count();
    assertEq(asked, 25 + second - drafts, 'then those of the second page');
    assert(/page=2/.test(await page.evaluate(() => location.hash)), 'the page is in the URL');
  } finally {
    page.off('request', onReq);
  }
  noErrors();
});

T.test('the list stops loading results once left', async () => {
  const slow = async (route) => {
    await sleep(400);
    await route.continue().catch(() => {});
  };
  const isResults = (u) => /\/api\/v1\/experiments\/[^/]+\/results$/.test(u.pathname);
  await go('/metrics'); // from another page: a render of its own, none of its results yet
  await page.getByRole('heading', { name: 'Metrics' }).waitFor();
  await page.route(isResults, slow);
  try {
    await go('/experiments');
    await page.locator('#experiments-table tbody tr').first().waitFor();
    await sleep(300);
    // "after leaving" in the page's own clock: the router's hashchange listener, added
    // first, has run when this one notes the time, so a results request started later is
    // one of a page left. (Counted in Node from before the navigation was sent, a request
    // the list started while the hashchange was still on its way counted too: failed with
    // the page's CPU throttled 30x.)
    await page.evaluate(() => {
      performance.clearResourceTimings();
      performance.setResourceTimingBufferSize(10000);
      window.addEventListener('hashchange', () => { window.__leftAt = performance.now(); }, { once: true });
    });
    await go('/metrics');
    await page.getByRole('heading', { name: 'Metrics' }).waitFor();
    await sleep(3000);
    const after = await page.evaluate(() => ({
      leftAt: window.__leftAt,
      urls: performance.getEntriesByType('resource').filter((e) => /\/api\/v1\/experiments\/[^/]+\/results$/.test(new URL(e.name).pathname) && e.startTime >= window.__leftAt).map((e) => e.name),
    }));
    assert(typeof after.leftAt === 'number', 'the list was left in the same document (a hashchange)');
    assertEq(after.urls.length, 0, `results requests after leaving the list (${after.urls.join(', ')})`);
  } finally {
    await page.unroute(isResults, slow);
  }
  noErrors();
});

T.test('the power calculator prefilled from an experiment agrees with its decision panel', async () => {
  const r = await admin.get('/experiments/low-rate/results');
  const c = r.metrics.find((m) => m.key === 'buy').variants[0];
  await go('/power?experiment=low-rate');
  await page.locator('#pw-context', { hasText: 'Prefilled from' }).waitFor();
  await page.locator('#pw-users').waitFor();
  assertEq(await page.getByLabel('Baseline conversion rate (%)').inputValue(), String(Number((c.mean * 100).toPrecision(6))), 'the baseline to 6 significant digits');
  assertEq(await text(page.locator('#pw-users')), r.decision.users_needed_per_variant.toLocaleString('en-US'), 'users per variant = the decision’s users needed');
  noErrors();
});

T.test('coverage as the form writes it: configuration and Start dialog', async () => {
  await go('/experiments/thin');
  await page.locator('details.config summary').click();
  const cov = await text(page.locator('.config .meta dd').first());
  assert(cov.startsWith('0.4%;'), `configuration coverage (${cov})`);
  await go('/experiments/almost-all');
  await page.getByRole('button', { name: 'Start' }).click();
  const dlg = page.locator('dialog');
  assert(/\(99\.5% of them\)/.test(await text(dlg)), `the Start dialog (${await text(dlg)})`);
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  noErrors();
});

T.test('at 390 px nothing scrolls sideways; hypothesis and description keep their line breaks', async () => {
  await page.setViewportSize({ width: 390, height: 800 });
  try {
    for (const hash of [`/experiments/longtext?dimension=${'d'.repeat(64)}`, '/power?experiment=longtext', '/experiments/longtext/edit']) {
      await go(hash);
      await page.locator('h1').first().waitFor();
      await sleep(1500);
      await page.evaluate(() => document.querySelectorAll('details').forEach((d) => { d.open = true; }));
      await sleep(200);
      const [sw, w] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      assert(sw <= w, `${hash}: the page is ${sw} px wide in a ${w} px window`);
    }
    await go('/experiments/longtext');
    const ws = await page.locator('.hypothesis').evaluate((e) => getComputedStyle(e).whiteSpace);
    assertEq(ws, 'pre-wrap', 'the hypothesis keeps its line breaks');
    assertEq(await page.locator('.description').evaluate((e) => getComputedStyle(e).whiteSpace), 'pre-wrap', 'the description too');
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
  noErrors();
});

T.test('a broken escape in the URL is "Page not found"', async () => {
  await go('/metrics');
  await page.getByRole('heading', { name: 'Metrics' }).waitFor();
  await go('/experiments/%E0%A4%A');
  await page.getByRole('heading', { name: 'Page not found' }).waitFor();
  noErrors();
});

T.test('downloads: the time series CSV and the per-user data are the API’s', async () => {
  await go('/experiments/low-rate');
  await page.locator('.results-body[aria-busy="false"] table.results-table').first().waitFor();
  const [ts] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download the daily series (CSV)' }).click()]);
  const tsCsv = readFileSync(await ts.path(), 'utf8');
  assertEq(tsCsv, await admin.get('/experiments/low-rate/timeseries?metric=buy&method=frequentist&alpha=0.05&format=csv', { text: true }), 'the time series CSV');
  assertEq(ts.suggestedFilename(), 'low-rate-timeseries-buy.csv', 'its name says the metric');
  await page.locator('#users-export summary').click();
  await page.locator('#users-export').getByLabel('Metric').selectOption('spend');
  const [ux] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download per-user data' }).click()]);
  const uxCsv = readFileSync(await ux.path(), 'utf8');
  assertEq(uxCsv, await admin.get('/experiments/low-rate/users?metric=spend&format=csv', { text: true }), 'the per-user CSV');
  assertEq(ux.suggestedFilename(), 'low-rate-spend-users.csv', 'its name');
  assertEq(uxCsv.split('\n').filter(Boolean).length, 1401, 'a header and a row per exposed user');
  await page.locator('#users-export').getByLabel('Format').selectOption('ndjson');
  const [nd] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download per-user data' }).click()]);
  assertEq(readFileSync(await nd.path(), 'utf8'), await admin.get('/experiments/low-rate/users?metric=spend&format=ndjson', { text: true }), 'the per-user NDJSON');
  noErrors();
});

T.test('check a user: variant, reason and bucket, nothing logged; viewers are told why not', async () => {
  const users = async () => (await admin.get('/experiments/low-rate/results')).variants.reduce((a, v) => a + v.users, 0);
  const before = await users();
  await go('/experiments/low-rate');
  await page.locator('#check-user summary').click();
  const box = page.locator('#check-user');
  const check = async (id, attrs) => {
    await box.getByLabel('User id').fill(id);
    await box.getByLabel('Attributes (JSON, optional)').fill(attrs);
    await box.getByRole('button', { name: 'Check', exact: true }).click();
    await box.locator(`#check-answer[data-reason]`).waitFor();
  };
  await check('new-user-1', '{"country": "NL"}');
  const expect = (await admin.post('/assign', { user_id: 'new-user-1', attributes: { country: 'NL' }, experiments: ['low-rate'], explain: true, log_exposure: false })).assignments['low-rate'];
  assertEq(await box.locator('#check-answer').getAttribute('data-reason'), 'hashed', 'in the experiment');
  assertEq(await box.locator('#check-answer').getAttribute('data-variant'), expect.variant, 'the variant /assign gives');
  assertEq(await text(box.locator('#check-bucket')), String(Number(expect.explain.bucket.toFixed(4))), 'its bucket');
  assert(/← bucket/.test(await text(box.locator('#check-ranges'))), 'the range it falls in');
  await check('new-user-1', '{"country": "DE"}');
  await box.locator('#check-answer[data-reason="not_targeted"]').waitFor();
  await check('qa-1', '');
  await box.locator('#check-answer[data-reason="forced"]').waitFor();
  await box.getByLabel('Attributes (JSON, optional)').fill('{country: NL}');
  await box.getByRole('button', { name: 'Check', exact: true }).click();
  await box.getByText('The attributes are not valid JSON').waitFor();
  // beside the textarea, which is marked and described by it, and focused (review dash36 F10)
  const attrs = box.getByLabel('Attributes (JSON, optional)');
  assertEq(await attrs.getAttribute('aria-invalid'), 'true', 'the attributes marked invalid');
  const errId = await box.locator('.field:has(textarea) .field-error').getAttribute('id');
  assert((await attrs.getAttribute('aria-describedby') || '').split(' ').includes(errId), 'and described by the message beside them');
  assertEq(await attrs.evaluate((el) => el === document.activeElement), true, 'focused');
  await box.getByLabel('Attributes (JSON, optional)').fill('');
  await box.getByLabel('User id').fill('');
  await box.getByRole('button', { name: 'Check', exact: true }).click();
  assertEq(await box.getByLabel('User id').getAttribute('aria-invalid'), 'true', 'an empty user id marked');
  assertEq(await attrs.getAttribute('aria-invalid'), null, 'the attributes’ mark cleared');
  assertEq(await users(), before, 'no exposure logged');
  noErrors();

  const viewerKey = (await admin.post('/keys', { name: 'viewer', role: 'viewer' })).key;
  const vp = await browser.context.newPage();
  const vw = watchPage(vp);
  try {
    await go('/experiments/low-rate', vp);
    await signIn(vp, viewerKey);
    await vp.locator('#check-user summary').click();
    await vp.locator('#check-user', { hasText: 'needs an editor or admin key' }).waitFor();
    assertEq(await vp.locator('#check-user form').count(), 0, 'no form for a viewer');
    const bad = vw.take();
    assert(bad.length === 0, `viewer page errors: ${JSON.stringify(bad)}`);
  } finally {
    await vp.close();
  }
});

await run();

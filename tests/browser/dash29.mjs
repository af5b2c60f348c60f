// dash29.mjs - the dashboard findings of the review journey29 (s29), numbered as the review
// numbers them: J1. the experiment form names every variant value and default value that is
// not JSON at once, with the rest of the form's problems, each hint quoting what was typed.
// Run through run.sh (its own daemon and Chromium).

import { suite, assert, assertEq, signIn } from './lib.mjs';

const { T, daemon, admin, page, go, goDiscarding, noErrors, text, run } = await suite({ label: 'review journey29' });

T.test('setup (API) and sign in', async () => {
  await admin.post('/metrics', { key: 'j29_buy', name: 'Purchase', event: 'j29_buy', type: 'binomial' });
  await go('/experiments');
  await signIn(page, daemon.adminKey);
  noErrors();
});

/** The field error beside the control whose data-field is `f` ('' when none). */
async function fieldError(f) {
  const err = page.locator(`[data-field="${f}"]`).locator('xpath=ancestor::*[self::td or contains(@class, "field")][1]').locator('.field-error');
  return (await err.count()) ? text(err) : '';
}

T.test('J1. every value that is not JSON is named at once, each hint quoting what was typed', async () => {
  await go('/experiments/new');
  await page.locator('form.exp-form').waitFor();
  await page.locator('input[name="key"]').fill('j29-values');
  await page.getByLabel('Variant 1 value (JSON)').fill('blue');
  await page.getByLabel('Variant 2 value (JSON)').fill('  green  ');
  await page.getByLabel('Default value (JSON)').fill('grey');
  // a problem of another kind in the same submit: the weights add up to 110%
  await page.getByLabel('Variant 1 weight (percent)').fill('60');
  const sent = [];
  const onReq = (q) => {
    if (q.method() === 'POST' && new URL(q.url()).pathname === '/api/v1/experiments') sent.push(q.url());
  };
  page.on('request', onReq);
  await page.getByRole('button', { name: 'Create experiment' }).click();
  await page.locator('.form-errors [role="alert"]').waitFor();
  const summary = await text(page.locator('.form-errors'));
  assert(summary.includes('4 fields need attention'), `the summary counts every problem: ${summary}`);
  const want = {
    'variants[0].value': 'Variant 1 value must be JSON (a string needs quotes: "blue")',
    'variants[1].value': 'Variant 2 value must be JSON (a string needs quotes: "green")',
    default_value: 'The default value must be JSON (a string needs quotes: "grey")',
  };
  for (const [f, msg] of Object.entries(want)) {
    assertEq(await fieldError(f), msg, `beside ${f}`);
    assert(summary.includes(msg), `in the summary: ${msg} (${summary})`);
    assertEq(await page.locator(`[data-field="${f}"]`).getAttribute('aria-invalid'), 'true', `${f} marked invalid`);
  }
  assert((await fieldError('variants[1].weight')).includes('add up to 100%'), `the weights too: ${await fieldError('variants[1].weight')}`);
  assertEq(summary.split('"blue"').length - 1, 1, `"blue" only for the value typed blue: ${summary}`);
  assertEq(sent.length, 0, 'nothing sent');
  // quoted and the weights fixed: created, the values stored as strings
  await page.getByLabel('Variant 1 value (JSON)').fill('"blue"');
  await page.getByLabel('Variant 2 value (JSON)').fill('"green"');
  await page.getByLabel('Default value (JSON)').fill('"grey"');
  await page.getByLabel('Variant 1 weight (percent)').fill('50');
  await page.getByRole('button', { name: 'Create experiment' }).click();
  await page.waitForURL(/#\/experiments\/j29-values$/);
  page.off('request', onReq);
  const x = await admin.get('/experiments/j29-values');
  assertEq(JSON.stringify(x.variants.map((v) => v.value)), '["blue","green"]', 'values stored');
  assertEq(x.default_value, 'grey', 'default value stored');
  noErrors();
});

T.test('J1. a single bad value: "One field needs attention" with its own text', async () => {
  await go('/experiments/new');
  await page.locator('form.exp-form').waitFor();
  await page.locator('input[name="key"]').fill('j29-one');
  await page.getByLabel('Variant 2 value (JSON)').fill('{color: red}');
  await page.getByRole('button', { name: 'Create experiment' }).click();
  await page.locator('.form-errors [role="alert"]').waitFor();
  assertEq(await text(page.locator('.form-errors')), 'One field needs attention: Variant 2 value must be JSON (a string needs quotes: "{color: red}")', 'the summary');
  await goDiscarding('/experiments');
  noErrors();
});

await run();

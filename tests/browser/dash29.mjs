// dash29.mjs - the dashboard findings of the review journey29 (s29), numbered as the review
// numbers them: J1. the experiment form names every variant value and default value that is
// not JSON at once, with the rest of the form's problems, each hint quoting what was typed;
// J2. the key hint suggests one key that keeps every rule ("Purchase Rate": try
// “purchase-rate”), and the metric form's event hint has no Markdown backticks; J9. the
// audit log shows an API key's name beside its id on key.create and key.revoke rows. Run
// through run.sh (its own daemon and Chromium).

import { suite, assert, assertEq, signIn } from './lib.mjs';
import { keyProblem, keySuggestion } from '../../web/js/validate.js';

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

T.test('J2. the key suggestion keeps every rule (pure check of validate.js)', async () => {
  const cases = {
    'Purchase Rate': 'The key must be lower-case (try “purchase-rate”).',
    'purchase rate': 'The key cannot contain spaces (try “purchase-rate”).',
    'Café Crème': 'The key must be lower-case (try “cafe-creme”).',
    '_draft': 'The key must start with a lower-case letter or a digit (try “draft”).',
    'a / b': 'The key cannot contain spaces (try “a-b”).',
    'shop#1': 'The key may use only lower-case letters, digits, “_”, “.” and “-” (try “shop1”).',
    '!!!': 'The key must start with a lower-case letter or a digit.',
  };
  for (const [v, msg] of Object.entries(cases)) {
    assertEq(keyProblem(v), msg, v);
    const s = keySuggestion(v);
    if (s) assertEq(keyProblem(s), null, `the suggestion for “${v}” (“${s}”) is itself a key`);
  }
  assertEq(keyProblem('Checkout Button', 'Variant 1’s key'), 'Variant 1’s key must be lower-case (try “checkout-button”).', 'a variant key');
});

T.test('J2. metric form: “Purchase Rate” suggests purchase-rate, which the form then accepts; the event hint has no backticks', async () => {
  await go('/metrics/new');
  await page.getByRole('heading', { name: 'New metric' }).waitFor();
  const hint = await text(page.locator('.field:has([data-field="event"]) .hint'));
  assert(!hint.includes('`'), `no backticks in the event hint: ${hint}`);
  assert(hint.includes('“event”'), `the hint quotes “event”: ${hint}`);
  await page.getByLabel('Key', { exact: true }).fill('Purchase Rate');
  await page.getByLabel('Event name').fill('purchase');
  await page.getByRole('button', { name: 'Create metric' }).click();
  await page.locator('.form-errors [role="alert"]').waitFor();
  const said = await text(page.locator('.field:has([data-field="key"]) .field-error'));
  assertEq(said, 'The key must be lower-case (try “purchase-rate”).', 'the key error');
  const tried = /try “([^”]+)”/.exec(said)[1];
  await page.getByLabel('Key', { exact: true }).fill(tried);
  await page.getByRole('button', { name: 'Create metric' }).click();
  await page.locator('#metrics-table tr[data-key="purchase-rate"]').waitFor();
  assertEq((await admin.get('/metrics/purchase-rate')).event, 'purchase', 'created with the suggested key');
  noErrors();
});

T.test('J2. experiment form: the key and a variant key get a suggestion that is valid', async () => {
  await go('/experiments/new');
  await page.locator('form.exp-form').waitFor();
  await page.locator('input[name="key"]').fill('Checkout Button');
  await page.locator('input[data-field="variants[1].key"]').fill('Big Green');
  await page.getByRole('button', { name: 'Create experiment' }).click();
  await page.locator('.form-errors [role="alert"]').waitFor();
  assertEq(await fieldError('key'), 'The key must be lower-case (try “checkout-button”).', 'the key');
  assertEq(await fieldError('variants[1].key'), 'Variant 2’s key must be lower-case (try “big-green”).', 'the variant key');
  await goDiscarding('/experiments');
  noErrors();
});

T.test('J9. the audit log names the key created or revoked beside its id', async () => {
  const made = await admin.post('/keys', { name: 'j29-reporting', role: 'viewer' });
  await admin.del(`/keys/${made.id}`);
  await go('/audit?target_type=key');
  const rows = page.locator('#audit-table tbody tr');
  await rows.first().waitFor();
  const ours = rows.filter({ has: page.locator(`td[data-label="Target"] code:text-is("${made.id}")`) });
  assertEq(await ours.count(), 2, 'a key.create and a key.revoke row for the key');
  for (let i = 0; i < 2; i++) {
    const row = ours.nth(i);
    const action = await text(row.locator('td[data-label="Action"]'));
    assert(action === 'key.create' || action === 'key.revoke', action);
    assertEq(await text(row.locator('td[data-label="Target"] .target-name')), 'j29-reporting', `${action}: the key's name`);
    assertEq(await text(row.locator('td[data-label="Target"] .target-id')), made.id, `${action}: the key's id`);
  }
  // the bootstrap admin key (created by the daemon's first start) is named too
  const boot = await admin.get('/audit?target_type=key&limit=200');
  const first = boot.entries.find((e) => e.action === 'key.create' && e.after && e.after.name && e.target !== made.id);
  if (first) {
    const row = rows.filter({ has: page.locator(`td[data-label="Target"] code:text-is("${first.target}")`) });
    assertEq(await text(row.locator('.target-name')), first.after.name, 'the other key created');
  }
  noErrors();
});

await run();

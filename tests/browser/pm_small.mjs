// pm_small.mjs - the smaller findings of the product manager's review of the dashboard, one
// scenario each: starting an experiment without metrics warns; an "equals" rule whose value
// holds a comma suggests "is one of"; a validation message says "Variant 1 value", never
// "variants[0].value"; an invalid regex is shown beside its rule; changing the primary
// metric of a running experiment asks first; "Copy JSON URL" says it needs a key and a curl
// command has a placeholder for it; a paused experiment's decision says to resume, with no
// days left; the cumulative lift's metric list holds the guardrails, by name. Run through
// run.sh.

import { suite, assert, assertEq, signIn } from './lib.mjs';

const { T, daemon, admin, page, go, goDiscarding, waitHash, noErrors, text, run } = await suite({ label: 'pm_small' });

const dlg = page.locator('dialog[open]');
const two = [{ key: 'control', weight: 0.5 }, { key: 'b', weight: 0.5 }];

T.test('setup (API) and sign in', async () => {
  await admin.post('/metrics', { key: 'ps-buy', name: 'Purchase', event: 'buy', type: 'binomial' });
  await admin.post('/metrics', { key: 'ps-rev', name: 'Revenue', event: 'rev', type: 'sum' });
  await go('/experiments');
  await signIn(page, daemon.adminKey);
  noErrors();
});

T.test('Start dialog: an experiment without metrics warns, and still starts', async () => {
  await admin.post('/experiments', { key: 'ps-nometrics', variants: two });
  await admin.post('/experiments', { key: 'ps-metrics', variants: two, metrics: ['ps-buy'] });
  await go('/experiments/ps-metrics');
  await page.locator('.lifecycle button', { hasText: 'Start' }).click();
  await dlg.waitFor();
  assertEq(await dlg.locator('#start-no-metrics').count(), 0, 'no warning with metrics');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await go('/experiments/ps-nometrics');
  await page.locator('.lifecycle button', { hasText: 'Start' }).click();
  const warn = dlg.locator('#start-no-metrics');
  await warn.waitFor();
  assert((await text(warn)).includes('This experiment has no metrics: results will only show exposures'), await text(warn));
  await dlg.getByRole('button', { name: 'Start experiment' }).click();
  await page.locator('main h1 .badge-running').waitFor();
  assertEq((await admin.get('/experiments/ps-nometrics')).status, 'running', 'started');
  noErrors();
});

T.test('targeting: "equals" with a comma suggests "is one of"; the value is kept until asked', async () => {
  await go('/experiments/new');
  await page.locator('form.exp-form').waitFor();
  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.getByLabel('Rule 1 attribute').fill('country');
  await page.getByLabel('Rule 1 value').fill('NL');
  const hint = page.locator('.rule-row .rule-comma');
  assertEq(await hint.isVisible(), false, 'no hint without a comma');
  await page.getByLabel('Rule 1 value').fill('NL, BE');
  await hint.waitFor();
  const said = await text(hint);
  assert(said.includes('commas included') && said.includes('“is one of”'), said);
  const json = () => page.getByLabel('Condition as JSON').inputValue();
  assertEq(JSON.stringify(JSON.parse(await json())), '{"country":"NL, BE"}', 'stored as typed, not changed behind the back');
  // does not equal: "is not one of"
  await page.getByLabel('Rule 1 operator').selectOption('$ne');
  assert((await text(hint)).includes('“is not one of”'), await text(hint));
  await page.getByLabel('Rule 1 operator').selectOption('$eq');
  await hint.getByRole('button', { name: 'Use “is one of”' }).click();
  assertEq(JSON.stringify(JSON.parse(await json())), '{"country":{"$in":["NL","BE"]}}', 'a list once asked');
  assertEq(await page.getByLabel('Rule 1 operator').inputValue(), '$in', 'the operator');
  assertEq(await hint.count(), 1, 'one rule');
  assertEq(await hint.isVisible(), false, 'no hint for a list');
  await goDiscarding('/experiments');
  noErrors();
});

T.test('validation messages name a variant’s value as the form does ("Variant 1 value")', async () => {
  await go('/experiments/new');
  await page.locator('form.exp-form').waitFor();
  await page.locator('input[name="key"]').fill('ps-values');
  const fieldError = () => text(page.locator('[data-field="variants[0].value"]').locator('xpath=ancestor::td[1]').locator('.field-error'));
  // the form's own check
  await page.getByLabel('Variant 1 value (JSON)').fill('blue');
  await page.getByRole('button', { name: 'Create experiment' }).click();
  let said = await fieldError();
  assert(said.startsWith('Variant 1 value must be JSON') && !said.includes('variants['), said);
  // the server's: a value nested deeper than it takes
  await page.getByLabel('Variant 1 value (JSON)').fill('['.repeat(40) + ']'.repeat(40));
  // an array too (the values share one JSON type, which the page checks before sending)
  await page.getByLabel('Variant 2 value (JSON)').fill('[]');
  await page.getByRole('button', { name: 'Create experiment' }).click();
  await page.locator('.form-errors .alert-error').waitFor();
  said = await fieldError();
  assert(said.startsWith('Variant 1 value is nested more than') && !said.includes('variants['), said);
  const summary = await text(page.locator('.form-errors'));
  assert(!summary.includes('variants['), `the summary too: ${summary}`);
  await goDiscarding('/experiments');
  noErrors([/400/]);
});

T.test('an invalid regex is shown beside its rule, not under the JSON box', async () => {
  await go('/experiments/new');
  await page.locator('form.exp-form').waitFor();
  await page.locator('input[name="key"]').fill('ps-regex');
  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.getByLabel('Rule 1 attribute').fill('plan');
  await page.getByLabel('Rule 1 value').fill('pro');
  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.getByLabel('Rule 2 attribute').fill('email');
  await page.getByLabel('Rule 2 operator').selectOption('$regex');
  await page.getByLabel('Rule 2 value').fill('@(example');
  await page.getByText('any rule (OR)').click();
  await page.getByRole('button', { name: 'Create experiment' }).click();
  const row2 = page.locator('.rule-row').nth(1);
  await row2.locator('.field-error').waitFor();
  const said = await text(row2.locator('.field-error'));
  assert(said.includes('Targeting rule on “email”') && said.includes('cannot be evaluated'), said);
  assertEq(await page.locator('.rule-row').nth(0).locator('.field-error').count(), 0, 'not beside rule 1');
  const box = page.getByLabel('Condition as JSON').locator('xpath=ancestor::div[contains(@class,"field")][1]');
  assertEq(await box.locator('.field-error').count(), 0, 'not under the JSON box');
  assertEq(await page.getByLabel('Rule 2 value').getAttribute('aria-invalid'), 'true', 'the value is marked');
  // the same rule in AND: its path is targeting.email.$regex
  await page.getByText('all rules (AND)').click();
  await page.getByRole('button', { name: 'Create experiment' }).click();
  await page.locator('.rule-row').nth(1).locator('.field-error').waitFor();
  await goDiscarding('/experiments');
  noErrors([/400/]);
});

T.test('changing the primary metric of a running experiment asks first', async () => {
  await admin.post('/experiments', { key: 'ps-primary', variants: two, metrics: ['ps-buy', 'ps-rev'], primary_metric: 'ps-buy' });
  await admin.post('/experiments/ps-primary/start');
  await go('/experiments/ps-primary/edit');
  await page.locator('form.exp-form').waitFor();
  // a change of something else: no question
  await page.locator('input[name="owner"]').fill('pm team');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await waitHash('/experiments/ps-primary');
  assertEq((await admin.get('/experiments/ps-primary')).owner, 'pm team', 'saved without asking');
  await go('/experiments/ps-primary/edit');
  await page.locator('form.exp-form').waitFor();
  await page.getByLabel('Primary metric').selectOption('ps-rev');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await dlg.waitFor();
  const body = await text(dlg);
  assert(body.includes('Changing the primary metric of a running experiment changes what its decision is based on'), body);
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  assertEq((await admin.get('/experiments/ps-primary')).primary_metric, 'ps-buy', 'not saved on Cancel');
  assertEq(await page.getByLabel('Primary metric').inputValue(), 'ps-rev', 'the choice stays in the form');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await dlg.getByRole('button', { name: 'Change and save' }).click();
  await waitHash('/experiments/ps-primary');
  assertEq((await admin.get('/experiments/ps-primary')).primary_metric, 'ps-rev', 'saved once confirmed');
  noErrors();
});

T.test('"Copy JSON URL" says it needs an API key; "Copy as curl" has a placeholder, never the key', async () => {
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: daemon.url });
  await go('/experiments/ps-primary');
  const copy = page.locator('#copy-json-url');
  await copy.waitFor();
  assert((await text(copy)).includes('needs an API key'), await text(copy));
  assert((await copy.getAttribute('title')).includes('Authorization: Bearer'), 'tooltip');
  await page.getByRole('button', { name: 'Copy as curl' }).click();
  // the page writes the clipboard asynchronously and says so once written
  await page.locator('#toasts .toast', { hasText: 'curl command copied' }).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  const m = /^curl -H "Authorization: Bearer \$BUNSEN_API_KEY" '([^']+)'$/.exec(copied);
  assert(m, `a curl command with a placeholder: ${copied}`);
  assertEq(new URL(m[1]).pathname, '/api/v1/experiments/ps-primary/results', 'its URL');
  assert(!copied.includes(daemon.adminKey), 'never the key');
  noErrors();
});

T.test('Back while a dialog waits on the server (a guarded form): not dropped, asked once the answer is in', async () => {
  // ps-rev is used by ps-primary: the server refuses the delete (409) after a slow answer
  await go('/metrics');
  await go('/metrics/ps-rev');
  await page.locator('form.metric-form').waitFor();
  await page.getByLabel('Name', { exact: true }).fill('Revenue (changed)');
  const glob = '**/api/v1/metrics/ps-rev';
  let release;
  const held = new Promise((r) => (release = r));
  const handler = async (route) => {
    if (route.request().method() !== 'DELETE') return route.continue();
    await held;
    return route.continue();
  };
  await page.route(glob, handler);
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await dlg.getByRole('button', { name: 'Delete metric' }).click();
  await page.locator('dialog[open][data-busy]').waitFor();
  await page.goBack();
  await waitHash('/metrics/ps-rev');
  release();
  // the refusal is said, and the Back press asks as it would have
  const ask = page.getByRole('dialog').filter({ hasText: 'Leave without saving?' });
  await ask.waitFor({ timeout: 5000 });
  assertEq(await page.locator('dialog[open]').count(), 1, 'the delete dialog closed, one question');
  await page.locator('#toasts .toast-error').waitFor();
  await ask.getByRole('button', { name: 'Leave without saving' }).click();
  await waitHash('/metrics');
  assertEq((await admin.get('/metrics/ps-rev')).name, 'Revenue', 'nothing saved, nothing deleted');
  await page.unroute(glob, handler);
  noErrors([/409/]);
});

T.test('a paused experiment with data: "Paused: resume ..." and no days left, not "Keep running" for ever', async () => {
  await admin.post('/experiments', { key: 'ps-paused', variants: two, metrics: ['ps-buy'], primary_metric: 'ps-buy', guardrails: ['ps-rev'] });
  const st = await admin.post('/experiments/ps-paused/start');
  while (Date.now() < st.started_at + 10) await new Promise((r) => setTimeout(r, 5));
  const users = Array.from({ length: 200 }, (_, i) => ({ id: `pp-${i}`, variant: i % 2 ? 'b' : 'control' }));
  await admin.post('/exposures', { exposures: users.map((u) => ({ experiment: 'ps-paused', user_id: u.id, variant: u.variant, ts: st.started_at + 1 })) });
  const buyers = users.filter((u, i) => i % 20 < 6); // 30% in each variant: no effect yet
  await admin.post('/events', { events: buyers.map((u) => ({ user_id: u.id, event: 'buy', ts: st.started_at + 2 })) });
  await admin.post('/experiments/ps-paused/pause');
  await go('/experiments/ps-paused');
  const head = page.locator('#decision-headline');
  await head.waitFor();
  assertEq(await text(head), 'Paused: resume to reach the users needed', `headline (${await text(page.locator('#decision-why'))})`);
  const left = await text(page.locator('#days-left'));
  assert(left.startsWith('none while paused'), `days left: ${left}`);
  assert(/no projection until it resumes/.test(left), `the server's warning beside it: ${left}`);
  noErrors();
});

T.test('Cumulative lift over time lists the primary metric and the guardrails, by name', async () => {
  await go('/experiments/ps-paused');
  const sel = page.locator('section.timeseries').getByLabel('Metric', { exact: true });
  await sel.waitFor();
  const opts = await sel.locator('option').evaluateAll((os) => os.map((o) => `${o.value}=${o.textContent}`));
  assertEq(opts.join(', '), 'ps-buy=Purchase, ps-rev=Revenue', 'series options');
  await sel.selectOption('ps-rev');
  await page.waitForFunction(() => new URLSearchParams(location.hash.split('?')[1] || '').get('metric') === 'ps-rev');
  noErrors();
});

await run();

// edits.mjs - what the dashboard's forms send back: an edit keeps what the user did not
// touch (the experiment's metric order, a coverage finer than the slider's whole percents,
// a targeting list whose strings hold commas), a running experiment's coverage may go up but
// not down (the page's check and the server's 409 beside the slider), its variant names and
// values can change (keys and weights cannot), a conclusion is optional and can be
// cleared, archiving warns that a released variant stops being served, and the key form creates one key per submit (and encrypted sdk keys, showing
// the decryption key). Run through run.sh (its own daemon and Chromium).

import { suite, assert, assertEq } from './lib.mjs';

const STOPPED = 'order-stopped';
const RUNNING = 'order-running';
const DRAFT = 'city-targeting';
const TO_STOP = 'stop-quietly';
// the catalogue lists a-, b-, c- in this order; the experiments list them otherwise
const METRICS = ['b-visits', 'a-orders'];
const CITY = { city: { $in: ['Washington, D.C.', 'Paris', 'say "hi"'] }, plan: 'pro' };

const { T, daemon, admin, page, go, goDiscarding, waitHash, noErrors, text, run } = await suite({ label: 'edits' });

async function auditCount(key) {
  return (await admin.get(`/audit?target_type=experiment&target=${key}&limit=100`)).entries.length;
}

async function openEdit(key) {
  await go(`/experiments/${key}/edit`);
  await page.locator('form.exp-form').waitFor();
}

async function save(key) {
  await page.getByRole('button', { name: 'Save changes' }).click();
  await waitHash(`/experiments/${key}`);
  await page.locator('h1 .badge').waitFor();
}

T.test('metrics, experiments and keys to edit (API)', async () => {
  await admin.post('/metrics', { key: 'a-orders', event: 'purchase', type: 'count' });
  await admin.post('/metrics', { key: 'b-visits', event: 'visit', type: 'count' });
  await admin.post('/metrics', { key: 'c-clicks', event: 'click', type: 'count' });
  const cat = (await admin.get('/metrics')).metrics.map((m) => m.key);
  assertEq(JSON.stringify(cat), '["a-orders","b-visits","c-clicks"]', 'the catalogue’s order');
  const variants = [{ key: 'control', name: 'Control', weight: 0.5 }, { key: 'short', name: 'Short', weight: 0.5, value: 'short-copy' }];
  await admin.post('/experiments', { key: STOPPED, name: 'Stopped one', variants, metrics: METRICS, guardrails: ['c-clicks', 'a-orders'], primary_metric: 'b-visits' });
  await admin.post(`/experiments/${STOPPED}/start`);
  await admin.post(`/experiments/${STOPPED}/stop`);
  await admin.post('/experiments', { key: RUNNING, name: 'Running one', variants, metrics: METRICS, primary_metric: 'b-visits', coverage: 0.255 });
  await admin.post(`/experiments/${RUNNING}/start`);
  await admin.post('/experiments', { key: DRAFT, name: 'City draft', variants, targeting: CITY });
  await admin.post('/experiments', { key: TO_STOP, name: 'Stop me quietly', variants });
  await admin.post(`/experiments/${TO_STOP}/start`);
});

T.test('sign in', async () => {
  await go('/experiments');
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await page.getByLabel('API key').fill(daemon.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who-role').filter({ hasText: /\w/ }).waitFor();
  noErrors();
});

T.test('a stopped experiment’s name changes; its metrics, in their own order, are not touched', async () => {
  await openEdit(STOPPED);
  await page.getByLabel('Name', { exact: true }).fill('Stopped one, renamed');
  await save(STOPPED);
  const x = await admin.get(`/experiments/${STOPPED}`);
  assertEq(x.name, 'Stopped one, renamed', 'the name saved');
  assertEq(JSON.stringify(x.metrics), JSON.stringify(METRICS), 'the metrics in their order');
  assertEq(JSON.stringify(x.guardrails), '["c-clicks","a-orders"]', 'the guardrails in their order');
  noErrors();
});

T.test('saving a running experiment unchanged changes nothing; a ticked metric goes last', async () => {
  const audits = await auditCount(RUNNING);
  const before = await admin.get(`/experiments/${RUNNING}`);
  await openEdit(RUNNING);
  await save(RUNNING);
  const same = await admin.get(`/experiments/${RUNNING}`);
  assertEq(same.updated_at, before.updated_at, 'not written');
  assertEq(await auditCount(RUNNING), audits, 'no audit entry');
  await openEdit(RUNNING);
  await page.locator('fieldset[data-field="metrics"]').getByLabel(/c-clicks/).check();
  await save(RUNNING);
  const x = await admin.get(`/experiments/${RUNNING}`);
  assertEq(JSON.stringify(x.metrics), '["b-visits","a-orders","c-clicks"]', 'the stored order, the new metric last');
  noErrors();
});

T.test('a coverage finer than whole percents is shown and kept until the slider moves', async () => {
  await openEdit(RUNNING);
  assertEq(await text(page.locator('.range-out')), '25.5%', 'the stored coverage shown');
  await page.getByLabel('Owner').fill('growth-team');
  await save(RUNNING);
  let x = await admin.get(`/experiments/${RUNNING}`);
  assertEq(x.owner, 'growth-team', 'the owner saved');
  assertEq(x.coverage, 0.255, 'the coverage kept');
  await openEdit(RUNNING);
  await page.getByLabel('Coverage').evaluate((el) => {
    el.value = '40';
    el.dispatchEvent(new Event('input', { bubbles: true }));
  });
  assertEq(await text(page.locator('.range-out')), '40%', 'the moved slider shown');
  await save(RUNNING);
  x = await admin.get(`/experiments/${RUNNING}`);
  assertEq(x.coverage, 0.4, 'the moved coverage saved');
  noErrors();
});

/** Move the coverage slider to `pct` percent. */
async function slideCoverage(pct) {
  await page.getByLabel('Coverage').evaluate((el, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, pct);
}

T.test('a running experiment’s coverage goes up, not down: the page says why, and so does the server’s 409', async () => {
  const coverageError = page.locator('.field:has([data-field="coverage"]) .field-error');
  const audits = await auditCount(RUNNING);
  await openEdit(RUNNING);
  await slideCoverage(10);
  await page.getByRole('button', { name: 'Save changes' }).click();
  await coverageError.waitFor();
  const said = await text(coverageError);
  assert(/only go up/.test(said) && /already exposed/.test(said) && /pause or stop it/.test(said), `the page says why and what to do: ${said}`);
  assertEq(await auditCount(RUNNING), audits, 'nothing sent');
  assertEq((await admin.get(`/experiments/${RUNNING}`)).coverage, 0.4, 'the coverage unchanged');
  // a form loaded before the start (here: the GET answered as if it were a draft) lets the
  // slider go down; the server's 409 lands next to the coverage, in its words
  const asDraft = async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    await route.fulfill({ response: res, json: { ...body, status: 'draft' } });
  };
  await goDiscarding('/experiments');
  await page.route(`**/api/v1/experiments/${RUNNING}`, asDraft);
  try {
    await openEdit(RUNNING);
    assert(await page.getByLabel('Seed').isEditable(), 'the form thinks it is a draft');
  } finally {
    await page.unroute(`**/api/v1/experiments/${RUNNING}`, asDraft);
  }
  await slideCoverage(10);
  await page.getByRole('button', { name: 'Save changes' }).click();
  await coverageError.filter({ hasText: /lowering coverage/ }).waitFor();
  const server = await text(coverageError);
  assert(/lowering coverage while the experiment is running/.test(server) && /pause or stop it/.test(server), `the server's reason shown at the coverage: ${server}`);
  assertEq((await admin.get(`/experiments/${RUNNING}`)).coverage, 0.4, 'still unchanged');
  await goDiscarding('/experiments');
  noErrors([/status of 409/]);
});

T.test('a running experiment’s variant names and values change; keys and weights are locked', async () => {
  await openEdit(RUNNING);
  const key = page.getByLabel('Variant 2 key');
  const weight = page.getByLabel('Variant 2 weight (percent)');
  const name = page.getByLabel('Variant 2 name');
  const value = page.getByLabel('Variant 2 value (JSON)');
  assert(!(await key.isEditable()), 'the key is read-only');
  assert(!(await weight.isEditable()), 'the weight is read-only');
  assert(await page.getByRole('button', { name: 'Add variant' }).isDisabled(), 'no variant can be added');
  assert(await name.isEditable(), 'the name is editable');
  assert(await value.isEditable(), 'the value is editable');
  await name.fill('Shorter copy');
  await value.fill('"Buy now"'); // a string, as the control's value (its key)
  await save(RUNNING);
  const x = await admin.get(`/experiments/${RUNNING}`);
  assertEq(x.status, 'running', 'still running');
  assertEq(x.variants[1].name, 'Shorter copy', 'the name saved');
  assertEq(JSON.stringify(x.variants[1].value), '"Buy now"', 'the value saved');
  assertEq(JSON.stringify(x.variants.map((v) => [v.key, v.weight])), '[["control",0.5],["short",0.5]]', 'keys and weights as they were');
  noErrors();
});

T.test('targeting: a list item holding a comma or a quote stays one value when another rule changes', async () => {
  await openEdit(DRAFT);
  assertEq(await page.getByLabel('Rule 1 value').inputValue(), '"Washington, D.C.", Paris, "say \\"hi\\""', 'the list as text, quoted where needed');
  await page.getByLabel('Rule 2 value').fill('team');
  const shown = JSON.parse(await page.getByLabel('Condition as JSON').inputValue());
  assertEq(JSON.stringify(shown.city), JSON.stringify(CITY.city), 'the JSON view keeps the list');
  await page.getByLabel('Rule 1 value').fill('"Washington, D.C.", Paris, Rome');
  await save(DRAFT);
  const x = await admin.get(`/experiments/${DRAFT}`);
  assertEq(JSON.stringify(x.targeting), '{"city":{"$in":["Washington, D.C.","Paris","Rome"]},"plan":"team"}', 'the targeting saved');
  noErrors();
});

T.test('stopping without a conclusion; a recorded conclusion can be cleared', async () => {
  await go(`/experiments/${TO_STOP}`);
  await page.getByRole('button', { name: 'Stop…' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.getByRole('button', { name: 'Stop experiment' }).click();
  await page.locator('h1 .badge', { hasText: 'stopped' }).waitFor();
  let x = await admin.get(`/experiments/${TO_STOP}`);
  assertEq(x.status, 'stopped', 'stopped');
  assertEq(x.conclusion, null, 'no conclusion');
  await page.getByRole('button', { name: 'Record conclusion' }).click();
  await dlg.getByLabel(/^Lost/).check();
  await dlg.getByRole('button', { name: 'Save conclusion' }).click();
  await page.locator('#conclusion', { hasText: 'Lost' }).waitFor();
  assertEq((await admin.get(`/experiments/${TO_STOP}`)).conclusion.outcome, 'lost', 'recorded');
  await page.getByRole('button', { name: 'Edit conclusion' }).click();
  await dlg.getByLabel(/^None/).check();
  await dlg.getByRole('button', { name: 'Save conclusion' }).click();
  await page.getByRole('button', { name: 'Record conclusion' }).waitFor();
  x = await admin.get(`/experiments/${TO_STOP}`);
  assertEq(x.conclusion, null, 'cleared');
  assertEq(await page.locator('#conclusion').count(), 0, 'no conclusion shown');
  noErrors();
});

T.test('archiving: the dialog says services lose the released variant, and /assign agrees', async () => {
  const REL = 'released-then-archived';
  await admin.post('/experiments', { key: REL, name: 'Released, then archived', variants: [{ key: 'control' }, { key: 'short' }] });
  await admin.post(`/experiments/${REL}/start`);
  await admin.post(`/experiments/${REL}/stop`, { release: 'short' });
  const dlg = page.getByRole('dialog');
  // stopped without a release: nothing to lose but the control
  await go(`/experiments/${TO_STOP}`);
  await page.getByRole('button', { name: 'Archive' }).click();
  await dlg.waitFor();
  assert(/get nothing from it/.test(await text(dlg)), 'the dialog says the experiment serves nothing');
  assertEq(await dlg.locator('#archive-release').count(), 0, 'no release warning without a release');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'hidden' });
  await go(`/experiments/${REL}`);
  await page.getByRole('button', { name: 'Archive' }).click();
  await dlg.waitFor();
  const said = await text(dlg.locator('#archive-release'));
  assert(/stop getting the released variant short \("short"\)/.test(said) && /code default/.test(said), `the dialog warns about the release: ${said}`);
  await dlg.getByRole('button', { name: 'Archive experiment' }).click();
  await page.locator('h1 .badge', { hasText: 'archived' }).waitFor();
  const a = await admin.post('/assign', { user_id: 'after-archive', experiments: [REL] });
  assertEq(`${a.assignments[REL].variant} ${a.assignments[REL].reason}`, 'control not_running', 'the released variant is no longer served');
  noErrors();
});

T.test('a double-clicked Create key makes one key; the form is empty after', async () => {
  const before = (await admin.get('/keys')).keys.length;
  await go('/keys');
  await page.locator('form.key-form').waitFor();
  // a slow server: the second click lands while the first request runs
  const slow = async (route) => {
    await new Promise((r) => setTimeout(r, 600));
    await route.continue();
  };
  await page.route('**/api/v1/keys', slow);
  try {
    await page.locator('form.key-form').getByLabel('Name').fill('checkout-svc');
    await page.getByRole('button', { name: 'Create key' }).dblclick();
    await page.locator('.new-key', { hasText: 'checkout-svc' }).waitFor();
    await page.waitForTimeout(1000);
  } finally {
    await page.unroute('**/api/v1/keys', slow);
  }
  const keys = (await admin.get('/keys')).keys;
  assertEq(keys.length, before + 1, 'one key created');
  assertEq(keys.filter((k) => k.name === 'checkout-svc').length, 1, 'one checkout-svc key');
  const shown = await page.locator('.new-key input').first().inputValue();
  assertEq(shown.slice(0, 8), keys.find((k) => k.name === 'checkout-svc').prefix, 'the secret shown is the key’s');
  assertEq(await page.locator('form.key-form').getByLabel('Name').inputValue(), '', 'the name emptied');
  noErrors();
});

T.test('an encrypted sdk key: the decryption key is shown, the payload is encrypted', async () => {
  await go('/keys');
  const form = page.locator('form.key-form');
  await form.waitFor();
  const enc = form.getByLabel(/^Encrypt/);
  assert(!(await enc.isVisible()), 'no encrypt box for a viewer key');
  await form.getByLabel('Name').fill('web-sdk');
  await form.getByLabel('Role').selectOption('sdk');
  await enc.check();
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.locator('.new-key', { hasText: 'web-sdk' }).waitFor();
  const inputs = page.locator('.new-key input');
  assertEq(await inputs.count(), 2, 'the key and its decryption key');
  const secret = await inputs.nth(0).inputValue();
  const dec = await inputs.nth(1).inputValue();
  assertEq(Buffer.from(dec, 'base64').length, 16, 'a 16-byte decryption key');
  const res = await fetch(`${daemon.url}/api/features/${secret}`);
  const payload = await res.json();
  assert(typeof payload.encryptedFeatures === 'string' && !('features' in payload), 'the payload is encrypted');
  assert(!(await enc.isVisible()), 'the form is back to a viewer key');
  noErrors();
});

// ------------------------------------------------------------------ main

await run();

// forms_followup.mjs - the metric and saved-group forms keep what a person typed as the
// experiment form does: leaving them with changes asks first (a link, Back), and after a 412
// the latest version comes back with the changes on top (those both sides made shown with
// "Use mine"), never a Reload button that drops them. Sign out asks before dropping changes;
// a key that stops working mid-edit (a 401) keeps them through the sign-in, and the form
// comes back with them on top of the version loaded then (the experiment form too). The power
// calculator plans a decrease-goal metric as a decrease, so its prefill agrees with the
// decision panel. A 409 that names a field (a taken metric key) marks that field. Run
// through run.sh.

import { suite, assert, assertEq, signIn } from './lib.mjs';

const COUNT = 'fu-count';
const GROUP = 'fu-group';
const EXP = 'fu-exp';
const DOWN = 'fu-down';
const CHURN = 'fu-churn';

const { T, daemon, admin, page, go, waitHash, noErrors, text, run } = await suite({ label: 'forms_followup' });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dlg = page.getByRole('dialog');
const note = page.locator('.merge-note');

async function openMetric(key) {
  await go(`/metrics/${key}`);
  await page.locator('form.metric-form').waitFor();
}

async function openGroup(key) {
  await go(`/saved-groups/${key}`);
  await page.locator('form.group-form').waitFor();
}

/** Make the page's key unknown to the server: its next request is a 401. */
async function breakKey() {
  await page.evaluate(() => sessionStorage.setItem('bunsen.apiKey', 'not-a-key-of-this-server'));
}

T.test('metrics, a saved group and experiments (API)', async () => {
  await admin.post('/metrics', { key: COUNT, name: 'Orders', event: 'order', type: 'count', description: 'old' });
  await admin.post('/metrics', { key: CHURN, name: 'Churn', event: 'cancel', type: 'binomial', goal: 'decrease' });
  await admin.post('/saved-groups', { key: GROUP, attribute: 'id', values: ['u1', 'u2'] });
  await admin.post('/experiments', { key: EXP, name: 'Follow-up', variants: [{ key: 'control', weight: 0.5 }, { key: 'b', weight: 0.5 }], owner: 'me@x' });
  // a decrease-goal rate with results: 30 of 100 control users convert
  await admin.post('/experiments', { key: DOWN, name: 'Less churn', variants: [{ key: 'control', weight: 0.5 }, { key: 'b', weight: 0.5 }], metrics: [CHURN], primary_metric: CHURN });
  const st = await admin.post(`/experiments/${DOWN}/start`);
  while (Date.now() < st.started_at + 10) await sleep(5);
  const users = Array.from({ length: 200 }, (_, i) => ({ id: `d-${i}`, variant: i % 2 ? 'b' : 'control' }));
  await admin.post('/exposures', { exposures: users.map((u) => ({ experiment: DOWN, user_id: u.id, variant: u.variant, ts: st.started_at + 1 })) });
  const converted = users.filter((u, i) => (u.variant === 'control' ? i % 20 < 6 : i % 20 < 5));
  await admin.post('/events', { events: converted.map((u) => ({ user_id: u.id, event: 'cancel', ts: st.started_at + 2 })) });
});

T.test('sign in', async () => {
  await go('/experiments');
  await signIn(page, daemon.adminKey);
  noErrors();
});

T.test('the metric form asks before leaving with changes: a link, Back; unchanged it leaves at once', async () => {
  await openMetric(COUNT);
  await page.locator('nav').getByRole('link', { name: 'Saved groups' }).click();
  await waitHash('/saved-groups');
  await openMetric(COUNT);
  await page.getByLabel('Name', { exact: true }).fill('Orders placed');
  await page.locator('nav').getByRole('link', { name: 'Saved groups' }).click();
  await dlg.waitFor();
  assert(/not saved/.test(await text(dlg)), 'the dialog says why');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'detached' });
  await waitHash(`/metrics/${COUNT}`);
  assertEq(await page.getByLabel('Name', { exact: true }).inputValue(), 'Orders placed', 'the change is still there');
  await page.goBack();
  await dlg.waitFor();
  await waitHash(`/metrics/${COUNT}`);
  await dlg.getByRole('button', { name: 'Leave without saving' }).click();
  await dlg.waitFor({ state: 'detached' });
  assertEq((await admin.get(`/metrics/${COUNT}`)).name, 'Orders', 'nothing saved');
  // a new metric with a key typed asks too
  await go('/metrics/new');
  await page.locator('form.metric-form').waitFor();
  await page.getByLabel('Key', { exact: true }).fill('fu-new');
  await page.getByRole('link', { name: 'Cancel' }).click();
  await dlg.getByRole('button', { name: 'Leave without saving' }).click();
  await waitHash('/metrics');
  noErrors();
});

T.test('metric 412: the changes go back on top of the latest version, "Use mine" on a collision; no Reload button', async () => {
  await openMetric(COUNT);
  await admin.patch(`/metrics/${COUNT}`, { name: 'Theirs', description: 'their description' });
  await page.getByLabel('Description').fill('my description');
  await page.getByLabel('Cap per user').fill('50');
  await page.getByRole('button', { name: 'Save metric' }).click();
  await note.waitFor();
  const said = await text(note);
  assert(/Someone else changed this metric/.test(said) && /nothing was saved/.test(said), `says what happened: ${said}`);
  assert(/put back: Cap per user/.test(said), `names what was put back: ${said}`);
  assert(/Description: yours was “my description”/.test(said), `shows the colliding value: ${said}`);
  assertEq(await page.locator('.reload-btn').count(), 0, 'no Reload button that would drop the changes');
  assertEq(await page.getByLabel('Cap per user').inputValue(), '50', 'my cap put back');
  assertEq(await page.getByLabel('Name', { exact: true }).inputValue(), 'Theirs', 'their name shown');
  assertEq(await page.getByLabel('Description').inputValue(), 'their description', 'their description shown');
  await note.getByRole('button', { name: 'Use mine (Description)' }).click();
  assertEq(await page.getByLabel('Description').inputValue(), 'my description', 'mine, on request');
  assertEq(await page.getByLabel('Cap per user').inputValue(), '50', 'the cap stays');
  // still guarded after the merge
  await page.locator('nav').getByRole('link', { name: 'Experiments' }).click();
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Save metric' }).click();
  await waitHash('/metrics');
  const m = await admin.get(`/metrics/${COUNT}`);
  assertEq(`${m.name}|${m.description}|${m.cap}`, 'Theirs|my description|50', 'both sides kept');
  noErrors([/status of 412/]);
});

T.test('saved group: leaving asks; after a 412 the values typed go back on top of the latest version', async () => {
  const values = () => page.getByLabel('Values (one per line)');
  await openGroup(GROUP);
  await values().fill('u1\nu2\nu3');
  await page.locator('nav').getByRole('link', { name: 'Metrics' }).click();
  await dlg.waitFor();
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'detached' });
  assertEq(await values().inputValue(), 'u1\nu2\nu3', 'the values typed stay');
  await admin.patch(`/saved-groups/${GROUP}`, { name: 'Their group', description: 'theirs' });
  await page.getByLabel('Description').fill('mine');
  await page.getByRole('button', { name: 'Save saved group' }).click();
  await note.waitFor();
  const said = await text(note);
  assert(/Someone else changed this saved group/.test(said) && /put back: Values/.test(said), `says what happened: ${said}`);
  assert(/Description: yours was “mine”/.test(said), `the collision: ${said}`);
  assertEq(await page.locator('.reload-btn').count(), 0, 'no Reload button');
  assertEq(await values().inputValue(), 'u1\nu2\nu3', 'my values put back');
  assertEq(await page.getByLabel('Name', { exact: true }).inputValue(), 'Their group', 'their name shown');
  await page.getByRole('button', { name: 'Save saved group' }).click();
  await waitHash('/saved-groups');
  const g = await admin.get(`/saved-groups/${GROUP}`);
  assertEq(`${g.name}|${g.description}|${JSON.stringify(g.values)}`, 'Their group|theirs|["u1","u2","u3"]', 'their name and description, my values');
  noErrors([/status of 412/]);
});

T.test('Sign out asks before dropping changes not saved; without changes it signs out at once', async () => {
  await openMetric(COUNT);
  await page.getByLabel('Name', { exact: true }).fill('About to sign out');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await dlg.waitFor();
  assert(/Sign out without saving/.test(await text(dlg)), `the dialog says what it does: ${await text(dlg)}`);
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'detached' });
  assertEq(await page.locator('#who-role').isVisible(), true, 'still signed in');
  assertEq(await page.getByLabel('Name', { exact: true }).inputValue(), 'About to sign out', 'the change is still there');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await dlg.getByRole('button', { name: 'Sign out without saving' }).click();
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await signIn(page, daemon.adminKey);
  await openMetric(COUNT);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  assertEq(await dlg.count(), 0, 'no question without changes');
  await signIn(page, daemon.adminKey);
  assertEq((await admin.get(`/metrics/${COUNT}`)).name, 'Theirs', 'nothing saved');
  noErrors();
});

T.test('a 401 mid-edit keeps the metric form’s changes: after signing in they are back, on top of the latest version', async () => {
  await openMetric(COUNT);
  await page.getByLabel('Cap per user').fill('75');
  await page.getByLabel('Description').fill('typed before the 401');
  await breakKey();
  await page.getByRole('button', { name: 'Save metric' }).click();
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  const why = await text(page.locator('.alert', { hasText: 'Sign in again' }));
  assert(/changes on this page are not saved yet/.test(why), `the sign-in says the changes are kept: ${why}`);
  // the tab still asks before a reload: the changes live in its memory
  const asked = page.waitForEvent('dialog');
  const reload = page.reload();
  const d = await asked;
  assertEq(d.type(), 'beforeunload', 'the browser asks before a reload');
  await d.dismiss();
  await reload.catch(() => {});
  await admin.patch(`/metrics/${COUNT}`, { name: 'Renamed meanwhile' });
  await signIn(page, daemon.adminKey);
  await note.waitFor();
  const said = await text(note);
  assert(/Your changes are back/.test(said), `says the changes are back: ${said}`);
  await waitHash(`/metrics/${COUNT}`);
  assertEq(await page.getByLabel('Cap per user').inputValue(), '75', 'the cap typed');
  assertEq(await page.getByLabel('Description').inputValue(), 'typed before the 401', 'the description typed');
  assertEq(await page.getByLabel('Name', { exact: true }).inputValue(), 'Renamed meanwhile', 'the latest name');
  await page.getByRole('button', { name: 'Save metric' }).click();
  await waitHash('/metrics');
  const m = await admin.get(`/metrics/${COUNT}`);
  assertEq(`${m.name}|${m.description}|${m.cap}`, 'Renamed meanwhile|typed before the 401|75', 'saved on top of the latest version');
  noErrors([/status of 401/]);
});

T.test('a 401 mid-edit keeps the experiment form’s changes too', async () => {
  await go(`/experiments/${EXP}/edit`);
  await page.locator('form.exp-form').waitFor();
  await page.getByLabel('Owner').fill('kept@x');
  await breakKey();
  await page.getByRole('button', { name: 'Reload the metrics' }).click();
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await signIn(page, daemon.adminKey);
  await note.waitFor();
  assertEq(await page.getByLabel('Owner').inputValue(), 'kept@x', 'the owner typed is back');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await waitHash(`/experiments/${EXP}`);
  assertEq((await admin.get(`/experiments/${EXP}`)).owner, 'kept@x', 'saved');
  noErrors([/status of 401/]);
});

T.test('changes kept through a sign-in that the new key cannot edit are said to be lost, not dropped silently', async () => {
  const viewer = await admin.post('/keys', { name: 'fu viewer', role: 'viewer' });
  await openGroup(GROUP);
  await page.getByLabel('Description').fill('typed by an editor');
  await breakKey();
  await page.getByRole('button', { name: 'Save saved group' }).click();
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await signIn(page, viewer.key);
  await page.locator('.toast', { hasText: 'could not be brought back' }).waitFor();
  assertEq(await page.getByLabel('Description').inputValue(), 'theirs', 'the viewer sees the stored group');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, daemon.adminKey);
  noErrors([/status of 401/]);
});

T.test('the power calculator plans a decrease-goal rate as a decrease: its prefill agrees with the decision panel', async () => {
  const r = await admin.get(`/experiments/${DOWN}/results`);
  const need = r.decision.users_needed_per_variant;
  assert(Number.isInteger(need), `the decision plans users (${JSON.stringify(r.decision)})`);
  const c = r.metrics.find((m) => m.key === CHURN).variants[0];
  const up = await admin.post('/power', { metric_type: 'binomial', baseline: c.mean, mde: r.decision.mde, relative: true, alpha: r.decision.alpha, power: 0.8, variants: 2 });
  assert(up.users_per_variant !== need, `an increase would need another number (${up.users_per_variant} vs ${need})`);
  await go(`/power?experiment=${DOWN}`);
  await page.locator('#pw-context', { hasText: 'Prefilled from' }).waitFor();
  await page.locator('#pw-users').waitFor();
  assertEq(await text(page.locator('#pw-users')), need.toLocaleString('en-US'), 'users per variant = the decision’s users needed');
  assertEq(await page.getByLabel('Direction of the effect').inputValue(), 'decrease', 'the metric’s goal');
  assert(/planned as a decrease/.test(await text(page.locator('#pw-context'))), 'the prefill says so');
  assert(/to \d+(\.\d+)?% \(a decrease\)/.test(await text(page.locator('#pw-target'))), 'the target rate is below the baseline');
  // typed by hand: the direction is the sign the API gets
  await go('/power');
  await page.locator('#pw-users').waitFor();
  await page.getByLabel('Baseline conversion rate (%)').fill('10');
  await page.getByLabel('Minimum detectable effect (% of the baseline)').fill('5');
  await page.getByLabel('Direction of the effect').selectOption('decrease');
  await page.getByRole('button', { name: 'Calculate' }).click();
  const down = await admin.post('/power', { metric_type: 'binomial', baseline: 0.1, mde: -0.05, relative: true, alpha: 0.05, power: 0.8, variants: 2, daily_users: 1000 });
  await page.locator('#pw-users', { hasText: down.users_per_variant.toLocaleString('en-US') }).waitFor();
  // a decrease beyond the whole rate is refused in the page, beside the effect
  await page.getByLabel('Minimum detectable effect (% of the baseline)').fill('120');
  await page.getByRole('button', { name: 'Calculate' }).click();
  await page.locator('.field-error', { hasText: /cannot go below 0%/ }).waitFor();
  assertEq(await page.locator('#pw-users').count(), 0, 'no answer');
  // a control that always converts is a plan for a decrease (1.0 -> 0.95: 152 per variant)
  await page.getByLabel('Baseline conversion rate (%)').fill('100');
  await page.getByLabel('Minimum detectable effect (% of the baseline)').fill('5');
  await page.getByRole('button', { name: 'Calculate' }).click();
  await page.locator('#pw-users', { hasText: /^152$/ }).waitFor();
  noErrors();
});

T.test('a 409 that names a field marks it in the metric form: a taken key at the Key input, not only in the summary', async () => {
  await go('/metrics/new');
  await page.getByRole('heading', { name: 'New metric' }).waitFor();
  await page.getByLabel('Key', { exact: true }).fill(COUNT); // taken
  await page.getByLabel('Name', { exact: true }).fill('Orders again');
  await page.getByLabel('Event name').fill('order');
  await page.getByRole('button', { name: 'Create metric' }).click();
  const key = page.locator('form.metric-form [data-field="key"]');
  await page.locator('form.metric-form [aria-invalid="true"]').first().waitFor();
  assertEq(await key.getAttribute('aria-invalid'), 'true', 'the Key input is marked');
  assert(/already exists/.test(await text(page.locator('.field:has([data-field="key"]) .field-error'))), 'the Key field says the key is taken');
  assert(/already exists/.test(await text(page.locator('.form-errors'))), 'the summary says so too');
  noErrors([/status of 409/]); // the create refused
});

await run();

// experiment_form.mjs - the experiment form keeps what a person typed: forced users follow
// a renamed variant and are never moved to the control when theirs is removed; a stopped
// experiment's frozen fields are locked with the reason (its name still changes); the
// hashed and fallback attributes can be edited on a draft and are locked once started;
// targeting values with leading zeros stay text; a name is at most 200 bytes, not
// characters; leaving a form with changes asks first (a link, Back, reload), the
// create-metric link opens a new tab and the metrics reload in place; after a 412 the
// changes go back on top of the latest version, those both sides made are shown with
// "Use mine", those the new status refuses are named. Run through run.sh.

import { suite, assert, assertEq } from './lib.mjs';

const FORCED = 'fx-forced';
const STOPPED = 'fx-stopped';
const HASH = 'fx-hash';
const RUNNING = 'fx-running';
const STALE = 'fx-stale';
const STARTED = 'fx-started';
const TWO = [{ key: 'control', name: 'Control', weight: 0.5 }, { key: 'treatment', name: 'Treatment', weight: 0.5 }];

const { T, daemon, admin, page, browser, go, waitHash, noErrors, text, run } = await suite({ label: 'experiment_form' });

async function openEdit(key) {
  await go(`/experiments/${key}/edit`);
  await page.locator('form.exp-form').waitFor();
}

async function save(key) {
  await page.getByRole('button', { name: 'Save changes' }).click();
  await waitHash(`/experiments/${key}`);
  await page.locator('h1 .badge').waitFor();
}

/** The PATCHes of experiments the page sends while `fn` runs. */
async function patchesDuring(fn) {
  const sent = [];
  const onReq = (r) => {
    if (r.method() === 'PATCH' && /\/api\/v1\/experiments\//.test(r.url())) sent.push(r.postData());
  };
  page.on('request', onReq);
  try {
    await fn();
  } finally {
    page.off('request', onReq);
  }
  return sent;
}

T.test('metrics and experiments (API)', async () => {
  await admin.post('/metrics', { key: 'orders', event: 'purchase', type: 'count' });
  await admin.post('/metrics', { key: 'visits', event: 'visit', type: 'count' });
  await admin.post('/experiments', {
    key: FORCED, name: 'Forced users',
    variants: [{ key: 'control', weight: 0.4 }, { key: 'a', weight: 0.3 }, { key: 'b', weight: 0.3 }],
    forced: { 'qa-1': 'b', 'qa-2': 'a' },
  });
  await admin.post('/experiments', { key: STOPPED, name: 'Stopped', variants: TWO, metrics: ['orders'], primary_metric: 'orders', targeting: { country: 'NL' } });
  await admin.post(`/experiments/${STOPPED}/start`);
  await admin.post(`/experiments/${STOPPED}/stop`);
  await admin.post('/experiments', { key: HASH, name: 'Hashing', variants: TWO });
  await admin.post('/experiments', { key: RUNNING, name: 'Running by company', variants: TWO, hash_attribute: 'company_id' });
  await admin.post(`/experiments/${RUNNING}/start`);
  await admin.post('/experiments', { key: STALE, name: 'Stale', variants: TWO, owner: 'me@x', description: 'old' });
  await admin.post('/experiments', { key: STARTED, name: 'Started meanwhile', variants: TWO });
});

T.test('sign in', async () => {
  await go('/experiments');
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await page.getByLabel('API key').fill(daemon.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who-role').filter({ hasText: /\w/ }).waitFor();
  noErrors();
});

T.test('a renamed variant keeps its forced users', async () => {
  await openEdit(FORCED);
  const sel1 = page.getByLabel('Forced user 1 variant');
  const shown = async (sel) => sel.evaluate((s) => s.selectedOptions[0].textContent);
  assertEq(await shown(sel1), 'b', 'qa-1 is forced into b');
  // typed one key at a time: "b" -> "" -> "b" -> "be" -> "bee"
  const key3 = page.getByLabel('Variant 3 key');
  await key3.click();
  await key3.press('End');
  await key3.press('Backspace');
  await key3.pressSequentially('bee', { delay: 20 });
  assertEq(await page.getByLabel('Variant 3 key').inputValue(), 'bee', 'the key typed');
  assertEq(await shown(sel1), 'bee', 'qa-1 follows the renamed variant');
  assertEq(await shown(page.getByLabel('Forced user 2 variant')), 'a', 'qa-2 untouched');
  await save(FORCED);
  const x = await admin.get(`/experiments/${FORCED}`);
  assertEq(JSON.stringify(x.forced), '{"qa-1":"bee","qa-2":"a"}', 'the forced users saved with the new key');
  noErrors();
});

T.test('a removed variant leaves its forced users without one: an error, never the control', async () => {
  await openEdit(FORCED);
  await page.getByRole('button', { name: 'Remove variant 3' }).click();
  await page.getByRole('button', { name: 'Split evenly' }).click();
  const sel1 = page.getByLabel('Forced user 1 variant');
  assertEq(await sel1.inputValue(), '', 'no variant chosen for qa-1');
  assertEq(await sel1.evaluate((s) => s.selectedOptions[0].textContent), '(choose a variant)', 'it asks for one');
  const row = page.locator('.forced-row').first();
  assert(/variant was removed/.test(await text(row.locator('.forced-orphan'))), 'the row says why');
  const sent = await patchesDuring(async () => {
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('.form-errors .alert-error').waitFor();
  });
  assertEq(sent.length, 0, 'nothing sent');
  assert(/Choose a variant for the forced user “qa-1”/.test(await text(page.locator('.form-errors'))), 'the summary names the user');
  assertEq(JSON.stringify((await admin.get(`/experiments/${FORCED}`)).forced), '{"qa-1":"bee","qa-2":"a"}', 'unchanged on the server');
  await sel1.selectOption({ label: 'a' });
  assertEq(await row.locator('.forced-orphan').isVisible(), false, 'the error goes once one is chosen');
  await save(FORCED);
  const x = await admin.get(`/experiments/${FORCED}`);
  assertEq(JSON.stringify(x.forced), '{"qa-1":"a","qa-2":"a"}', 'saved with the chosen variant');
  assertEq(x.variants.length, 2, 'the variant removed');
  noErrors();
});

T.test('a stopped experiment: variants, traffic, hashing, targeting, metrics and analysis are locked with the reason; the name changes', async () => {
  await openEdit(STOPPED);
  const notes = await page.locator('.lock-note').allTextContents();
  assertEq(notes.length, 5, `a reason for variants, traffic, targeting, metrics, analysis (${notes.join(' | ')})`);
  assert(notes.every((n) => /stopped/.test(n) && /frozen/.test(n)), `each says the results are frozen: ${notes.join(' | ')}`);
  assert(!(await page.getByLabel('Variant 2 key').isEditable()), 'variant keys read-only');
  assert(!(await page.getByLabel('Variant 2 weight (percent)').isEditable()), 'weights read-only');
  assert(await page.getByLabel('Variant 2 name').isEditable(), 'variant names editable');
  assert(!(await page.getByLabel('Condition as JSON').isEditable()), 'targeting read-only');
  assert(!(await page.getByLabel('Namespace').isEditable()), 'namespace read-only');
  assert(!(await page.getByLabel('Hashed attribute').isEditable()), 'hashed attribute read-only');
  assert(await page.locator('fieldset[data-field="metrics"]').getByLabel(/orders/).isDisabled(), 'metrics locked');
  assert(await page.locator('fieldset[data-field="guardrails"]').getByLabel(/visits/).isDisabled(), 'guardrails locked');
  assert(await page.getByLabel('Primary metric').isDisabled(), 'primary metric locked');
  assert(await page.getByLabel('Method').isDisabled(), 'analysis method locked');
  assert(!(await page.getByLabel('Alpha').isEditable()), 'alpha read-only');
  assert(!(await page.getByLabel('Sequential tuning').isEditable()), 'sequential tuning read-only');
  assert(await page.getByLabel('Coverage').isEnabled(), 'coverage may change once stopped');
  const metricNote = page.locator('.lock-note', { hasText: 'metrics' });
  const noteId = await metricNote.getAttribute('id');
  assert((await page.getByLabel('Primary metric').getAttribute('aria-describedby')).includes(noteId), 'the reason linked to the control');
  await page.getByLabel('Name', { exact: true }).fill('Stopped, renamed');
  await page.getByLabel('Coverage').evaluate((el) => {
    el.value = '30';
    el.dispatchEvent(new Event('input', { bubbles: true }));
  });
  await save(STOPPED);
  const x = await admin.get(`/experiments/${STOPPED}`);
  assertEq(`${x.name} ${x.coverage} ${x.metrics}`, 'Stopped, renamed 0.3 orders', 'the rename and coverage saved, the metrics kept');
  noErrors();
});

T.test('hashing: the hashed and fallback attributes are edited on a draft, locked while running', async () => {
  await openEdit(HASH);
  await page.getByText('Hashing (advanced)').click();
  assertEq(await page.getByLabel('Hashed attribute').inputValue(), 'id', 'the default shown');
  await page.getByLabel('Hashed attribute').fill('x'.repeat(129));
  const sent = await patchesDuring(async () => {
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('.field-error', { hasText: /at most 128 bytes/ }).waitFor();
  });
  assertEq(sent.length, 0, 'a too long attribute is refused in the page');
  await page.getByLabel('Hashed attribute').fill('company_id');
  await page.getByLabel('Fallback attribute').fill('device_id');
  await save(HASH);
  let x = await admin.get(`/experiments/${HASH}`);
  assertEq(`${x.hash_attribute} ${x.fallback_attribute}`, 'company_id device_id', 'both saved');
  // the assignment hashes company_id: two users of one company share a variant
  await admin.post(`/experiments/${HASH}/start`);
  const a = await admin.post('/assign', { user_id: 'u1', attributes: { company_id: 'acme' }, experiments: [HASH], log_exposure: false });
  const b = await admin.post('/assign', { user_id: 'u2', attributes: { company_id: 'acme' }, experiments: [HASH], log_exposure: false });
  assertEq(a.assignments[HASH].variant, b.assignments[HASH].variant, 'one company, one variant');
  // a running experiment's stored attribute: shown, locked with the reason
  await openEdit(RUNNING);
  assert(await page.locator('details.advanced').evaluate((d) => d.open), 'a stored hashed attribute opens the section');
  const attr = page.getByLabel('Hashed attribute');
  assertEq(await attr.inputValue(), 'company_id', 'the stored attribute');
  assert(!(await attr.isEditable()) && !(await page.getByLabel('Fallback attribute').isEditable()), 'read-only while running');
  const note = page.locator('.lock-note', { hasText: 'hashed attribute' });
  assert((await attr.getAttribute('aria-describedby')).includes(await note.getAttribute('id')), 'with the reason');
  x = await admin.get(`/experiments/${RUNNING}`);
  assertEq(x.fallback_attribute, null, 'no fallback stored');
  noErrors();
});

T.test('targeting: values with leading zeros stay text; what is typed as a number is said', async () => {
  await openEdit(STALE);
  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.getByLabel('Rule 1 attribute').fill('zip');
  await page.getByLabel('Rule 1 operator').selectOption('$in');
  await page.getByLabel('Rule 1 value').fill('NL, "Washington, D.C.", 007, 02134, 0, 0.5, 1e3');
  const cond = JSON.parse(await page.getByLabel('Condition as JSON').inputValue());
  assertEq(JSON.stringify(cond.zip.$in), '["NL","Washington, D.C.","007","02134",0,0.5,1000]', 'zeros kept as text');
  const said = await text(page.locator('.rule-typed'));
  assert(/1000 \(a number\)/.test(said) && /quote/.test(said), `the typed values are named: ${said}`);
  await page.getByLabel('Rule 1 value').fill('"1e3", 02134');
  assertEq(await page.locator('.rule-typed').isVisible(), false, 'nothing to say for text only');
  await save(STALE);
  assertEq(JSON.stringify((await admin.get(`/experiments/${STALE}`)).targeting), '{"zip":{"$in":["1e3","02134"]}}', 'saved as text');
  await openEdit(STALE);
  assertEq(await page.getByLabel('Rule 1 value').inputValue(), '"1e3", 02134', 'shown back as typed');
  noErrors();
});

T.test('a name is at most 200 bytes of UTF-8, not 200 characters', async () => {
  await openEdit(STALE);
  await page.getByLabel('Name', { exact: true }).fill('é'.repeat(150));
  const sent = await patchesDuring(async () => {
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('.field-error', { hasText: /200 bytes/ }).waitFor();
  });
  assertEq(sent.length, 0, 'refused in the page');
  assert(/now 300/.test(await text(page.locator('.field-error', { hasText: /200 bytes/ }))), 'says how many bytes it is');
  await page.getByLabel('Name', { exact: true }).fill('é'.repeat(100));
  await save(STALE);
  assertEq((await admin.get(`/experiments/${STALE}`)).name, 'é'.repeat(100), '200 bytes saved');
  await admin.patch(`/experiments/${STALE}`, { name: 'Stale' });
  noErrors();
});

T.test('leaving a changed form asks first: a link, Back, a reload; an unchanged one leaves at once', async () => {
  const dlg = page.getByRole('dialog');
  await openEdit(STALE);
  await page.locator('nav').getByRole('link', { name: 'Metrics' }).click();
  await waitHash('/metrics');
  await go('/experiments');
  await page.locator('#who-role').waitFor();
  await openEdit(STALE);
  await page.getByLabel('Owner').fill('changed@x');
  // a link inside the app
  await page.locator('nav').getByRole('link', { name: 'Metrics' }).click();
  await dlg.waitFor();
  assert(/not saved/.test(await text(dlg)), 'the dialog says why');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'detached' });
  await waitHash(`/experiments/${STALE}/edit`);
  assertEq(await page.getByLabel('Owner').inputValue(), 'changed@x', 'the change is still there');
  // Cancel in the form is a link too
  await page.getByRole('link', { name: 'Cancel' }).click();
  await dlg.waitFor();
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'detached' });
  // Back: the address goes back to the form while the dialog asks
  await page.goBack();
  await dlg.waitFor();
  await waitHash(`/experiments/${STALE}/edit`);
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'detached' });
  assertEq(await page.getByLabel('Owner').inputValue(), 'changed@x', 'still there after Back');
  // reloading the tab: the browser's own question
  const asked = page.waitForEvent('dialog');
  const reload = page.reload();
  const d = await asked;
  assertEq(d.type(), 'beforeunload', 'the browser asks before a reload');
  await d.dismiss();
  await reload.catch(() => {});
  assertEq(await page.getByLabel('Owner').inputValue(), 'changed@x', 'still there after a refused reload');
  // leaving for real
  await page.locator('nav').getByRole('link', { name: 'Metrics' }).click();
  await dlg.getByRole('button', { name: 'Leave without saving' }).click();
  await waitHash('/metrics');
  await page.locator('#metrics-table').waitFor();
  assertEq((await admin.get(`/experiments/${STALE}`)).owner, 'me@x', 'nothing saved');
  noErrors();
});

T.test('the create-metric link opens a new tab; the metrics reload without losing what was typed', async () => {
  await openEdit(STALE);
  await page.getByLabel('Owner').fill('kept@x');
  const link = page.locator('.metric-missing').getByRole('link', { name: 'Create a metric' });
  assertEq(await link.getAttribute('target'), '_blank', 'a new tab');
  const [tab] = await Promise.all([browser.context.waitForEvent('page'), link.click()]);
  await tab.waitForLoadState();
  assert(/#\/metrics\/new$/.test(tab.url()), `the new tab shows the metric form (${tab.url()})`);
  // signed in: the tab got this one's session (rel=opener), not the sign-in form
  await tab.getByRole('heading', { name: 'New metric' }).waitFor();
  assertEq(await tab.locator('#who-role').textContent(), 'admin', 'the new tab is signed in');
  await tab.close();
  await waitHash(`/experiments/${STALE}/edit`);
  await admin.post('/metrics', { key: 'signups', event: 'signup', type: 'count' });
  await page.getByRole('button', { name: 'Reload the metrics' }).click();
  await page.locator('fieldset[data-field="metrics"]').getByLabel(/signups/).check();
  assertEq(await page.getByLabel('Owner').inputValue(), 'kept@x', 'the owner typed before the reload');
  await save(STALE);
  const x = await admin.get(`/experiments/${STALE}`);
  assertEq(`${x.owner} ${x.metrics}`, 'kept@x signups', 'both saved');
  await admin.patch(`/experiments/${STALE}`, { owner: 'me@x' });
  // a new experiment too: the key typed stays through the reload, and still asks on leaving
  await go('/experiments/new');
  await page.locator('form.exp-form').waitFor();
  await page.getByLabel('Key', { exact: true }).fill('fx-new');
  await page.getByRole('button', { name: 'Reload the metrics' }).click();
  await page.locator('fieldset[data-field="metrics"]').getByLabel(/signups/).waitFor();
  assertEq(await page.getByLabel('Key', { exact: true }).inputValue(), 'fx-new', 'the key typed kept');
  await page.locator('nav').getByRole('link', { name: 'Experiments' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Leave without saving' }).click();
  await waitHash('/experiments');
  noErrors();
});

T.test('412: the changes go back on top of the latest version; both sides’ changes offer "Use mine"', async () => {
  await openEdit(STALE);
  await admin.patch(`/experiments/${STALE}`, { name: 'Theirs', owner: 'them@x' });
  await page.getByLabel('Owner').fill('mine@x');
  await page.getByLabel('Description').fill('my description');
  await page.getByRole('button', { name: 'Save changes' }).click();
  const note = page.locator('.merge-note');
  await note.waitFor();
  const said = await text(note);
  assert(/Someone else changed this experiment/.test(said) && /nothing was saved/.test(said), `says what happened: ${said}`);
  assert(/put back: Description/.test(said), `names what was put back: ${said}`);
  assert(/Owner: yours was “mine@x”/.test(said), `shows the colliding value: ${said}`);
  assertEq(await page.getByLabel('Description').inputValue(), 'my description', 'my description put back');
  assertEq(await page.getByLabel('Name', { exact: true }).inputValue(), 'Theirs', 'their name shown');
  assertEq(await page.getByLabel('Owner').inputValue(), 'them@x', 'their owner shown');
  await page.getByLabel('Hypothesis').fill('typed after');
  await note.getByRole('button', { name: 'Use mine (Owner)' }).click();
  assertEq(await page.getByLabel('Owner').inputValue(), 'mine@x', 'mine, on request');
  assertEq(await page.getByLabel('Hypothesis').inputValue(), 'typed after', 'what was typed after the 412 stays');
  await save(STALE);
  const x = await admin.get(`/experiments/${STALE}`);
  assertEq(`${x.name}|${x.owner}|${x.description}|${x.hypothesis}`, 'Theirs|mine@x|my description|typed after', 'both sides kept');
  noErrors([/status of 412/]);
});

T.test('412 after a start: the changes the running experiment refuses are named, the rest put back', async () => {
  await openEdit(STARTED);
  await admin.post(`/experiments/${STARTED}/start`);
  await page.getByLabel('Variant 2 weight (percent)').fill('60');
  await page.getByLabel('Variant 1 weight (percent)').fill('40');
  await page.getByLabel('Hypothesis').fill('bigger is better');
  await page.getByRole('button', { name: 'Save changes' }).click();
  const note = page.locator('.merge-note');
  await note.waitFor();
  const said = await text(note);
  assert(/Not put back:/.test(said) && /Variants \(the experiment is now running: variant keys and weights cannot change\)/.test(said), `names the refused change: ${said}`);
  assertEq(await page.getByLabel('Variant 2 weight (percent)').inputValue(), '50', 'the stored weight shown');
  assert(!(await page.getByLabel('Variant 2 weight (percent)').isEditable()), 'and locked');
  assertEq(await page.getByLabel('Hypothesis').inputValue(), 'bigger is better', 'the hypothesis put back');
  await save(STARTED);
  const x = await admin.get(`/experiments/${STARTED}`);
  assertEq(`${x.status} ${x.hypothesis} ${x.variants[1].weight}`, 'running bigger is better 0.5', 'saved');
  noErrors([/status of 412/]);
});

await run();

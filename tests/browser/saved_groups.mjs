// saved_groups.mjs - the Saved groups page (views/saved_groups.js): a group created in
// the page (a comma-separated paste split into lines) and used by an experiment's
// targeting through the rule editor's "is in saved group", checked with /assign for a
// member and a non-member; values edited in the page change who is in; numbers versus
// text as the API stores them; the Start dialog's missing-group error links to the page;
// the page's own checks and the server's 4xx messages beside the values; a group of
// 100,000 values without 100,000 elements; a viewer reads only; delete refused (409)
// while a running experiment uses the group, then done; the audit filter. Run through
// run.sh (its own daemon and Chromium).

import { suite, signIn, watchPage, assert, assertEq } from './lib.mjs';

const GROUP = 'beta-testers';
const EXP = 'beta-banner';
const MISSING = 'vip-accounts';
const VIP_EXP = 'vip-offer';
const BIG = 'big-accounts';

const { T, daemon, admin, browser, page, go, goDiscarding, waitHash, noErrors, text, run } = await suite({ label: 'saved_groups' });

/** /assign for one user (no exposure logged): is the user in EXP? */
async function inExp(exp, userId, attributes = {}) {
  const r = await admin.post('/assign', { user_id: userId, attributes, experiments: [exp], log_exposure: false });
  return r.assignments[exp].in_experiment;
}

const form = () => page.locator('form.group-form');
const values = () => form().getByLabel('Values (one per line)');
const count = () => form().locator('.values-count');

/**
 * Put `text` into the values box at once, as a paste does (Playwright's fill() types
 * into the editing pipeline and needs minutes for a megabyte).
 */
async function paste(text) {
  await values().evaluate((el, v) => {
    el.value = v;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, text);
}

async function openGroup(key) {
  await go(`/saved-groups/${key}`);
  await form().waitFor();
}

T.test('sign in; the nav has Saved groups; the list is empty', async () => {
  await go('/saved-groups');
  await signIn(page, daemon.adminKey);
  await page.getByRole('heading', { name: 'Saved groups' }).waitFor();
  assertEq(await page.locator('#nav a[data-nav="saved-groups"]').getAttribute('aria-current'), 'page', 'the nav entry is current');
  await page.getByText('No saved groups yet.').waitFor();
  noErrors();
});

T.test('create a group in the page from a comma-separated paste', async () => {
  await page.getByRole('link', { name: 'New saved group' }).click();
  await form().waitFor();
  await form().getByLabel('Key', { exact: true }).fill(GROUP);
  await form().getByLabel('Name', { exact: true }).fill('Beta testers');
  assertEq(await form().getByLabel('Attribute', { exact: true }).inputValue(), 'id', 'the attribute defaults to id');
  await form().getByLabel('Description', { exact: true }).fill('People who asked for early features');
  await values().fill('u-1, u-2,u-3');
  await page.getByRole('button', { name: 'Split commas into lines' }).click();
  assertEq(await values().inputValue(), 'u-1\nu-2\nu-3', 'one value per line');
  assert((await text(count())).startsWith('3 values'), `the count: ${await text(count())}`);
  assert(await form().getByLabel(/^Text/).isChecked(), 'text values by default');
  await page.getByRole('button', { name: 'Create saved group' }).click();
  await waitHash('/saved-groups');
  const row = page.locator(`#groups-table tr[data-key="${GROUP}"]`);
  await row.waitFor();
  assertEq(await text(row.locator('td[data-label="Values"]')), '3', 'the list counts the values');
  assertEq(await text(row.locator('td[data-label="Attribute"]')), 'id', 'the list shows the attribute');
  assert(/UTC$/.test(await text(row.locator('td[data-label="Updated"]'))), 'the list shows when it was updated');
  const g = await admin.get(`/saved-groups/${GROUP}`);
  assertEq(JSON.stringify(g.values), '["u-1","u-2","u-3"]', 'stored as strings');
  assertEq(g.name, 'Beta testers', 'the name');
  assertEq(g.description, 'People who asked for early features', 'the description');
  noErrors();
});

T.test('targeting "is in saved group" in the experiment form; /assign for a member and a non-member', async () => {
  const variants = [{ key: 'control', weight: 0.5 }, { key: 'banner', weight: 0.5 }];
  await admin.post('/experiments', { key: EXP, name: 'Beta banner', variants });
  await go(`/experiments/${EXP}/edit`);
  await page.locator('form.exp-form').waitFor();
  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.getByLabel('Rule 1 attribute').fill('id');
  await page.getByLabel('Rule 1 operator').selectOption('$inGroup');
  await page.getByLabel('Rule 1 value').fill('no-such-group');
  await page.locator('.group-missing', { hasText: 'no-such-group' }).waitFor();
  const create = page.locator('.group-missing a');
  assertEq(await create.getAttribute('href'), '#/saved-groups/new?key=no-such-group', 'a link creates the missing group');
  await page.getByLabel('Rule 1 value').fill(GROUP);
  await page.locator('.group-missing a').waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Save changes' }).click();
  await waitHash(`/experiments/${EXP}`);
  const x = await admin.get(`/experiments/${EXP}`);
  assertEq(JSON.stringify(x.targeting), JSON.stringify({ id: { $inGroup: GROUP } }), 'the targeting saved');
  await admin.post(`/experiments/${EXP}/start`);
  assertEq(await inExp(EXP, 'u-2'), true, 'a member is in');
  assertEq(await inExp(EXP, 'u-9'), false, 'a non-member is out');
  noErrors();
});

T.test('edit the values in the page: the change reaches /assign', async () => {
  await openGroup(GROUP);
  assertEq(await values().inputValue(), 'u-1\nu-2\nu-3', 'the stored values, one per line');
  await page.locator('.used-by').waitFor();
  assert((await text(page.locator('.used-by'))).includes('Beta banner'), 'used by the experiment');
  await values().fill('u-1\nu-3\nu-9\n');
  await page.getByRole('button', { name: 'Save saved group' }).click();
  await waitHash('/saved-groups');
  const g = await admin.get(`/saved-groups/${GROUP}`);
  assertEq(JSON.stringify(g.values), '["u-1","u-3","u-9"]', 'the values saved');
  assertEq(g.name, 'Beta testers', 'the name untouched');
  assertEq(await inExp(EXP, 'u-9'), true, 'the added user is in');
  assertEq(await inExp(EXP, 'u-2'), false, 'the removed user is out');
  noErrors();
});

T.test('the Start dialog links a missing group to the page; numbers are stored as numbers', async () => {
  const variants = [{ key: 'control', weight: 0.5 }, { key: 'offer', weight: 0.5 }];
  await admin.post('/experiments', { key: VIP_EXP, name: 'VIP offer', variants, targeting: { account_id: { $inGroup: MISSING } } });
  await go(`/experiments/${VIP_EXP}`);
  await page.locator('button[data-action="start"]').click();
  await page.getByRole('button', { name: 'Start experiment' }).click();
  const err = page.locator('dialog .dialog-error');
  await err.getByText(`saved group “${MISSING}”, which does not exist`, { exact: false }).waitFor();
  assert(!(await text(err)).includes('POST /api/v1'), 'no API instructions in the dashboard');
  await err.getByRole('link', { name: `Create saved group “${MISSING}”` }).click();
  await waitHash('/saved-groups/new');
  await form().waitFor();
  assertEq(await page.locator('dialog').count(), 0, 'the dialog closed');
  assertEq(await form().getByLabel('Key', { exact: true }).inputValue(), MISSING, 'the key filled in');
  await form().getByLabel('Attribute', { exact: true }).fill('account_id');
  await form().getByLabel(/^Numbers/).check();
  await values().fill('42\n7\nabc\n9007199254740993');
  await page.getByRole('button', { name: 'Create saved group' }).click();
  // the page's own checks: nothing sent, every problem beside the field
  const msg = form().locator('.field-error');
  await msg.first().waitFor();
  const m = await text(msg);
  assert(m.includes('line 3: “abc” is not a number'), `the bad line named: ${m}`);
  assert(m.includes('line 4'), `the unsafe integer named: ${m}`);
  assertEq(await values().getAttribute('aria-invalid'), 'true', 'the values marked invalid');
  let missing = null;
  try {
    await admin.get(`/saved-groups/${MISSING}`);
  } catch (e) {
    missing = e.message;
  }
  assert(missing && missing.includes('404'), 'nothing was created');
  await values().fill('42\n7');
  await page.getByRole('button', { name: 'Create saved group' }).click();
  await waitHash('/saved-groups');
  const g = await admin.get(`/saved-groups/${MISSING}`);
  assertEq(JSON.stringify(g.values), '[42,7]', 'stored as numbers');
  await admin.post(`/experiments/${VIP_EXP}/start`);
  assertEq(await inExp(VIP_EXP, 'a', { account_id: 42 }), true, 'the number 42 is in');
  assertEq(await inExp(VIP_EXP, 'b', { account_id: '42' }), false, 'the string "42" is not');
  noErrors([/status of 400/]);
});

T.test('the server’s 4xx message is shown beside the values', async () => {
  // a value the page would refuse, slipped into the request: the server's 400 and its line
  await openGroup(GROUP);
  await values().fill('u-1\nu-2');
  const inject = async (route) => {
    const body = JSON.parse(route.request().postData());
    body.values[1] = { not: 'a value' };
    await route.continue({ postData: JSON.stringify(body) });
  };
  await page.route(`**/api/v1/saved-groups/${GROUP}`, inject);
  try {
    await page.getByRole('button', { name: 'Save saved group' }).click();
    const msg = form().locator('.field-error');
    await msg.waitFor();
    assertEq(await text(msg), 'Line 2: values[1] must be a string or a finite number', 'the server’s message, with the line');
    assertEq(await values().getAttribute('aria-invalid'), 'true', 'the values marked invalid');
  } finally {
    await page.unroute(`**/api/v1/saved-groups/${GROUP}`, inject);
  }
  assertEq(JSON.stringify((await admin.get(`/saved-groups/${GROUP}`)).values), '["u-1","u-3","u-9"]', 'nothing saved');
  // 100,000 text values of 11 bytes (~1.4 MB) are saved: a group's body may take 8 MiB
  await goDiscarding('/saved-groups/new'); // the values typed are not saved: leaving asks
  await form().waitFor();
  await form().getByLabel('Key', { exact: true }).fill('long-ids');
  const many = Array.from({ length: 100000 }, (_, i) => `user-${String(i).padStart(6, '0')}`).join('\n');
  await paste(many);
  await count().filter({ hasText: '100,000 values' }).waitFor();
  assert(!(await text(count())).includes('413'), `no size warning under 8 MiB: ${await text(count())}`);
  await page.getByRole('button', { name: 'Create saved group' }).click();
  await page.locator('#groups-table').waitFor();
  assertEq((await admin.get('/saved-groups/long-ids')).values.length, 100000, 'all saved');
  // a 413 (a body over the server's limit) is shown beside the values
  await go('/saved-groups/new');
  await form().waitFor();
  await form().getByLabel('Key', { exact: true }).fill('too-big');
  await paste('a\nb');
  const refuse = (route) => route.fulfill({ status: 413, contentType: 'application/json',
    body: JSON.stringify({ error: { code: 'payload_too_large', message: 'the body exceeds the limit of 8388608 bytes' } }) });
  await page.route('**/api/v1/saved-groups', refuse);
  try {
    await page.getByRole('button', { name: 'Create saved group' }).click();
    const big = form().locator('.field-error');
    await big.waitFor();
    assert(/the body exceeds the limit of \d+ bytes/.test(await text(big)), `the 413 beside the values: ${await text(big)}`);
  } finally {
    await page.unroute('**/api/v1/saved-groups', refuse);
  }
  await goDiscarding('/saved-groups');
  noErrors([/status of 400/, /status of 413/]);
});

T.test('100,000 values: a count, one textarea, no element per value', async () => {
  await go('/saved-groups/new');
  await form().waitFor();
  await form().getByLabel('Key', { exact: true }).fill(BIG);
  await form().getByLabel('Attribute', { exact: true }).fill('account_id');
  await form().getByLabel(/^Numbers/).check();
  const nums = Array.from({ length: 100001 }, (_, i) => 100000 + i);
  await paste(nums.join('\n'));
  await count().filter({ hasText: '100,001 values' }).waitFor();
  await page.getByRole('button', { name: 'Create saved group' }).click();
  await form().locator('.field-error', { hasText: 'at most 100,000 values; this list has 100,001' }).waitFor();
  const t1 = Date.now();
  await paste(nums.slice(0, 100000).join('\n'));
  await count().filter({ hasText: '100,000 values' }).waitFor();
  const checkMs = Date.now() - t1;
  // measured, not asserted (no timed assertions in tests: the machine is shared)
  console.log(`# 100,000 values counted and checked in ${checkMs} ms`);
  await page.getByRole('button', { name: 'Create saved group' }).click();
  await waitHash('/saved-groups');
  await page.locator(`#groups-table tr[data-key="${BIG}"] td[data-label="Values"]`, { hasText: '100,000' }).waitFor();
  assertEq((await admin.get(`/saved-groups/${BIG}`)).values.length, 100000, 'all stored');
  const t0 = Date.now();
  await openGroup(BIG);
  await page.locator('p.muted.small', { hasText: '100,000 values' }).waitFor();
  const ms = Date.now() - t0;
  console.log(`# the page with 100,000 values opened in ${ms} ms`);
  const nodes = await page.evaluate(() => document.getElementsByTagName('*').length);
  assert(nodes < 1000, `${nodes} elements on the page`);
  assertEq((await values().inputValue()).split('\n').length, 100000, 'the values in the textarea');
  // the page answers while it holds them: typing updates the count
  await values().press('Control+End');
  await page.keyboard.type('\n3');
  await count().filter({ hasText: '100,001 values' }).waitFor();
  await goDiscarding('/saved-groups'); // the value typed is not saved: leaving asks
  noErrors();
});

T.test('a viewer reads saved groups and cannot change them', async () => {
  const viewerKey = (await admin.post('/keys', { name: 'group-viewer', role: 'viewer' })).key;
  const vp = await browser.context.newPage();
  const vw = watchPage(vp);
  try {
    await go('/saved-groups', vp);
    await signIn(vp, viewerKey);
    await vp.locator(`#groups-table tr[data-key="${GROUP}"]`).waitFor();
    assertEq(await vp.getByRole('link', { name: 'New saved group' }).count(), 0, 'no New saved group');
    await go(`/saved-groups/${GROUP}`, vp);
    const f = vp.locator('form.group-form');
    await f.waitFor();
    await vp.getByText('Read-only: your role cannot change saved groups.').waitFor();
    assert(await f.getByLabel('Values (one per line)').evaluate((el) => el.readOnly), 'the values are read-only');
    assert(await f.getByLabel('Name', { exact: true }).evaluate((el) => el.readOnly), 'the name is read-only');
    assert(await f.getByLabel(/^Numbers/).isDisabled(), 'the value type is fixed');
    assertEq(await vp.getByRole('button', { name: /Save|Delete|Split/ }).count(), 0, 'no save, delete or split');
    await go('/saved-groups/new', vp);
    await vp.getByRole('heading', { name: 'Not allowed' }).waitFor();
    const bad = vw.take();
    assert(bad.length === 0, `viewer page errors: ${bad.map((e) => e.text).join('; ')}`);
  } finally {
    await vp.close();
  }
  noErrors();
});

T.test('delete: 409 while a running experiment uses it, then deleted; the audit filter', async () => {
  await openGroup(GROUP);
  await page.getByRole('button', { name: 'Delete' }).click();
  const dlg = page.locator('dialog');
  assert((await text(dlg)).includes('running experiment “beta-banner”'), 'the dialog says who uses it');
  await dlg.getByRole('button', { name: 'Delete saved group' }).click();
  await dlg.locator('.dialog-error', { hasText: 'is used by the targeting of' }).waitFor();
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  assertEq((await admin.get(`/saved-groups/${GROUP}`)).key, GROUP, 'still there');
  await admin.post(`/experiments/${EXP}/stop`);
  await openGroup(GROUP);
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.locator('dialog').getByRole('button', { name: 'Delete saved group' }).click();
  await waitHash('/saved-groups');
  await page.locator('#groups-table').waitFor();
  assertEq(await page.locator(`#groups-table tr[data-key="${GROUP}"]`).count(), 0, 'gone from the list');
  let gone = null;
  try {
    await admin.get(`/saved-groups/${GROUP}`);
  } catch (e) {
    gone = e.message;
  }
  assert(gone && gone.includes('404'), 'gone from the API');
  await go('/audit');
  await page.locator('#au-type').selectOption('saved_group');
  await page.getByRole('button', { name: 'Filter' }).click();
  // the filtered table replaces the unfiltered one: wait for it, not for any first row (the
  // unfiltered rows, or a table being replaced, read as no actions at all under load)
  await page.waitForFunction(() => {
    const a = [...document.querySelectorAll('#audit-table tbody td[data-label="Action"]')].map((e) => e.textContent);
    return a.length > 0 && a.every((x) => x.startsWith('saved_group.')) && a.includes('saved_group.delete');
  }, null, { timeout: 20000 }).catch(() => {});
  const actions = await page.locator('#audit-table tbody td[data-label="Action"]').allTextContents();
  assert(actions.includes('saved_group.delete') && actions.includes('saved_group.create') && actions.includes('saved_group.update'), `the audit: ${actions.join(', ')}`);
  assert(actions.every((a) => a.startsWith('saved_group.')), 'only saved groups');
  noErrors([/status of 409/]);
});

// ------------------------------------------------------------------ main

await run();

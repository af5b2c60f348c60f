// lifecycle33.mjs - the s33 journey review's F3 and F4: the Archive dialog says the value
// /assign answers once archived (the default value, else the control's value, else its key)
// and the released variant's value to put in the services' code, and /assign agrees; the
// Stop and Record conclusion dialogs warn, without blocking, when "Won" goes with the
// control released or nothing released. And the conclusion's winner (s35): the Stop and
// Record conclusion dialogs' "Winner" select, shown and enabled only with "Won", starts at the
// released variant (and follows it until picked by hand), and the page says "Won: <name>".
// Run through run.sh.

import { suite, assert, assertEq, signIn } from './lib.mjs';

const { T, daemon, admin, page, go, noErrors, text, run } = await suite({ label: 'lifecycle33' });

const dlg = page.locator('dialog[open]');
const typed = [{ key: 'control', value: 10 }, { key: 'more', value: 20 }];

async function stopped(key, body, release) {
  await admin.post('/experiments', { key, ...body });
  await admin.post(`/experiments/${key}/start`);
  await admin.post(`/experiments/${key}/stop`, release ? { release } : {});
}

async function archiveSays(key) {
  await go(`/experiments/${key}`);
  await page.locator('.lifecycle button', { hasText: 'Archive' }).click();
  await dlg.waitFor();
  return text(dlg);
}

async function archiveAndAssign(key) {
  await dlg.getByRole('button', { name: 'Archive experiment' }).click();
  await page.locator('h1 .badge', { hasText: 'archived' }).waitFor();
  const a = await admin.post('/assign', { user_id: 'after-archive', experiments: [key] });
  return a.assignments[key];
}

T.test('setup (API) and sign in', async () => {
  await stopped('lc-default', { variants: typed, default_value: 5 }, 'more');
  await stopped('lc-typed', { variants: typed }, 'more');
  await stopped('lc-keys', { variants: [{ key: 'a' }, { key: 'b' }] }, null);
  await stopped('lc-obj', { variants: [{ key: 'off', value: { n: 1 } }, { key: 'on', value: { n: 2 } }] }, 'on');
  await go('/experiments');
  await signIn(page, daemon.adminKey);
  noErrors();
});

T.test('archive, released, default_value: /assign answers the default value; ship the released value', async () => {
  const said = await archiveSays('lc-default');
  assert(said.includes('/assign answers the default value (5), forced users included'), said);
  assert(said.includes('Make 20 (variant more) the default in the services’ code'), said);
  assert(said.includes('the released variant more (20)'), said);
  assert(!said.includes('the control (control)'), said);
  const a = await archiveAndAssign('lc-default');
  assertEq(`${a.reason} ${JSON.stringify(a.value)}`, 'not_running 5', 'what /assign answers');
  noErrors();
});

T.test('archive, released, typed values, no default_value: the control’s value', async () => {
  const said = await archiveSays('lc-typed');
  assert(said.includes('/assign answers the control’s value (10), forced users included'), said);
  assert(said.includes('Make 20 (variant more) the default'), said);
  const a = await archiveAndAssign('lc-typed');
  assertEq(`${a.reason} ${JSON.stringify(a.value)}`, 'not_running 10', 'what /assign answers');
  noErrors();
});

T.test('archive, released, object values: JSON-rendered', async () => {
  const said = await archiveSays('lc-obj');
  assert(said.includes('/assign answers the control’s value ({"n":1})'), said);
  assert(said.includes('Make {"n":2} (variant on) the default'), said);
  const a = await archiveAndAssign('lc-obj');
  assertEq(JSON.stringify(a.value), '{"n":1}', 'what /assign answers');
  noErrors();
});

T.test('archive, no release, no values: the control’s key', async () => {
  const said = await archiveSays('lc-keys');
  assertEq(await dlg.locator('#archive-release').count(), 0, 'no release warning without a release');
  assert(said.includes('/assign answers the control’s key ("a"), forced users included'), said);
  const a = await archiveAndAssign('lc-keys');
  assertEq(`${a.reason} ${JSON.stringify(a.value)}`, 'not_running "a"', 'what /assign answers');
  noErrors();
});

T.test('Stop dialog: "Won" with the control or no release warns before submit, and does not block', async () => {
  await admin.post('/experiments', { key: 'lc-won', variants: typed, default_value: 5 });
  await admin.post('/experiments/lc-won/start');
  await go('/experiments/lc-won');
  await page.locator('.lifecycle button', { hasText: 'Stop' }).click();
  await dlg.waitFor();
  const warn = dlg.locator('.won-warning');
  assert(!(await warn.isVisible()), 'no warning before an outcome is chosen');
  await dlg.getByLabel(/^Won/).check();
  await warn.waitFor();
  let said = await text(warn);
  assert(said.startsWith('Won, but no variant is released: /assign answers the default value (5)'), said);
  assert(said.includes('Did you mean Lost or Inconclusive, or to release the variant that won?'), said);
  await dlg.locator('select[name="release"]').selectOption('control');
  said = await text(warn);
  assert(said.startsWith('Won, but the control (control) is released'), said);
  await dlg.locator('select[name="release"]').selectOption('more');
  await warn.waitFor({ state: 'hidden' });
  await dlg.locator('select[name="release"]').selectOption('control');
  await warn.waitFor();
  await dlg.getByLabel(/^Lost/).check();
  await warn.waitFor({ state: 'hidden' });
  await dlg.getByLabel(/^Won/).check();
  await warn.waitFor();
  // a warning, not a block: it stops as asked
  await dlg.getByRole('button', { name: 'Stop experiment' }).click();
  await page.locator('h1 .badge', { hasText: 'stopped' }).waitFor();
  const x = await admin.get('/experiments/lc-won');
  assertEq(`${x.released_variant} ${x.conclusion.outcome}`, 'control won', 'stopped as asked');
  noErrors();
});

T.test('Record conclusion on a stopped experiment with the control released: "Won" warns', async () => {
  await go('/experiments/lc-won');
  await page.getByRole('button', { name: 'Edit conclusion' }).click();
  await dlg.waitFor();
  const warn = dlg.locator('.won-warning');
  await warn.waitFor();
  const said = await text(warn);
  assert(said.startsWith('Won, but the control (control) is released'), said);
  assert(said.endsWith('Did you mean Lost or Inconclusive?'), said);
  await dlg.getByLabel(/^Inconclusive/).check();
  await warn.waitFor({ state: 'hidden' });
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  noErrors();
});

T.test('Stop dialog: the Winner select shows with "Won" only, follows the release, and the page says "Won: <name>"', async () => {
  await admin.post('/experiments', {
    key: 'lc-winner',
    variants: [{ key: 'control', name: 'Control' }, { key: 'more', name: 'More items' }, { key: 'fewer', name: 'Fewer items' }],
  });
  await admin.post('/experiments/lc-winner/start');
  await go('/experiments/lc-winner');
  await page.locator('.lifecycle button', { hasText: 'Stop' }).click();
  await dlg.waitFor();
  const winner = dlg.locator('select[name="winner"]');
  assert(!(await winner.isVisible()), 'no Winner select before an outcome is chosen');
  await dlg.locator('select[name="release"]').selectOption('more');
  await dlg.getByLabel(/^Lost/).check();
  assert(!(await winner.isVisible()), 'no Winner select with Lost');
  await dlg.getByLabel(/^Won/).check();
  await winner.waitFor();
  assert(await winner.isEnabled(), 'enabled with Won');
  assertEq(await winner.inputValue(), 'more', 'the released variant preselected');
  await dlg.locator('select[name="release"]').selectOption('fewer');
  assertEq(await winner.inputValue(), 'fewer', 'follows the release until picked by hand');
  await dlg.getByLabel('Winner').selectOption('more');
  await dlg.locator('select[name="release"]').selectOption('control');
  assertEq(await winner.inputValue(), 'more', 'a winner picked by hand stays');
  await dlg.locator('select[name="release"]').selectOption('fewer');
  await dlg.getByRole('button', { name: 'Stop experiment' }).click();
  await page.locator('h1 .badge', { hasText: 'stopped' }).waitFor();
  const x = await admin.get('/experiments/lc-winner');
  assertEq(`${x.released_variant} ${x.conclusion.outcome} ${x.conclusion.winner}`, 'fewer won more', 'stopped as chosen');
  assertEq(await text(page.locator('#conclusion .outcome')), 'Won: More items', 'the winner on the page');
  noErrors();
});

T.test('Record conclusion: the recorded winner preselected, changed, and gone with another outcome', async () => {
  await go('/experiments/lc-winner');
  await page.getByRole('button', { name: 'Edit conclusion' }).click();
  await dlg.waitFor();
  const winner = dlg.locator('select[name="winner"]');
  await winner.waitFor();
  assertEq(await winner.inputValue(), 'more', 'the recorded winner, not the released variant');
  await dlg.getByLabel(/^Inconclusive/).check();
  await winner.waitFor({ state: 'hidden' });
  assert(await winner.isDisabled(), 'disabled without Won');
  await dlg.getByLabel(/^Won/).check();
  await winner.waitFor();
  await dlg.getByLabel('Winner').selectOption('control');
  await dlg.getByRole('button', { name: 'Save conclusion' }).click();
  await page.locator('#conclusion .outcome', { hasText: 'Won: Control' }).waitFor();
  assertEq((await admin.get('/experiments/lc-winner')).conclusion.winner, 'control', 'changed in the API');
  await page.getByRole('button', { name: 'Edit conclusion' }).click();
  await dlg.waitFor();
  await dlg.getByLabel(/^Lost/).check();
  await dlg.getByRole('button', { name: 'Save conclusion' }).click();
  await page.locator('#conclusion .outcome', { hasText: 'Lost' }).waitFor();
  const c = (await admin.get('/experiments/lc-winner')).conclusion;
  assertEq(`${c.outcome} ${c.winner}`, 'lost null', 'no winner with Lost');
  noErrors();
});

await run();

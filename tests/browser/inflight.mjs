// inflight.mjs - the dashboard while a request is still on its way (a slow server) or
// comes back 412 or 401: a lifecycle dialog cannot be cancelled once its request is sent
// (it says "Stopping…"), and the page shows the server's state once the answer is in,
// even after leaving; a 412 keeps what was chosen and offers "Stop anyway"; a 401 closes
// the dialog, the sign-in form works, and the dialog comes back filled in. A form left
// while its save is under way does not pull the person back afterwards. Run through run.sh.

import { suite, assert, assertEq, signIn } from './lib.mjs';

const { T, daemon, admin, page, go, waitHash, noErrors, text, run } = await suite({ label: 'inflight' });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dlg = page.locator('dialog[open]');
const two = [{ key: 'control', weight: 0.5 }, { key: 'b', weight: 0.5 }];

/**
 * Hold the requests to `glob` before they reach the daemon until `release()`: the request is
 * on its way for as long as the scenario needs, however slow the machine (a fixed delay ran
 * out before the checks on a loaded one). `lift()` releases and removes the route. A request
 * the handler `pass`es (a GET the form reads) goes on at once.
 */
async function hold(glob, pass = () => false) {
  let release;
  const released = new Promise((r) => {
    release = r;
  });
  const handler = async (route) => {
    if (!pass(route.request())) await released;
    await route.continue().catch(() => {});
  };
  await page.route(glob, handler);
  return {
    release,
    lift: async () => {
      release();
      await page.unroute(glob, handler);
    },
  };
}

async function openExperiment(key) {
  await go(`/experiments/${key}`);
  await page.locator('.lifecycle').waitFor();
}

T.test('setup (API) and sign in', async () => {
  await admin.post('/metrics', { key: 'if-buy', name: 'Buy', event: 'buy', type: 'binomial' });
  await go('/experiments');
  await signIn(page, daemon.adminKey);
  noErrors();
});

T.test('Stop on a slow server: Cancel disabled, Escape ignored, "Stopping…"; then the page shows it stopped', async () => {
  await admin.post('/experiments', { key: 'if-stop', name: 'Slow stop', variants: two });
  await admin.post('/experiments/if-stop/start');
  await openExperiment('if-stop');
  const gate = await hold('**/api/v1/experiments/if-stop/stop');
  try {
    await page.locator('.lifecycle button', { hasText: 'Stop…' }).click();
    await dlg.getByRole('button', { name: 'Stop experiment' }).click();
    await dlg.getByRole('button', { name: 'Stopping…' }).waitFor();
    assertEq(await dlg.getByRole('button', { name: 'Cancel' }).isDisabled(), true, 'Cancel disabled while stopping');
    await page.keyboard.press('Escape');
    await sleep(300);
    assertEq(await dlg.count(), 1, 'the dialog stays open after Escape');
    gate.release();
    await dlg.waitFor({ state: 'detached', timeout: 10000 });
    await page.locator('main h1 .badge-stopped').waitFor();
  } finally {
    await gate.lift();
  }
  assertEq((await admin.get('/experiments/if-stop')).status, 'stopped', 'the server');
  assertEq(await page.locator('.lifecycle button', { hasText: 'Pause' }).count(), 0, 'Pause no longer offered');
  noErrors();
});

T.test('Delete on a slow server: Cancel does nothing while deleting; the page then goes to the list', async () => {
  await admin.post('/experiments', { key: 'if-del', variants: two });
  await openExperiment('if-del');
  const gate = await hold('**/api/v1/experiments/if-del');
  try {
    await page.locator('.lifecycle button', { hasText: 'Delete' }).click();
    await dlg.getByRole('button', { name: 'Delete experiment' }).click();
    await dlg.getByRole('button', { name: 'Deleting…' }).waitFor();
    await dlg.getByRole('button', { name: 'Cancel' }).click({ force: true });
    await sleep(200);
    assertEq(await dlg.count(), 1, 'the dialog stays open after Cancel');
    gate.release();
    await waitHash('/experiments');
  } finally {
    await gate.lift();
  }
  noErrors();
});

T.test('Pause, then leave the page while it is on its way: the page left stays, a toast says it was paused', async () => {
  await admin.post('/experiments', { key: 'if-pause', variants: two });
  await admin.post('/experiments/if-pause/start');
  await openExperiment('if-pause');
  const gate = await hold('**/api/v1/experiments/if-pause/pause');
  try {
    await page.locator('.lifecycle button', { hasText: 'Pause' }).click();
    await dlg.getByRole('button', { name: 'Pause experiment' }).click();
    await dlg.getByRole('button', { name: 'Pausing…' }).waitFor();
    await page.evaluate(() => {
      location.hash = '#/metrics';
    });
    await page.locator('h1', { hasText: 'Metrics' }).waitFor();
    gate.release();
    await page.locator('#toasts', { hasText: 'Experiment if-pause paused' }).waitFor({ timeout: 10000 });
  } finally {
    await gate.lift();
  }
  await sleep(500);
  await waitHash('/metrics');
  assertEq(await page.locator('dialog').count(), 0, 'no dialog left');
  assertEq((await admin.get('/experiments/if-pause')).status, 'paused', 'the server');
  noErrors();
});

T.test('Stop after someone else paused it (412): choices kept, "Stop anyway" stops the latest version', async () => {
  await admin.post('/experiments', { key: 'if-412', variants: two });
  await admin.post('/experiments/if-412/start');
  await openExperiment('if-412');
  await admin.post('/experiments/if-412/pause');
  await page.locator('.lifecycle button', { hasText: 'Stop…' }).click();
  await dlg.getByLabel('Release a variant to everyone').selectOption('b');
  await dlg.locator('label', { hasText: 'Won' }).click();
  await dlg.getByLabel(/Notes/).fill('b ships');
  await dlg.getByRole('button', { name: 'Stop experiment' }).click();
  await dlg.locator('.dialog-error', { hasText: 'paused now' }).waitFor();
  assertEq(await dlg.getByLabel(/Notes/).inputValue(), 'b ships', 'notes kept');
  assertEq(await dlg.getByLabel('Release a variant to everyone').inputValue(), 'b', 'release kept');
  assertEq(await dlg.locator('.dialog-error .reload-btn').count(), 0, 'no page reload offered');
  await dlg.getByRole('button', { name: 'Stop anyway' }).click();
  await dlg.waitFor({ state: 'detached' });
  await page.locator('#released-variant', { hasText: 'b' }).waitFor();
  const x = await admin.get('/experiments/if-412');
  assertEq(x.status, 'stopped', 'stopped');
  assertEq(x.released_variant, 'b', 'b released');
  assertEq(JSON.stringify(x.conclusion && [x.conclusion.outcome, x.conclusion.notes]), '["won","b ships"]', 'conclusion');
  noErrors([/412/]);
});

T.test('Start after someone else started it (412): says it no longer applies; Cancel shows it running', async () => {
  await admin.post('/experiments', { key: 'if-412b', variants: two });
  await openExperiment('if-412b');
  await admin.post('/experiments/if-412b/start');
  await page.locator('.lifecycle button', { hasText: 'Start' }).click();
  await dlg.getByRole('button', { name: 'Start experiment' }).click();
  await dlg.locator('.dialog-error', { hasText: 'running now' }).waitFor();
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('main h1 .badge-running').waitFor();
  noErrors([/412/]);
});

T.test('Stop with a revoked key (401): the dialog closes, sign-in works, the dialog comes back filled in', async () => {
  const k = await admin.post('/keys', { name: 'if-editor', role: 'editor' });
  await admin.post('/experiments', { key: 'if-401', variants: two });
  await admin.post('/experiments/if-401/start');
  await page.evaluate(() => sessionStorage.clear());
  await go('/experiments/if-401');
  await page.reload();
  await signIn(page, k.key);
  await page.locator('.lifecycle').waitFor();
  await page.locator('.lifecycle button', { hasText: 'Stop…' }).click();
  await dlg.getByLabel('Release a variant to everyone').selectOption('b');
  await dlg.locator('label', { hasText: 'Lost' }).click();
  await dlg.getByLabel(/Notes/).fill('kept through sign-in');
  await admin.del(`/keys/${k.id}`);
  let closed = false;
  for (let i = 0; i < 20 && !closed; i++) {
    await dlg.getByRole('button', { name: 'Stop experiment' }).click();
    await sleep(400);
    closed = (await dlg.count()) === 0;
  }
  assert(closed, 'the dialog closed on the 401');
  const field = page.getByLabel('API key');
  await field.click({ timeout: 3000 }); // not under a modal
  await signIn(page, daemon.adminKey);
  await dlg.getByRole('button', { name: 'Stop experiment' }).waitFor();
  assert((await text(dlg)).includes('You signed in again'), 'the dialog says what was kept');
  assertEq(await dlg.getByLabel(/Notes/).inputValue(), 'kept through sign-in', 'notes kept');
  assertEq(await dlg.getByLabel('Release a variant to everyone').inputValue(), 'b', 'release kept');
  assertEq(await dlg.locator('input[value=lost]').isChecked(), true, 'outcome kept');
  await dlg.getByRole('button', { name: 'Stop experiment' }).click();
  await page.locator('main h1 .badge-stopped').waitFor();
  const x = await admin.get('/experiments/if-401');
  assertEq(x.released_variant, 'b', 'b released');
  assertEq(x.conclusion && x.conclusion.notes, 'kept through sign-in', 'notes stored');
  noErrors([/401/]);
});

for (const [what, make, hash, saveName, toasted] of [
  ['experiment', () => admin.post('/experiments', { key: 'if-save', name: 'Slow save', variants: two }), '/experiments/if-save/edit', 'Save changes', 'Experiment saved'],
  ['metric', () => admin.post('/metrics', { key: 'if-m', name: 'Slow metric', event: 'm', type: 'binomial' }), '/metrics/if-m', /Save/, 'Metric if-m saved'],
  ['saved group', () => admin.post('/saved-groups', { key: 'if-g', name: 'Slow group', attribute: 'id', values: ['a'] }), '/saved-groups/if-g', /Save/, 'Saved group if-g saved'],
]) {
  T.test(`${what} form: a link while the save is on its way waits for it, then goes there (never back)`, async () => {
    await make();
    await go(hash);
    await page.locator('form').first().waitFor();
    const path = hash.replace(/\/edit$/, '');
    // the save is held until the link was followed: a save done before it (a slow
    // machine, a fixed delay) tested nothing and its toast could be gone by then
    const gate = await hold(`**/api/v1${path}`, (r) => r.method() === 'GET');
    try {
      await page.getByLabel('Name', { exact: true }).fill(`Renamed ${what}`);
      const sent = page.waitForRequest((r) => r.url().endsWith(`/api/v1${path}`) && r.method() !== 'GET');
      await page.locator('form button[type=submit]', { hasText: saveName }).click();
      await sent;
      await page.locator('nav').getByRole('link', { name: 'Power' }).click();
      await sleep(300);
      assertEq(await page.locator('dialog[open]', { hasText: 'Leave without saving' }).count(), 0, 'no "Leave without saving" while saving');
      gate.release();
      await waitHash('/power');
      await page.locator('#toasts', { hasText: toasted }).waitFor();
    } finally {
      await gate.lift();
    }
    await sleep(2500);
    await waitHash('/power');
    const doc = await admin.get(path);
    assertEq(doc.name, `Renamed ${what}`, 'saved');
    noErrors();
  });
}

T.test('a save that fails while leaving: stays on the form, says so', async () => {
  await go('/experiments/if-save/edit');
  await page.locator('form.exp-form').waitFor();
  const glob = '**/api/v1/experiments/if-save';
  // the PATCH fails once the link was followed (held until then: with a fixed delay a loaded
  // machine failed the save first, and the link then asked "Leave without saving?")
  let release;
  const released = new Promise((r) => {
    release = r;
  });
  const handler = async (route) => {
    if (route.request().method() !== 'PATCH') return route.continue();
    await released;
    await route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":{"code":"internal","message":"disk full"}}' });
  };
  await page.route(glob, handler);
  await page.getByLabel('Name', { exact: true }).fill('Not saved');
  const sent = page.waitForRequest((r) => r.url().endsWith('/api/v1/experiments/if-save') && r.method() === 'PATCH');
  await page.locator('form button[type=submit]').click();
  await sent;
  await page.locator('nav').getByRole('link', { name: 'Power' }).click();
  await sleep(300);
  release();
  await page.locator('#toasts', { hasText: 'Not saved, so you are still on this page' }).waitFor();
  await waitHash('/experiments/if-save/edit');
  assertEq(await page.getByLabel('Name', { exact: true }).inputValue(), 'Not saved', 'the edit is kept');
  await page.unroute(glob, handler);
  noErrors([/500/]);
});

await run();

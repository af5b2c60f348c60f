// audit_actor.mjs - the audit page names each actor by its key's name and its id (rev-sec2 5):
// key names need not have been unique, so two keys of one name looked the same; the id is
// shown beneath the name, and the daemon's own actors ("cli") once. Run through run.sh.

import { suite, assert, assertEq, signIn, apiClient } from './lib.mjs';

const { T, daemon, admin, page, go, text, noErrors, run } = await suite({ label: 'audit_actor' });

T.test('the audit log shows the actor key id beside its name', async () => {
  const k = await admin.post('/keys', { name: 'Alice', role: 'editor' });
  const alice = apiClient(daemon.url, k.key);
  await alice.post('/experiments', { key: 'aa-exp', variants: [{ key: 'a' }, { key: 'b' }] });
  await go('/audit');
  await signIn(page, daemon.adminKey);
  const row = page.locator('#audit-table tr', { has: page.locator('td[data-label="Action"]', { hasText: 'experiment.create' }) });
  await row.first().waitFor();
  const actor = row.first().locator('td[data-label="Actor"]');
  const shown = await text(actor);
  assert(shown.includes('Alice') && shown.includes(k.id), `the actor cell names Alice and ${k.id}: '${shown}'`);
  assertEq(await actor.locator('.actor-id').textContent(), k.id, 'the id in its own element');
  // key.create entries: Alice's by the bootstrap admin key (its name and id), the bootstrap
  // key's own by the daemon ("system": shown once)
  const create = page.locator('#audit-table tr', { has: page.locator('td[data-label="Action"]', { hasText: 'key.create' }) });
  const cells = (await create.locator('td[data-label="Actor"]').allTextContents()).map((c) => c.trim());
  assertEq(cells.length, 2, `two key.create entries: ${cells}`);
  assert(/^bootstrap-admin\s*key_[0-9a-f]+$/.test(cells[0]), `the bootstrap admin key by name and id: '${cells[0]}'`);
  assertEq(cells[1], 'system', 'the daemon itself, once');
  noErrors();
});

await run();

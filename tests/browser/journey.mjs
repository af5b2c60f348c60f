// journey.mjs - a new user's walk through the dashboard (s26 review): a metric that is also a
// guardrail carries the card's "guardrail" tag; the Stop and Pause dialogs say what /assign
// will serve (the default value when the experiment has one, else the control's value); the power
// calculator opened from an experiment without a day of traffic leaves the daily users empty
// and the days "—" until they are typed. Run through run.sh.

import { suite, assert, assertEq, signIn } from './lib.mjs';

const { T, daemon, admin, page, go, noErrors, text, run } = await suite({ label: 'journey' });

const dlg = page.locator('dialog[open]');
const two = [{ key: 'a', weight: 0.5, value: 'Add to cart' }, { key: 'b', weight: 0.5, value: 'Buy now' }];

async function exposeSome(key, n) {
  const exposures = [];
  for (let i = 0; i < n; i += 1) exposures.push({ experiment: key, user_id: `${key}-u${i}`, variant: i % 2 ? 'b' : 'a' });
  await admin.post('/exposures', { exposures });
  // a baseline for the power calculator: every third user buys
  await admin.post('/events', { events: exposures.filter((_, i) => i % 3 === 0).map((e) => ({ user_id: e.user_id, event: 'buy' })) });
}

T.test('setup (API) and sign in', async () => {
  await admin.post('/metrics', { key: 'jy-buy', name: 'Purchase', event: 'buy', type: 'binomial' });
  await admin.post('/metrics', { key: 'jy-err', name: 'Errors', event: 'err', type: 'binomial', goal: 'decrease' });
  await admin.post('/experiments', { key: 'jy-default', variants: two, default_value: 'Buy', metrics: ['jy-buy'] });
  await admin.post('/experiments', { key: 'jy-plain', variants: two, metrics: ['jy-buy', 'jy-err'], guardrails: ['jy-err'] });
  for (const k of ['jy-default', 'jy-plain']) {
    await admin.post(`/experiments/${k}/start`);
    await exposeSome(k, 20);
  }
  await go('/experiments');
  await signIn(page, daemon.adminKey);
  noErrors();
});

T.test('a metric that is also a guardrail: its card is tagged "guardrail"', async () => {
  await go('/experiments/jy-plain');
  const card = page.locator('.metric-result[data-metric="jy-err"]');
  await card.waitFor();
  assertEq(await card.locator('.tag-guard').count(), 1, 'guardrail tag on jy-err');
  assertEq(await page.locator('.metric-result[data-metric="jy-buy"] .tag-guard').count(), 0, 'no tag on jy-buy');
  noErrors();
});

T.test('Stop and Pause dialogs: /assign serves the default value when there is one', async () => {
  await go('/experiments/jy-default');
  await page.locator('.lifecycle button', { hasText: 'Stop' }).click();
  await dlg.waitFor();
  let said = await text(dlg);
  assert(said.includes('Without a release users get the default value ("Buy") from /assign'), said);
  assert(!said.includes('the control’s value'), said);
  assertEq(await text(dlg.locator('select[name="release"] option').first()), 'No release (/assign answers the default value ("Buy"))', 'the no-release option');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('.lifecycle button', { hasText: 'Pause' }).click();
  await dlg.waitFor();
  said = await text(dlg);
  assert(said.includes('Users will get the default value ("Buy") from /assign'), said);
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  // without a default value: the control's value
  await go('/experiments/jy-plain');
  await page.locator('.lifecycle button', { hasText: 'Stop' }).click();
  await dlg.waitFor();
  said = await text(dlg);
  assert(said.includes('Without a release users get the control’s value ("Add to cart") from /assign'), said);
  assertEq(await text(dlg.locator('select[name="release"] option').first()), 'No release (/assign answers the control’s value ("Add to cart"))', 'the no-release option');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  noErrors();
});

T.test('power calculator from an experiment with less than a day of traffic: no daily users, days "—"', async () => {
  await go('/power?experiment=jy-plain');
  await page.locator('#pw-context', { hasText: 'Prefilled from' }).waitFor();
  await page.locator('#pw-users').waitFor();
  assertEq(await page.getByLabel('Daily users entering the experiment').inputValue(), '', 'daily users left empty');
  assertEq(await text(page.locator('#pw-days')), '—', 'no days without daily users');
  assert((await text(page.locator('#pw-context'))).includes('type the daily users'), await text(page.locator('#pw-context')));
  await page.getByLabel('Daily users entering the experiment').fill('500');
  await page.getByRole('button', { name: 'Calculate' }).click();
  await page.locator('#pw-days').waitFor();
  const upv = Number((await text(page.locator('#pw-users'))).replace(/,/g, ''));
  assertEq(await text(page.locator('#pw-days')), Math.ceil((upv * 2) / 500).toLocaleString('en-US'), 'days once typed');
  noErrors();
});

await run();

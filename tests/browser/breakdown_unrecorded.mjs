// breakdown_unrecorded.mjs - users exposed before a dimension was listed (API.md "Dimension
// breakdowns": `variants[].users_not_recorded`): they are in no slice, not even "(none)",
// and the breakdown says how many per variant instead of claiming that every user without
// a value is "(none)".
// Run through run.sh (its own daemon and Chromium).

import { suite, assert, assertEq } from './lib.mjs';
import * as txt from './expect.mjs';

const EXP = 'late-dimension';

const { T, daemon, admin, page, go, noErrors, text, run } = await suite({ label: 'breakdown: users not recorded' });

T.test('exposed before and after "country" was listed (API)', async () => {
  await admin.post('/metrics', { key: 'lb_buy', event: 'lb_buy', type: 'binomial' });
  await admin.post('/experiments', { key: EXP, variants: [{ key: 'control' }, { key: 'treatment' }], metrics: ['lb_buy'] });
  await admin.post(`/experiments/${EXP}/start`);
  const before = [];
  for (let i = 0; i < 5; i++) before.push({ experiment: EXP, user_id: `b${i}`, variant: i < 3 ? 'control' : 'treatment', attributes: { country: 'NL' } });
  await admin.post('/exposures', { exposures: before });
  await admin.patch(`/experiments/${EXP}`, { dimensions: ['country'] });
  const after = [];
  for (let i = 0; i < 4; i++) after.push({ experiment: EXP, user_id: `a${i}`, variant: i % 2 ? 'treatment' : 'control', attributes: i < 3 ? { country: 'NL' } : {} });
  await admin.post('/exposures', { exposures: after });
  const b = await admin.get(`/experiments/${EXP}/results?dimension=country`);
  assertEq(b.variants.map((v) => v.users_not_recorded).join(','), '3,2', 'users not recorded per variant');
});

T.test('the breakdown counts them apart from “(none)”', async () => {
  await go(`/experiments/${EXP}?dimension=country`);
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await page.getByLabel('API key').fill(daemon.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Breakdown by country' }).waitFor();
  const note = page.locator('.breakdown-unrecorded');
  await note.waitFor();
  const t = await text(note);
  assert(t.startsWith(`${txt.int(5)} users were exposed before country was added`), `the count and why: ${t}`);
  assert(t.includes('control: 3') && t.includes('treatment: 2'), `per variant: ${t}`);
  const intro = await text(page.locator('#breakdown-h + p'));
  assert(intro.includes('users who had no country at their first exposure as “(none)”'), `"(none)" described as recorded: ${intro}`);
  noErrors();
});

await run();

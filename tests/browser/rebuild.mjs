// rebuild.mjs - the dashboard while a rebuild after a definition change runs (API.md
// "Rebuilds after a definition change"): the results page shows the rebuilding badge; a
// ratio metric kept through the rebuild shows the numbers from before it; a ratio added by
// a change made mid-rebuild (no kept sums) shows its warning as a note, in the results and
// under its breakdown table; no console error.
// The daemon runs with 2 users per chunk and 3 s between chunks, so the rebuild lasts long
// enough to look at. Run through run.sh (its own daemon and Chromium).

import { suite, assert, assertEq } from './lib.mjs';

const EXP = 'checkout-copy';
const KEPT = 'orders-per-visit';
const ADDED = 'visits-per-order';

const { T, daemon, admin, page, go, noErrors, text, run } = await suite({ label: 'rebuilds', args: ['--rebuild-chunk', '2', '--rebuild-pause-ms', '3000'] });

let before; // the kept ratio's block before the definition change

T.test('an experiment with a ratio, then a metric edit that starts a rebuild (API)', async () => {
  await admin.post('/metrics', { key: 'orders', event: 'purchase', type: 'count' });
  await admin.post('/metrics', { key: 'visits', event: 'visit', type: 'count' });
  await admin.post('/metrics', { key: KEPT, type: 'ratio', numerator: 'orders', denominator: 'visits' });
  await admin.post('/metrics', { key: ADDED, type: 'ratio', numerator: 'visits', denominator: 'orders' });
  await admin.post('/experiments', {
    key: EXP,
    variants: [{ key: 'control' }, { key: 'short' }],
    metrics: ['orders', KEPT],
    dimensions: ['plan'],
  });
  const st = await admin.post(`/experiments/${EXP}/start`);
  const exposures = [];
  const events = [];
  for (let i = 0; i < 24; i++) {
    const user = `buyer-${i}`;
    exposures.push({ experiment: EXP, user_id: user, variant: i % 2 ? 'short' : 'control', ts: st.started_at + 1, attributes: { plan: i % 3 ? 'pro' : 'free' } });
    for (let k = 0; k <= i % 4; k++) events.push({ user_id: user, event: 'visit', ts: st.started_at + 2 + k });
    for (let k = 0; k < i % 3; k++) events.push({ user_id: user, event: 'purchase', ts: st.started_at + 2 + k });
  }
  while (Date.now() < st.started_at + 10) await new Promise((r) => setTimeout(r, 5));
  assertEq((await admin.post('/exposures', { exposures })).accepted, exposures.length, 'exposures accepted');
  assertEq((await admin.post('/events', { events })).accepted, events.length, 'events accepted');
  before = (await admin.get(`/experiments/${EXP}/results`)).metrics.find((m) => m.key === KEPT);
  await admin.patch('/metrics/orders', { window_hours: 1 });
  let r;
  for (let i = 0; i < 100; i++) {
    r = await admin.get(`/experiments/${EXP}/results`);
    if (r.rebuilding && r.rebuilding.users_done >= 2) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert(r.rebuilding && r.rebuilding.users_done >= 2, 'a chunk ran: the ratio is read from its kept sums');
  // a second change mid-rebuild adds a ratio: it restarts the rebuild, with nothing kept for it
  await admin.patch(`/experiments/${EXP}`, { metrics: ['orders', KEPT, ADDED] });
  r = await admin.get(`/experiments/${EXP}/results`);
  assert(r.rebuilding, 'still rebuilding');
  assertEq(JSON.stringify(r.metrics.find((m) => m.key === KEPT)), JSON.stringify(before), 'the kept ratio as before the change');
  assert(/rebuild ends/.test(r.metrics.find((m) => m.key === ADDED).warning || ''), 'the added ratio warns');
  noErrors();
});

T.test('sign in', async () => {
  await go(`/experiments/${EXP}`);
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await page.getByLabel('API key').fill(daemon.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  noErrors();
});

T.test('results while rebuilding: the badge, the kept ratio, the added ratio’s note', async () => {
  await go(`/experiments/${EXP}`);
  await page.locator('.results-body[aria-busy="false"] table.results-table').first().waitFor();
  await page.waitForLoadState('networkidle');
  assert(/rebuilding \d+%/.test(await text(page.locator('.badge-rebuilding'))), 'the rebuilding badge');
  const kept = page.locator(`table.results-table[data-metric="${KEPT}"] tr[data-variant="short"] [data-col="users"]`);
  assertEq(await text(kept), String(before.variants[1].users), 'the kept ratio’s users');
  const notes = await text(page.locator(`section.metric-result[data-metric="${ADDED}"] .notes`));
  assert(/its statistics return when the rebuild ends/.test(notes), `the added ratio’s note (${notes})`);
  noErrors();
});

T.test('breakdown while rebuilding: the added ratio’s note under its table', async () => {
  await go(`/experiments/${EXP}?dimension=plan`);
  await page.getByRole('heading', { name: 'Breakdown by plan' }).waitFor();
  await page.locator(`table.breakdown-table[data-metric="${ADDED}"]`).waitFor();
  const note = await text(page.locator(`.table-wrap:has(table.breakdown-table[data-metric="${ADDED}"]) .breakdown-note`));
  assert(/its statistics return when the rebuild ends/.test(note), `the breakdown note (${note})`);
  assertEq(await page.locator(`.table-wrap:has(table.breakdown-table[data-metric="${KEPT}"]) .breakdown-note`).count(), 0, 'no note on the kept ratio');
  const r = await admin.get(`/experiments/${EXP}/results`);
  assert(r.rebuilding, 'the rebuild still ran during the checks (else raise --rebuild-pause-ms)');
  noErrors();
});

T.test('editing a metric in use: the form names the experiments before Save, the page says it recomputes', async () => {
  await go('/metrics/visits');
  await page.getByRole('heading', { name: 'Edit visits' }).waitFor();
  const used = page.locator('#metric-used-by');
  await used.waitFor();
  // visits is a part of both ratios the running experiment shows
  assert(/Used by one running experiment \(checkout-copy\)/.test(await text(used)), `names the experiment (${await text(used)})`);
  await page.getByLabel('Description').fill('page views');
  assert(!/changes the definition/.test(await text(used)), 'a description is not a definition change');
  await page.getByLabel('Window (hours after first exposure)').fill('2');
  await page.locator('#metric-used-by.alert-warn').waitFor();
  assert(/Saving recomputes the results of one running experiment \(checkout-copy\)/.test(await text(used)), `warns before Save (${await text(used)})`);
  await page.getByRole('button', { name: 'Save metric' }).click();
  await page.locator('#metrics-table').waitFor();
  assertEq((await admin.get('/metrics/visits')).window_hours, 2, 'saved');
  await go(`/experiments/${EXP}`);
  await page.locator('.results-body[aria-busy="false"] table.results-table').first().waitFor();
  const note = await text(page.locator('#rebuilding-note'));
  assert(/Recomputing after a definition change/.test(note) && /previous definition/.test(note) && /\d+% done \(\d+ of \d+ users\)/.test(note), `the results say it in words (${note})`);
  const caveat = await text(page.locator('#decision-rebuilding'));
  assert(/previous definition/.test(caveat), `the decision says it too (${caveat})`);
  assert((await admin.get(`/experiments/${EXP}/results`)).rebuilding, 'the rebuild still ran during the checks');
  noErrors();
});

// ------------------------------------------------------------------ main

await run();

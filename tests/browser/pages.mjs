// pages.mjs - findings of a dashboard review in headless Chromium, one scenario each:
// focus after sign-in; a fresh install's New experiment form (MDE, default value); a list
// whose experiments are all archived; a mistyped number ("4e", "5-", "1e400": an empty
// value with validity.badInput) refused beside its field in every form, nothing sent; an
// emptied experiment name; the delete-metric dialog and 409 for a metric an archived
// experiment uses; the decision panel and power calculator with unequal weights (the
// smallest variant, not a total); the configuration block (values, default value, hashed
// attribute, MDE, analysis); results that poll while rebuilding and update when it ends;
// a 390 px phone with 64-character keys; the breakdown's SRM p with 4 decimals.
// The daemon rebuilds 2 users per chunk with 600 ms between chunks, so a rebuild of 40
// users lasts long enough to watch. Run through run.sh (its own daemon and Chromium).

import { suite, assert, assertEq } from './lib.mjs';
import * as txt from './expect.mjs';
import * as fmt from '../../web/js/format.js';

const LONG = `long-key-${'k'.repeat(55)}`; // 64 characters

const { T, daemon, admin, page, go, goDiscarding, noErrors, text, run } = await suite({ label: 'review pages', args: ['--rebuild-chunk', '2', '--rebuild-pause-ms', '600'] });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Wait until `fn()` is true (polling every 100 ms, at most `tries` times). */
async function until(fn, msg, tries = 150) {
  for (let i = 0; i < tries; i++) {
    if (await fn()) return;
    await sleep(100);
  }
  assert(false, msg);
}

/** The writes (POST, PATCH, DELETE) the page sends to the API from now on. */
function recordWrites() {
  const sent = [];
  const on = (r) => {
    if (/\/api\/v1\//.test(r.url()) && r.method() !== 'GET') sent.push(`${r.method()} ${new URL(r.url()).pathname} ${r.postData() || ''}`);
  };
  page.on('request', on);
  return { sent, stop: () => page.off('request', on) };
}

/** Type `typed` into the number input `loc` (Playwright's fill refuses text that is not a number). */
async function typeNumber(loc, typed) {
  await loc.fill('');
  await loc.click();
  await page.keyboard.type(typed);
  assert(await loc.evaluate((el) => el.validity.badInput && el.value === ''), `“${typed}” reads as "" with validity.badInput`);
}

async function fieldError(name) {
  const loc = page.locator(`.field:has([data-field="${name}"]) .field-error, td:has([data-field="${name}"]) .field-error`);
  await loc.first().waitFor();
  return text(loc.first());
}

// ------------------------------------------------------------------ scenarios

T.test('sign-in moves the focus to the page’s heading', async () => {
  await go('/experiments');
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await page.getByLabel('API key').fill(daemon.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who-role').filter({ hasText: /\w/ }).waitFor();
  await page.getByRole('heading', { name: 'Experiments', exact: true }).waitFor();
  await until(() => page.evaluate(() => document.activeElement && document.activeElement.tagName === 'H1' && document.activeElement.textContent === 'Experiments'), 'the h1 has the focus after sign-in');
  noErrors();
});

T.test('a fresh install’s New experiment form has the MDE and default value fields, and sends them', async () => {
  assertEq((await admin.get('/experiments?status=archived')).experiments.length, 0, 'no experiment yet');
  await go('/experiments/new');
  await page.locator('form.exp-form').waitFor();
  assertEq(await page.locator('[data-field="mde"]').count(), 1, 'the MDE field with no experiment on the server');
  await page.getByLabel('Key', { exact: true }).fill('first-one');
  await page.locator('[data-field="mde"]').fill('2');
  await page.locator('[data-field="default_value"]').fill('"grey"');
  await page.getByRole('button', { name: 'Create experiment' }).click();
  await page.locator('h1 .badge').waitFor();
  const x = await admin.get('/experiments/first-one');
  assertEq(x.mde, 0.02, 'mde as typed');
  assertEq(x.default_value, 'grey', 'default value as typed');
  noErrors();
});

T.test('when every experiment is archived the list says so, with a way to show them', async () => {
  await admin.post('/experiments', { key: 'to-archive', variants: [{ key: 'a' }, { key: 'b' }] });
  for (const x of (await admin.get('/experiments')).experiments) if (x.status !== 'archived') await admin.post(`/experiments/${x.key}/archive`);
  await go('/experiments');
  const empty = page.locator('.list-body .empty');
  await empty.filter({ hasText: /\w/ }).waitFor();
  const t = await text(empty);
  assert(/archived/.test(t) && !/No experiments yet/.test(t), `says they are archived (${t})`);
  await page.locator('#show-archived').click();
  await page.locator('#experiments-table tr[data-key="to-archive"]').waitFor();
  noErrors();
});

T.test('metric form: a mistyped number is “not a number” beside its field, and nothing is sent', async () => {
  await admin.post('/metrics', { key: 'capped', event: 'purchase', type: 'sum', cap: 500, window_hours: 72 });
  await go('/metrics/capped');
  await page.locator('form.metric-form').waitFor();
  const writes = recordWrites();
  await typeNumber(page.locator('[data-field="cap"]'), '4e');
  await typeNumber(page.locator('[data-field="window_hours"]'), '5-');
  await page.getByRole('button', { name: 'Save metric' }).click();
  assert(/not a number/.test(await fieldError('cap')), 'beside the cap');
  assert(/not a number/.test(await fieldError('window_hours')), 'beside the window');
  await sleep(300);
  writes.stop();
  assertEq(writes.sent.length, 0, `nothing sent (${writes.sent})`);
  const m = await admin.get('/metrics/capped');
  assertEq(m.cap, 500, 'cap kept');
  assertEq(m.window_hours, 72, 'window kept');
  await goDiscarding('/metrics'); // the typos are changes not saved: leaving asks
  noErrors();
});

T.test('experiment form: a mistyped MDE or weight is refused beside it, never left out', async () => {
  await admin.post('/experiments', { key: 'typo', name: 'Typo', variants: [{ key: 'a' }, { key: 'b' }], mde: 0.05 });
  await go('/experiments/typo/edit');
  await page.locator('form.exp-form').waitFor();
  const writes = recordWrites();
  await typeNumber(page.locator('[data-field="mde"]'), '1e400');
  await typeNumber(page.locator('[data-field="variants[1].weight"]'), '5-');
  await page.getByRole('button', { name: 'Save changes' }).click();
  assert(/not a number/.test(await fieldError('mde')), 'beside the MDE');
  assert(/not a number/.test(await fieldError('variants[1].weight')), 'beside the weight');
  await sleep(300);
  writes.stop();
  assertEq(writes.sent.length, 0, `nothing sent (${writes.sent})`);
  assertEq((await admin.get('/experiments/typo')).mde, 0.05, 'mde kept');
  await goDiscarding('/experiments'); // the typos are changes not saved: leaving asks
  noErrors();
});

T.test('power calculator: a mistyped daily traffic is refused, not read as “none”', async () => {
  await go('/power');
  await page.locator('#pw-users').waitFor();
  await typeNumber(page.getByLabel('Daily users entering the experiment'), '4e');
  await page.getByRole('button', { name: 'Calculate' }).click();
  assert(/not a number/.test(await fieldError('daily_users')), 'beside the daily users');
  assertEq(await page.locator('#pw-users').count(), 0, 'no answer');
  noErrors();
});

T.test('an emptied experiment name is saved as the key; an edit that changes nothing says so', async () => {
  await admin.post('/experiments', { key: 'rename-me', name: 'Old name', variants: [{ key: 'a' }, { key: 'b' }] });
  await go('/experiments/rename-me/edit');
  await page.locator('form.exp-form').waitFor();
  let writes = recordWrites();
  await page.locator('[data-field="name"]').fill('');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('#toasts', { hasText: 'Experiment saved' }).waitFor();
  writes.stop();
  assertEq(writes.sent.length, 1, `one PATCH (${writes.sent})`);
  assert(writes.sent[0].endsWith('{"name":"rename-me"}'), `the key as the name (${writes.sent[0]})`);
  assertEq((await admin.get('/experiments/rename-me')).name, 'rename-me', 'stored name');
  // now the name is the key: emptying it again changes nothing, and nothing is sent
  await go('/experiments/rename-me/edit');
  await page.locator('form.exp-form').waitFor();
  writes = recordWrites();
  await page.locator('[data-field="name"]').fill('');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('#toasts', { hasText: 'Nothing changed' }).waitFor();
  writes.stop();
  assertEq(writes.sent.length, 0, `nothing sent (${writes.sent})`);
  noErrors();
});

T.test('deleting a metric an archived experiment uses: the dialog and the 409 say it stays', async () => {
  await admin.post('/metrics', { key: 'latency', event: 'page', type: 'sum' });
  await admin.post('/experiments', { key: 'old-checkout', variants: [{ key: 'a' }, { key: 'b' }], metrics: ['latency'] });
  await admin.post('/experiments/old-checkout/archive');
  await go('/metrics/latency');
  await page.locator('form.metric-form').waitFor();
  await page.getByRole('button', { name: 'Delete' }).click();
  const dlg = page.locator('dialog[open]');
  await dlg.waitFor();
  const body = await text(dlg.locator('.dialog-body'));
  assert(/archived and stopped ones included/.test(body), `archived experiments block it (${body})`);
  assert(!/not archived must not use it/.test(body), 'not the old text');
  await dlg.getByRole('button', { name: 'Delete metric' }).click();
  await dlg.locator('.dialog-error', { hasText: /\w/ }).waitFor();
  const msg = await text(dlg.locator('.dialog-error'));
  assert(/stopped and archived ones keep it/.test(msg), `the server says it stays (${msg})`);
  assert(!/remove it from them/.test(msg), 'not an impossible instruction');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  noErrors([/status of 409/]);
});

T.test('decide(): unequal weights count the smallest variant, not a total (pure)', async () => {
  const { decide, totalNeeded } = await import('../../web/js/decide.js');
  assert(typeof totalNeeded === 'function', 'decide.js exports totalNeeded');
  const x = { key: 's', status: 'running', started_at: Date.now() - 3600000, primary_metric: 'm', mde: 0.5, guardrails: [], variants: [{ key: 'control', weight: 0.8 }, { key: 'b', weight: 0.1 }, { key: 'c', weight: 0.1 }] };
  assertEq(totalNeeded(x, 686), 6860, 'the least weight reaches 686 at 6,860 users');
  assertEq(totalNeeded({ variants: [{ weight: 0.333333 }, { weight: 0.333333 }, { weight: 0.333334 }] }, 686), 2058, 'equal thirds: needed x 3');
  assertEq(totalNeeded({ variants: [{ weight: 0.5 }, { weight: 0.5 }, { weight: 0 }] }, 100), 200, 'a variant of weight 0 waits for nothing');
  const win = { estimate: 0.6, ci: [0.2, 1.0], p_value: 0.001, significant: true };
  const r = {
    method: 'frequentist', alpha: 0.05, srm: { mismatch: false, p_value: 0.5 },
    variants: [{ key: 'control', users: 2400 }, { key: 'b', users: 300 }, { key: 'c', users: 300 }],
    metrics: [{ key: 'm', type: 'binomial', goal: 'increase', variants: [
      { key: 'control', mean: 0.1, stddev: 0.3, users: 2400 },
      { key: 'b', mean: 0.16, users: 300, relative_lift: win, verdict: 'win' },
      { key: 'c', mean: 0.16, users: 300, relative_lift: win, verdict: 'win' }] }],
    decision: { metric: 'm', mde: 0.5, users_needed_per_variant: 686, users_so_far: 3000, users_smallest_variant: 300, progress: 300 / 686, days_left: null },
  };
  const d = decide(x, r, []);
  assertEq(d.smallest, 300, 'smallest variant');
  assertEq(d.progress, 300 / 686, 'the server’s progress');
  assertEq(d.neededTotal, 6860, 'total needed');
  assert(/^Ship/.test(d.overall.headline), d.overall.headline);
  assert(d.overall.why.includes('Early: the smallest variant has 300 of the 686 users planned per variant'), `early, by the smallest variant (${d.overall.why})`);
  assert(!/3,000 of the 2,058/.test(d.overall.why), 'not a total against needed x variants');
});

T.test('decision panel with weights 80/10/10: the smallest variant’s progress, as the API', async () => {
  await admin.post('/metrics', { key: 'skew_conv', event: 'skew_buy', type: 'binomial' });
  await admin.post('/experiments', { key: 'skew', variants: [{ key: 'control', weight: 0.8 }, { key: 'b', weight: 0.1 }, { key: 'c', weight: 0.1 }], metrics: ['skew_conv'], primary_metric: 'skew_conv', mde: 0.5 });
  await admin.post('/experiments/skew/start');
  const exposures = [];
  const events = [];
  let i = 0;
  for (const [v, n] of [['control', 2400], ['b', 300], ['c', 300]]) {
    for (let j = 0; j < n; j++, i++) {
      exposures.push({ experiment: 'skew', user_id: `s${i}`, variant: v });
      if (j % 10 === 0) events.push({ user_id: `s${i}`, event: 'skew_buy' });
    }
  }
  await admin.post('/exposures', { exposures });
  await admin.post('/events', { events });
  const dec = (await admin.get('/experiments/skew/results')).decision;
  assert(dec.progress < 1 && dec.users_smallest_variant === 300, `the API: ${JSON.stringify(dec)}`);
  const need = dec.users_needed_per_variant;
  await go('/experiments/skew');
  const bar = page.locator('#decision progress');
  await bar.waitFor();
  assertEq(Number(await bar.getAttribute('value')), dec.progress, 'the bar is the API’s progress');
  const so = await text(page.locator('#users-so-far'));
  assert(so.includes(`smallest variant: 300 of ${txt.int(need)} needed`), `users so far (${so})`);
  const needed = await text(page.locator('#users-needed'));
  assert(needed.includes(`${txt.int(Math.ceil(need / 0.1))} in total`) && /least weight, 10%/.test(needed), `the total, from the least weight (${needed})`);
  noErrors();
});

T.test('power calculator prefilled from an experiment of unequal weights: the smallest variant’s total', async () => {
  await go('/power?experiment=skew');
  await page.locator('#pw-weights').waitFor();
  const upv = Number((await text(page.locator('#pw-users'))).replace(/,/g, ''));
  assertEq(await text(page.locator('#pw-total')), txt.int(Math.ceil(upv / 0.1)), 'users per variant / the least weight');
  assert(/smallest variant/.test(await text(page.locator('#pw-total-label'))), 'the label says whose total');
  const daily = Number(await page.getByLabel('Daily users entering the experiment').inputValue());
  if (daily > 0) assertEq(await text(page.locator('#pw-days')), txt.int(Math.ceil(Math.ceil(upv / 0.1) / daily)), 'days from that total');
  noErrors();
});

T.test('the configuration shows values, the default value, the hashed attribute, MDE and analysis', async () => {
  await admin.post('/experiments', {
    key: 'dv', variants: [{ key: 'control', value: 'blue' }, { key: 'b', value: 'green' }], coverage: 0.01,
    default_value: 'legacy-grey', hash_attribute: 'device_id', fallback_attribute: 'account_id', mde: 0.03,
  });
  await go('/experiments/dv');
  await page.locator('details.config summary').click();
  const t = await text(page.locator('details.config'));
  for (const want of ['"blue"', '"green"', '"legacy-grey"', 'device_id', 'account_id', '3% (relative', 'frequentist, alpha 0.05, CUPED on, correction none', 'the rest get the default value']) {
    assert(t.includes(want), `shows ${want} (${t})`);
  }
  assert(!/the rest see the control/.test(t), 'not “the control” for users out of coverage');
  const tg = await text(page.locator('#config-targeting'));
  assert(/everyone with device_id or account_id/.test(tg), `targeting says who is never in (${tg})`);
  await go('/experiments/dv/edit');
  await page.locator('form.exp-form').waitFor();
  const hint = await text(page.locator('.field:has([data-field="coverage"]) .hint'));
  assert(/default value/.test(hint) && !/see the control/.test(hint), `coverage hint (${hint})`);
  assertEq(await page.locator('[data-field="default_value"]').inputValue(), '"legacy-grey"', 'the default value in the form');
  noErrors();
});

T.test('results while rebuilding: the page asks again and shows the new numbers when it ends', async () => {
  await admin.post('/metrics', { key: 'spend', event: 'purchase', type: 'sum' });
  await admin.post('/experiments', { key: 'pricing', variants: [{ key: 'control' }, { key: 'cheap' }], metrics: ['spend'] });
  const st = await admin.post('/experiments/pricing/start');
  const exposures = [];
  const events = [];
  for (let i = 0; i < 40; i++) {
    exposures.push({ experiment: 'pricing', user_id: `p${i}`, variant: i % 2 ? 'cheap' : 'control', ts: st.started_at + 1 });
    events.push({ user_id: `p${i}`, event: 'purchase', value: 10 * (1 + (i % 5)), ts: st.started_at + 2 });
  }
  while (Date.now() < st.started_at + 10) await sleep(5);
  await admin.post('/exposures', { exposures });
  await admin.post('/events', { events });
  const before = (await admin.get('/experiments/pricing/results')).metrics[0].variants[0].mean;
  await admin.patch('/metrics/spend', { cap: 15 });
  await go('/experiments/pricing');
  await page.locator('.badge-rebuilding').waitFor();
  await page.evaluate(() => { window.__samePage = true; });
  const meanCell = page.locator('table.results-table[data-metric="spend"] tr[data-variant="control"] [data-col="mean"] .mean-value');
  const fmtMean = (r) => fmt.resultsFormat(r.metrics[0], { key: 'spend', type: 'sum' }).mean(r.metrics[0].variants[0].mean);
  let r;
  await until(async () => !(r = await admin.get('/experiments/pricing/results')).rebuilding, 'the rebuild ends', 600);
  assert(r.metrics[0].variants[0].mean !== before, 'the cap changed the mean');
  await until(async () => (await page.locator('.badge-rebuilding').count()) === 0, 'the badge goes when the rebuild ends', 100);
  assertEq(await text(meanCell), fmtMean(r), 'the new mean, without a reload');
  assert(await page.evaluate(() => window.__samePage === true), 'the same page (no reload)');
  noErrors();
});

T.test('a 390 px phone: 64-character keys and long names wrap, the page never scrolls sideways', async () => {
  await admin.post('/experiments', { key: LONG, name: 'N'.repeat(120), variants: [{ key: `v${'v'.repeat(63)}` }, { key: 'b' }], metrics: ['spend'], dimensions: ['country'] });
  const st = await admin.post(`/experiments/${LONG}/start`);
  const exposures = [];
  for (let i = 0; i < 60; i++) exposures.push({ experiment: LONG, user_id: `l${i}`, variant: i % 2 ? 'b' : `v${'v'.repeat(63)}`, ts: st.started_at + 1, attributes: { country: i % 3 ? 'NL' : 'W'.repeat(64) } });
  while (Date.now() < st.started_at + 10) await sleep(5);
  await admin.post('/exposures', { exposures });
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    for (const hash of [`/experiments/${LONG}`, `/experiments/${LONG}/edit`]) {
      await go(hash);
      await page.locator('h1').filter({ hasText: /N{10}/ }).waitFor();
      await page.waitForLoadState('networkidle');
      const w = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      assert(w.scroll <= w.client, `${hash}: no sideways scroll (${w.scroll} > ${w.client})`);
    }
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
  noErrors();
});

T.test('breakdown: a slice’s SRM p reads as the main panel’s, 4 decimals', async () => {
  const b = await admin.get(`/experiments/${LONG}/results?dimension=country`);
  await go(`/experiments/${LONG}?dimension=country`);
  await page.locator('table.breakdown-table').first().waitFor();
  for (const sl of b.slices) {
    const cell = page.locator(`table.breakdown-table tr[data-value="${sl.dimension_value}"] td[data-label="Sample ratio"]`).first();
    const want = `${sl.srm.mismatch ? 'Mismatch' : 'OK'}, ${txt.pEq(sl.srm.p_value)}`;
    assertEq(await text(cell), want, `${sl.dimension_value}'s SRM`);
  }
  noErrors();
});

// ------------------------------------------------------------------ main

await run();

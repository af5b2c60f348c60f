// e2e.mjs - the dashboard's end-to-end scenarios against the real daemon, in Debian's
// headless Chromium driven by playwright-core. Run through run.sh, which installs the
// tools and sets BUNSEN_BIN, BUNSEN_WEB_DIR, CHROMIUM and SCREENSHOT.
//
// The scenarios share one daemon and run in order (later ones use what earlier ones
// created). Every scenario also fails on a console error, page error or failed request
// that it did not expect.

import { readFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { suite, signIn, watchPage, assert, assertEq, rng } from './lib.mjs';
import * as txt from './expect.mjs';
import * as fmt from '../../web/js/format.js';
import { decide, runningMs, STATE_TEXT } from '../../web/js/decide.js';

const SCREENSHOT = process.env.SCREENSHOT || ''; // e.g. docs/img/results.png (README)
const SHOTS = process.env.SHOTS_DIR || ''; // screenshots of every page, for a human to look at
const EXP = 'checkout-button';

// admin: an API client with the admin key; page: the admin's page
const { T, daemon, admin, browser, page, noErrors, text, run } = await suite({ label: 'e2e' });

const ALLOW_400 = [/status of 400/];
const ALLOW_401 = [/status of 401/];

async function go(p, hash) {
  await p.goto(`${daemon.url}/#${hash}`);
}

/** Wait until `locator`'s text is `expected` (for values that update in place). */
async function waitText(locator, expected, msg) {
  let last = null;
  for (let i = 0; i < 100; i++) {
    last = await text(locator);
    if (last === expected) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assertEq(last, expected, msg);
}

/** The results page's table cell of (metric, variant, column). */
function cell(p, metric, variant, col) {
  return p.locator(`table.results-table[data-metric="${metric}"] tr[data-variant="${variant}"] [data-col="${col}"]`);
}

async function waitResults(p, method) {
  const header = method === 'bayesian' ? 'Chance to beat control' : 'p-value';
  await p.locator('.results-body[aria-busy="false"] table.results-table thead th', { hasText: header }).first().waitFor();
}

/** The catalogue as a Map key -> metric. */
async function catalogue() {
  return new Map((await admin.get('/metrics')).metrics.map((m) => [m.key, m]));
}

/** Compare every number the results page shows with the API's results for `params`. */
async function compareResults(p, params) {
  const r = await admin.get(`/experiments/${EXP}/results?${new URLSearchParams(params)}`);
  const defs = await catalogue();
  let checked = 0;
  for (const m of r.metrics) {
    const f = fmt.resultsFormat(m, defs.get(m.key));
    const decimals = new Set();
    for (const [i, v] of m.variants.entries()) {
      assertEq(await text(cell(p, m.key, v.key, 'users')), txt.int(v.users), `${m.key}/${v.key} users`);
      const mean = await text(cell(p, m.key, v.key, 'mean').locator('.mean-value'));
      assertEq(mean, f.mean(v.mean), `${m.key}/${v.key} mean`);
      decimals.add((mean.match(/\.(\d+)/) || ['', ''])[1].length);
      if (m.type === 'binomial') {
        assertEq(await text(cell(p, m.key, v.key, 'mean').locator('.converters')), `${txt.int(v.sum)} / ${txt.int(v.users)} converted`, `${m.key}/${v.key} converters`);
      }
      checked += 2;
      if (i === 0) continue;
      assertEq(await text(cell(p, m.key, v.key, 'lift')), txt.pct(v.relative_lift.estimate), `${m.key}/${v.key} lift`);
      // under a correction the adjusted intervals (ci_adjusted), the intervals of the verdicts
      const shownRel = fmt.shownInterval(v.relative_lift, r);
      const shownAbs = fmt.shownInterval(v.absolute_lift, r);
      assertEq(shownRel.adjusted, fmt.isAdjusted(r), `${m.key}/${v.key}: adjusted interval exactly under a correction`);
      const ciText = await text(cell(p, m.key, v.key, 'ci'));
      assertEq(ciText, txt.shownRelInterval(v.relative_lift, r), `${m.key}/${v.key} interval`);
      assertEq(await text(cell(p, m.key, v.key, 'abs')), `${f.abs(v.absolute_lift.estimate)} ${shownAbs.unbounded ? txt.UNBOUNDED : f.absInterval(shownAbs.ci)}`, `${m.key}/${v.key} absolute lift`);
      const pv = txt.significance(v, r);
      assertEq(await text(cell(p, m.key, v.key, 'p')), pv, `${m.key}/${v.key} ${r.method === 'bayesian' ? 'chance to beat control' : 'p-value'}`);
      assert(pv !== '100.0%' && pv !== '0.0%', `${m.key}/${v.key}: never a certainty (${pv})`);
      const vd = fmt.verdict(v, m.goal, r);
      const shown = await text(cell(p, m.key, v.key, 'verdict'));
      assert(shown.endsWith(txt.verdictText(vd, r)), `${m.key}/${v.key} verdict ${vd} (shown ${shown})`);
      // the verdict is the one of the interval drawn beside it (STATS.md), also under a
      // correction (the adjusted interval)
      const ci = shownRel.ci;
      const flat = txt.verdictText('flat', r);
      if (shownRel.unbounded || (Array.isArray(ci) && ci[0] < 0 && ci[1] > 0)) assert(shown.endsWith(flat), `${m.key}/${v.key}: ${shown} beside ${ciText}, which crosses 0`);
      if (Array.isArray(ci) && (ci[0] > 0 || ci[1] < 0)) assert(!shown.endsWith(flat), `${m.key}/${v.key}: ${flat.toLowerCase()} beside ${ciText}`);
      checked += 5;
    }
    assertEq(decimals.size, 1, `${m.key}: one precision for every mean`);
    const rows = await p.locator(`section.metric-result[data-metric="${m.key}"] svg.forest .forest-row`).count();
    assertEq(rows, m.variants.length - 1, `${m.key} forest plot rows`);
  }
  assert(checked > 20, `compared ${checked} cells`);
  return r;
}

/** The decision panel shows what decide() makes of the same results. */
async function compareDecision(p, key, params = {}) {
  const x = await admin.get(`/experiments/${key}`);
  const r = await admin.get(`/experiments/${key}/results?${new URLSearchParams(params)}`);
  const d = decide(x, r, [...(await catalogue()).values()]);
  await waitText(p.locator('#decision-headline'), d.overall.headline, `${key} decision headline`);
  assertEq(await text(p.locator('#decision-why')), d.overall.why, `${key} decision reason`);
  assertEq(await text(p.locator('#users-so-far')).then((t) => t.split(' ')[0]), txt.int(d.usersSoFar), `${key} users so far`);
  assert((await text(p.locator('#days-running'))).startsWith(fmt.fmtDays(d.daysRunning)), `${key} days running`);
  assert(await p.locator('#days-left').isVisible(), `${key} days left shown`);
  if (d.needed !== null) assert((await text(p.locator('#users-needed'))).startsWith(txt.int(d.needed)), `${key} users needed`);
  for (const row of d.rows) {
    assertEq(await text(p.locator(`#decision-table tr[data-variant="${row.variant}"] .state`)), STATE_TEXT[row.state], `${key}/${row.variant} state`);
  }
  return d;
}

// ------------------------------------------------------------------ scenarios

T.test('days running and days left leave pauses out (pure decide.js)', async () => {
  const D = 86400000;
  const now = 100 * D;
  const x = { key: 'p', status: 'running', started_at: now - 10 * D, stopped_at: null, paused_at: null, paused_ms: 4 * D, primary_metric: 'm', mde: 0.05, variants: [{ key: 'a' }, { key: 'b' }] };
  assertEq(runningMs(x, now), 6 * D, 'ten days less four paused');
  assertEq(runningMs({ ...x, status: 'paused', paused_at: now - D }, now), 5 * D, 'the current pause too');
  assertEq(runningMs({ ...x, status: 'stopped', stopped_at: now - 2 * D }, now), 4 * D, 'up to the stop');
  assertEq(runningMs({ ...x, started_at: null }, now), null, 'never started');
  // 600 users per variant in 6 days running is 100 a day: 1,000 more need 10 days
  const r = { alpha: 0.05, variants: [{ key: 'a', users: 600 }, { key: 'b', users: 600 }], metrics: [], decision: { metric: 'm', mde: 0.05, users_needed_per_variant: 1600, days_left: null } };
  const d = decide(x, r, [], now);
  assertEq(d.daysRunning, 6, 'days running');
  assertEq(d.daysLeft, 10, 'days left at the rate while running');
  assertEq(decide({ ...x, status: 'paused', paused_at: now - D }, r, [], now).daysLeft, null, 'no projection while paused');
});

T.test('the dashboard loads, asks for a key, and has no inline script', async () => {
  const res = await fetch(`${daemon.url}/`);
  const csp = res.headers.get('content-security-policy') || '';
  assert(/script-src 'self'/.test(csp) && /style-src 'self'/.test(csp), `strict CSP header (${csp})`);
  const html = await res.text();
  assert(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), 'no inline <script> in index.html');
  assert(!/\sstyle=/i.test(html), 'no style attribute in index.html');
  assert(!/\son[a-z]+=/i.test(html), 'no inline event handler in index.html');
  const fav = await fetch(`${daemon.url}/favicon.svg`);
  assertEq(fav.status, 200, 'favicon');
  await go(page, '/experiments');
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  assert(await page.locator('#nav').isHidden(), 'navigation hidden before sign-in');
  noErrors();
});

T.test('a wrong key is refused at sign-in', async () => {
  await page.getByLabel('API key').fill('bsn_not_a_real_key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.form-errors [role="alert"]', { hasText: 'not accepted' }).waitFor();
  assertEq(await page.getByLabel('API key').getAttribute('aria-invalid'), 'true', 'key field marked invalid');
  assertEq(await page.evaluate(() => sessionStorage.length), 0, 'nothing stored');
  noErrors(ALLOW_401);
});

T.test('sign in as admin: role shown, key kept in sessionStorage', async () => {
  await signIn(page, daemon.adminKey);
  assertEq(await text(page.locator('#who-role')), 'admin', 'role badge');
  assertEq(await page.evaluate(() => sessionStorage.getItem('bunsen.apiKey')), daemon.adminKey, 'key in sessionStorage');
  assertEq(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
  assert(await page.getByRole('link', { name: 'Audit log' }).isVisible(), 'audit link for admin');
  assert(await page.getByRole('link', { name: 'API keys' }).isVisible(), 'keys link for admin');
  await page.getByRole('heading', { name: 'Experiments', exact: true }).waitFor();
  noErrors();
});

T.test('metric form: every problem at once, in words (no regex)', async () => {
  await go(page, '/metrics/new');
  await page.getByRole('heading', { name: 'New metric' }).waitFor();
  await page.getByLabel('Key', { exact: true }).fill('Bad Key');
  await page.getByLabel('Window (hours after first exposure)').fill('0');
  await page.getByRole('button', { name: 'Create metric' }).click();
  await page.locator('.form-errors [role="alert"]').waitFor();
  const invalid = await page.locator('[aria-invalid="true"]').evaluateAll((els) => els.map((e) => e.dataset.field));
  for (const f of ['key', 'event', 'window_hours']) assert(invalid.includes(f), `${f} marked invalid at once (${invalid})`);
  assert(/3 fields need attention/.test(await text(page.locator('.form-errors'))), 'summary counts the problems');
  const all = await text(page.locator('main'));
  assert(!/\^\[|\{0,63\}|\$\)/.test(all), 'no regular expression shown to a person');
  assert(/lower-case/.test(await text(page.locator('.field:has([data-field="key"]) .field-error'))), 'the key error says what to do');
  noErrors();
});

T.test('create a metric; the toast can be dismissed and never covers the page', async () => {
  await go(page, '/metrics/new');
  await page.getByRole('heading', { name: 'New metric' }).waitFor();
  await page.getByLabel('Key', { exact: true }).fill('purchase');
  await page.getByLabel('Name', { exact: true }).fill('Purchase');
  await page.getByLabel('Event name').fill('purchase');
  await page.getByLabel('Type').selectOption('binomial');
  await page.getByLabel('Window (hours after first exposure)').fill('72');
  await page.getByRole('button', { name: 'Create metric' }).click();
  await page.locator('#metrics-table tr[data-key="purchase"]').waitFor();
  const m = await admin.get('/metrics/purchase');
  assertEq(m.type, 'binomial', 'type stored');
  assertEq(m.window_hours, 72, 'window stored');
  assertEq(m.name, 'Purchase', 'name stored');
  // the toast: in the page flow above the content, dismissable
  const toast = page.locator('#toasts .toast', { hasText: 'Metric purchase created' });
  await toast.waitFor();
  assert((await page.locator('#toasts').evaluate((e) => getComputedStyle(e).position)) !== 'fixed', 'toasts are not fixed over the page');
  const [tb, mb] = [await toast.boundingBox(), await page.locator('main').boundingBox()];
  assert(tb.y + tb.height <= mb.y + 1, 'the toast sits above the content, not over it');
  await toast.getByRole('button', { name: 'Dismiss notification' }).click();
  await toast.waitFor({ state: 'detached' });
  // two more through the API, for the experiment below (latency in milliseconds)
  await admin.post('/metrics', { key: 'revenue', name: 'Revenue', event: 'purchase', type: 'sum', cap: 500 });
  await admin.post('/metrics', { key: 'latency', name: 'Latency', event: 'latency', type: 'sum', goal: 'decrease', unit: 'duration' });
  noErrors();
});

T.test('edit a metric: currency unit; toasts do not follow to other pages', async () => {
  await go(page, '/metrics/revenue');
  await page.getByRole('heading', { name: 'Edit Revenue' }).waitFor();
  await page.getByLabel('Cap per user').fill('400');
  await page.getByLabel('Unit', { exact: true }).selectOption('currency');
  await page.getByLabel('Currency code').fill('eur');
  await page.getByRole('button', { name: 'Save metric' }).click();
  await page.locator('#metrics-table tr[data-key="revenue"]').waitFor();
  const m = await admin.get('/metrics/revenue');
  assertEq(m.cap, 400, 'cap updated');
  assertEq(m.unit, 'currency', 'unit stored');
  assertEq(m.currency, 'EUR', 'currency code stored, upper-case');
  assertEq(await text(page.locator('#metrics-table tr[data-key="revenue"] [data-label="Unit"]')), 'EUR', 'unit in the catalogue');
  assertEq(await text(page.locator('#metrics-table tr[data-key="latency"] [data-label="Unit"]')), 'duration', 'duration unit in the catalogue');
  await page.locator('#toasts .toast', { hasText: 'Metric revenue saved' }).waitFor();
  await page.waitForTimeout(1100);
  await go(page, '/power');
  await page.getByRole('heading', { name: 'Power calculator' }).waitFor();
  assertEq(await page.locator('#toasts .toast').count(), 0, 'the old page’s toast is gone');
  noErrors();
});

T.test('a binomial metric has no cap field (the server refuses a cap on one)', async () => {
  await go(page, '/metrics/new');
  const typeSel = page.getByLabel('Type', { exact: true });
  await typeSel.selectOption('count');
  assert(await page.getByLabel('Cap per user').isVisible(), 'a count metric has a cap field');
  await page.getByLabel('Cap per user').fill('7');
  await typeSel.selectOption('binomial');
  assert(!(await page.getByLabel('Cap per user').isVisible()), 'a binomial metric has no cap field');
  await page.getByLabel('Key', { exact: true }).fill('bin-nocap');
  await page.getByLabel('Event name').fill('bin_nocap');
  await page.getByRole('button', { name: 'Create metric' }).click();
  await page.locator('#metrics-table tr[data-key="bin-nocap"]').waitFor();
  assertEq((await admin.get('/metrics/bin-nocap')).cap, null, 'saved without the cap typed before');
  noErrors();
});

T.test('create an experiment: the server error shows at the field, fix it, start it', async () => {
  await go(page, '/experiments/new');
  await page.getByRole('heading', { name: 'New experiment' }).waitFor();
  await page.getByLabel('Key', { exact: true }).fill('Checkout Button');
  await page.getByLabel('Name', { exact: true }).fill('Checkout button colour');
  await page.getByLabel('Owner').fill('pm@example.com');
  await page.getByLabel('Hypothesis').fill('A green or blue button raises purchases');
  await page.locator('input[data-field="variants[1].key"]').fill('green');
  await page.locator('input[data-field="variants[1].name"]').fill('Green button');
  await page.getByRole('button', { name: 'Add variant' }).click();
  await page.locator('input[data-field="variants[2].key"]').fill('blue');
  await page.locator('input[data-field="variants[2].name"]').fill('Blue button');
  await page.locator('input[data-field="variants[0].weight"]').fill('50');
  await page.locator('input[data-field="variants[1].weight"]').fill('30');
  await page.locator('input[data-field="variants[2].weight"]').fill('30');
  assert((await text(page.locator('.sum-check'))).includes('must add up to 100%'), 'live sum check warns at 110%');
  // targeting through the rule editor, reflected in the JSON view
  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.getByLabel('Rule 1 attribute').fill('country');
  await page.getByLabel('Rule 1 operator').selectOption('$in');
  await page.getByLabel('Rule 1 value').fill('NL, BE');
  assertEq(JSON.stringify(JSON.parse(await page.getByLabel('Condition as JSON').inputValue())), '{"country":{"$in":["NL","BE"]}}', 'JSON view of the rules');
  await page.locator('fieldset[data-field="metrics"] input[value="purchase"]').check();
  await page.locator('fieldset[data-field="metrics"] input[value="revenue"]').check();
  await page.locator('fieldset[data-field="guardrails"] input[value="latency"]').check();
  await page.getByLabel('Primary metric').selectOption('purchase');
  await page.getByRole('button', { name: 'Create experiment' }).click();

  // both problems at once: the key (in words) and the weights, each at its field
  const invalid = page.locator('[aria-invalid="true"]');
  await invalid.first().waitFor();
  const marked = await invalid.evaluateAll((els) => els.map((e) => e.dataset.field));
  assert(marked.includes('key'), `key marked (${marked})`);
  assert(/lower-case/.test(await text(page.locator('.field:has([data-field="key"]) .field-error'))), 'key error in words');
  assert(!/\^\[a-z0-9\]/.test(await text(page.locator('main'))), 'no regex shown');
  const fieldName = marked.find((f) => /^variants\[\d\]\.weight$/.test(f));
  assert(fieldName, `a weight is marked too (${marked})`);
  const errText = await text(page.locator(`td:has(input[data-field="${fieldName}"]) .field-error`));
  assert(/sum/.test(errText), `error next to the weight says why (${errText})`);
  const described = await invalid.first().getAttribute('aria-describedby');
  assert(described && (await page.locator(`#${described.split(' ').pop()}`).count()) === 1, 'error linked by aria-describedby');
  assert(await page.evaluate(() => document.activeElement && document.activeElement.getAttribute('aria-invalid') === 'true'), 'focus on the invalid field');
  noErrors(ALLOW_400);
  await page.getByLabel('Key', { exact: true }).fill(EXP);

  await page.getByRole('button', { name: 'Split evenly' }).click();
  assert((await text(page.locator('.sum-check'))).includes('✓'), 'sum check ok after split');
  await page.getByRole('button', { name: 'Create experiment' }).click();
  await page.getByRole('heading', { name: /Checkout button colour/ }).waitFor();
  assertEq(await text(page.locator('h1 .badge')), 'draft', 'draft after create');
  const x = await admin.get(`/experiments/${EXP}`);
  assertEq(x.variants.length, 3, 'three variants');
  assert(Math.abs(x.variants.reduce((s, v) => s + v.weight, 0) - 1) < 1e-6, 'weights sum to 1');
  assertEq(JSON.stringify(x.targeting), '{"country":{"$in":["NL","BE"]}}', 'targeting stored');
  assertEq(x.primary_metric, 'purchase', 'primary metric');
  assertEq(x.guardrails.join(','), 'latency', 'guardrails');

  await page.getByRole('button', { name: 'Start', exact: true }).click();
  const dlg = page.getByRole('dialog');
  await dlg.waitFor();
  assert(/split between control/.test(await text(dlg)), 'start dialog says what happens to users');
  await dlg.getByRole('button', { name: 'Start experiment' }).click();
  await page.locator('h1 .badge', { hasText: 'running' }).waitFor();
  assertEq((await admin.get(`/experiments/${EXP}`)).status, 'running', 'running in the API');
  noErrors();
});

T.test('ingest exposures and events through the API', async () => {
  const x = await admin.get(`/experiments/${EXP}`);
  const rand = rng(42);
  const t0 = x.started_at + 1;
  const span = Math.max(2000, Date.now() - t0);
  const N = 3000;
  const rates = { control: 0.1, green: 0.14, blue: 0.085 };
  const exposures = [];
  const events = [];
  for (let i = 0; i < N; i++) {
    const user = `user-${i}`;
    const variant = x.variants[i % 3].key;
    const ts = t0 + Math.floor((i / N) * (span / 2));
    exposures.push({ experiment: EXP, user_id: user, variant, ts });
    const loyal = rand() < 0.3;
    if (loyal) events.push({ user_id: user, event: 'purchase', value: 20 + 30 * rand(), ts: ts - 86400000, id: `pre-${i}` });
    if (rand() < rates[variant] * (loyal ? 1.8 : 0.7)) {
      events.push({ user_id: user, event: 'purchase', value: Math.round((15 + 60 * rand()) * 100) / 100, ts: ts + Math.floor(span / 4), id: `buy-${i}` });
    }
    events.push({ user_id: user, event: 'latency', value: 180 + 40 * rand() + (variant === 'blue' ? 15 : 0), ts: ts + 1, id: `lat-${i}` });
  }
  // stay under the server clock: events must not count from the future
  while (Date.now() < t0 + span) await new Promise((r) => setTimeout(r, 50));
  const a = await admin.post('/exposures', { exposures });
  assertEq(a.accepted, N, 'exposures accepted');
  const b = await admin.post('/events', { events });
  assertEq(b.accepted, events.length, 'events accepted');
  const again = await admin.post('/events', { events: events.slice(0, 10) });
  assertEq(again.duplicates, 10, 'idempotent events');

  // a second experiment with a broken split, for the SRM warning
  await admin.post('/experiments', { key: 'srm-demo', name: 'Banner with broken logging', variants: [{ key: 'control', weight: 0.5 }, { key: 'banner', weight: 0.5 }], metrics: ['purchase'], primary_metric: 'purchase' });
  const s = await admin.post('/experiments/srm-demo/start');
  const ex2 = [];
  for (let i = 0; i < 1800; i++) ex2.push({ experiment: 'srm-demo', user_id: `srm-${i}`, variant: i < 1000 ? 'control' : 'banner', ts: s.started_at + 1 });
  await admin.post('/exposures', { exposures: ex2 });
  await admin.post('/experiments', { key: 'draft-idea', name: 'Free shipping banner', variants: [{ key: 'control' }, { key: 'free' }] });

  // for the decision states: too few users (keep running), plenty of users and no
  // difference (no effect at this power), and no exposures at all
  const flat = async (key, name, n, rate) => {
    await admin.post('/experiments', { key, name, variants: [{ key: 'control' }, { key: 'treatment' }], metrics: ['purchase'], primary_metric: 'purchase' });
    const st = await admin.post(`/experiments/${key}/start`);
    const ex = [];
    const ev = [];
    for (let i = 0; i < n; i++) {
      const user = `${key}-${i}`;
      ex.push({ experiment: key, user_id: user, variant: i % 2 ? 'treatment' : 'control', ts: st.started_at + 1 });
      if (Math.floor(i / 2) % Math.round(1 / rate) === 0) ev.push({ user_id: user, event: 'purchase', ts: st.started_at + 2, id: `${key}-buy-${i}` });
    }
    while (Date.now() < st.started_at + 5) await new Promise((r) => setTimeout(r, 5));
    for (let i = 0; i < ex.length; i += 10000) await admin.post('/exposures', { exposures: ex.slice(i, i + 10000) });
    for (let i = 0; i < ev.length; i += 10000) await admin.post('/events', { events: ev.slice(i, i + 10000) });
  };
  await flat('small-test', 'Small copy change', 400, 0.5);
  await flat('no-effect', 'Footer link colour', 16000, 0.5);
  await admin.post('/experiments', { key: 'quiet', name: 'Nobody sees this yet', variants: [{ key: 'control' }, { key: 'treatment' }], metrics: ['purchase'], primary_metric: 'purchase' });
  await admin.post('/experiments/quiet/start');
  noErrors();
});

T.test('results page shows the same numbers as the JSON API', async () => {
  await go(page, `/experiments/${EXP}`);
  await waitResults(page, 'frequentist');
  await compareResults(page, { method: 'frequentist', cuped: 'true', correction: 'none' });
  // the time series is a request of its own, answered after the results or before
  await page.locator('.ts-box svg.chart.lift').waitFor();
  assert((await page.locator('svg.chart.lift').count()) === 1, 'time-series chart drawn');
  assert((await page.locator('svg.chart.lift .series').count()) === 2, 'one series per treatment');
  assertEq(await page.locator('.srm-banner').count(), 0, 'no SRM banner on a healthy split');
  assert(await page.getByRole('button', { name: 'Download CSV' }).isVisible(), 'CSV button');
  // units: revenue in euros, latency in milliseconds
  assert((await text(cell(page, 'revenue', 'control', 'mean'))).startsWith('€'), 'revenue in EUR');
  assert(/ ms$/.test(await text(cell(page, 'latency', 'control', 'mean').locator('.mean-value'))), 'latency in ms');
  assert(/ ms /.test(await text(cell(page, 'latency', 'green', 'abs'))), 'latency lift in ms');
  noErrors();
});

T.test('health: SRM always visible (OK, p = …) and exposures per variant per day', async () => {
  const r = await admin.get(`/experiments/${EXP}/results`);
  const srm = page.locator('#srm-status');
  await srm.waitFor();
  assertEq(await srm.getAttribute('data-srm'), 'ok', 'healthy split');
  assert((await text(srm)).includes(`OK, ${txt.pEq(r.srm.p_value)}`), `SRM OK with its p-value (${await text(srm)})`);
  const table = page.locator('#exposures-table');
  await table.waitFor({ state: 'attached' });
  for (const v of r.variants) {
    const counts = await table.locator(`td[data-variant="${v.key}"]`).allTextContents();
    const sum = counts.reduce((a, t) => a + Number(t.replace(/,/g, '')), 0);
    assertEq(sum, v.users, `exposures per day of ${v.key} add up to its users`);
  }
  assert((await page.locator('#health svg.chart.bars rect.bar').count()) >= r.variants.length, 'a bar per variant and day');
  noErrors();
});

T.test('decision panel: days running, users so far vs needed, days left, a state per variant', async () => {
  const d = await compareDecision(page, EXP);
  const states = d.rows.map((row) => row.state);
  assert(states.includes('ship'), `green is a ship candidate (${states})`);
  assert(states.includes('harm'), `blue harms the latency guardrail (${states})`);
  assertEq(await text(page.locator('#days-running')), 'less than a day', 'started today');
  assertEq(await text(page.locator('#days-left')), 'after one full day', 'days left needs a day of traffic');
  // the names typed in the form, not the keys (review dash36 F2)
  assert(/^Ship Green button/.test(d.overall.headline), `headline says what to do (${d.overall.headline})`);
  for (const [key, state] of [['small-test', 'running'], ['no-effect', 'no-effect']]) {
    await go(page, `/experiments/${key}`);
    const dd = await compareDecision(page, key);
    assertEq(dd.rows[0].state, state, `${key} state`);
  }
  assert(/^Keep running|^Stop: no effect/.test(await text(page.locator('#decision-headline'))), 'plain-language headline');
  await go(page, '/experiments/quiet');
  await page.locator('#srm-status[data-srm="none"]').waitFor();
  assert(/nothing to check yet/.test(await text(page.locator('#srm-status'))), 'no exposures: says the check has not started');
  assert(!/no exposed users: no sample ratio test/.test(await text(page.locator('main'))), 'not the old wording');
  await waitText(page.locator('#decision-headline'), 'Wait: no exposures yet', 'no exposures: wait');
  noErrors();
});

T.test('verdicts follow the relative interval drawn (the sequential case of the issue)', async () => {
  // the walk-through's revenue: absolute test significant, relative interval crossing 0
  const v = { relative_lift: { estimate: 0.4, ci: [-0.013, 1.188], p_value: 0.0586 }, absolute_lift: { estimate: 2, ci: [0.5, 3.5] }, p_value: 0.006, significant: true };
  assertEq(fmt.verdict(v, 'increase', { method: 'sequential', alpha: 0.05, correction: 'none' }), 'flat', 'not significant beside an interval crossing 0');
  assertEq(fmt.significanceText(v, { method: 'sequential', correction: 'none' }), '0.0586', 'the p-value shown is the relative one');
  assertEq(fmt.fmtProb(0.99999), '>99.9%', 'no 100.0%');
  assertEq(fmt.fmtProb(0.0000001), '<0.1%', 'no 0.0%');
  // and on the page, in every method (compareResults checks each cell against its interval)
  await go(page, `/experiments/${EXP}?method=sequential&cuped=true&correction=none`);
  await waitResults(page, 'sequential');
  await compareResults(page, { method: 'sequential', cuped: 'true', correction: 'none' });
  noErrors();
});

T.test('screenshot of the results page', async () => {
  if (!SCREENSHOT) return;
  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await go(page, `/experiments/${EXP}`);
  await waitResults(page, 'frequentist');
  await page.locator('#decision-headline').waitFor();
  await page.locator('#exposures-table').waitFor({ state: 'attached' });
  await page.evaluate(() => {
    document.activeElement && document.activeElement.blur();
    document.getElementById('toasts').replaceChildren();
    window.scrollTo(0, 0);
  });
  await page.locator('.ts-box details.data-table').waitFor();
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  const dir = dirname(SCREENSHOT);
  await page.locator('#decision').screenshot({ path: `${dir}/decision.png` });
  await page.locator('#health').screenshot({ path: `${dir}/health.png` });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator('#decision-table').waitFor();
  await page.locator('#decision').screenshot({ path: `${dir}/decision-phone.png` });
  await page.setViewportSize({ width: 1280, height: 800 });
  noErrors();
});

T.test('toggle Bayesian: chance to beat control equals the API', async () => {
  await page.getByLabel('Bayesian').check();
  await waitResults(page, 'bayesian');
  await compareResults(page, { method: 'bayesian', cuped: 'true', correction: 'none' });
  assert(page.url().includes('method=bayesian'), 'method kept in the URL');
  const notes = await text(page.locator('section.metric-result[data-metric="purchase"] .notes'));
  assert(/expected loss if shipped and wrong [+−]?[\d.]+ pp \((<)?[\d.]+% of the control’s mean\)/.test(notes), `expected loss as a percentage (${notes})`);
  assert(!/\d\.\d{6,}/.test(notes), `no raw long decimals (${notes})`);
  noErrors();
});

T.test('sequential shows the always-valid note; CUPED off and Holm match the API', async () => {
  await page.getByLabel('Sequential').check();
  await waitResults(page, 'sequential');
  await page.locator('.always-valid').waitFor();
  await page.getByLabel('CUPED', { exact: true }).uncheck();
  await page.getByLabel('Correction').selectOption('holm');
  await page.locator('table.results-table thead th', { hasText: 'p-value (Holm, relative lift)' }).first().waitFor();
  await page.locator('.results-body[aria-busy="false"] .computed', { hasText: 'holm correction' }).waitFor();
  await compareResults(page, { method: 'sequential', cuped: 'false', correction: 'holm' });
  // reload keeps the choices (they live in the URL)
  await page.reload();
  await page.locator('.results-body[aria-busy="false"] .computed', { hasText: 'holm correction' }).waitFor();
  assert(await page.getByLabel('Sequential').isChecked(), 'sequential kept after reload');
  assert(!(await page.getByLabel('CUPED', { exact: true }).isChecked()), 'CUPED off kept after reload');
  noErrors();
});

T.test('download CSV equals the API CSV; copy JSON URL', async () => {
  const params = { method: 'sequential', cuped: 'false', correction: 'holm', alpha: '0.05' };
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  assertEq(download.suggestedFilename(), `${EXP}-results.csv`, 'file name');
  const csv = readFileSync(await download.path(), 'utf8');
  const api = await admin.get(`/experiments/${EXP}/results?${new URLSearchParams({ ...params, format: 'csv' })}`, { text: true });
  assertEq(csv, api, 'CSV body');
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: daemon.url });
  await page.getByRole('button', { name: 'Copy JSON URL' }).click();
  // the page writes the clipboard asynchronously and says so once written
  await page.locator('#toasts .toast', { hasText: 'JSON URL copied' }).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  const u = new URL(copied);
  assertEq(u.origin + u.pathname, `${daemon.url}/api/v1/experiments/${EXP}/results`, 'copied URL path');
  for (const [k, v] of Object.entries(params)) assertEq(u.searchParams.get(k), v, `copied URL ${k}`);
  noErrors();
});

T.test('experiments list: users, headline, SRM icon, filter and search', async () => {
  await go(page, '/experiments');
  const row = page.locator(`#experiments-table tr[data-key="${EXP}"]`);
  await row.locator('[data-label="Users"] [data-value]').waitFor();
  const r = await admin.get(`/experiments/${EXP}/results`);
  const users = r.variants.reduce((s, v) => s + v.users, 0);
  assertEq(await text(row.locator('[data-label="Users"]')), txt.int(users), 'users so far');
  const green = r.metrics.find((m) => m.key === 'purchase').variants.find((v) => v.key === 'green');
  assert((await text(row.locator('[data-label="Primary metric"]'))).includes(txt.pct(green.relative_lift.estimate)), 'headline lift of green');
  assertEq(await text(row.locator('[data-label="Status"]')), 'running', 'status badge');
  assertEq(await text(row.locator('[data-label="Variants"]')), 'control, green, blue', 'variants');
  const srmRow = page.locator('#experiments-table tr[data-key="srm-demo"]');
  await srmRow.locator('.srm-icon').waitFor();
  assertEq(await row.locator('.srm-icon').count(), 0, 'no SRM icon on a healthy split');
  assertEq(await text(row.locator('.srm-cell')), 'OK', 'a healthy split says so');
  assertEq(await text(row.locator('.list-decision')), decide(await admin.get(`/experiments/${EXP}`), r, []).overall.headline, 'the decision in the list');
  await page.getByLabel('Search').fill('banner');
  await page.locator('#list-count', { hasText: '2 experiments' }).waitFor();
  assert(await row.isHidden(), 'search hides non-matching rows');
  await page.getByLabel('Status').selectOption('draft');
  await page.locator('#experiments-table tr[data-key="draft-idea"]').waitFor();
  assertEq(await page.locator('#experiments-table tbody tr').count(), 1, 'only drafts listed');
  noErrors();
});

T.test('SRM banner on a mismatched experiment', async () => {
  await go(page, '/experiments/srm-demo');
  await page.locator('.srm-banner').waitFor();
  assert(/Sample ratio mismatch/.test(await text(page.locator('.srm-banner'))), 'banner text');
  noErrors();
});

T.test('a running experiment: assignment fields are read-only with a reason', async () => {
  await go(page, `/experiments/${EXP}/edit`);
  await page.getByRole('heading', { name: /^Edit / }).waitFor();
  assert(await page.locator('input[data-field="variants[1].weight"]').evaluate((e) => e.readOnly), 'weights read-only');
  assert(await page.locator('input[data-field="variants[0].key"]').evaluate((e) => e.readOnly), 'variant keys read-only');
  assert(await page.getByLabel('Condition as JSON').evaluate((e) => e.readOnly), 'targeting read-only');
  assert(await page.getByRole('button', { name: 'Split evenly' }).isDisabled(), 'split disabled');
  assert(await page.getByLabel('Namespace').evaluate((e) => e.readOnly), 'namespace read-only');
  const note = page.locator('.lock-note').first();
  assert(/move users between variants/.test(await text(note)), 'reason shown');
  const noteId = await note.getAttribute('id');
  assert((await page.locator('input[data-field="variants[1].weight"]').getAttribute('aria-describedby')).includes(noteId), 'reason linked to the field');
  await page.getByLabel('Owner').fill('growth-team@example.com');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('h1 .badge', { hasText: 'running' }).waitFor();
  assertEq((await admin.get(`/experiments/${EXP}`)).owner, 'growth-team@example.com', 'owner saved while running');
  noErrors();
});

T.test('pause and resume; Escape cancels a dialog', async () => {
  await page.getByRole('button', { name: 'Pause' }).click();
  await page.getByRole('dialog').waitFor();
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  assertEq((await admin.get(`/experiments/${EXP}`)).status, 'running', 'still running after Escape');
  await page.getByRole('button', { name: 'Pause' }).click();
  // no default value, variants without values: /assign answers the control's key
  assert(/the control’s key \("control"\) from \/assign/.test(await text(page.getByRole('dialog'))), 'pause says users get the control');
  await page.getByRole('dialog').getByRole('button', { name: 'Pause experiment' }).click();
  await page.locator('h1 .badge', { hasText: 'paused' }).waitFor();
  await page.getByRole('button', { name: 'Resume' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Resume experiment' }).click();
  await page.locator('h1 .badge', { hasText: 'running' }).waitFor();
  noErrors();
});

T.test('stop with release of a variant and a conclusion (won + notes)', async () => {
  await page.getByRole('button', { name: 'Stop…' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.waitFor();
  assert(/every user gets that variant/.test(await text(dlg)), 'stop dialog explains the release');
  await dlg.getByLabel('Release a variant to everyone').selectOption('green');
  assert(await dlg.getByLabel(/^None/).isChecked(), 'no outcome preselected (a conclusion is optional)');
  await dlg.getByLabel(/^Notes/).fill('Green: +4 points of purchases.\nBlue hurt latency.');
  await dlg.getByRole('button', { name: 'Stop experiment' }).click();
  await dlg.locator('fieldset[data-field="conclusion.outcome"] .field-error', { hasText: 'Notes belong to an outcome' }).waitFor();
  assertEq((await admin.get(`/experiments/${EXP}`)).status, 'running', 'not stopped with notes but no outcome');
  await dlg.getByLabel(/^Won/).check();
  await dlg.getByRole('button', { name: 'Stop experiment' }).click();
  await page.locator('h1 .badge', { hasText: 'stopped' }).waitFor();
  assertEq(await text(page.locator('#released-variant')), 'green', 'released variant shown');
  const x = await admin.get(`/experiments/${EXP}`);
  assertEq(x.status, 'stopped', 'stopped in the API');
  assertEq(x.released_variant, 'green', 'released in the API');
  assertEq(x.conclusion.outcome, 'won', 'conclusion stored');
  assertEq(x.conclusion.notes, 'Green: +4 points of purchases.\nBlue hurt latency.', 'notes stored');
  assert(/Conclusion: Won/.test(await text(page.locator('#conclusion'))), 'conclusion shown on the page');
  assert((await text(page.locator('#conclusion .notes-text'))).includes('Blue hurt latency.'), 'notes shown');
  assertEq(await text(page.locator('#days-left')), '—', 'no days left once stopped');
  const a = await admin.post('/assign', { user_id: 'someone-new', attributes: { country: 'NL' }, experiments: [EXP] });
  assertEq(a.assignments[EXP].variant, 'green', 'users now get green');
  assert(await page.getByRole('button', { name: 'Archive' }).isVisible(), 'archive offered after stop');
  noErrors();
});

T.test('the list shows the conclusion; a stopped experiment’s conclusion can be edited', async () => {
  await go(page, '/experiments?status=stopped');
  const row = page.locator(`#experiments-table tr[data-key="${EXP}"]`);
  await row.waitFor();
  assertEq(await text(row.locator('[data-label="Status"] .outcome')), 'Won', 'outcome in the list');
  assert((await row.locator('[data-label="Status"] .outcome').getAttribute('title')).includes('Blue hurt latency.'), 'notes on hover');
  await go(page, `/experiments/${EXP}`);
  await page.getByRole('button', { name: 'Edit conclusion' }).click();
  const dlg = page.getByRole('dialog');
  assert(await dlg.getByLabel(/^Won/).isChecked(), 'current outcome preselected');
  await dlg.getByLabel(/^Inconclusive/).check();
  await dlg.getByRole('button', { name: 'Save conclusion' }).click();
  await page.locator('#conclusion', { hasText: 'Inconclusive' }).waitFor();
  assertEq((await admin.get(`/experiments/${EXP}`)).conclusion.outcome, 'inconclusive', 'changed in the API');
  await page.getByRole('button', { name: 'Edit conclusion' }).click();
  await dlg.getByLabel(/^Won/).check();
  await dlg.getByRole('button', { name: 'Save conclusion' }).click();
  await page.locator('#conclusion', { hasText: 'Won' }).waitFor();
  noErrors();
});

T.test('edit a draft: namespace error at the field, forced users, targeting as JSON', async () => {
  await go(page, '/experiments/draft-idea/edit');
  await page.getByRole('heading', { name: 'Edit Free shipping banner' }).waitFor();
  await page.getByLabel('Namespace').fill('checkout');
  await page.getByLabel('Range start').fill('0.6');
  await page.getByLabel('Range end').fill('0.2');
  await page.getByRole('button', { name: 'Add forced user' }).click();
  await page.getByLabel('Forced user 1 id').fill('qa-1');
  await page.getByLabel('Forced user 1 variant').selectOption('free');
  await page.getByLabel('Condition as JSON').fill('{"$or": [{"country": "NL"}, {"age": {"$gte": 18}}]}');
  assert(await page.getByLabel('any rule (OR)').isChecked(), 'the rules follow the JSON: OR');
  assertEq(await page.getByLabel('Rule 2 attribute').inputValue(), 'age', 'rule 2 attribute');
  assertEq(await page.getByLabel('Rule 2 operator').inputValue(), '$gte', 'rule 2 operator');
  assertEq(await page.getByLabel('Rule 2 value').inputValue(), '18', 'rule 2 value');
  await page.getByRole('button', { name: 'Save changes' }).click();
  const err = page.locator('[data-field="namespace.range"] .field-error');
  await err.waitFor();
  assert(/start < end/.test(await text(err)), `range error next to the range (${await text(err)})`);
  noErrors();
  await page.getByLabel('Range start').fill('0');
  await page.getByLabel('Range end').fill('0.5');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('h1 .badge', { hasText: 'draft' }).waitFor();
  const x = await admin.get('/experiments/draft-idea');
  assertEq(JSON.stringify(x.namespace), '{"name":"checkout","range":[0,0.5]}', 'namespace saved');
  assertEq(x.forced['qa-1'], 'free', 'forced user saved');
  assertEq(JSON.stringify(x.targeting), '{"$or":[{"country":"NL"},{"age":{"$gte":18}}]}', 'targeting saved');
  noErrors();
});

T.test('variant values: a JSON value per variant, a bad one shows at its field (issue 15)', async () => {
  await go(page, '/experiments/new');
  await page.getByRole('heading', { name: 'New experiment' }).waitFor();
  await page.getByLabel('Key', { exact: true }).fill('typed-values');
  await page.locator('input[data-field="variants[0].key"]').fill('off');
  await page.locator('input[data-field="variants[1].key"]').fill('on');
  await page.getByLabel('Variant 1 value (JSON)').fill('{"color": "red", "size": 2}');
  await page.getByLabel('Variant 2 value (JSON)').fill('blue'); // not JSON: refused in the form
  await page.getByRole('button', { name: 'Create experiment' }).click();
  const bad = page.locator('[aria-invalid="true"]');
  await bad.first().waitFor();
  assertEq(await bad.first().getAttribute('data-field'), 'variants[1].value', 'the invalid value is marked');
  await page.getByLabel('Variant 2 value (JSON)').fill('"blue"'); // JSON, but not the type of variant 1
  await page.getByRole('button', { name: 'Create experiment' }).click();
  await page.locator('[aria-invalid="true"][data-field="variants[1].value"]').waitFor();
  await page.getByLabel('Variant 2 value (JSON)').fill('{"color": "blue"}');
  await page.getByRole('button', { name: 'Create experiment' }).click();
  await page.locator('h1', { hasText: 'typed-values' }).waitFor();
  const x = await admin.get('/experiments/typed-values');
  assertEq(JSON.stringify(x.variants.map((v) => v.value)), '[{"color":"red","size":2},{"color":"blue"}]', 'values stored with their JSON types');
  // the form shows them back when editing
  await go(page, '/experiments/typed-values/edit');
  await page.locator('h1', { hasText: 'Edit' }).waitFor();
  assertEq(JSON.parse(await page.getByLabel('Variant 1 value (JSON)').inputValue()).color, 'red', 'value shown when editing');
  noErrors([/status of 400/]); // the create refused for mixing an object with a string
});

T.test('the experiment’s minimum detectable effect is typed in percent', async () => {
  if (!('mde' in (await admin.get('/experiments/draft-idea')))) {
    console.log('# SKIP the server has no experiment mde yet (issue 13)');
    return;
  }
  await go(page, '/experiments/draft-idea/edit');
  await page.getByRole('heading', { name: 'Edit Free shipping banner' }).waitFor();
  await page.getByLabel('Minimum detectable effect (%)').fill('0');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('.field:has([data-field="mde"]) .field-error').waitFor();
  await page.getByLabel('Minimum detectable effect (%)').fill('10');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('h1 .badge', { hasText: 'draft' }).waitFor();
  assertEq((await admin.get('/experiments/draft-idea')).mde, 0.1, '10% stored as 0.1');
  noErrors();
});

T.test('dimension breakdowns: set in the form, "Breakdown by" shows each value as the API (issue 13)', async () => {
  if (!('dimensions' in (await admin.get('/experiments/draft-idea')))) {
    console.log('# SKIP the server has no experiment dimensions yet (issue 13)');
    return;
  }
  await admin.post('/experiments', { key: 'by-country', name: 'Checkout copy by country', variants: [{ key: 'control' }, { key: 'short' }], metrics: ['purchase', 'revenue'], primary_metric: 'purchase' });
  await go(page, '/experiments/by-country/edit');
  await page.getByRole('heading', { name: 'Edit Checkout copy by country' }).waitFor();
  // four are too many: said at the field, in words, before any request
  await page.getByLabel('Breakdown dimensions').fill('country, device, plan, browser');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('.field:has([data-field="dimensions"]) .field-error').waitFor();
  assert(/at most 3/.test(await text(page.locator('.field:has([data-field="dimensions"]) .field-error'))), 'cap explained');
  await page.getByLabel('Breakdown dimensions').fill('country, device');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.locator('h1 .badge', { hasText: 'draft' }).waitFor();
  assertEq((await admin.get('/experiments/by-country')).dimensions.join(','), 'country,device', 'dimensions stored');
  assert((await text(page.locator('.config'))).includes('country, device'), 'shown in the configuration');

  const st = await admin.post('/experiments/by-country/start');
  const rand = rng(7);
  const countries = ['NL', 'DE', 'FR', null];
  const ex = [];
  const ev = [];
  for (let i = 0; i < 1200; i++) {
    const user = `bc-${i}`;
    const country = countries[i % 4];
    const variant = rand() < 0.5 ? 'control' : 'short';
    const attributes = { device: i % 3 ? 'desktop' : 'mobile' };
    if (country) attributes.country = country;
    ex.push({ experiment: 'by-country', user_id: user, variant, ts: st.started_at + 1, attributes });
    const rate = (variant === 'short' && country === 'DE' ? 0.3 : 0.12);
    if (rand() < rate) ev.push({ user_id: user, event: 'purchase', value: Math.round(2000 + 4000 * rand()) / 100, ts: st.started_at + 2, id: `bc-buy-${i}` });
  }
  while (Date.now() < st.started_at + 5) await new Promise((r) => setTimeout(r, 5));
  await admin.post('/exposures', { exposures: ex });
  await admin.post('/events', { events: ev });

  await go(page, '/experiments/by-country');
  await page.reload(); // the page showed the draft (same URL): render it running
  await waitResults(page, 'frequentist');
  await page.getByLabel('Breakdown by', { exact: true }).selectOption('country');
  await page.getByRole('heading', { name: 'Breakdown by country' }).waitFor();
  assert(/dimension=country/.test(page.url()), 'the breakdown is in the page URL');
  const b = await admin.get('/experiments/by-country/results?dimension=country');
  assertEq(b.slices.map((s) => s.dimension_value).sort().join(','), '(none),DE,FR,NL', 'one slice per country and (none)');
  const table = page.locator('table.breakdown-table[data-metric="purchase"]');
  await table.waitFor();
  for (const sl of b.slices) {
    const m = sl.metrics.find((y) => y.key === 'purchase');
    const v = m.variants[1];
    const row = table.locator(`tr[data-value="${sl.dimension_value}"][data-variant="short"]`);
    const cells = await row.locator('td').allTextContents();
    const users = sl.variants.reduce((a, y) => a + y.users, 0);
    assertEq(cells[0].trim(), txt.int(users), `${sl.dimension_value}: users`);
    assert(cells[1].includes(txt.pEq(sl.srm.p_value)), `${sl.dimension_value}: SRM p-value shown as the health panel's (${cells[1]})`);
    assertEq(cells[5].trim(), txt.pct(v.relative_lift.estimate), `${sl.dimension_value}: relative lift`);
    assertEq(cells[7].trim(), txt.significance(v, b), `${sl.dimension_value}: p-value`);
  }
  // Holm over every slice: the header says so and the p-values are the API's
  await page.getByLabel('Correction').selectOption('holm');
  await page.locator('table.breakdown-table th', { hasText: 'Holm, all slices' }).first().waitFor();
  const bh = await admin.get('/experiments/by-country/results?dimension=country&correction=holm');
  const de = bh.slices.find((s) => s.dimension_value === 'DE').metrics.find((y) => y.key === 'purchase').variants[1];
  await waitText(page.locator('table.breakdown-table[data-metric="purchase"] tr[data-value="DE"] td').nth(7), txt.significance(de, bh), 'DE adjusted p-value');
  // back to all users: the breakdown goes away
  await page.getByLabel('Breakdown by', { exact: true }).selectOption('');
  await page.locator('section.breakdown[hidden]').waitFor({ state: 'attached' });
  noErrors();
});

T.test('admin creates an API key (shown once) and revokes it', async () => {
  await go(page, '/keys');
  await page.getByLabel('Name', { exact: true }).fill('checkout-svc');
  await page.getByLabel('Role', { exact: true }).selectOption('sdk');
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = page.locator('.alert-ok input');
  await secret.waitFor();
  const key = await secret.inputValue();
  assert(/^bsn_/.test(key), 'secret shown');
  const assign = () => fetch(`${daemon.url}/api/v1/assign`, { method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ user_id: 'u-1', log_exposure: false }) });
  assertEq((await assign()).status, 200, 'the new sdk key works');
  await page.getByRole('button', { name: 'Revoke key checkout-svc' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  assertEq(await page.locator('#keys-table tr', { hasText: 'checkout-svc' }).count(), 0, 'row removed');
  assertEq((await assign()).status, 401, 'the revoked key is refused');
  noErrors();
});

T.test('power calculator: percentages as percentages, equals the API, clears stale answers', async () => {
  await go(page, '/power');
  await page.locator('#pw-users').waitFor();
  await page.getByLabel('Metric type').selectOption('binomial');
  await page.getByLabel('Baseline conversion rate (%)').fill('10');
  await page.getByLabel('Effect is relative to the baseline').uncheck();
  await page.getByLabel('Minimum detectable effect (percentage points)').fill('1');
  await page.getByLabel('Daily users entering the experiment').fill('2000');
  await page.getByRole('button', { name: 'Calculate' }).click();
  await page.locator('#pw-users').waitFor();
  const r = await admin.post('/power', { metric_type: 'binomial', baseline: 0.1, mde: 0.01, relative: false, alpha: 0.05, power: 0.8, variants: 2, daily_users: 2000 });
  await waitText(page.locator('#pw-users'), txt.int(r.users_per_variant), 'users per variant');
  assertEq(await text(page.locator('#pw-total')), txt.int(r.total_users), 'total users');
  assertEq(await text(page.locator('#pw-days')), txt.int(r.days), 'days');
  // another metric type: the old answer goes
  await page.getByLabel('Metric type').selectOption('mean');
  assertEq(await page.locator('#pw-users').count(), 0, 'no stale answer after switching to Mean');
  await page.locator('#pw-stale').waitFor();
  await page.getByRole('button', { name: 'Calculate' }).click();
  await page.locator('.field:has([data-field="stddev"]) .field-error').waitFor();
  assertEq(await page.locator('#pw-users').count(), 0, 'no answer while the inputs are incomplete');
  // 11.4 means 11.4%, not an error
  await page.getByLabel('Metric type').selectOption('binomial');
  await page.getByLabel('Baseline conversion rate (%)').fill('11.4');
  await page.getByRole('button', { name: 'Calculate' }).click();
  const r2 = await admin.post('/power', { metric_type: 'binomial', baseline: 0.114, mde: 0.01, relative: false, alpha: 0.05, power: 0.8, variants: 2, daily_users: 2000 });
  await waitText(page.locator('#pw-users'), txt.int(r2.users_per_variant), 'users per variant at 11.4%');
  // prefilled from an experiment's primary metric and observed traffic
  await go(page, '/power?experiment=small-test');
  await page.locator('#pw-context', { hasText: 'Prefilled from Small copy change' }).waitFor();
  const res = await admin.get('/experiments/small-test/results');
  const c = res.metrics.find((m) => m.key === 'purchase').variants[0];
  assertEq(Number(await page.getByLabel('Baseline conversion rate (%)').inputValue()), Number((c.mean * 100).toFixed(2)), 'baseline = the control’s rate');
  assertEq(await page.getByLabel('Minimum detectable effect (% of the baseline)').inputValue(), '5', 'the experiment’s MDE, as a percentage');
  assertEq(await page.getByLabel('Variants (including control)').inputValue(), '2', 'its variants');
  await page.locator('#pw-users').waitFor();
  noErrors();
});

T.test('audit log lists the changes (admin)', async () => {
  await go(page, '/audit');
  await page.locator('#audit-table tbody tr').first().waitFor();
  const actions = await page.locator('#audit-table td[data-label="Action"]').allTextContents();
  for (const a of ['experiment.stop', 'experiment.start', 'experiment.create', 'metric.create', 'metric.update']) {
    assert(actions.includes(a), `audit shows ${a}`);
  }
  await page.getByLabel('Target type').selectOption('metric');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/target_type=metric/);
  // the unfiltered rows stay until the filtered page replaces them: wait for that
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll('#audit-table td[data-label="Action"]')];
    return cells.length > 0 && cells.every((td) => td.textContent.startsWith('metric.'));
  }, null, { timeout: 10000 }).catch(() => {});
  const filtered = await page.locator('#audit-table td[data-label="Action"]').allTextContents();
  assert(filtered.length > 0 && filtered.every((a) => a.startsWith('metric.')), 'filter by target type');
  noErrors();
});

T.test('audit diffs show dates, not epoch milliseconds; the stop shows its conclusion', async () => {
  await go(page, `/audit?target_type=experiment&target=${EXP}`);
  const start = page.locator('#audit-table tr', { has: page.locator('td[data-label="Action"]', { hasText: 'experiment.start' }) });
  await start.first().waitFor();
  await start.first().locator('details summary').click();
  const diff = await text(start.first().locator('.diff'));
  assert(/started_at: null → "?\d{4}-\d\d-\d\d \d\d:\d\d UTC/.test(diff), `started_at as a date (${diff})`);
  assert(!/\d{13}/.test(diff), `no epoch milliseconds (${diff})`);
  const stop = page.locator('#audit-table tr', { has: page.locator('td[data-label="Action"]', { hasText: 'experiment.stop' }) });
  await stop.first().locator('details summary').click();
  const sd = await text(stop.first().locator('.diff'));
  assert(/conclusion: null → .*won/.test(sd), `the stop's conclusion in the audit (${sd})`);
  assert(!/\d{13}/.test(sd), `no epoch milliseconds in the stop (${sd})`);
  noErrors();
});

T.test('If-Match on edits: a concurrent change shows the latest version, with my colliding change beside it', async () => {
  const res = await fetch(`${daemon.url}/api/v1/experiments/draft-idea`, { headers: { Authorization: `Bearer ${daemon.adminKey}` } });
  if (!res.headers.get('etag')) {
    console.log('# SKIP the server sends no ETag yet (issue 16)');
    return;
  }
  const sent = [];
  const onReq = (req) => {
    if (req.method() !== 'GET' && /\/api\/v1\/(experiments|metrics)\//.test(req.url())) sent.push(req.headers()['if-match'] || null);
  };
  page.on('request', onReq);
  try {
    await go(page, '/experiments/draft-idea/edit');
    await page.getByRole('heading', { name: 'Edit Free shipping banner' }).waitFor();
    await admin.patch('/experiments/draft-idea', { owner: 'someone-else@example.com' });
    await page.getByLabel('Owner').fill('me@example.com');
    await page.getByRole('button', { name: 'Save changes' }).click();
    const alert = page.locator('.merge-note');
    await alert.waitFor();
    assert(/Someone else changed this experiment/.test(await text(alert)) && /save again/i.test(await text(alert)), 'says what happened and what to do');
    assert(/Owner: yours was “me@example.com”/.test(await text(alert)), 'my value shown, not dropped');
    assertEq((await admin.get('/experiments/draft-idea')).owner, 'someone-else@example.com', 'the other change is kept');
    assertEq(await page.getByLabel('Owner').inputValue(), 'someone-else@example.com', 'the form shows the latest');
    await alert.getByRole('button', { name: 'Use mine (Owner)' }).click();
    assertEq(await page.getByLabel('Owner').inputValue(), 'me@example.com', 'mine, on request');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('h1 .badge', { hasText: 'draft' }).waitFor();
    assertEq((await admin.get('/experiments/draft-idea')).owner, 'me@example.com', 'saved after Use mine');
    // every edit sent a tag: the PATCHes above, and a metric edit
    await go(page, '/metrics/latency');
    await page.getByRole('heading', { name: 'Edit Latency' }).waitFor();
    // a change: saving a metric unchanged sends nothing (dash36.mjs)
    await page.getByLabel('Description').fill('Page latency, edited');
    await page.getByRole('button', { name: 'Save metric' }).click();
    await page.locator('#metrics-table').waitFor();
    assert(sent.length >= 3 && sent.every((t) => t), `If-Match on every edit (${JSON.stringify(sent)})`);
  } finally {
    page.off('request', onReq);
  }
  noErrors([/status of 412/]);
});

let viewerKey;
let viewerPage;
T.test('a viewer cannot see edit buttons', async () => {
  viewerKey = (await admin.post('/keys', { name: 'read-only-analyst', role: 'viewer' })).key;
  viewerPage = await browser.context.newPage();
  const vw = watchPage(viewerPage);
  await go(viewerPage, '/experiments');
  await signIn(viewerPage, viewerKey);
  assertEq(await text(viewerPage.locator('#who-role')), 'viewer', 'viewer role shown');
  await viewerPage.locator(`#experiments-table tr[data-key="srm-demo"]`).waitFor();
  assertEq(await viewerPage.getByRole('link', { name: 'New experiment' }).count(), 0, 'no New experiment');
  assertEq(await viewerPage.getByRole('link', { name: 'Audit log' }).count(), 0, 'no audit link');
  assertEq(await viewerPage.getByRole('link', { name: 'API keys' }).count(), 0, 'no keys link');
  await go(viewerPage, '/experiments/srm-demo');
  await waitResults(viewerPage, 'frequentist');
  assertEq(await viewerPage.locator('#edit-experiment').count(), 0, 'no Edit');
  assertEq(await viewerPage.locator('.lifecycle, [data-action], #record-conclusion').count(), 0, 'no lifecycle buttons');
  await go(viewerPage, '/metrics');
  await viewerPage.locator('#metrics-table').waitFor();
  assertEq(await viewerPage.getByRole('link', { name: 'New metric' }).count(), 0, 'no New metric');
  await go(viewerPage, '/metrics/purchase');
  await viewerPage.getByText('Read-only: your role cannot change metrics.').waitFor();
  assertEq(await viewerPage.getByRole('button', { name: /Save|Delete/ }).count(), 0, 'no save/delete on a metric');
  await go(viewerPage, '/experiments/new');
  await viewerPage.getByRole('heading', { name: 'Not allowed' }).waitFor();
  const bad = vw.take();
  assert(bad.length === 0, `viewer page errors: ${JSON.stringify(bad)}`);
});

T.test('an editor sees no audit log or keys', async () => {
  const editorKey = (await admin.post('/keys', { name: 'pm-editor', role: 'editor' })).key;
  const p = await browser.context.newPage();
  const w = watchPage(p);
  await go(p, '/experiments');
  await signIn(p, editorKey);
  assertEq(await text(p.locator('#who-role')), 'editor', 'editor role shown');
  assert(await p.getByRole('link', { name: 'New experiment' }).isVisible(), 'editor may create');
  assertEq(await p.getByRole('link', { name: 'Audit log' }).count(), 0, 'no audit link');
  await go(p, '/audit');
  await p.getByRole('heading', { name: 'Not allowed' }).waitFor();
  const bad = w.take();
  assert(bad.length === 0, `editor page errors: ${JSON.stringify(bad)}`);
  await p.close();
});

T.test('a revoked key (401) brings back the sign-in', async () => {
  const keys = await admin.get('/keys');
  const k = keys.keys.find((x) => x.name === 'read-only-analyst');
  await admin.del(`/keys/${k.id}`);
  await go(viewerPage, '/metrics');
  await viewerPage.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  assert(/no longer accepted/.test(await text(viewerPage.locator('main [role="alert"]'))), 'says why');
  assertEq(await viewerPage.evaluate(() => sessionStorage.getItem('bunsen.apiKey')), null, 'key forgotten');
  assert(await viewerPage.locator('#nav').isHidden(), 'navigation hidden');
  await viewerPage.close();
});

const PAGES = [
  ['/experiments', 'Experiments'],
  ['/experiments/new', 'New experiment'],
  [`/experiments/${EXP}`, 'Checkout button colour'],
  [`/experiments/${EXP}/edit`, 'Edit Checkout button colour'],
  ['/experiments/srm-demo', 'Banner with broken logging'],
  ['/experiments/srm-demo/edit', 'Edit Banner with broken logging'],
  ['/experiments/draft-idea', 'Free shipping banner'],
  ['/experiments/draft-idea/edit', 'Edit Free shipping banner'],
  ['/experiments/small-test', 'Small copy change'],
  ['/experiments/no-effect', 'Footer link colour'],
  ['/experiments/quiet', 'Nobody sees this yet'],
  [`/power?experiment=${EXP}`, 'Power calculator'],
  ['/experiments/by-country?dimension=country', 'Checkout copy by country'],
  ['/metrics', 'Metrics'],
  ['/metrics/new', 'New metric'],
  ['/metrics/purchase', 'Edit Purchase'],
  ['/power', 'Power calculator'],
  ['/audit', 'Audit log'],
  ['/keys', 'API keys'],
];

T.test('no console errors on any page; labels, no inline styles, fits 1280x800 and a phone', async () => {
  for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    await page.setViewportSize(size);
    for (const [hash, heading] of PAGES) {
      await go(page, hash);
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      await page.waitForLoadState('networkidle');
      await page.waitForTimeout(100);
      const issues = await page.evaluate(() => {
        const out = [];
        for (const el of document.querySelectorAll('input, select, textarea')) {
          if (el.type === 'hidden' || el.closest('[hidden]')) continue;
          const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
          if (!named) out.push(`unlabelled ${el.tagName.toLowerCase()} ${el.outerHTML.slice(0, 80)}`);
        }
        if (document.querySelector('[style]')) out.push('an element has a style attribute');
        if (document.querySelector('script:not([src])')) out.push('an inline script');
        if (document.documentElement.scrollWidth > window.innerWidth + 1) out.push(`page scrolls sideways (${document.documentElement.scrollWidth} > ${window.innerWidth})`);
        for (const b of document.querySelectorAll('button, a[href]')) {
          if (!b.closest('[hidden]') && !(b.textContent.trim() || b.getAttribute('aria-label'))) out.push(`nameless ${b.tagName}`);
        }
        return out;
      });
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/${size.width}${hash.replace(/\//g, '_')}.png`, fullPage: true });
      assert(issues.length === 0, `${hash} at ${size.width}px: ${issues.join('; ')}`);
      noErrors();
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 });
});

T.test('keyboard: skip link first, then the navigation', async () => {
  await go(page, '/metrics');
  await page.reload();
  await page.getByRole('heading', { name: 'Metrics', level: 1 }).waitFor();
  await page.keyboard.press('Tab');
  assertEq(await page.evaluate(() => document.activeElement.textContent.trim()), 'Skip to content', 'skip link first');
  await page.keyboard.press('Enter');
  assertEq(await page.evaluate(() => document.activeElement.id), 'main', 'skip link moves focus to main');
  noErrors();
});

// ------------------------------------------------------------------ main

await run();

// dash36.mjs - the dashboard findings of review dash36: the metric editor turns an event
// metric into a ratio (F13), the New experiment form lists every problem in one press
// (F1), an absolute interval whose test disagrees with the verdict's is greyed and
// explained (F7), the results tables fit from 1440 to 390 px (F3/F4), Enter in the
// experiment form does not create it (F11), an unchanged metric save sends nothing
// (F14), and notes without an outcome are said beside Outcome (F10). The F5 test (a
// metric edit during a rebuild) is in rebuild.mjs, whose daemon rebuilds slowly. F2: the
// decision and the results tables use the variants' names; F6: the Bayesian note says what
// the Result column follows.
// Run through run.sh (its own daemon and Chromium).

import { suite, assert, assertEq } from './lib.mjs';

const { T, daemon, admin, page, go, goDiscarding, noErrors, text, run } = await suite({ label: 'dash36' });

function fieldError(name) {
  return page.locator(`.field:has([data-field="${name}"]) .field-error`);
}

T.test('metrics to edit (API)', async () => {
  await admin.post('/metrics', { key: 'purchase', event: 'purchase', type: 'binomial' });
  await admin.post('/metrics', { key: 'revenue', name: 'Revenue per user', event: 'purchase', type: 'sum', unit: 'currency', currency: 'EUR', cap: 500 });
  await admin.post('/metrics', { key: 'basket', event: 'basket', type: 'sum' });
});

T.test('sign in', async () => {
  await go('/experiments');
  await page.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await page.getByLabel('API key').fill(daemon.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who-role').filter({ hasText: /\w/ }).waitFor();
  noErrors();
});

T.test('F13: the metric editor turns a sum metric into a ratio', async () => {
  await go('/metrics/basket');
  await page.getByRole('heading', { name: 'Edit basket' }).waitFor();
  await page.getByLabel('Type').selectOption('ratio');
  await page.getByLabel('Numerator (above the line)').selectOption('revenue');
  await page.getByLabel('Denominator (below the line)').selectOption('purchase');
  await page.getByRole('button', { name: 'Save metric' }).click();
  await page.locator('#metrics-table').waitFor({ timeout: 5000 }).catch(async () => {
    throw new Error(`not saved: ${await text(page.locator('.form-summary, .error-summary, [role=alert]').first()).catch(() => '?')}`);
  });
  const m = await admin.get('/metrics/basket');
  assertEq(`${m.type} ${m.numerator}/${m.denominator}`, 'ratio revenue/purchase', 'saved as a ratio');
  noErrors();
});

T.test('F1: one Create press lists every problem, the targeting JSON and the namespace range among them', async () => {
  const sent = [];
  const onReq = (req) => {
    if (req.method() === 'POST') sent.push(req.url());
  };
  page.on('request', onReq);
  try {
    await go('/experiments/new');
    const L = (n) => page.getByLabel(n, { exact: true });
    await L('Key').waitFor();
    await L('Key').fill('Checkout Flow!');
    await page.getByRole('button', { name: 'Add variant' }).click();
    await page.getByLabel('Variant 3 weight').fill('40');
    await page.getByLabel('Variant 2 key').fill('control');
    await page.getByLabel('Range start').fill('0.7');
    await page.getByLabel('Range end').fill('0.2');
    await page.getByLabel('Minimum detectable effect (%)').fill('-3');
    await page.getByLabel('Breakdown dimensions').fill('a, b, c, d');
    await page.getByLabel('Condition as JSON').fill('{"country": {"$in": ["US"]');
    await page.getByRole('button', { name: 'Create experiment' }).click();
    const alert = page.locator('.form-errors .alert-error');
    await alert.waitFor();
    const items = await alert.locator('li').allTextContents();
    const all = items.join(' | ');
    for (const re of [/targeting JSON is not valid/, /key/i, /used twice/, /add up to 100%/, /minimum detectable effect/, /at most 3 attributes/, /range start must be below its end/, /name the namespace/]) {
      assert(re.test(all), `${re} listed (${all})`);
    }
    assertEq(await text(alert.locator('strong')), `${items.length} fields need attention`, 'the count is the list’s');
    assertEq(sent.length, 0, 'nothing sent');
    // the namespace named: the range problem stays, the name one goes
    await page.getByLabel('Namespace', { exact: true }).fill('checkout');
    await page.getByRole('button', { name: 'Create experiment' }).click();
    await page.waitForFunction(() => !/name the namespace/.test(document.querySelector('.form-errors').textContent));
    assert(/range start must be below its end/.test(await text(alert)), 'the range problem still listed');
  } finally {
    page.off('request', onReq);
  }
  await goDiscarding('/experiments');
  noErrors();
});

// 1,000 users per variant, 80 and 107 converted: the absolute test is significant
// (z about 2.08), the relative lift's is not (about 1.79), as in the review's bold row
const EXP = 'checkout-cta';
T.test('a running experiment whose two tests disagree on purchase, with a ratio (API)', async () => {
  await admin.post('/metrics', { key: 'rev-per-purchase', name: 'Revenue per purchase', type: 'ratio', numerator: 'revenue', denominator: 'purchase' });
  await admin.post('/experiments', {
    key: EXP,
    name: 'Checkout call to action',
    variants: [{ key: 'control', name: 'Control', weight: 0.5 }, { key: 'bold', name: 'Bold copy', weight: 0.5 }],
    metrics: ['purchase', 'revenue', 'rev-per-purchase'],
    primary_metric: 'purchase',
  });
  const st = await admin.post(`/experiments/${EXP}/start`);
  const exposures = [];
  const events = [];
  for (const [variant, buyers] of [['control', 80], ['bold', 107]]) {
    for (let i = 0; i < 1000; i++) {
      const user = `${variant}-${i}`;
      exposures.push({ experiment: EXP, user_id: user, variant, ts: st.started_at + 1 });
      if (i < buyers) events.push({ user_id: user, event: 'purchase', value: 40 + (i % 7) * 13.25, ts: st.started_at + 2, id: `${user}-p` });
    }
  }
  while (Date.now() < st.started_at + 10) await new Promise((r) => setTimeout(r, 5));
  assertEq((await admin.post('/exposures', { exposures })).accepted, exposures.length, 'exposures accepted');
  assertEq((await admin.post('/events', { events })).accepted, events.length, 'events accepted');
  const r = await admin.get(`/experiments/${EXP}/results`);
  const bold = r.metrics.find((m) => m.key === 'purchase').variants[1];
  assert(bold.significant === true && bold.relative_lift.significant === false && bold.verdict === 'flat', `the tests disagree (${JSON.stringify(bold).slice(0, 400)})`);
});

T.test('F7: an absolute interval whose test disagrees with the verdict is greyed and explained', async () => {
  await go(`/experiments/${EXP}`);
  await page.locator('.results-body[aria-busy="false"] table.results-table').first().waitFor();
  const row = page.locator('table.results-table[data-metric="purchase"] tr[data-variant="bold"]');
  assert(/Not significant/.test(await text(row.locator('[data-col="verdict"]'))), 'the verdict is the relative one’s');
  const abs = row.locator('[data-col="abs"] .abs-ci');
  assertEq(await abs.evaluate((e) => e.classList.contains('abs-disagrees')), true, 'the absolute interval is marked');
  assertEq(await abs.evaluate((e) => getComputedStyle(e, '::after').content), '" †"', 'with a † to the note');
  const notes = await text(page.locator('section.metric-result[data-metric="purchase"] .notes'));
  assert(/† bold: the absolute lift’s own test \(p = 0\.0\d+\) finds a difference and the relative lift’s \(p = 0\.0\d+\) does not/.test(notes) && /The result follows the relative lift/.test(notes), `the note says which (${notes})`);
  noErrors();
});

T.test('F2: a key typed over a default variant key clears its untouched default name; a typed name stays', async () => {
  await go('/experiments/new');
  await page.getByLabel('Variant 2 key').waitFor();
  assertEq(await page.getByLabel('Variant 2 name').inputValue(), 'Treatment', 'the default name');
  await page.getByLabel('Variant 2 key').fill('green');
  assertEq(await page.getByLabel('Variant 2 name').inputValue(), '', 'cleared with its key');
  await page.getByLabel('Variant 1 name').fill('Current page');
  await page.getByLabel('Variant 1 key').fill('base');
  assertEq(await page.getByLabel('Variant 1 name').inputValue(), 'Current page', 'a typed name stays');
  await page.locator('nav').getByRole('link', { name: 'Experiments' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Leave without saving' }).click();
  await page.waitForFunction(() => location.hash.startsWith('#/experiments') && !location.hash.includes('new'));
});

T.test('F2: the decision and the results tables name variants by the names the PM typed', async () => {
  const key = 'd36-names';
  await admin.post('/experiments', {
    key,
    variants: [{ key: 'control', weight: 0.34 }, { key: 'green', name: 'Green button', weight: 0.33 }, { key: 'bold', name: 'Bold copy', weight: 0.33 }],
    metrics: ['purchase'],
    primary_metric: 'purchase',
  });
  const st = await admin.post(`/experiments/${key}/start`);
  const exposures = [];
  const events = [];
  for (const [variant, buyers] of [['control', 80], ['green', 160], ['bold', 82]]) {
    for (let i = 0; i < 1000; i++) {
      const user = `n-${variant}-${i}`;
      exposures.push({ experiment: key, user_id: user, variant, ts: st.started_at + 1 });
      if (i < buyers) events.push({ user_id: user, event: 'purchase', ts: st.started_at + 2, id: `${user}-p` });
    }
  }
  while (Date.now() < st.started_at + 10) await new Promise((r) => setTimeout(r, 5));
  assertEq((await admin.post('/exposures', { exposures })).accepted, exposures.length, 'exposures accepted');
  assertEq((await admin.post('/events', { events })).accepted, events.length, 'events accepted');
  await go(`/experiments/${key}`);
  await page.locator('.results-body[aria-busy="false"] table.results-table').first().waitFor();
  const head = page.locator('#decision-headline');
  await page.waitForFunction(() => /^Ship/.test((document.querySelector('#decision-headline') || {}).textContent || ''));
  assertEq(await text(head), 'Ship Green button', 'the headline names the variant');
  const why = await text(page.locator('#decision-why'));
  assert(/^Green button: /.test(why) && !/\bgreen:/.test(why), `the reason names it too (${why})`);
  const state = page.locator('#decision-table tr[data-variant="green"] th');
  assertEq(await text(state.locator('.variant-name')), 'Green button', 'the state table: the name');
  assertEq(await text(state.locator('code')), 'green', 'the state table: the key beside it in monospace');
  const rows = page.locator('table.results-table[data-metric="purchase"] tbody th[data-col="variant"]');
  assertEq((await rows.locator('.variant-name').allTextContents()).join(', '), 'Green button, Bold copy', 'the results table: the names');
  assertEq((await rows.locator('code').allTextContents()).join(', '), 'green, bold', 'the results table: the keys in monospace');
  assertEq(await text(rows.first()), 'controlcontrol', 'a variant without a name: its key, then the control tag');
  assertEq(await rows.first().locator('code').count(), 0, 'and no key below it');
  noErrors();
});

T.test('F6: the Bayesian note says the Result column follows the two-sided credible interval, at the alpha in use', async () => {
  await go('/experiments/d36-names?method=bayesian');
  const note = page.locator('#bayes-note');
  await note.waitFor();
  const t = await text(note);
  assert(/The Result column follows the two-sided 95% credible interval/.test(t) && /a little above 97\.5% \(or below 2\.5%\) can still read “No credible difference”/.test(t), `the rule said (${t})`);
  await go('/experiments/d36-names?method=bayesian&alpha=0.1');
  await page.locator('#bayes-note').waitFor();
  await page.waitForFunction(() => /90% credible/.test((document.querySelector('#bayes-note') || {}).textContent || ''));
  assert(/a little above 95% \(or below 5%\)/.test(await text(page.locator('#bayes-note'))), 'from the alpha in use');
  await go('/experiments/d36-names');
  await page.locator('.results-body[aria-busy="false"] table.results-table').first().waitFor();
  assertEq(await page.locator('#bayes-note').count(), 0, 'no such note under the frequentist method');
  noErrors();
});

T.test('F3/F4: the results tables fit the page at 1440, 1280, 1000, 800 and 390 px, the result column visible', async () => {
  const widths = [1440, 1280, 1000, 900, 800, 390];
  try {
    for (const w of widths) {
      await page.setViewportSize({ width: w, height: 900 });
      await go(`/experiments/${EXP}?w=${w}`);
      await page.locator('.results-body[aria-busy="false"] table.results-table[data-metric="rev-per-purchase"]').waitFor();
      const wide = await page.locator('.table-wrap:has(> table.results-table)').evaluateAll((els) => els
        .filter((e) => e.scrollWidth > e.clientWidth + 1)
        .map((e) => `${e.querySelector('table').dataset.metric} ${e.scrollWidth}/${e.clientWidth}`));
      assertEq(wide.join(', '), '', `no results table scrolls sideways at ${w} px`);
      const hidden = await page.locator('table.results-table td[data-col="verdict"], table.results-table td[data-col="p"]').evaluateAll((els) => els
        .filter((e) => { const b = e.getBoundingClientRect(); return b.width === 0 || b.right > document.documentElement.clientWidth + 1; })
        .map((e) => `${e.closest('table').dataset.metric}/${e.dataset.col}`));
      assertEq(hidden.join(', '), '', `p-value and result visible at ${w} px`);
    }
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
  noErrors();
});

T.test('F11: Enter in a field of the New experiment form does not create it', async () => {
  const sent = [];
  const onReq = (req) => {
    if (req.method() === 'POST') sent.push(req.url());
  };
  page.on('request', onReq);
  try {
    await go('/experiments/new');
    await page.getByLabel('Key', { exact: true }).fill('enter-test');
    await page.getByLabel('Variant 2 name').fill('Bold');
    await page.getByLabel('Variant 2 name').press('Enter');
    await page.getByLabel('Key', { exact: true }).press('Enter');
    await page.waitForTimeout(300);
    assertEq(sent.length, 0, 'nothing sent');
    assert(/#\/experiments\/new$/.test(page.url()), `still on the form (${page.url()})`);
    assertEq((await admin.get('/experiments')).experiments.some((x) => x.key === 'enter-test'), false, 'not created');
  } finally {
    page.off('request', onReq);
  }
  await goDiscarding('/experiments');
  noErrors();
});

T.test('F14: saving a metric without a change sends nothing and writes no audit entry', async () => {
  const audits = async () => (await admin.get('/audit?target_type=metric&target=revenue&limit=100')).entries.length;
  const before = await audits();
  const stored = await admin.get('/metrics/revenue');
  const sent = [];
  const onReq = (req) => {
    if (req.method() === 'PATCH') sent.push(req.url());
  };
  page.on('request', onReq);
  try {
    await go('/metrics/revenue');
    await page.getByRole('heading', { name: 'Edit Revenue per user' }).waitFor();
    await page.getByRole('button', { name: 'Save metric' }).click();
    await page.locator('#metrics-table').waitFor();
    assertEq(sent.length, 0, 'no PATCH');
    assertEq(await audits(), before, 'no audit entry');
    assertEq((await admin.get('/metrics/revenue')).updated_at, stored.updated_at, 'not written');
  } finally {
    page.off('request', onReq);
  }
  noErrors();
});

T.test('F10: notes without an outcome in the Stop dialog: said beside Outcome, the group marked, focus on its radio', async () => {
  await go(`/experiments/${EXP}`);
  await page.getByRole('button', { name: 'Stop…' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.waitFor();
  await dlg.getByLabel(/^Notes/).fill('bold did not help');
  await dlg.getByRole('button', { name: 'Stop experiment' }).click();
  const group = dlg.locator('fieldset[data-field="conclusion.outcome"]');
  const msg = group.locator('.field-error');
  await msg.waitFor();
  assert(/Notes belong to an outcome/.test(await text(msg)), 'the message beside Outcome');
  assertEq(await group.getAttribute('aria-invalid'), 'true', 'the outcome group is marked');
  const describedBy = await group.getAttribute('aria-describedby');
  assertEq(describedBy, await msg.getAttribute('id'), 'and described by the message');
  assertEq(await dlg.getByLabel(/^Notes/).getAttribute('aria-invalid'), 'true', 'the notes too');
  assertEq(await page.evaluate(() => document.activeElement.type + ':' + document.activeElement.closest('fieldset').dataset.field), 'radio:conclusion.outcome', 'focus on the outcome’s radio');
  assertEq(await dlg.locator('.dialog-error .alert').count(), 0, 'not said twice at the bottom');
  assertEq((await admin.get(`/experiments/${EXP}`)).status, 'running', 'not stopped');
  await dlg.getByLabel(/^Inconclusive/).check();
  assertEq(await group.getAttribute('aria-invalid'), null, 'the mark goes with a choice');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  noErrors();
});

await run();

// dash30.mjs - the dashboard findings of the review dash30 (s30), numbered as the review
// numbers them: F1. CUPED-adjusted lifts beside raw means say so (the mean column's header,
// a note per metric and per breakdown table); F2. a decision read from uncorrected p-values
// of several comparisons says so, with a button that shows the results under Holm; F3. a
// ratio whose parts are listed is told to follow them, not to add them; F4. the results are
// no live region: a change of the options announces one line with the decision, and a cue
// near the options says the decision follows them; F5. variant values of different JSON
// types are caught in the page with the other errors (null and no value are the key, a
// string, as the server reads them); F6. ratio parts, a duration's column and a currency cap
// in their units; F7. an experiment with no exposures shows no chart and its rows agree with
// the headline. Run through run.sh (its own daemon and Chromium).

import { suite, assert, assertEq, signIn, rng } from './lib.mjs';
import { valueTypeProblems } from '../../web/js/views/experiment_rules.js';

const { T, admin, daemon, page, go, goDiscarding, noErrors, text, run } = await suite({ label: 'review dash30' });

const EXP = 'd30-main';
const EMPTY = 'd30-empty';

T.test('setup (API): five metrics, a 3-variant experiment with traffic and a pre-period, one with none', async () => {
  await admin.post('/metrics', { key: 'd30_buy', name: 'Purchase', event: 'd30_buy', type: 'binomial' });
  await admin.post('/metrics', { key: 'd30_pv', name: 'Page views', event: 'd30_pv', type: 'count' });
  await admin.post('/metrics', { key: 'd30_rev', name: 'Revenue', event: 'd30_rev', type: 'sum', unit: 'currency', currency: 'EUR', cap: 500 });
  await admin.post('/metrics', { key: 'd30_lat', name: 'Latency', event: 'd30_lat', type: 'sum', unit: 'duration', goal: 'decrease' });
  await admin.post('/metrics', { key: 'd30_aov', name: 'Revenue per order', type: 'ratio', numerator: 'd30_rev', denominator: 'd30_buy' });
  await admin.post('/experiments', {
    key: EXP,
    variants: [{ key: 'control', weight: 0.4 }, { key: 'green', weight: 0.3 }, { key: 'blue', weight: 0.3 }],
    metrics: ['d30_buy', 'd30_pv', 'd30_rev', 'd30_aov'],
    guardrails: ['d30_lat'],
    primary_metric: 'd30_buy',
    dimensions: ['device'],
    analysis: { method: 'frequentist', alpha: 0.05, cuped: true, correction: 'none' },
  });
  await admin.post('/experiments', { key: EMPTY, variants: [{ key: 'a' }, { key: 'b' }], metrics: ['d30_buy'], primary_metric: 'd30_buy' });
  await admin.post(`/experiments/${EMPTY}/start`);
  const st = await admin.post(`/experiments/${EXP}/start`);
  const rand = rng(30);
  const exposures = [];
  const events = [];
  let n = 0;
  const ev = (user, event, value, ts) => events.push({ user_id: user, event, value, ts, id: `e${++n}` });
  for (let i = 0; i < 1500; i++) {
    const user = `u-${i}`;
    const variant = ['control', 'green', 'blue'][i % 10 < 4 ? 0 : i % 10 < 7 ? 1 : 2];
    exposures.push({ experiment: EXP, user_id: user, variant, ts: st.started_at + 1, attributes: { device: Math.floor(i / 10) % 2 ? 'mobile' : 'desktop' } });
    // page views: a habit seen in the pre-period too (CUPED's covariate), no treatment effect
    const habit = Math.floor(rand() * 8);
    for (let k = 0; k < habit; k++) ev(user, 'd30_pv', 1, st.started_at - 3600000 - k);
    const pv = habit + Math.floor(rand() * 3);
    for (let k = 0; k < pv; k++) ev(user, 'd30_pv', 1, st.started_at + 2 + k);
    if (rand() < (variant === 'green' ? 0.3 : 0.15)) {
      ev(user, 'd30_buy', 1, st.started_at + 20);
      ev(user, 'd30_rev', Math.round((20 + 60 * rand()) * 100) / 100, st.started_at + 21);
    }
    ev(user, 'd30_lat', 200 + Math.round(100 * rand()), st.started_at + 22);
  }
  while (Date.now() < st.started_at + 30) await new Promise((r) => setTimeout(r, 5));
  assertEq((await admin.post('/exposures', { exposures })).accepted, exposures.length, 'exposures accepted');
  for (let i = 0; i < events.length; i += 5000) {
    const part = events.slice(i, i + 5000);
    assertEq((await admin.post('/events', { events: part })).accepted, part.length, 'events accepted');
  }
  await go('/experiments');
  await signIn(page, daemon.adminKey);
  noErrors();
});

/** The results page of EXP with `query`, once its tables are in. */
async function openResults(query = '') {
  await go(`/experiments/${EXP}${query}`);
  await page.locator('.results-body[aria-busy="false"] table.results-table').first().waitFor();
  await page.locator('#decision[data-decision]:not([data-decision="none"])').waitFor();
}

T.test('F1. CUPED-adjusted lifts beside raw means: the mean column says "unadjusted", one note per metric and per breakdown table', async () => {
  const r = await admin.get(`/experiments/${EXP}/results`);
  const pv = r.metrics.find((m) => m.key === 'd30_pv');
  assert(pv.variants[1].cuped && pv.variants[1].cuped.theta !== 0, `CUPED applied to page views (${JSON.stringify(pv.variants[1].cuped)})`);
  await openResults('?dimension=device');
  const table = page.locator('table.results-table[data-metric="d30_pv"]');
  const heads = await table.locator('thead th').allTextContents();
  assert(heads.includes('Mean per user (unadjusted)'), `the mean column's header: ${heads}`);
  const notes = await text(page.locator('section.metric-result[data-metric="d30_pv"] ul.notes'));
  assertEq(notes.split('Lifts and intervals are CUPED-adjusted').length - 1, 1, `one note for the metric: ${notes}`);
  // the ratio has no CUPED: its column and notes say nothing of it
  const ratioHeads = await page.locator('table.results-table[data-metric="d30_aov"] thead th').allTextContents();
  assert(!ratioHeads.join(' ').includes('unadjusted'), `no "unadjusted" for the ratio: ${ratioHeads}`);
  await page.locator('table.breakdown-table[data-metric="d30_pv"]').waitFor();
  const bHeads = await page.locator('table.breakdown-table[data-metric="d30_pv"] thead th').allTextContents();
  assert(bHeads.includes('Control (unadjusted)') && bHeads.includes('Variant mean (unadjusted)'), `breakdown headers: ${bHeads}`);
  const bNote = page.locator('table.breakdown-table[data-metric="d30_pv"]').locator('xpath=ancestor::div[contains(@class, "table-wrap")][1]').locator('.cuped-means-note');
  assert((await text(bNote)).startsWith('Lifts and intervals are CUPED-adjusted'), 'the breakdown table has the note');
  // CUPED off: no "unadjusted", no note
  await openResults('?cuped=false');
  const off = await page.locator('table.results-table[data-metric="d30_pv"] thead th').allTextContents();
  assert(off.includes('Mean per user'), `CUPED off: ${off}`);
  assertEq(await page.getByText('Lifts and intervals are CUPED-adjusted').count(), 0, 'CUPED off: no note');
  noErrors();
});

T.test('F2. "Ship" from uncorrected p-values over several comparisons carries a caveat and a button to Holm', async () => {
  const r = await admin.get(`/experiments/${EXP}/results`);
  const family = r.metrics.reduce((a, m) => a + m.variants.slice(1).filter((v) => v.relative_lift && typeof v.relative_lift.p_value === 'number').length, 0);
  assert(family > 1, `several comparisons (${family})`);
  await openResults();
  assertEq(await page.locator('#decision').getAttribute('data-decision'), 'ship', 'a ship decision');
  const why = await text(page.locator('#decision-why'));
  assert(/ Not corrected for multiple comparisons: green p [=<] [\d.]+ is one of /.test(why) && why.endsWith(`is one of ${family} comparisons (5 metrics × 2 treatments), so a p-value below 0.05 can come up by chance; check it under a correction (Holm–Bonferroni) before acting on it.`), `the caveat: ${why}`);
  await page.locator('#decision-use-holm').click();
  await page.locator('#decision-why').filter({ hasNotText: 'Not corrected' }).waitFor();
  assertEq(await page.getByLabel('Correction').inputValue(), 'holm', 'the Results correction is Holm');
  assert(page.url().includes('correction=holm'), `in the address: ${page.url()}`);
  assertEq(await page.evaluate(() => document.activeElement && document.activeElement.id), 'decision-headline', 'focus on the headline');
  assertEq(await page.locator('#decision-use-holm').count(), 0, 'no button under Holm');
  // the stored analysis is unchanged
  assertEq((await admin.get(`/experiments/${EXP}`)).analysis.correction, 'none', 'server default unchanged');
  noErrors();
});

T.test('F3. a ratio whose parts are listed: follow them; F6. ratio parts, duration header and cap in their units', async () => {
  await openResults();
  const note = await text(page.locator('.no-series'));
  assertEq(note, 'Revenue per order (a ratio) has no daily series; follow its parts Revenue and Purchase day by day.', 'no-series note');
  const r = await admin.get(`/experiments/${EXP}/results`);
  const aov = r.metrics.find((m) => m.key === 'd30_aov');
  const v = aov.variants[0];
  const eur = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'EUR', minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(v.sum);
  const parts = await text(page.locator('table.results-table[data-metric="d30_aov"] tr[data-variant="control"] .ratio-parts'));
  assertEq(parts, `${eur} Revenue / ${v.denominator_sum.toLocaleString('en-US')} converters (Purchase)`, 'ratio parts');
  const lat = await page.locator('table.results-table[data-metric="d30_lat"] thead th').allTextContents();
  assert(lat.includes('Mean per user (ms)'), `the duration column says ms: ${lat}`);
  const cell = await text(page.locator('table.results-table[data-metric="d30_lat"] tr[data-variant="control"] .mean-value'));
  assert(/ ms$/.test(cell), `cells in ms: ${cell}`);
  await go('/metrics');
  const row = page.locator('table tr').filter({ hasText: 'd30_rev' }).filter({ hasNotText: 'Revenue per order' });
  assertEq(await text(row.locator('td[data-label="Cap"]')), '€500', 'cap with its currency');
  const latRow = page.locator('table tr').filter({ hasText: 'd30_buy' }).filter({ hasNotText: 'Revenue per order' });
  assertEq(await text(latRow.locator('td[data-label="Cap"]')), '—', 'no cap');
  noErrors();
});

T.test('F4. no live region around the tables; a change of the options announces the decision; a cue near the options', async () => {
  await openResults('?correction=none');
  assertEq(await page.locator('.results-body').getAttribute('aria-live'), null, 'the results are not a live region');
  assertEq(await page.locator('section.breakdown').getAttribute('aria-live'), null, 'nor the breakdown');
  assert((await text(page.locator('#decision-follows'))).startsWith('The decision at the top of the page follows these options'), 'the cue');
  const before = await text(page.locator('#decision-headline'));
  // the live region keeps the last message (F2's): start from an empty one
  await page.evaluate(() => { document.getElementById('live').textContent = ''; });
  await page.getByLabel('Correction').selectOption('holm');
  const said = await (await page.waitForFunction(() => {
    const t = (document.getElementById('live') || {}).textContent || '';
    return t.startsWith('Results updated') && t;
  })).jsonValue();
  const after = await text(page.locator('#decision-headline'));
  const want = after === before ? `Results updated (Frequentist, CUPED, Holm–Bonferroni): the decision is still ${after}.`
    : `Results updated (Frequentist, CUPED, Holm–Bonferroni): the decision is now ${after} (was ${before}).`;
  assertEq(said, want, 'one line');
  await page.evaluate(() => { document.getElementById('live').textContent = ''; });
  await page.getByLabel('Breakdown by').selectOption('device');
  await page.waitForFunction(() => (document.getElementById('live') || {}).textContent.startsWith('Breakdown by device'));
  assertEq(await page.locator('#live').textContent(), 'Breakdown by device: 2 values.', 'the breakdown in one line');
  noErrors();
});

T.test('F5. variant values of different JSON types: beside the odd value, with the other problems, nothing sent', async () => {
  // the server's rule (experiment_values.c): no value and null are the key, a string
  const p = (vals, dv) => ({ variants: vals.map((value, i) => (value === undefined ? { key: `v${i}` } : { key: `v${i}`, value })), default_value: dv });
  assertEq(valueTypeProblems(p([undefined, null, 'x'])).length, 0, 'no value, null and a string are one type');
  assertEq(valueTypeProblems(p([1, 2.5])).length, 0, 'integers and reals are numbers');
  assertEq(valueTypeProblems(p([{ a: 1 }, null])).map((q) => q.field).join(), 'variants[1].value', 'null beside an object');
  assertEq(valueTypeProblems(p([{ a: 1 }, [1]])).map((q) => q.field).join(), 'variants[1].value', 'an array is not an object');
  assertEq(valueTypeProblems(p([true, false], null)).length, 0, 'a null default takes no part');
  assertEq(valueTypeProblems(p([true, false], 'no')).map((q) => q.field).join(), 'default_value', 'a default of another type');
  assertEq(valueTypeProblems(p([true, 'x', 1]), new Set(['variants[1].value'])).map((q) => q.field).join(), 'variants[2].value', 'a value not JSON is not compared');

  await go('/experiments/new');
  await page.locator('form.exp-form').waitFor();
  await page.locator('input[name="key"]').fill('d30-types');
  await page.getByRole('button', { name: 'Add variant' }).click();
  // the new row's key has the focus when the click returns (a focus moved later took the
  // text filled next: the race CI met)
  assertEq(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Variant 3 key', 'the new key focused');
  await page.getByLabel('Variant 1 value (JSON)').fill('{"color": "red", "size": 1}');
  await page.getByLabel('Variant 2 value (JSON)').fill('{"color": "green", "size": 1.5}');
  await page.getByLabel('Variant 3 value (JSON)').fill('"blue"');
  await page.getByLabel('Variant 3 weight (percent)').fill('20');
  const sent = [];
  const onReq = (q) => {
    if (q.method() === 'POST' && new URL(q.url()).pathname === '/api/v1/experiments') sent.push(q.url());
  };
  page.on('request', onReq);
  try {
    await page.getByRole('button', { name: 'Create experiment' }).click();
    await page.locator('.form-errors [role="alert"]').waitFor();
    const summary = await text(page.locator('.form-errors'));
    const msg = 'Variant 3 value is a string, but the control’s (“control”) is an object: the variants’ values must all be of one JSON type (the flag’s type in SDKs).';
    assert(summary.includes(msg), `the type rule in the summary: ${summary}`);
    assert(summary.includes('add up to 100%'), `with the weights: ${summary}`);
    const v3 = page.locator('[data-field="variants[2].value"]');
    assertEq(await v3.getAttribute('aria-invalid'), 'true', 'the odd value marked');
    assertEq(await page.locator('[data-field="variants[1].value"]').getAttribute('aria-invalid'), null, 'not the object beside it');
    assertEq(sent.length, 0, 'nothing sent');
  } finally {
    page.off('request', onReq);
  }
  await goDiscarding('/experiments');
  noErrors();
});

T.test('F7. an experiment with no exposures: no chart, no "one day" note, rows waiting as the headline says', async () => {
  await go(`/experiments/${EMPTY}`);
  await page.locator('#decision-headline').filter({ hasText: 'Wait: no exposures yet' }).waitFor();
  await page.locator('.ts-box .ts-empty').waitFor();
  assertEq(await text(page.locator('.ts-box')), 'No exposures yet: the chart starts with the first day that has users.', 'no chart');
  assertEq(await page.locator('.ts-box svg').count(), 0, 'no svg');
  assertEq(await page.getByText('One day of data so far').count(), 0, 'no one-day note');
  assertEq(await text(page.locator('#decision-table tr[data-variant="b"] td[data-label="State"]')), 'waiting for exposures', 'the row agrees');
  noErrors();
});

await run();

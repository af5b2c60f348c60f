// paused_bayes.mjs - the decision's words follow the experiment's status and the results'
// method. A paused experiment's state per variant says paused (as its headline does), never
// "keep running"; a stopped one says it ended. Under the Bayesian method a guardrail's harm
// gives the chance to be worse than control (not "significantly worse"), a flat result
// reads "No credible difference" (not "Not significant"), the breakdown's columns say
// "credible interval" and "Chance to beat control" in the phone layout too, and the time
// series' chart "credible intervals", never a correction's. Run through run.sh.

import { suite, assert, assertEq, signIn } from './lib.mjs';

const { T, daemon, admin, page, go, noErrors, text, run } = await suite({ label: 'paused and bayesian wording' });

const two = [{ key: 'control', weight: 0.5 }, { key: 'b', weight: 0.5 }];

/** A probability as the page words it, written apart from format.js: "98.1%". */
function prob(p) {
  return p > 0.999 ? '>99.9%' : p < 0.001 ? '<0.1%' : `${(p * 100).toFixed(1)}%`;
}

/**
 * Start experiment `key`, expose 100 users per variant (control, b, and c when `c`), with a
 * country, and send their events: `buy` converts 30% of control and b (no effect) and 5% of
 * c (much worse); `keep` (when asked) converts 90% of control and 30% of b (b much worse).
 */
async function seed(key, { keep = false, c = false } = {}) {
  const st = await admin.post(`/experiments/${key}/start`);
  while (Date.now() < st.started_at + 10) await new Promise((r) => setTimeout(r, 5));
  const vs = c ? ['control', 'b', 'c'] : ['control', 'b'];
  const users = Array.from({ length: 100 * vs.length }, (_, i) => ({ id: `${key}-${i}`, variant: vs[i % vs.length], n: Math.floor(i / vs.length) }));
  await admin.post('/exposures', { exposures: users.map((u) => ({ experiment: key, user_id: u.id, variant: u.variant, ts: st.started_at + 1, attributes: { country: u.n % 2 ? 'NL' : 'BE' } })) });
  const events = users.filter((u) => (u.variant === 'c' ? u.n % 20 < 1 : u.n % 10 < 3)).map((u) => ({ user_id: u.id, event: 'pb_buy', ts: st.started_at + 2 }));
  if (keep) {
    for (const u of users) {
      if (u.variant === 'control' ? u.n % 10 < 9 : u.n % 10 < 3) events.push({ user_id: u.id, event: 'pb_keep', ts: st.started_at + 2 });
    }
  }
  await admin.post('/events', { events });
}

/** The decision table's rows: "variant|state text|why" each. */
async function decisionRows() {
  await page.locator('#decision-table').waitFor();
  return page.locator('#decision-table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent.trim()).join('|')));
}

T.test('setup (API) and sign in', async () => {
  await admin.post('/metrics', { key: 'pb_buy', name: 'Purchase', event: 'pb_buy', type: 'binomial' });
  await admin.post('/metrics', { key: 'pb_keep', name: 'Retention', event: 'pb_keep', type: 'binomial' });
  await admin.post('/experiments', { key: 'pb-paused', variants: two, metrics: ['pb_buy'], primary_metric: 'pb_buy' });
  await seed('pb-paused');
  await admin.post('/experiments/pb-paused/pause');
  const three = [{ key: 'control', weight: 0.34 }, { key: 'b', weight: 0.33 }, { key: 'c', weight: 0.33 }];
  await admin.post('/experiments', { key: 'pb-stopped', variants: three, metrics: ['pb_buy'], primary_metric: 'pb_buy' });
  await seed('pb-stopped', { c: true });
  await admin.post('/experiments/pb-stopped/stop');
  await admin.post('/experiments', { key: 'pb-bayes', variants: two, metrics: ['pb_buy', 'pb_keep'], primary_metric: 'pb_buy', guardrails: ['pb_keep'], dimensions: ['country'], analysis: { method: 'bayesian' } });
  await seed('pb-bayes', { keep: true });
  await go('/experiments');
  await signIn(page, daemon.adminKey);
  noErrors();
});

T.test('paused: the state per variant says paused, as the headline does; nothing says "keep running"', async () => {
  await go('/experiments/pb-paused');
  const head = page.locator('#decision-headline');
  await head.waitFor();
  assertEq(await text(head), 'Paused: resume to reach the users needed', 'headline');
  const rows = await decisionRows();
  assertEq(rows.length, 1, 'one treatment');
  assert(rows[0].startsWith('b|paused: resume to collect more data|Purchase has not moved significantly yet'), `the row: ${rows[0]}`);
  assertEq(await page.locator('#decision-table tr[data-variant="b"]').getAttribute('data-state'), 'paused', 'row state');
  const all = await text(page.locator('main'));
  assert(!/keep running/i.test(all), `"keep running" on a paused experiment's page: ${all.match(/.{0,60}keep running.{0,60}/i)}`);
  // the list says the same
  await go('/experiments?status=paused');
  const row = page.locator('tr', { hasText: 'pb-paused' });
  await row.locator('.list-decision').waitFor();
  assertEq(await text(row.locator('.list-decision')), 'Paused: resume to reach the users needed', 'the list');
  assert(!/keep running/i.test(await text(row)), `the list row: ${await text(row)}`);
  noErrors();
});

T.test('stopped, one treatment ended early and one worse: inconclusive, not "no effect detected" nor "keep running"', async () => {
  await go('/experiments/pb-stopped');
  const head = page.locator('#decision-headline');
  await head.waitFor();
  // "Stop: no effect detected" would say the users needed were reached
  assertEq(await text(head), 'Inconclusive: ended before enough data', 'headline');
  const why = await text(page.locator('#decision-why'));
  assert(why.includes('The experiment has ended') && why.includes('Do not ship c: Purchase is significantly worse than control.'), `why: ${why}`);
  const rows = await decisionRows();
  assert(rows[0].startsWith('b|inconclusive: ended early|Purchase did not move significantly'), `the row: ${rows[0]}`);
  assert(rows[1].startsWith('c|worse than control|'), `the row: ${rows[1]}`);
  const all = await text(page.locator('main'));
  assert(!/keep running/i.test(all), `"keep running" on a stopped experiment's page: ${all.match(/.{0,60}keep running.{0,60}/i)}`);
  noErrors();
});

T.test('Bayesian: a guardrail worse with a chance, a flat result without "significant"', async () => {
  const r = await admin.get('/experiments/pb-bayes/results');
  assertEq(r.method, 'bayesian', 'the experiment analyses with the Bayesian method');
  const g = r.metrics.find((m) => m.key === 'pb_keep').variants[1];
  assert(g.chance_to_beat_control < 0.01, `Retention much worse (chance ${g.chance_to_beat_control})`);
  await go('/experiments/pb-bayes');
  const rows = await decisionRows();
  assertEq(rows[0], `b|harm on a guardrail|Retention (a guardrail) is worse than control with a ${prob(1 - g.chance_to_beat_control)} chance.`, 'the harm reason');
  const box = await text(page.locator('#decision'));
  assert(!/significan|p-value|p = /i.test(box), `frequentist words under the Bayesian method: ${box}`);
  // the results table: the primary metric's flat result in Bayesian words
  const verdict = page.locator('table.results-table[data-metric="pb_buy"] tr[data-variant="b"] [data-col="verdict"]');
  await verdict.waitFor();
  assertEq(await text(verdict), 'No credible difference', 'the flat verdict');
  assertEq(await text(page.locator('table.results-table[data-metric="pb_keep"] tr[data-variant="b"] [data-col="verdict"]')), '▼ Worse', 'the guardrail');
  // the list's headline cell reads the same verdict
  await go('/experiments?status=running');
  const lift = page.locator('tr', { hasText: 'pb-bayes' }).locator('.lift-verdict');
  await lift.waitFor();
  assertEq(await text(lift), 'No credible difference', 'the list');
  noErrors();
});

T.test('Bayesian breakdown: credible intervals and chance to beat control, in the cells’ labels too', async () => {
  await go('/experiments/pb-bayes?dimension=country');
  const table = page.locator('table.breakdown-table[data-metric="pb_buy"]');
  await table.waitFor();
  const heads = await table.locator('thead th').allTextContents();
  assert(heads.includes('95% credible interval'), `headers: ${heads.join(' | ')}`);
  assert(heads.includes('Chance to beat control'), `headers: ${heads.join(' | ')}`);
  const labels = await table.locator('tbody tr').first().locator('td').evaluateAll((tds) => tds.map((td) => td.dataset.label));
  assert(labels.includes('95% credible interval') && labels.includes('Chance to beat control') && !labels.includes('p-value'), `cell labels: ${labels.join(' | ')}`);
  const verdicts = await table.locator('tbody .verdict').allTextContents();
  assert(verdicts.length > 0 && !verdicts.some((v) => /significant/i.test(v)), `breakdown verdicts: ${verdicts.join(' | ')}`);
  const note = await text(page.locator('#breakdown-h + p'));
  assert(!note.includes('use a correction'), `no correction advised under Bayesian: ${note}`);
  noErrors();
});

T.test('Bayesian time series: credible intervals, never a correction’s (even with one in the URL)', async () => {
  const ts = await admin.get('/experiments/pb-bayes/timeseries?metric=pb_buy&method=bayesian&alpha=0.05&correction=holm');
  assertEq(ts.method, 'bayesian', 'the series says its method');
  await go('/experiments/pb-bayes?method=bayesian&correction=holm');
  const title = page.locator('.ts-box svg.chart > title');
  await title.waitFor({ state: 'attached' });
  const t = await text(title);
  assert(t.includes('95% credible intervals') && !/Holm|Hochberg|adjusted/.test(t), `the chart’s title: ${t}`);
  noErrors();
});

await run();

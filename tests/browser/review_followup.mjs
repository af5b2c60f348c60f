// review_followup.mjs - the dashboard findings of the web review, one scenario each:
// targeting keeps numbers a double cannot hold as text; Back while another dialog is open
// does not stack a second one; the results poll gives up on a rebuild read that keeps
// failing; "Use mine" is not offered for a field the latest version no longer has; "Check
// a user" trims the id; a 412 merge goes one level into analysis, variants, forced users
// and saved-group values. Run through run.sh.

import { suite, assert, assertEq, signIn } from './lib.mjs';

const EXP = 'rf-exp';

const { T, daemon, admin, page, go, waitHash, noErrors, text, run } = await suite({ label: 'review_followup' });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dlg = page.getByRole('dialog');

async function openEdit(key) {
  await go(`/experiments/${key}/edit`);
  await page.locator('form.exp-form').waitFor();
}

T.test('setup (API) and sign in', async () => {
  await admin.post('/metrics', { key: 'rf-buy', name: 'Buy', event: 'buy', type: 'binomial' });
  await admin.post('/saved-groups', { key: 'rf-group', attribute: 'id', values: ['a'] });
  await admin.post('/experiments', { key: EXP, name: 'Review', variants: [{ key: 'a', weight: 0.5 }, { key: 'b', weight: 0.5 }], targeting: { account: 'x' } });
  await go('/experiments');
  await signIn(page, daemon.adminKey);
  noErrors();
});

T.test('targeting: 1e400 and integers beyond 2^53 stay text, not null or a rounded number', async () => {
  const got = await page.evaluate(async () => {
    const t = await import('/js/views/targeting.js');
    return ['1e400', '-1e400', '12345678901234567890', '9007199254740993', '9007199254740991', '0.5', '1e3'].map((s) => t.parseScalar(s));
  });
  assertEq(JSON.stringify(got), JSON.stringify(['1e400', '-1e400', '12345678901234567890', '9007199254740993', 9007199254740991, 0.5, 1000]), 'parseScalar');
  for (const v of ['1e400', '12345678901234567890']) {
    await openEdit(EXP);
    await page.getByLabel('Rule 1 value').fill(v);
    assertEq(await page.locator('.rule-typed').isVisible(), false, `no "Read as" note for ${v}`);
    await page.locator('form.exp-form button[type=submit]').click();
    await waitHash(`/experiments/${EXP}`);
    assertEq(JSON.stringify((await admin.get(`/experiments/${EXP}`)).targeting), JSON.stringify({ account: v }), `${v} stored as typed`);
  }
  noErrors();
});

T.test('Back while "Delete metric?" is open: that dialog closes (cancelled), one "Leave without saving?" asks', async () => {
  for (const [hash, form, title] of [
    ['/metrics/rf-buy', 'form.metric-form', /Delete metric/],
    ['/saved-groups/rf-group', 'form.group-form', /Delete saved group/],
  ]) {
    await go('/experiments');
    await page.locator('h1').first().waitFor();
    await go(hash);
    await page.locator(form).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('changed name');
    await page.locator(form).getByRole('button', { name: 'Delete', exact: true }).click();
    await dlg.filter({ hasText: title }).waitFor();
    await page.goBack();
    await dlg.filter({ hasText: /Leave without saving/ }).waitFor();
    await sleep(200);
    assertEq(await dlg.count(), 1, `one dialog open on ${hash}`);
    await dlg.getByRole('button', { name: 'Cancel' }).click();
    await dlg.waitFor({ state: 'detached' });
    await waitHash(hash);
    assertEq(await page.locator('dialog[open]').count(), 0, 'no dialog left after cancelling');
    assertEq(await page.getByLabel('Name', { exact: true }).inputValue(), 'changed name', 'the change is kept');
    await page.goBack();
    await dlg.getByRole('button', { name: 'Leave without saving' }).click();
    await waitHash('/experiments');
  }
  assert((await admin.get('/metrics/rf-buy')).key === 'rf-buy', 'nothing deleted');
  noErrors();
});

T.test('results: a rebuild poll that keeps failing stops with "Try again" instead of asking every 3 s forever', async () => {
  await admin.post('/experiments', { key: 'rf-res', variants: [{ key: 'a', weight: 0.5 }, { key: 'b', weight: 0.5 }], metrics: ['rf-buy'], primary_metric: 'rf-buy' });
  await admin.post('/experiments/rf-res/start');
  let mode = 'rebuild';
  let count = 0;
  const re = /\/api\/v1\/experiments\/rf-res\/results/;
  await page.route(re, async (route) => {
    count++;
    if (mode === 'rebuild') {
      mode = 'bad';
      const resp = await route.fetch();
      const j = await resp.json();
      j.rebuilding = { done: 1, total: 10 };
      return route.fulfill({ response: resp, json: j });
    }
    return route.fulfill({ status: 500, headers: { 'Content-Type': 'application/json' }, body: '{"error":{"code":"internal","message":"boom"}}' });
  });
  try {
    await go('/experiments/rf-res');
    await page.locator('.badge-rebuilding').waitFor();
    await page.locator('#results-retry').waitFor({ timeout: 8000 });
    const seen = count;
    await sleep(7000);
    assertEq(count, seen, 'no request after giving up');
    assert(seen <= 2, `at most the first read and one poll (${seen})`);
    assert(/Stopped checking/.test(await text(page.locator('.results-poll-stopped'))), 'says it stopped');
    mode = 'pass';
    await page.unroute(re);
    await page.locator('#results-retry').click();
    await page.locator('.results-poll-stopped').waitFor({ state: 'detached' });
    assertEq(await page.locator('.badge-rebuilding').count(), 0, 'Try again reads again');
  } finally {
    await page.unroute(re).catch(() => {});
  }
  noErrors([/500/]);
});

T.test('metric 412: a Window change on a metric made a ratio meanwhile is "not put back", no "Use mine"', async () => {
  await admin.post('/metrics', { key: 'rf-num', event: 'n', type: 'sum' });
  await admin.post('/metrics', { key: 'rf-den', event: 'd', type: 'count' });
  await admin.post('/metrics', { key: 'rf-sum', event: 'c', type: 'sum', window_hours: 24 });
  await go('/metrics/rf-sum');
  await page.locator('form.metric-form').waitFor();
  await page.getByLabel(/Window/).first().fill('48');
  await admin.patch('/metrics/rf-sum', { type: 'ratio', numerator: 'rf-num', denominator: 'rf-den', event: null, window_hours: null });
  await page.locator('form.metric-form button[type=submit]').click();
  const note = page.locator('.merge-note');
  await note.waitFor();
  const said = await text(note);
  assertEq(await note.getByRole('button', { name: /Use mine/ }).count(), 0, `no Use mine: ${said}`);
  assert(/Not put back: ?Window \(the metric is a ratio now/.test(said), `says why: ${said}`);
  await page.locator('form.metric-form button[type=submit]').click();
  await waitHash('/metrics');
  const m = await admin.get('/metrics/rf-sum');
  assertEq(m.type, 'ratio', 'still a ratio');
  noErrors([/412/]);
});

T.test('check a user: " qa 1 " is checked as "qa 1" (the forced user), not untrimmed', async () => {
  await admin.post('/experiments', { key: 'rf-chk', variants: [{ key: 'a', weight: 0.5 }, { key: 'b', weight: 0.5 }], forced: { 'qa 1': 'b' } });
  await admin.post('/experiments/rf-chk/start');
  await go('/experiments/rf-chk');
  await page.locator('#check-user summary').click();
  const box = page.locator('#check-user');
  await box.getByLabel('User id').fill(' qa 1 ');
  await box.getByRole('button', { name: 'Check', exact: true }).click();
  await box.locator('#check-answer[data-reason]').waitFor();
  assertEq(await box.locator('#check-answer').getAttribute('data-reason'), 'forced', 'the forced user');
  assertEq(await box.locator('#check-answer').getAttribute('data-variant'), 'b', 'its variant');
  assertEq(await box.locator('.check-user-id').textContent(), 'qa 1', 'the id checked');
  noErrors();
});

const noteEl = page.locator('.merge-note');
const variants2 = [{ key: 'control', name: 'C', weight: 0.5 }, { key: 'green', name: 'G', weight: 0.5 }];

/** Save the open experiment form, expecting a 412 and the merge notice; returns its text. */
async function saveExpecting412() {
  await page.locator('form.exp-form button[type=submit]').click();
  await noteEl.waitFor();
  return text(noteEl);
}

async function saveAndLeave(key) {
  await page.locator('form.exp-form button[type=submit]').click();
  await waitHash(`/experiments/${key}`);
  return admin.get(`/experiments/${key}`);
}

T.test('412 merge: analysis key by key (my alpha, their correction both kept)', async () => {
  await admin.post('/experiments', { key: 'rf-m1', variants: variants2, analysis: { method: 'frequentist', alpha: 0.05, cuped: true, correction: 'none' } });
  await openEdit('rf-m1');
  await page.getByLabel('Alpha').fill('0.1');
  await admin.patch('/experiments/rf-m1', { analysis: { method: 'frequentist', alpha: 0.05, cuped: true, correction: 'holm' } });
  const said = await saveExpecting412();
  assertEq(await noteEl.getByRole('button', { name: /Use mine/ }).count(), 0, `no collision: ${said}`);
  const x = await saveAndLeave('rf-m1');
  assertEq(x.analysis.alpha, 0.1, 'my alpha');
  assertEq(x.analysis.correction, 'holm', 'their correction');
  noErrors([/412/]);
});

T.test('412 merge: the same analysis key changed by both is a collision on that key; Use mine takes only it', async () => {
  await admin.post('/experiments', { key: 'rf-m1b', variants: variants2, analysis: { method: 'frequentist', alpha: 0.05, cuped: true, correction: 'none' } });
  await openEdit('rf-m1b');
  await page.getByLabel('Alpha').fill('0.1');
  await admin.patch('/experiments/rf-m1b', { analysis: { method: 'frequentist', alpha: 0.01, cuped: true, correction: 'holm' } });
  const said = await saveExpecting412();
  assert(/Analysis defaults \(alpha\): yours was 0\.1/.test(said), `the collision names the key: ${said}`);
  assertEq(await page.getByLabel('Alpha').inputValue(), '0.01', 'the form shows theirs');
  await noteEl.getByRole('button', { name: /Use mine/ }).click();
  assertEq(await page.getByLabel('Alpha').inputValue(), '0.1', 'mine after Use mine');
  const x = await saveAndLeave('rf-m1b');
  assertEq(JSON.stringify([x.analysis.alpha, x.analysis.correction]), JSON.stringify([0.1, 'holm']), 'my alpha, their correction');
  noErrors([/412/]);
});

T.test('412 merge: variants by key (running: my rename of one, theirs of the other, both kept)', async () => {
  await admin.post('/experiments', { key: 'rf-m2', variants: variants2 });
  await admin.post('/experiments/rf-m2/start');
  await openEdit('rf-m2');
  await page.getByLabel('Variant 1 name').fill('Control mine');
  const vv = (await admin.get('/experiments/rf-m2')).variants;
  vv[1].name = 'Green theirs';
  await admin.patch('/experiments/rf-m2', { variants: vv });
  const said = await saveExpecting412();
  assertEq(await noteEl.getByRole('button', { name: /Use mine/ }).count(), 0, `no collision: ${said}`);
  const x = await saveAndLeave('rf-m2');
  assertEq(JSON.stringify(x.variants.map((v) => v.name)), JSON.stringify(['Control mine', 'Green theirs']), 'both names');
  noErrors([/412/]);
});

T.test('412 merge: forced users user by user (mine and theirs both kept)', async () => {
  await admin.post('/experiments', { key: 'rf-m3', variants: variants2 });
  await openEdit('rf-m3');
  await page.getByRole('button', { name: 'Add forced user' }).click();
  await page.getByLabel('Forced user 1 id').fill('qa-mine');
  await admin.patch('/experiments/rf-m3', { forced: { 'qa-theirs': 'green' } });
  const said = await saveExpecting412();
  assertEq(await noteEl.getByRole('button', { name: /Use mine/ }).count(), 0, `no collision: ${said}`);
  const x = await saveAndLeave('rf-m3');
  assertEq(JSON.stringify(Object.entries(x.forced).sort()), JSON.stringify([['qa-mine', 'control'], ['qa-theirs', 'green']]), 'both forced users');
  noErrors([/412/]);
});

T.test('412 merge: targeting stays whole; Use mine says it replaces their rules and shows them', async () => {
  await admin.post('/experiments', { key: 'rf-m4', variants: variants2, targeting: { country: 'NL' } });
  await openEdit('rf-m4');
  await page.getByLabel('Rule 1 value').fill('DE');
  await admin.patch('/experiments/rf-m4', { targeting: { country: 'NL', plan: 'pro' } });
  const said = await saveExpecting412();
  assert(/theirs is \{"country":"NL","plan":"pro"\}/.test(said), `their rules shown: ${said}`);
  assert(/replaces their targeting rules/.test(said), `says it replaces them: ${said}`);
  await noteEl.getByRole('button', { name: /Use mine \(Targeting\), replacing theirs/ }).click();
  const x = await saveAndLeave('rf-m4');
  assertEq(JSON.stringify(x.targeting), JSON.stringify({ country: 'DE' }), 'mine, as said');
  noErrors([/412/]);
});

T.test('412 merge: saved-group values as additions and removals (mine and theirs both kept)', async () => {
  await admin.post('/saved-groups', { key: 'rf-g2', attribute: 'id', values: ['a', 'b'] });
  await go('/saved-groups/rf-g2');
  await page.locator('form.group-form').waitFor();
  await page.getByLabel('Values (one per line)').fill('a\nmine-c');
  await admin.patch('/saved-groups/rf-g2', { values: ['a', 'b', 'theirs-d'] });
  await page.locator('form.group-form button[type=submit]').click();
  await noteEl.waitFor();
  await page.locator('form.group-form button[type=submit]').click();
  await waitHash('/saved-groups');
  const g = await admin.get('/saved-groups/rf-g2');
  assertEq(JSON.stringify([...g.values].sort()), JSON.stringify(['a', 'mine-c', 'theirs-d']), 'my removal of b and addition, their addition');
  noErrors([/412/]);
});

await run();

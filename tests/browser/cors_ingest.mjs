// cors_ingest.mjs - a page on another origin sends what its GrowthBook SDK tracked, as
// docs/INTEGRATIONS.md's recipe does (review s27 sdk 1): POST /api/v1/exposures and
// /api/v1/events with the sdk key in Authorization (a preflighted request) and keepalive,
// and POST /api/v1/assign; Chromium's CORS checks let every one through and the page reads
// the answers. Before, the browser blocked them ("No 'Access-Control-Allow-Origin'") and
// every browser-side exposure was lost. Run through run.sh.

import { createServer } from 'node:http';
import { suite, assertEq } from './lib.mjs';

const { T, daemon, admin, page, run } = await suite({ label: 'cors_ingest' });

// the other origin: a blank page from a server of our own on another port
const site = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end('<!doctype html><title>shop</title><p>shop</p>');
});
await new Promise((r) => site.listen(0, '127.0.0.1', r));
site.unref();
const origin = `http://127.0.0.1:${site.address().port}`;

T.test('a page on another origin posts exposures, events and an assignment', async () => {
  await admin.post('/experiments', { key: 'ci-exp', variants: [{ key: 'control' }, { key: 'green' }] });
  await admin.post('/experiments/ci-exp/start');
  const sdk = (await admin.post('/keys', { name: 'web', role: 'sdk' })).key;
  await page.goto(`${origin}/`);
  const out = await page.evaluate(
    async ({ base, key }) => {
      const post = async (path, body) => {
        try {
          const r = await fetch(base + path, {
            method: 'POST',
            headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
            body: JSON.stringify(body),
            keepalive: true,
          });
          return { status: r.status, body: await r.json() };
        } catch (e) {
          return { status: 0, body: String(e) };
        }
      };
      return {
        exposures: await post('/api/v1/exposures', {
          exposures: [{ experiment: 'ci-exp', user_id: String(424242), variant: 'green', ts: Date.now() }],
        }),
        events: await post('/api/v1/events', { events: [{ user_id: '424242', event: 'buy' }] }),
        assign: await post('/api/v1/assign', { user_id: 424242, experiments: ['ci-exp'], log_exposure: false }),
      };
    },
    { base: daemon.url, key: sdk },
  );
  assertEq(out.exposures.status, 200, `exposures: ${JSON.stringify(out.exposures)}`);
  assertEq(out.exposures.body.accepted, 1, 'the exposure stored');
  assertEq(out.events.status, 200, `events: ${JSON.stringify(out.events)}`);
  assertEq(out.events.body.accepted, 1, 'the event stored');
  assertEq(out.assign.status, 200, `assign: ${JSON.stringify(out.assign)}`);
  assertEq(out.assign.body.user_id, '424242', 'a numeric user id is its text');
});

await run(); // exits the process, and so closes the site

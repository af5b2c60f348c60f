// growthbook-full.mjs - the GrowthBook JavaScript SDK when every /sub stream slot is taken
// (review sdk30 F1). Started by tests/sdk/run.sh against a daemon of its own with
// --max-connections 16 (8 stream slots) and BUNSEN_TEST_STREAM_FULL_RETRY_MS=500.
//
// Over the cap /sub answered 503: the SDK (1.8) backed off for up to 5 minutes and fetched
// nothing meanwhile, so a change did not reach it. Now /sub answers the current payload
// with a `retry:` interval and ends: the SDK's EventSource reconnects after it and sees a
// change at its next reconnection. Output: TAP; exit 1 on failure.
import { GrowthBookClient, setPolyfills } from "@growthbook/growthbook";
import { EventSource } from "eventsource";
import { ADMIN, BASE, api, ok, plan, sleep } from "../common/tap.mjs";

setPolyfills({ EventSource });

const SLOTS = 8; // half of --max-connections 16


async function main() {
  const key = "full-flag";
  const made = await api("POST", "/api/v1/experiments", ADMIN, {
    key, name: "Full", variants: [{ key: "a", value: 10, weight: 0.5 }, { key: "b", value: 20, weight: 0.5 }],
    default_value: 1, coverage: 1,
  });
  const started = await api("POST", `/api/v1/experiments/${key}/start`, ADMIN);
  const paused = await api("POST", `/api/v1/experiments/${key}/pause`, ADMIN); // serves default_value
  const sdk = (await api("POST", "/api/v1/keys", ADMIN, { name: "full", role: "sdk" })).json;
  if (!ok(made.status === 201 && started.status === 200 && paused.status === 200 && sdk && sdk.key,
    "a paused experiment serving default_value 1, and an sdk key",
    [made.text.slice(0, 200), started.text.slice(0, 200), paused.text.slice(0, 200)])) return;

  // every slot taken by streams that are never read
  const holders = [];
  for (let i = 0; i < SLOTS; i++) {
    const ac = new AbortController();
    const res = await fetch(`${BASE}/sub/${sdk.key}`, { signal: ac.signal });
    holders.push({ ac, res });
  }
  const extra = await fetch(`${BASE}/sub/${sdk.key}`, { signal: AbortSignal.timeout(15000) });
  const body = await extra.text(); // ends: the server closes after the payload
  ok(holders.every((h) => h.res.status === 200) && extra.status === 200 &&
    body.startsWith("retry: 500\n\nevent: features\n") && body.includes('"full-flag"'),
  "with every slot taken, GET /sub answers the current payload with a retry interval and ends",
  [`status ${extra.status}`, body.slice(0, 120)]);

  const gb = new GrowthBookClient({ apiHost: BASE, clientKey: sdk.key });
  const init = await gb.init({ timeout: 5000, streaming: true });
  const before = gb.evalFeature(key, { attributes: { id: "u-1" } }).value;
  await sleep(1200); // a few reconnections of the SDK's EventSource
  const t0 = Date.now();
  const p = await api("PATCH", `/api/v1/experiments/${key}`, ADMIN, { default_value: 2 });
  let after = before;
  // bounded wait (a hang detector, not a latency bound): reconnections every 0.5 s here
  while (Date.now() - t0 < 15000) {
    after = gb.evalFeature(key, { attributes: { id: "u-1" } }).value;
    if (after === 2) break;
    await sleep(20);
  }
  ok(init && init.success && before === 1 && p.status === 200 && after === 2,
    `with every slot taken, the streaming SDK still sees a change (in ${Date.now() - t0} ms)`,
    [`init ${JSON.stringify(init)}; before ${before}; PATCH ${p.status}; after ${after}`]);
  gb.destroy();
  for (const h of holders) h.ac.abort();
}

try {
  await main();
} catch (e) {
  ok(false, "growthbook-full.mjs ran to the end", [String(e && e.stack)]);
}
process.exit(plan().failed > 0 ? 1 : 0);

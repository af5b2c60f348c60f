// lib.mjs - what the ecosystem scripts share: TAP output and the daemon's HTTP API (from
// tests/common/tap.mjs, as the SDK tests use them), a seeded id generator, experiment setup
// and a small worker pool.
//
// Environment (set by run.sh, which owns the daemon):
//   BUNSEN_URL        base URL, e.g. http://127.0.0.1:41234 (required)
//   BUNSEN_ADMIN_KEY  admin key (required)
//   ECO_SEED          seed of the id generators (run.sh picks one and prints it)

import { mulberry32 } from "../common/mulberry32.mjs";
import { ADMIN, BASE, api, diag, intEnv, ok, plan, skip } from "../common/tap.mjs";

export { ADMIN, BASE, api, diag, intEnv, ok, skip };

export const SEED = intEnv("ECO_SEED", Math.floor(Math.random() * 2 ** 31));
const started = Date.now();

// ---- TAP ------------------------------------------------------------------------------
// Each script prints its own numbered TAP; run.sh renumbers the lines into one stream.

export function finish() {
  const { run, failed } = plan();
  diag(`${run - failed} passed, ${failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s` +
    (failed ? `; reproduce with ECO_SEED=${SEED}` : ""));
  process.exitCode = failed ? 1 : 0;
}
export function main(fn) {
  if (!BASE || !ADMIN) {
    console.error("BUNSEN_URL and BUNSEN_ADMIN_KEY are required (see tests/ecosystem/run.sh)");
    process.exit(2);
  }
  fn().then(finish, (e) => {
    ok(false, `unexpected error: ${e && e.stack ? e.stack.split("\n").slice(0, 3).join(" | ") : e}`);
    finish();
  });
}

// ---- HTTP -----------------------------------------------------------------------------

export function brief(r) {
  return `HTTP ${r.status}: ${String(r.text).slice(0, 300)}`;
}

export async function createKey(role, name) {
  const r = await api("POST", "/api/v1/keys", ADMIN, { name, role });
  if (r.status !== 201 || !r.json || typeof r.json.key !== "string") {
    throw new Error(`POST /api/v1/keys (${role}) failed: ${brief(r)}`);
  }
  return r.json;
}

// Creates the experiment and moves it to `status` (running by default; "paused", or
// "released:VARIANT" for stopped with a release). Returns the reply of the last step.
export async function setupExperiment(def, status = "running") {
  const c = await api("POST", "/api/v1/experiments", ADMIN, { name: def.key, ...def });
  if (c.status !== 201) return c;
  const s = await api("POST", `/api/v1/experiments/${def.key}/start`, ADMIN);
  if (s.status !== 200 || status === "running") return s;
  if (status === "paused") return api("POST", `/api/v1/experiments/${def.key}/pause`, ADMIN);
  if (status.startsWith("released:")) {
    return api("POST", `/api/v1/experiments/${def.key}/stop`, ADMIN, { release: status.slice(9) });
  }
  throw new Error(`unknown status ${status}`);
}

// Stops the experiments a script created, so that later scripts' bulk evaluations (which
// cover every live experiment) do not log exposures into them.
export async function stopAll(keys) {
  for (const k of keys) await api("POST", `/api/v1/experiments/${k}/stop`, ADMIN);
}

export async function results(key) {
  const r = await api("GET", `/api/v1/experiments/${encodeURIComponent(key)}/results`, ADMIN, undefined, { retry: true });
  if (r.status !== 200 || !r.json) return { error: brief(r) };
  const users = {};
  for (const v of r.json.variants || []) users[v.key] = v.users;
  return { users, json: r.json };
}

// results(key), polled until pred(users) holds or ms pass: OFREP logs exposures beside the
// answer, so they commit a few milliseconds after it.
export async function resultsWhen(key, pred, ms = 3000) {
  const until = Date.now() + ms;
  let r = await results(key);
  while (!r.error && !pred(r.users) && Date.now() < until) {
    await new Promise((res) => setTimeout(res, 50));
    r = await results(key);
  }
  return r;
}

// ---- users ----------------------------------------------------------------------------

export { mulberry32 }; // tests/common/mulberry32.mjs

// n distinct user ids (mostly ASCII, some accents, CJK and emoji) with attributes for the
// targeting conditions the scripts use (country, age, plan).
export function makeUsers(n, seed, prefix) {
  const rnd = mulberry32(seed);
  const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
  const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
  const exotic = ["é", "ü", "中", "日本", "😀", "👍🏽", "ß", "Ω", "ж", "한"];
  const seen = new Set();
  const users = [];
  while (users.length < n) {
    const k = rnd();
    let id;
    if (k < 0.5) id = `${prefix}-${int(0, 99999999)}`;
    else if (k < 0.75) id = `${prefix}-${Array.from({ length: 12 }, () => "0123456789abcdef"[int(0, 15)]).join("")}`;
    else if (k < 0.9) id = String(int(0, 2 ** 31));
    else id = `${prefix}-${pick(exotic)}${int(0, 9999)}${pick(exotic)}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const attrs = {};
    const c = rnd();
    if (c < 0.35) attrs.country = "NL";
    else if (c < 0.5) attrs.country = "BE";
    else if (c < 0.85) attrs.country = pick(["DE", "US", "FR", "nl"]);
    if (rnd() < 0.8) attrs.age = int(16, 70);
    if (rnd() < 0.8) attrs.plan = pick(["free", "pro", "team", "banned"]);
    users.push({ id, attrs });
  }
  return users;
}

export function variants(keys, weights) {
  return keys.map((k, i) => ({ key: k, name: k, weight: weights[i] }));
}

// Runs fn(item, index) over items with `concurrency` in flight.
export async function pool(items, concurrency, fn) {
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

export function countBy(list) {
  const out = {};
  for (const x of list) out[x] = (out[x] || 0) + 1;
  return out;
}

export function sameCounts(a, b) {
  const keys = new Set([...Object.keys(a || {}), ...Object.keys(b || {})]);
  for (const k of keys) if ((a[k] || 0) !== (b[k] || 0)) return false;
  return true;
}

export const runTag = `${SEED.toString(36)}${Date.now().toString(36).slice(-4)}`.slice(0, 12);

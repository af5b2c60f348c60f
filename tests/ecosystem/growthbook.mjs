// growthbook.mjs - the GrowthBook JavaScript SDK (@growthbook/growthbook) loading Bunsen's
// payload: new GrowthBook({apiHost: <daemon>, clientKey: <sdk key>}) fetches
// GET {apiHost}/api/features/{clientKey} and evaluates every feature locally.
//
// - For GB_USERS users (attributes {id, country, age, plan}) and several definitions
//   (weights, coverage with a custom seed, two experiments splitting one namespace, a
//   targeting condition, forced users, hash version 1 with weights that need 17 digits,
//   paused, released), gb.evalFeature / gb.getFeatureValue equal POST /api/v1/assign
//   (variant and in-experiment); GrowthBookClient (the SDK's multi-user server class)
//   agrees too.
// - trackingCallback, batched into POST /api/v1/exposures, produces the same exposures
//   as /assign with log_exposure true: every SDK-fed experiment has an /assign-fed twin
//   (same definition and seed, another key); the results endpoint's users per variant
//   agree, and with BUNSEN_DB and the sqlite3 CLI the exposure rows (user, variant) too.
//   A namespaced definition's twin holds the same range of the same namespace, which may not
//   run beside its original: it runs in a second pass, once the original is stopped.
// - The payload has a strong ETag (If-None-Match -> 304); an unknown client key is 401
//   and the SDK falls back to defaults.
import { spawnSync } from "node:child_process";
import { GrowthBook, GrowthBookClient, setPolyfills } from "@growthbook/growthbook";
import {
  ADMIN, BASE, SEED, api, brief, countBy, createKey, diag, intEnv, main, makeUsers, ok, pool,
  results, runTag, sameCounts, setupExperiment, skip, stopAll, variants,
} from "./lib.mjs";

const N_USERS = intEnv("GB_USERS", 10000);
const CONCURRENCY = intEnv("GB_CONCURRENCY", 32);
const BATCH = 2000; // exposures per POST /api/v1/exposures
const T = `gb${runTag}`;

// The SDK's fetches, to see what it asked for.
const fetches = [];
setPolyfills({
  fetch: async (url, init) => {
    const res = await fetch(url, init);
    fetches.push({ url: String(url), status: res.status, etag: res.headers.get("etag") });
    return res;
  },
});

const forcedNew = Array.from({ length: 10 }, (_, i) => `${T}-qa-${i}`);
const DEFS = [
  { key: `${T}-weights`, variants: variants(["control", "b", "c"], [0.2, 0.3, 0.5]) },
  { key: `${T}-coverage`, variants: variants(["control", "t"], [0.5, 0.5]), coverage: 0.35, seed: "gb-cov-seed-ü-中" },
  { key: `${T}-ns-a`, variants: variants(["control", "t"], [0.5, 0.5]), namespace: { name: `${T}-ns`, range: [0, 0.5] } },
  { key: `${T}-ns-b`, variants: variants(["control", "t"], [0.4, 0.6]), namespace: { name: `${T}-ns`, range: [0.5, 1] } },
  {
    key: `${T}-targeting`,
    variants: variants(["control", "green"], [0.4, 0.6]),
    coverage: 0.8,
    targeting: { $or: [{ country: { $in: ["NL", "BE"] } }, { age: { $gte: 60 } }], plan: { $ne: "banned" } },
  },
  { key: `${T}-forced`, variants: variants(["control", "x", "y"], [0.34, 0.33, 0.33]), forced: {} },
  {
    key: `${T}-v1-exact`,
    variants: variants(["control", "x"], [0.5000000000000001, 0.4999999999999999]),
    hash_version: 1,
  },
];
for (const d of DEFS) d.seed = d.seed || d.key;
const PAUSED = { key: `${T}-paused`, variants: variants(["control", "x"], [0.5, 0.5]), forced: { [forcedNew[0]]: "x" } };
const RELEASED = { key: `${T}-released`, variants: variants(["control", "b"], [0.5, 0.5]) };
const twinOf = (key) => `${key}-twin`;

function sqliteRows(db, experiment) {
  const q = `SELECT user_id, variant FROM exposures WHERE experiment = '${experiment.replace(/'/g, "''")}' ORDER BY user_id`;
  const r = spawnSync("sqlite3", ["-readonly", "-json", db, q], { encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.error || r.status !== 0) return { error: String(r.error || r.stderr).slice(0, 300) };
  return { rows: r.stdout.trim() ? JSON.parse(r.stdout) : [] };
}

main(async () => {
  diag(`GrowthBook SDK (payload from ${BASE}/api/features/{clientKey}); ${N_USERS} users; ECO_SEED=${SEED}`);
  const sdk = (await createKey("sdk", `${T}-sdk`)).key;
  const users = makeUsers(N_USERS, SEED ^ 0x6b6b, T);
  // forced users: ten of the generated ones and ten new ids
  const forced = DEFS.find((d) => d.key.endsWith("-forced")).forced;
  const vs = ["control", "x", "y"];
  users.slice(0, 10).forEach((u, i) => (forced[u.id] = vs[i % 3]));
  forcedNew.forEach((id, i) => (forced[id] = vs[(i + 1) % 3]));
  for (const id of forcedNew) users.push({ id, attrs: { country: "NL", age: 30 } });

  const setup = [];
  for (const def of DEFS) {
    setup.push([def.key, await setupExperiment(def)]);
    const twin = { ...def, key: twinOf(def.key) };
    // ranges of running experiments in one namespace may not overlap: a namespaced twin is a
    // draft until the second pass
    setup.push([twin.key, def.namespace ? await api("POST", "/api/v1/experiments", ADMIN, { name: twin.key, ...twin }) : await setupExperiment(twin)]);
  }
  setup.push([PAUSED.key, await setupExperiment(PAUSED, "paused")]);
  setup.push([RELEASED.key, await setupExperiment(RELEASED, "released:b")]);
  const bad = setup.filter(([, r]) => r.status !== 200 && r.status !== 201);
  if (!ok(bad.length === 0, `create ${setup.length} experiments: ${DEFS.length} definitions, an /assign-fed twin of each, paused, released`,
    bad.map(([k, r]) => `${k}: ${brief(r)}`))) {
    return;
  }
  const sdkKeys = [...DEFS.map((d) => d.key), PAUSED.key, RELEASED.key];
  const twinKeys = DEFS.map((d) => twinOf(d.key));
  const nsDefs = DEFS.filter((d) => d.namespace);
  const firstTwins = DEFS.filter((d) => !d.namespace).map((d) => twinOf(d.key));

  // ---- the payload -------------------------------------------------------------------------
  const exposures = [];
  let tracked = 0;
  const gb = new GrowthBook({
    apiHost: BASE,
    clientKey: sdk,
    trackingCallback: (experiment, result) => {
      tracked++;
      // result.key: the Bunsen variant key (result.value is the typed value, no variant key)
      exposures.push({ experiment: experiment.key, user_id: String(result.hashValue), variant: result.key, ts: Date.now() });
    },
  });
  const init = await gb.init({ timeout: 5000 });
  const payloadFetch = fetches.find((f) => f.url === `${BASE}/api/features/${sdk}`);
  const features = gb.getFeatures();
  const missing = sdkKeys.filter((k) => !features[k]);
  ok(init.success && init.source === "network" && payloadFetch && payloadFetch.status === 200 && missing.length === 0,
    `gb.init() fetched GET {apiHost}/api/features/{clientKey} (200) and has a feature per experiment`,
    [`init ${JSON.stringify(init)}`, `fetches ${JSON.stringify(fetches)}`, missing.length ? `missing ${missing.join(", ")}` : ""]);
  {
    const r1 = await api("GET", `/api/features/${sdk}`, null);
    const r2 = await api("GET", `/api/features/${sdk}`, null, undefined, { headers: { "If-None-Match": r1.headers.get("etag") || "none" } });
    ok(r1.status === 200 && /^"[^"]+"$/.test(r1.headers.get("etag") || "") && r2.status === 304 && r2.text === "" &&
      r1.headers.get("access-control-allow-origin") === "*",
      `the payload has a strong ETag and CORS; If-None-Match -> 304 with no body`,
      [`etag ${r1.headers.get("etag")}`, `revalidation ${r2.status}`]);
    const rule = (r1.json.features[DEFS[6].key].rules || []).find((x) => x.key === DEFS[6].key) || {};
    ok(JSON.stringify(rule.weights) === JSON.stringify([0.5000000000000001, 0.4999999999999999]) && rule.hashVersion === 1 &&
      rule.hashAttribute === "id" && rule.seed === DEFS[6].key,
      `the payload carries weights to 17 significant digits, hashVersion, hashAttribute id and seed`, [JSON.stringify(rule)]);
  }
  const gbc = new GrowthBookClient({ apiHost: BASE, clientKey: sdk });
  await gbc.init({ timeout: 5000 });

  // ---- every user: local evaluation vs /assign; tracking vs the twin's /assign exposures ----
  const mism = Object.fromEntries(sdkKeys.map((k) => [k, []]));
  const twinMism = [];
  const httpErr = [];
  const inExp = Object.fromEntries(DEFS.map((d) => [d.key, []]));
  const sources = Object.fromEntries(sdkKeys.map((k) => [k, {}]));
  const reasons = Object.fromEntries(sdkKeys.map((k) => [k, {}]));
  const nsBoth = [];
  const nsLocal = new Map(); // user id -> {u, local}: the namespaced twins' second pass
  let flushing = Promise.resolve();
  const flushErrors = [];
  let posted = 0;
  function flush(all) {
    while (exposures.length >= BATCH || (all && exposures.length)) {
      const batch = exposures.splice(0, BATCH);
      flushing = flushing.then(async () => {
        const r = await api("POST", "/api/v1/exposures", sdk, { exposures: batch });
        if (r.status !== 200) flushErrors.push(brief(r));
        else posted += batch.length;
      });
    }
    return flushing;
  }
  const t0 = Date.now();
  await pool(users, CONCURRENCY, async (u) => {
    const attributes = { id: u.id, ...u.attrs };
    // gb is shared by the workers: set the attributes and evaluate with no await in
    // between (setAttributes assigns synchronously; it awaits only for sticky buckets or
    // remote evaluation, neither used here)
    void gb.setAttributes(attributes);
    const local = {};
    for (const key of sdkKeys) {
      const r = gb.evalFeature(key);
      local[key] = { value: r.value, source: r.source, inExp: r.source === "experiment" && !!(r.experimentResult && r.experimentResult.inExperiment) };
      if (gb.getFeatureValue(key, "__fallback__") !== r.value) local[key].fv = gb.getFeatureValue(key, "__fallback__");
      const c = gbc.evalFeature(key, { attributes });
      if (c.value !== r.value) local[key].client = c.value;
    }
    flush(false);
    const [a, t] = await Promise.all([
      api("POST", "/api/v1/assign", sdk, { user_id: u.id, attributes: u.attrs, experiments: sdkKeys, log_exposure: false }, { retry: true }),
      api("POST", "/api/v1/assign", sdk, { user_id: u.id, attributes: u.attrs, experiments: firstTwins, log_exposure: true }),
    ]);
    if (a.status !== 200 || t.status !== 200) {
      httpErr.push(`${u.id}: ${brief(a.status !== 200 ? a : t)}`);
      return;
    }
    for (const key of sdkKeys) {
      const want = a.json.assignments[key];
      const l = local[key];
      sources[key][l.source] = (sources[key][l.source] || 0) + 1;
      reasons[key][want.reason] = (reasons[key][want.reason] || 0) + 1;
      const p = [];
      if (l.value !== want.variant) p.push(`SDK ${l.value} (${l.source}) != /assign ${want.variant} (${want.reason})`);
      if (l.inExp !== want.in_experiment) p.push(`SDK inExperiment ${l.inExp} != /assign ${want.in_experiment}`);
      if ("fv" in l) p.push(`getFeatureValue ${l.fv} != evalFeature ${l.value}`);
      if ("client" in l) p.push(`GrowthBookClient ${l.client} != GrowthBook ${l.value}`);
      if (p.length) mism[key].push(`${JSON.stringify(u.id)} ${JSON.stringify(u.attrs)}: ${p.join("; ")}`);
      if (inExp[key] && want.in_experiment) inExp[key].push(want.variant);
    }
    nsLocal.set(u.id, { u, local });
    for (const def of DEFS.filter((d) => !d.namespace)) {
      const tw = t.json.assignments[twinOf(def.key)];
      if (!tw || tw.variant !== local[def.key].value || tw.in_experiment !== local[def.key].inExp) {
        twinMism.push(`${JSON.stringify(u.id)} ${twinOf(def.key)}: ${JSON.stringify(tw)} vs SDK ${JSON.stringify(local[def.key])}`);
      }
    }
    if (local[DEFS[2].key].inExp && local[DEFS[3].key].inExp) nsBoth.push(u.id);
  });
  await flush(true);
  const secs = (Date.now() - t0) / 1000;
  diag(`${users.length} users x ${sdkKeys.length} features in ${secs.toFixed(1)} s; ${tracked} trackingCallback calls, ${posted} exposures posted in batches of ${BATCH}`);
  ok(httpErr.length === 0, `POST /api/v1/assign answered every user (twice)`, httpErr.slice(0, 5));
  for (const key of sdkKeys) {
    const def = DEFS.find((d) => d.key === key);
    const want = [];
    if (def) want.push("hashed");
    if (def && def.coverage) want.push("coverage");
    if (def && def.namespace) want.push("namespace");
    if (def && def.targeting) want.push("not_targeted");
    if (def && def.forced) want.push("forced");
    if (key === PAUSED.key) want.push("not_running", "forced");
    if (key === RELEASED.key) want.push("released");
    const never = want.filter((r) => !reasons[key][r]);
    ok(mism[key].length === 0 && never.length === 0,
      `SDK evalFeature/getFeatureValue (and GrowthBookClient) equal /assign for ${users.length} users on ${key}`,
      [`/assign reasons ${JSON.stringify(reasons[key])}; SDK sources ${JSON.stringify(sources[key])}`,
        never.length ? `never seen: ${never.join(", ")}` : "", mism[key].length ? `${mism[key].length} mismatches, first:` : "", ...mism[key].slice(0, 6)]);
  }
  ok(nsBoth.length === 0, `the two experiments on one namespace never share a user`, nsBoth.slice(0, 5));
  // the second pass: the namespaced originals stop (their SDK exposures are all posted), their
  // twins start and are asked for every user
  await stopAll(nsDefs.map((d) => d.key));
  for (const d of nsDefs) {
    const r = await api("POST", `/api/v1/experiments/${twinOf(d.key)}/start`, ADMIN);
    if (r.status !== 200) httpErr.push(`start ${twinOf(d.key)}: ${brief(r)}`);
  }
  await pool([...nsLocal.values()], CONCURRENCY, async ({ u, local }) => {
    const t = await api("POST", "/api/v1/assign", sdk, { user_id: u.id, attributes: u.attrs, experiments: nsDefs.map((d) => twinOf(d.key)), log_exposure: true });
    if (t.status !== 200) {
      httpErr.push(`${u.id}: ${brief(t)}`);
      return;
    }
    for (const def of nsDefs) {
      const tw = t.json.assignments[twinOf(def.key)];
      if (!tw || tw.variant !== local[def.key].value || tw.in_experiment !== local[def.key].inExp) {
        twinMism.push(`${JSON.stringify(u.id)} ${twinOf(def.key)}: ${JSON.stringify(tw)} vs SDK ${JSON.stringify(local[def.key])}`);
      }
    }
  });
  ok(httpErr.length === 0, `the namespaced twins started after their originals stopped, and answered every user`, httpErr.slice(0, 5));
  ok(twinMism.length === 0, `each twin (same definition and seed) assigns as the SDK evaluates its original`, twinMism.slice(0, 5));

  // ---- exposures: trackingCallback -> POST /exposures vs /assign log_exposure ---------------
  const expected = DEFS.reduce((n, d) => n + inExp[d.key].length, 0);
  ok(flushErrors.length === 0 && tracked === expected && posted === expected,
    `trackingCallback fired once per in-experiment user and feature (${tracked}), all posted to /api/v1/exposures`,
    [`expected ${expected}, posted ${posted}`, ...flushErrors.slice(0, 3)]);
  for (const def of DEFS) {
    const a = await results(def.key);
    const b = await results(twinOf(def.key));
    const want = countBy(inExp[def.key]);
    ok(!a.error && !b.error && sameCounts(a.users, b.users) && sameCounts(a.users, want) &&
      a.json.data_quality.conflicting_exposures === 0,
      `results users per variant: SDK-fed ${def.key} ${JSON.stringify(a.users)} = /assign-fed twin ${JSON.stringify(b.users)}`,
      [a.error, b.error, `expected ${JSON.stringify(want)}`, a.json ? `conflicts ${a.json.data_quality.conflicting_exposures}` : ""]);
  }
  const db = process.env.BUNSEN_DB;
  const haveSqlite = db && spawnSync("sqlite3", ["-version"]).status === 0;
  if (!haveSqlite) {
    skip(`exposure rows (user, variant) of SDK-fed and /assign-fed experiments are identical`, db ? "no sqlite3 CLI" : "BUNSEN_DB not set");
  } else {
    const diffs = [];
    for (const def of DEFS) {
      const a = sqliteRows(db, def.key);
      const b = sqliteRows(db, twinOf(def.key));
      if (a.error || b.error) diffs.push(`${def.key}: ${a.error || b.error}`);
      else if (JSON.stringify(a.rows) !== JSON.stringify(b.rows)) diffs.push(`${def.key}: ${a.rows.length} rows vs twin ${b.rows.length}`);
      else if (a.rows.length !== inExp[def.key].length) diffs.push(`${def.key}: ${a.rows.length} rows, expected ${inExp[def.key].length}`);
    }
    ok(diffs.length === 0, `exposure rows (user, variant) of SDK-fed and /assign-fed experiments are identical (sqlite3 -readonly)`, diffs);
  }
  const none = [];
  for (const k of [PAUSED.key, RELEASED.key]) {
    const r = await results(k);
    if (r.error || Object.values(r.users).some((n) => n)) none.push(`${k}: ${r.error || JSON.stringify(r.users)}`);
  }
  ok(none.length === 0, `paused and released features track nothing`, none);

  // ---- an unknown client key ---------------------------------------------------------------
  {
    const bad = new GrowthBook({ apiHost: BASE, clientKey: "bsn_unknown-client-key-0000000000000000000" });
    const res = await bad.init({ timeout: 3000 });
    const raw = await api("GET", "/api/features/bsn_unknown-client-key-0000000000000000000", null);
    await bad.setAttributes({ id: users[0].id });
    ok(!res.success && raw.status === 401 && bad.getFeatureValue(DEFS[0].key, "fallback") === "fallback",
      `an unknown clientKey: 401, init reports failure, features fall back to the default`,
      [`init ${JSON.stringify(res)}`, `raw ${brief(raw)}`]);
    bad.destroy();
  }
  gb.destroy();
  gbc.destroy();
  await stopAll([...DEFS.map((d) => d.key), ...twinKeys]);
});

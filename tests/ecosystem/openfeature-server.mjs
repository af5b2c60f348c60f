// openfeature-server.mjs - the OpenFeature server SDK (@openfeature/server-sdk) with the
// OFREP provider (@openfeature/ofrep-provider) pointed at Bunsen.
//
// - String evaluations (getStringDetails, getStringValue) with a targetingKey and
//   attributes, for OF_USERS users and several experiment definitions (weights, coverage,
//   a namespace, a targeting condition with a forced user), equal POST /api/v1/assign's
//   variant; the reason, variant and flag metadata map /assign's as docs/API.md says.
// - Paused (DISABLED, control) and released (STATIC, released variant) experiments.
// - Errors as the SDK reports them: FLAG_NOT_FOUND, TARGETING_KEY_MISSING,
//   INVALID_CONTEXT, TYPE_MISMATCH, and GENERAL for a wrong, revoked or viewer key (the
//   provider throws OFREPApiUnauthorizedError / OFREPForbiddenError, which are not
//   OpenFeature errors, so the SDK reports GENERAL).
// - The key as `Authorization: Bearer` and as `X-API-Key` (the provider's `headers`).
// - OFREP evaluations log exposures: the results endpoint counts, per variant, exactly the
//   users /assign puts in the experiment.
import { OpenFeature } from "@openfeature/server-sdk";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import {
  ADMIN, BASE, SEED, api, brief, countBy, createKey, diag, intEnv, main, makeUsers, ok, pool,
  results, resultsWhen, runTag, sameCounts, setupExperiment, stopAll, variants,
} from "./lib.mjs";

const N_USERS = intEnv("OF_USERS", 1000);
const CONCURRENCY = intEnv("OF_CONCURRENCY", 16);
const T = `of${runTag}`;

const DEFS = [
  { key: `${T}-weights`, variants: variants(["control", "b", "c"], [0.2, 0.3, 0.5]) },
  { key: `${T}-coverage`, variants: variants(["control", "treatment"], [0.5, 0.5]), coverage: 0.4, seed: "of-cov" },
  {
    key: `${T}-namespace`,
    variants: variants(["control", "treatment"], [0.5, 0.5]),
    namespace: { name: `${T}-ns`, range: [0.2, 0.7] },
  },
  {
    key: `${T}-targeting`,
    variants: variants(["control", "green"], [0.3, 0.7]),
    targeting: { country: { $in: ["NL", "BE"] }, age: { $gte: 18 } },
    forced: { [`${T}-qa-1`]: "green", [`${T}-qa-2`]: "control" },
  },
];
const PAUSED = { key: `${T}-paused`, variants: variants(["control", "x"], [0.5, 0.5]) };
const RELEASED = { key: `${T}-released`, variants: variants(["control", "winner"], [0.5, 0.5]) };
const OFREP_REASON = {
  hashed: "SPLIT", forced: "TARGETING_MATCH", released: "STATIC", not_running: "DISABLED",
  not_targeted: "STATIC", namespace: "SPLIT", coverage: "SPLIT",
}; // OFREP's reason enum has no DEFAULT (docs/INTEGRATIONS.md)

// Records the error objects the SDK passes to error hooks, to tell which provider error
// was behind a GENERAL.
function errorRecorder() {
  const seen = [];
  return { seen, hook: { error: (_ctx, err) => seen.push(err) } };
}

main(async () => {
  diag(`OpenFeature server SDK + OFREP provider against ${BASE}; ${N_USERS} users; ECO_SEED=${SEED}`);
  const sdk = (await createKey("sdk", `${T}-sdk`)).key;
  const viewer = (await createKey("viewer", `${T}-viewer`)).key;
  const revoked = await createKey("sdk", `${T}-revoked`);
  const del = await api("DELETE", `/api/v1/keys/${revoked.id}`, ADMIN);

  const setup = [];
  for (const def of DEFS) setup.push([def.key, await setupExperiment(def)]);
  setup.push([PAUSED.key, await setupExperiment(PAUSED, "paused")]);
  setup.push([RELEASED.key, await setupExperiment(RELEASED, "released:winner")]);
  const bad = setup.filter(([, r]) => r.status !== 200);
  if (!ok(bad.length === 0 && del.status === 200,
    `create keys (sdk, viewer, a revoked sdk key) and ${setup.length} experiments (weights, coverage, namespace, targeting + forced, paused, released)`,
    [...bad.map(([k, r]) => `${k}: ${brief(r)}`), del.status === 200 ? "" : `revoke: ${brief(del)}`])) {
    return;
  }
  const keys = DEFS.map((d) => d.key);

  // The provider as its README configures it: baseUrl and headers.
  const provider = new OFREPProvider({ baseUrl: BASE, headers: [["Authorization", `Bearer ${sdk}`]] });
  await OpenFeature.setProviderAndWait(provider);
  const client = OpenFeature.getClient("bunsen-tests");

  // ---- parity with /assign -------------------------------------------------------------
  const users = makeUsers(N_USERS, SEED ^ 0x0f0f, T);
  users.push({ id: `${T}-qa-1`, attrs: { country: "DE" } }, { id: `${T}-qa-2`, attrs: { country: "NL", age: 40 } });
  const mism = Object.fromEntries(keys.map((k) => [k, []]));
  const assignErrors = [];
  const inExp = Object.fromEntries(keys.map((k) => [k, []])); // variants of in-experiment users
  const reasons = Object.fromEntries(keys.map((k) => [k, {}]));
  let valueChecks = 0;
  const t0 = Date.now();
  await pool(users, CONCURRENCY, async (u, i) => {
    const a = await api("POST", "/api/v1/assign", sdk,
      { user_id: u.id, attributes: u.attrs, experiments: keys, log_exposure: false }, { retry: true });
    if (a.status !== 200 || !a.json || !a.json.assignments) {
      assignErrors.push(`${u.id}: ${brief(a)}`);
      return;
    }
    const ctx = { targetingKey: u.id, ...u.attrs };
    for (const key of keys) {
      const want = a.json.assignments[key];
      const d = await client.getStringDetails(key, "__default__", ctx);
      const p = [];
      if (!want) p.push("missing from /assign");
      else {
        if (d.errorCode) p.push(`error ${d.errorCode}: ${d.errorMessage}`);
        if (d.value !== want.variant) p.push(`value ${d.value} != /assign ${want.variant}`);
        if (d.variant !== want.variant) p.push(`variant ${d.variant}`);
        if (d.reason !== OFREP_REASON[want.reason]) p.push(`reason ${d.reason} for /assign reason ${want.reason}`);
        const m = d.flagMetadata || {};
        if (m.experiment !== key || m.in_experiment !== want.in_experiment || m.assignment_reason !== want.reason) {
          p.push(`flagMetadata ${JSON.stringify(m)}`);
        }
        if (want.bucket !== null && m.bucket !== want.bucket) p.push(`bucket ${m.bucket} != /assign ${want.bucket}`);
        if (want.bucket === null && m.bucket !== undefined) p.push(`bucket ${m.bucket} where /assign computed none`);
        reasons[key][want.reason] = (reasons[key][want.reason] || 0) + 1;
        if (want.in_experiment) inExp[key].push(want.variant);
      }
      if (p.length) mism[key].push(`${JSON.stringify(u.id)} ${JSON.stringify(u.attrs)}: ${p.join("; ")}`);
    }
    // getStringValue too (a repeated exposure: must not change the counts)
    const key = keys[i % keys.length];
    const v = await client.getStringValue(key, "__default__", ctx);
    valueChecks++;
    if (v !== a.json.assignments[key].variant) mism[key].push(`${JSON.stringify(u.id)}: getStringValue ${v} != /assign ${a.json.assignments[key].variant}`);
  });
  diag(`${users.length} users x ${keys.length} flags (+${valueChecks} getStringValue) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  ok(assignErrors.length === 0, `POST /api/v1/assign answered every user`, assignErrors.slice(0, 5));
  for (const key of keys) {
    const def = DEFS.find((d) => d.key === key);
    const want = ["hashed"];
    if (def.coverage) want.push("coverage");
    if (def.namespace) want.push("namespace");
    if (def.targeting) want.push("not_targeted", "forced");
    const missing = want.filter((r) => !reasons[key][r]);
    ok(mism[key].length === 0 && missing.length === 0,
      `OFREP getStringDetails/getStringValue equal /assign for ${users.length} users on ${key} (value, variant, reason, metadata)`,
      [`/assign reasons ${JSON.stringify(reasons[key])}`, missing.length ? `never seen: ${missing.join(", ")}` : "",
        mism[key].length ? `${mism[key].length} mismatches, first:` : "", ...mism[key].slice(0, 8)]);
  }

  // ---- exposures -------------------------------------------------------------------------
  for (const key of keys) {
    const want = countBy(inExp[key]);
    const r = await resultsWhen(key, (u) => sameCounts(u, want));
    ok(!r.error && sameCounts(r.users, want),
      `OFREP evaluations logged one exposure per in-experiment user on ${key}: results users ${JSON.stringify(r.users)}`,
      [r.error, `expected (from /assign in_experiment) ${JSON.stringify(want)}`]);
  }

  // ---- paused, released ------------------------------------------------------------------
  {
    const ctx = { targetingKey: `${T}-someone`, country: "NL" };
    // A paused flag answers the protocol's codeDefaultFlag: reason DISABLED and no value.
    // @openfeature/ofrep-provider 0.1.3 (the newest) predates that shape and reports it as
    // GENERAL; the value is the code default either way (the web provider says DISABLED).
    const p = await client.getStringDetails(PAUSED.key, "__default__", ctx);
    const raw = await api("POST", `/ofrep/v1/evaluate/flags/${PAUSED.key}`, sdk, { context: ctx });
    ok(p.value === "__default__" && (p.reason === "DISABLED" || p.errorCode === "GENERAL") &&
      raw.status === 200 && raw.json && raw.json.reason === "DISABLED" && !("value" in raw.json),
      `paused experiment: the code default; HTTP 200 {reason: DISABLED} without a value`, [JSON.stringify(p), JSON.stringify(raw.json)]);
    const rl = await client.getStringDetails(RELEASED.key, "__default__", ctx);
    ok(rl.value === "winner" && rl.reason === "STATIC" && !rl.errorCode,
      `stopped experiment with a release: value winner, reason STATIC`, [JSON.stringify(rl)]);
    const rp = await results(PAUSED.key);
    const rr = await results(RELEASED.key);
    ok(!rp.error && !rr.error && Object.values(rp.users).every((n) => n === 0) && Object.values(rr.users).every((n) => n === 0),
      `paused and released evaluations log no exposure`, [JSON.stringify(rp.users || rp.error), JSON.stringify(rr.users || rr.error)]);
  }

  // ---- errors ----------------------------------------------------------------------------
  {
    const ctx = { targetingKey: "u-err-1", country: "NL" };
    const nf = await client.getStringDetails(`${T}-no-such-flag`, "dflt", ctx);
    ok(nf.errorCode === "FLAG_NOT_FOUND" && nf.value === "dflt" && nf.reason === "ERROR",
      `unknown flag: errorCode FLAG_NOT_FOUND, the default value, reason ERROR`, [JSON.stringify(nf)]);
    const tk = await client.getStringDetails(keys[0], "dflt", { country: "NL" });
    ok(tk.errorCode === "TARGETING_KEY_MISSING" && tk.value === "dflt",
      `no targetingKey: errorCode TARGETING_KEY_MISSING`, [JSON.stringify(tk)]);
    const ic = await client.getStringDetails(keys[0], "dflt", { targetingKey: "x".repeat(300) });
    ok(ic.errorCode === "INVALID_CONTEXT" && ic.value === "dflt",
      `targetingKey over 256 bytes: errorCode INVALID_CONTEXT`, [JSON.stringify(ic)]);
    const tm = await client.getBooleanDetails(RELEASED.key, false, ctx);
    ok(tm.errorCode === "TYPE_MISMATCH" && tm.value === false,
      `boolean evaluation of a string flag: errorCode TYPE_MISMATCH`, [JSON.stringify(tm)]);
  }
  for (const [what, key, status, errName] of [
    ["an unknown key", "bsn_not-a-real-key-0000000000000000000000", 401, "OFREPApiUnauthorizedError"],
    ["a revoked key", revoked.key, 401, "OFREPApiUnauthorizedError"],
    ["a viewer key", viewer, 403, "OFREPForbiddenError"],
  ]) {
    const rec = errorRecorder();
    const domain = `bad-${status}-${what.replace(/\W+/g, "-")}`;
    await OpenFeature.setProviderAndWait(domain, new OFREPProvider({ baseUrl: BASE, headers: { Authorization: `Bearer ${key}` } }));
    const c = OpenFeature.getClient(domain);
    c.addHooks(rec.hook);
    const d = await c.getStringDetails(keys[0], "dflt", { targetingKey: "u-err-2" });
    const raw = await api("POST", `/ofrep/v1/evaluate/flags/${keys[0]}`, key, { context: { targetingKey: "u-err-2" } });
    const names = rec.seen.map((e) => e && e.name);
    ok(d.errorCode === "GENERAL" && d.value === "dflt" && d.reason === "ERROR" && names.includes(errName) && raw.status === status,
      `${what}: HTTP ${status}, the provider throws ${errName}, the SDK reports errorCode GENERAL and the default`,
      [`details ${JSON.stringify(d)}`, `hook errors ${JSON.stringify(names)}`, `raw ${brief(raw)}`]);
  }

  // ---- X-API-Key -------------------------------------------------------------------------
  {
    await OpenFeature.setProviderAndWait("x-api-key",
      new OFREPProvider({ baseUrl: BASE, headersFactory: async () => [["X-API-Key", sdk]] }));
    const c = OpenFeature.getClient("x-api-key");
    const bad = [];
    for (const u of users.slice(0, 20)) {
      const d = await c.getStringDetails(keys[0], "__default__", { targetingKey: u.id, ...u.attrs });
      const a = await api("POST", "/api/v1/assign", sdk, { user_id: u.id, attributes: u.attrs, experiments: [keys[0]], log_exposure: false });
      if (d.errorCode || d.value !== a.json.assignments[keys[0]].variant) bad.push(`${u.id}: ${JSON.stringify(d)}`);
    }
    ok(bad.length === 0, `the key in X-API-Key (provider headersFactory) works as the Bearer header does (20 users)`, bad.slice(0, 3));
  }

  await OpenFeature.close();
  await stopAll([...keys]);
});

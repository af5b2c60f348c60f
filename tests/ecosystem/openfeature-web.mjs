// openfeature-web.mjs - the OpenFeature web SDK (@openfeature/web-sdk) with the OFREP web
// provider (@openfeature/ofrep-web-provider) pointed at Bunsen, run under Node.js.
//
// The web provider is browser code: it fetches every flag once per context with the bulk
// endpoint, keeps the ETag, persists the evaluations in localStorage and revalidates with
// If-None-Match. Node.js 20 has fetch, Headers, Request and crypto.subtle; the only shim
// needed is localStorage (a Map). `document` and `EventSource` stay undefined: the
// provider checks for them (no visibility refresh, no SSE; Bunsen sends no eventStreams).
//
// - Bulk evaluations for WEB_USERS users (one context change each) equal /assign.
// - The first bulk request has no If-None-Match; the poll that follows sends the ETag and
//   gets 304; a new provider instance starts from the localStorage cache (reason CACHED)
//   and revalidates with If-None-Match -> 304.
// - CORS: a browser's preflight for the headers the provider actually sends is allowed,
//   and responses expose ETag.
// - Exposures: one per in-experiment user; a 304 logs nothing; an ETag served to one
//   user does not revalidate another user's request (else their exposure would be lost).
// - A wrong key makes initialisation fail: the provider is FATAL (PROVIDER_FATAL).
//
// WEB_DEBUG=1 prints every bulk request of the per-user loop (context, If-None-Match,
// status, ETag).

const store = new Map();
globalThis.localStorage = {
  getItem: (k) => (store.has(k) ? store.get(k) : null),
  setItem: (k, v) => void store.set(k, String(v)),
  removeItem: (k) => void store.delete(k),
  clear: () => store.clear(),
  key: (i) => [...store.keys()][i] ?? null,
  get length() {
    return store.size;
  },
};

const { OpenFeature, ProviderStatus } = await import("@openfeature/web-sdk");
const { OFREPWebProvider } = await import("@openfeature/ofrep-web-provider");
const {
  BASE, SEED, api, brief, countBy, createKey, diag, intEnv, main, makeUsers, ok, results, resultsWhen, runTag,
  sameCounts, setupExperiment, stopAll, variants,
} = await import("./lib.mjs");

const N_USERS = intEnv("WEB_USERS", 100);
const T = `web${runTag}`;
const DEFS = [
  { key: `${T}-weights`, variants: variants(["control", "b", "c"], [0.25, 0.25, 0.5]), coverage: 0.8 },
  {
    key: `${T}-targeting`,
    variants: variants(["control", "green"], [0.5, 0.5]),
    targeting: { country: { $in: ["NL", "BE"] } },
    forced: { [`${T}-qa`]: "green" },
  },
];
const RELEASED = { key: `${T}-released`, variants: variants(["control", "winner"], [0.5, 0.5]) };
const OFREP_REASON = {
  hashed: "SPLIT", forced: "TARGETING_MATCH", released: "STATIC", not_running: "DISABLED",
  not_targeted: "STATIC", namespace: "SPLIT", coverage: "SPLIT",
}; // OFREP's reason enum has no DEFAULT (docs/INTEGRATIONS.md)

// fetch that records each request's headers and the response's status and headers.
const log = [];
async function recordingFetch(input, init) {
  const req = new Request(input, init);
  const entry = { url: req.url, method: req.method, headers: Object.fromEntries(req.headers), status: 0 };
  if (process.env.WEB_DEBUG) entry.body = await req.clone().text();
  log.push(entry);
  const res = await fetch(req);
  entry.status = res.status;
  entry.etag = res.headers.get("etag");
  entry.acao = res.headers.get("access-control-allow-origin");
  entry.expose = res.headers.get("access-control-expose-headers");
  return res;
}
async function waitFor(cond, ms) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  return cond();
}
const ctxOf = (u) => ({ targetingKey: u.id, ...u.attrs });

main(async () => {
  diag(`OpenFeature web SDK + OFREP web provider (under Node.js ${process.version}) against ${BASE}; ${N_USERS} users`);
  const sdk = (await createKey("sdk", `${T}-sdk`)).key;
  const setup = [];
  for (const def of DEFS) setup.push([def.key, await setupExperiment(def)]);
  setup.push([RELEASED.key, await setupExperiment(RELEASED, "released:winner")]);
  const bad = setup.filter(([, r]) => r.status !== 200);
  if (!ok(bad.length === 0, `create an sdk key and ${setup.length} experiments (weights+coverage, targeting+forced, released)`,
    bad.map(([k, r]) => `${k}: ${brief(r)}`))) {
    return;
  }
  const keys = [...DEFS.map((d) => d.key), RELEASED.key];
  const users = [{ id: `${T}-qa`, attrs: { country: "US" } }, ...makeUsers(N_USERS, SEED ^ 0x5eb, T)];

  // ---- one user: initialisation, then a poll that revalidates ------------------------------
  // (its own domain and provider: polling would race with the context changes below, in
  // the provider, which may pair a new context with the previous context's ETag)
  await OpenFeature.setContext("poll", ctxOf(users[0]));
  await OpenFeature.setProviderAndWait("poll", new OFREPWebProvider({
    baseUrl: BASE,
    headers: [["Authorization", `Bearer ${sdk}`]],
    fetchImplementation: recordingFetch,
    pollInterval: 200,
    cacheMode: "disabled",
  }));
  const pollClient = OpenFeature.getClient("poll");
  ok(pollClient.providerStatus === ProviderStatus.READY && log.length === 1 && log[0].status === 200 && !!log[0].etag,
    `the provider initialises with one bulk request (POST /ofrep/v1/evaluate/flags -> 200 with an ETag)`,
    [JSON.stringify(log[0]), `status ${pollClient.providerStatus}`]);
  const first = log[0] || { headers: {} };
  ok(first.headers["if-none-match"] === undefined && first.acao === "*" && /\betag\b/i.test(first.expose || ""),
    `the first request has no If-None-Match; the reply has Access-Control-Allow-Origin * and exposes ETag`,
    [JSON.stringify(first)]);
  const polled = await waitFor(() => log.length >= 2 && log[1].status !== 0, 3000);
  const second = log[1] || { headers: {} };
  ok(polled && second.headers["if-none-match"] === first.etag && second.status === 304 && second.etag === first.etag,
    `the next bulk fetch (poll) sends If-None-Match with the ETag and gets 304`, [JSON.stringify(second)]);

  // ---- CORS preflight for exactly what the provider sends ----------------------------------
  {
    const sent = Object.keys(first.headers).filter((h) => !["accept", "accept-language", "content-language"].includes(h));
    const pre = await fetch(`${BASE}/ofrep/v1/evaluate/flags`, {
      method: "OPTIONS",
      headers: { Origin: "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": [...sent, "if-none-match"].join(",") },
    });
    const allowH = (pre.headers.get("access-control-allow-headers") || "").toLowerCase().split(/\s*,\s*/);
    const allowM = (pre.headers.get("access-control-allow-methods") || "").toUpperCase().split(/\s*,\s*/);
    const missing = [...sent, "if-none-match"].filter((h) => !allowH.includes(h) && !allowH.includes("*"));
    ok(pre.status >= 200 && pre.status < 300 && pre.headers.get("access-control-allow-origin") && allowM.includes("POST") && missing.length === 0,
      `CORS preflight allows POST with the provider's headers (${[...sent, "if-none-match"].join(", ")})`,
      [`status ${pre.status}`, `allow-origin ${pre.headers.get("access-control-allow-origin")}`,
        `allow-methods ${pre.headers.get("access-control-allow-methods")}`, `allow-headers ${pre.headers.get("access-control-allow-headers")}`,
        missing.length ? `not allowed: ${missing.join(", ")}` : ""]);
  }
  await OpenFeature.clearProviders(); // closes the polling provider
  await waitFor(() => log.every((e) => e.status !== 0), 3000);

  // ---- the default domain: no polling, the localStorage cache (the provider's default) ----
  const before = log.length;
  await OpenFeature.setContext(ctxOf(users[0]));
  await OpenFeature.setProviderAndWait(new OFREPWebProvider({
    baseUrl: BASE,
    headers: [["Authorization", `Bearer ${sdk}`]],
    fetchImplementation: recordingFetch,
  }));
  const client = OpenFeature.getClient();

  // ---- every user: a context change, a bulk fetch, local evaluations ----------------------
  const mism = [];
  const inExp = Object.fromEntries(keys.map((k) => [k, []]));
  const reasons = Object.fromEntries(keys.map((k) => [k, {}]));
  const t0 = Date.now();
  for (const u of users) {
    if (u !== users[0]) await OpenFeature.setContext(ctxOf(u));
    const a = await api("POST", "/api/v1/assign", sdk, { user_id: u.id, attributes: u.attrs, experiments: keys, log_exposure: false }, { retry: true });
    if (a.status !== 200) {
      mism.push(`${u.id}: /assign ${brief(a)}`);
      continue;
    }
    for (const key of keys) {
      const want = a.json.assignments[key];
      const d = client.getStringDetails(key, "__default__");
      if (d.errorCode || d.value !== want.variant || d.variant !== want.variant || d.reason !== OFREP_REASON[want.reason] ||
        (d.flagMetadata || {}).in_experiment !== want.in_experiment) {
        mism.push(`${JSON.stringify(u.id)} ${key}: got ${JSON.stringify(d)}; /assign ${JSON.stringify(want)}`);
      }
      reasons[key][want.reason] = (reasons[key][want.reason] || 0) + 1;
      if (want.in_experiment) inExp[key].push(want.variant);
    }
  }
  diag(`${users.length} contexts, ${log.length - before} bulk requests in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  ok(mism.length === 0 && reasons[DEFS[1].key].forced === 1 && reasons[DEFS[1].key].not_targeted > 0 && reasons[DEFS[0].key].coverage > 0,
    `web SDK evaluations (from the bulk response) equal /assign for ${users.length} users x ${keys.length} flags (value, variant, reason)`,
    [`reasons ${JSON.stringify(reasons)}`, mism.length ? `${mism.length} mismatches, first:` : "", ...mism.slice(0, 6)]);
  if (process.env.WEB_DEBUG) log.slice(before).forEach((e, i) => diag(`${i} ${e.body} inm=${e.headers["if-none-match"]} -> ${e.status} ${e.etag}`));
  const per = log.slice(before + 1).filter((e) => e.url.endsWith("/ofrep/v1/evaluate/flags"));
  ok(per.length === users.length - 1 && per.every((e) => e.status === 200 && e.headers["if-none-match"] === undefined),
    `each new targetingKey is one bulk request without If-None-Match (the provider drops the ETag) -> 200`,
    per.filter((e) => e.status !== 200 || e.headers["if-none-match"] !== undefined).slice(0, 3).map((e) => JSON.stringify(e)));

  // ---- exposures ------------------------------------------------------------------------
  for (const key of DEFS.map((d) => d.key)) {
    const want = countBy(inExp[key]);
    const r = await resultsWhen(key, (u) => sameCounts(u, want));
    ok(!r.error && sameCounts(r.users, want),
      `bulk evaluations logged one exposure per in-experiment user on ${key} (the 304 none): ${JSON.stringify(r.users)}`,
      [r.error, `expected ${JSON.stringify(want)}`]);
  }

  // ---- an ETag does not carry over to another user -------------------------------------------
  // Two users with the same evaluations (same variants, same bucket, both not targeted)
  // get the same bulk body. If the tag covered only the body, user B revalidating with
  // user A's tag (a shared cache, or the provider's poll/context-change race) would get
  // 304 and B's first exposure would never be logged.
  {
    const key = DEFS[0].key; // seed = key; coverage 0.8, so every user has a bucket
    const fnv = (s) => {
      let h = 0x811c9dc5;
      for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
      return h >>> 0;
    };
    const bucket = (id) => (fnv(String(fnv(key + id))) % 10000) / 10000;
    const A = `${T}-etag-a`;
    let B = null;
    for (let i = 0; B === null && i < 2000000; i++) if (bucket(`${T}-etag-b${i}`) === bucket(A)) B = `${T}-etag-b${i}`;
    const ctx = (id) => ({ context: { targetingKey: id, country: "DE" } });
    // read before A's request: A's exposure is logged asynchronously too, and may commit
    // after any later read (A and B share the variant, so both count in the same cell)
    const before = await results(key);
    const a = await api("POST", "/ofrep/v1/evaluate/flags", sdk, ctx(A));
    const b0 = await api("POST", "/api/v1/assign", sdk, { user_id: B, attributes: { country: "DE" }, experiments: keys, log_exposure: false });
    const sameBody = a.status === 200 && a.json && b0.status === 200 &&
      a.json.flags.every((f) => !b0.json.assignments[f.key] || (b0.json.assignments[f.key].variant === f.value &&
        b0.json.assignments[f.key].bucket === (f.metadata.bucket ?? null)));
    const b = await api("POST", "/ofrep/v1/evaluate/flags", sdk, ctx(B), { headers: { "If-None-Match": a.headers.get("etag") } });
    const want = b0.json && b0.json.assignments[key];
    // OFREP logs exposures beside the answer (committed within milliseconds): poll briefly
    let after = await results(key);
    const logged1 = () => want && want.in_experiment ? (after.users[want.variant] || 0) - (before.users[want.variant] || 0) === 2 : true;
    for (let i = 0; i < 40 && !logged1(); i++) {
      await new Promise((res) => setTimeout(res, 50));
      after = await results(key);
    }
    const logged = logged1();
    ok(B !== null && sameBody && b.status === 200 && b.headers.get("etag") !== a.headers.get("etag") && logged,
      `bulk: user B revalidating with user A's ETag (identical evaluations) gets 200 and B's exposure is logged`,
      [`A ${a.headers.get("etag")} B ${b.status} ${b.headers.get("etag")}`, sameBody ? "" : "precondition: the bodies differ",
        `B /assign ${JSON.stringify(want)}; users before ${JSON.stringify(before.users)} after ${JSON.stringify(after.users)}`]);
  }

  // ---- a new provider instance starts from localStorage and revalidates -------------------
  {
    const last = users[users.length - 1];
    await OpenFeature.close();
    log.length = 0;
    await OpenFeature.setContext(ctxOf(last));
    const p2 = new OFREPWebProvider({ baseUrl: BASE, headers: [["Authorization", `Bearer ${sdk}`]], fetchImplementation: recordingFetch });
    await OpenFeature.setProviderAndWait(p2);
    const c2 = OpenFeature.getClient();
    const d = c2.getStringDetails(DEFS[0].key, "__default__");
    await waitFor(() => log.length >= 1 && log[0].status !== 0, 3000);
    const r = log[0] || {};
    ok(d.reason === "CACHED" && !d.errorCode && r.headers && r.headers["if-none-match"] && r.status === 304,
      `a new provider instance serves the localStorage cache (reason CACHED) and revalidates with If-None-Match -> 304`,
      [`details ${JSON.stringify(d)}`, `request ${JSON.stringify(r)}`, `localStorage keys ${store.size}`]);
    await OpenFeature.close();
  }

  // ---- a wrong key: initialisation fails, the provider is FATAL ---------------------------
  {
    await OpenFeature.setContext("bad-key", { targetingKey: "u-web-bad" });
    let initErr = null;
    try {
      await OpenFeature.setProviderAndWait("bad-key",
        new OFREPWebProvider({ baseUrl: BASE, headers: [["Authorization", "Bearer bsn_wrong-key-000000000000000000000000000"]], cacheMode: "disabled" }));
    } catch (e) {
      initErr = e;
    }
    const c3 = OpenFeature.getClient("bad-key");
    const d = c3.getStringDetails(DEFS[0].key, "dflt");
    ok(initErr !== null && c3.providerStatus === ProviderStatus.FATAL && d.errorCode === "PROVIDER_FATAL" && d.value === "dflt",
      `a wrong key (401): initialisation fails, the provider is FATAL and evaluations report PROVIDER_FATAL`,
      [`init error ${initErr && (initErr.name + ": " + initErr.message)}`, `status ${c3.providerStatus}`, JSON.stringify(d)]);
    await OpenFeature.close();
  }
  await stopAll(DEFS.map((d) => d.key));
});

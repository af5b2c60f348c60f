// growthbook-parity.mjs - Bunsen's /api/v1/assign against the GrowthBook JavaScript SDK.
//
// API.md: "Bunsen's assignments must equal the GrowthBook JavaScript SDK's for the same
// experiment definition, for every user id." This script creates experiment definitions
// through the API of a running daemon, starts them, asks POST /api/v1/assign for many
// user ids (ASCII and non-ASCII: accents, CJK, emoji, combining marks, mixed) and
// evaluates the same definitions locally with `@growthbook/growthbook` (gb.run with
// hashAttribute "id"). Every (user, experiment) pair must agree on the variant key and
// on inExperiment, and on the bucket where the SDK reports one. Ids whose buckets fall on
// and next to every range and namespace bound are added on purpose. When the daemon serves
// GET /api/features/{sdk_key}, the SDK given that payload (gb.evalFeature) must agree too.
//
// Started by tests/sdk/run.sh, which owns the daemon. Environment:
//   BUNSEN_URL        base URL, e.g. http://127.0.0.1:41234 (required)
//   BUNSEN_ADMIN_KEY  admin key (required; an sdk key is created with it)
//   PARITY_USERS      number of generated user ids (default 10000)
//   PARITY_CONCURRENCY requests in flight (default 32)
//   PARITY_SEED       seed of the id generator (default: random, printed)
// Output: TAP ("ok N - name" / "not ok N - name", plan at the end); exit 1 on failure.

import { GrowthBook } from "@growthbook/growthbook";
import { mulberry32 } from "../common/mulberry32.mjs";
import { ADMIN, BASE, diag, intEnv, ok, plan, skip, api as request } from "../common/tap.mjs";

// the /assign calls log nothing: a reset connection is tried again
const api = (method, path, key, body) => request(method, path, key, body, { retry: true });

const N_USERS = intEnv("PARITY_USERS", 10000);
const CONCURRENCY = intEnv("PARITY_CONCURRENCY", 32);
const SEED = intEnv("PARITY_SEED", Math.floor(Math.random() * 2 ** 31));
const MAX_DETAILS = 10; // mismatches printed per definition
const started = Date.now();



// ---- deterministic id generator (mulberry32, tests/common/mulberry32.mjs) ---------------

const rnd = mulberry32(SEED);
const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1)); // inclusive
const cp = (lo, hi) => String.fromCodePoint(int(lo, hi));

// Code point pools. No control characters (C0, DEL, C1): Bunsen refuses them in user_id.
const POOLS = {
  alnum: () => pick("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_".split("")),
  printable: () => cp(0x20, 0x7e),
  latin: () => pick("éèêëüöäßñçøåæœÉÜÖÄÑÇàáâãìíîïòóôõùúûýÿ".split("")),
  latin1: () => cp(0xa0, 0xff),
  combining: () => pick(["e\u0301", "u\u0308", "a\u030a", "n\u0303", "\u0301"]),
  greekCyrillic: () => (rnd() < 0.5 ? cp(0x391, 0x3c9) : cp(0x410, 0x44f)),
  cjk: () => cp(0x4e00, 0x9fff),
  hangulKana: () => (rnd() < 0.5 ? cp(0xac00, 0xd7a3) : cp(0x3041, 0x30ff)),
  arabicHebrew: () => (rnd() < 0.5 ? cp(0x621, 0x64a) : cp(0x5d0, 0x5ea)),
  emoji: () =>
    pick([
      () => cp(0x1f300, 0x1f5ff),
      () => cp(0x1f600, 0x1f64f),
      () => cp(0x1f900, 0x1f9ff),
      () => "\u{1F468}\u200D\u{1F469}\u200D\u{1F467}", // ZWJ family
      () => "\u{1F44D}\u{1F3FD}", // skin tone
      () => "\u{1F1F3}\u{1F1F1}", // flag NL
      () => "\u2764\uFE0F",
    ])(),
  astral: () => cp(0x10000, 0x10ffff - 2), // any supplementary plane (surrogate pairs)
  bmpMisc: () => pick(["\u00A0", "\u2028", "\u2029", "\uFEFF", "\u200B", "\uFFFD", "\uFFFF", "\u20AC"]),
};
const MIXED = Object.keys(POOLS);

function randomId() {
  const kind = rnd();
  let s = "";
  if (kind < 0.15) {
    s = `u-${int(0, 99999999)}`;
  } else if (kind < 0.25) {
    s = Array.from({ length: 32 }, () => "0123456789abcdef"[int(0, 15)]).join("");
    s = `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  } else if (kind < 0.35) {
    s = String(int(0, 2 ** 31));
  } else {
    const pool =
      kind < 0.45 ? ["printable"] : kind < 0.55 ? ["alnum", "latin", "combining"]
        : kind < 0.62 ? ["latin1"] : kind < 0.7 ? ["cjk"] : kind < 0.78 ? ["emoji", "alnum"]
          : kind < 0.83 ? ["astral"] : kind < 0.88 ? ["greekCyrillic", "hangulKana", "arabicHebrew"]
            : MIXED;
    const len = int(1, kind < 0.95 ? 24 : 120);
    for (let i = 0; i < len; i++) s += POOLS[pick(pool)]();
  }
  // user_id is 1..256 bytes of UTF-8: trim whole code points until it fits
  while (Buffer.byteLength(s, "utf8") > 256) s = Array.from(s).slice(0, -1).join("");
  return s.length ? s : "x";
}

// Ids that always run: the GrowthBook doc vector, look-alikes, JS-object traps, edges.
const FIXED_IDS = [
  "1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "00", "-1", "1.0", "1e3",
  "é", "e\u0301", "ü", "u\u0308", "ß", "Ä", "中", "用户-中文", "日本語ユーザー", "한국어",
  "😀", "👍🏽", "👨‍👩‍👧", "🇳🇱", "𝕏", "\u{10FFFD}", "a😀b", "é😀中", "\uFEFFbom", "\u2028",
  " ", "  lead", "trail  ", "a b", "\"quoted\"", "back\\slash", "slash/x", "%20", "?a=b&c",
  "<script>", "null", "undefined", "true", "NaN", "__proto__", "constructor", "toString",
  "hasOwnProperty", "x".repeat(256), "é".repeat(128), "中".repeat(85), "😀".repeat(64),
];

// ---- experiment definitions ------------------------------------------------------------

const run = `${SEED.toString(36)}-${Date.now().toString(36)}`.slice(0, 20);
const third = 1 / 3;
function variants(keys, weights) {
  return keys.map((k, i) => ({ key: k, name: k, weight: weights[i] }));
}
const DEFS = [
  {
    key: `w235-${run}`,
    variants: variants(["control", "b", "c"], [0.2, 0.3, 0.5]),
    coverage: 1,
    hash_version: 2,
  },
  {
    key: `thirds-cov60-${run}`,
    variants: variants(["control", "t1", "t2"], [third, third, third]),
    coverage: 0.6,
    seed: "custom-seed-ü-中-😀",
    hash_version: 2,
  },
  {
    key: `ns-${run}`,
    variants: variants(["control", "treatment"], [0.5, 0.5]),
    coverage: 1,
    seed: "ns-seed",
    hash_version: 2,
    namespace: { name: "checkout", range: [0.25, 0.75] },
  },
  {
    key: `target-${run}`,
    variants: variants(["control", "green"], [0.1, 0.9]),
    coverage: 0.8,
    hash_version: 2,
    targeting: { country: { $in: ["NL", "BE"] } },
  },
  {
    key: `combo-${run}`,
    variants: variants(["control", "v1", "v2", "v3"], [0.1, 0.2, 0.3, 0.4]),
    coverage: 0.6,
    seed: "combo/seed 42",
    hash_version: 2,
    namespace: { name: "pricing-ns", range: [0.25, 0.75] },
    targeting: {
      $or: [{ country: { $in: ["NL", "BE"] } }, { age: { $gte: 30 } }],
      plan: { $ne: "banned" },
    },
  },
  {
    // awkward binary fractions: 0.1 + 0.7 = 0.7999999999999999 in double arithmetic
    key: `edges-${run}`,
    variants: variants(["control", "a", "b"], [0.1, 0.7, 0.2]),
    coverage: 0.3,
    seed: "edges",
    hash_version: 2,
  },
  {
    // hash v1 buckets are k/1000, so bucket 0.3 occurs: 0.1 + 0.2 = 0.30000000000000004,
    // and the SDK puts 0.3 in variant 1 (a different summation would put it in 2)
    key: `sum-edge-v1-${run}`,
    variants: variants(["control", "a", "b"], [0.1, 0.2, 0.7]),
    coverage: 1,
    seed: "sum-edge",
    hash_version: 1,
  },
  {
    // weights that need 16-17 significant digits: the SDK puts bucket 0.5 in the
    // control; a copy of the weights rounded to 15 digits (0.5/0.5) would not
    key: `exact-weights-v1-${run}`,
    variants: variants(["control", "x"], [0.5000000000000001, 0.4999999999999999]),
    coverage: 1,
    seed: "exact",
    hash_version: 1,
  },
  {
    key: `v1-${run}`,
    variants: variants(["control", "x"], [0.5, 0.5]),
    coverage: 0.9,
    seed: "legacy-v1",
    hash_version: 1,
  },
];

function randomAttributes() {
  const a = {};
  const c = rnd();
  if (c < 0.3) a.country = "NL";
  else if (c < 0.5) a.country = "BE";
  else if (c < 0.6) a.country = "nl"; // case matters for $in
  else if (c < 0.8) a.country = pick(["DE", "US", "FR", "JP"]);
  // else: no country attribute
  if (rnd() < 0.7) a.age = int(16, 70);
  if (rnd() < 0.8) a.plan = pick(["free", "pro", "banned", "team"]);
  return a;
}

// The same definition as the SDK's Experiment (hashAttribute "id").
function sdkExperiment(def) {
  const e = {
    key: def.key,
    variations: def.variants.map((v) => v.key),
    weights: def.variants.map((v) => v.weight),
    coverage: def.coverage,
    hashVersion: def.hash_version,
    seed: def.seed || def.key,
    hashAttribute: "id",
  };
  if (def.namespace) e.namespace = [def.namespace.name, def.namespace.range[0], def.namespace.range[1]];
  if (def.targeting) e.condition = def.targeting;
  return e;
}

// ---- local hash (API.md "Hashing"): to find edge ids and to explain mismatches; the ---
// ---- verdicts come from the SDK alone ----------------------------------------------------

function fnv1a32(str) {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
function bucketOf(seed, id, version) {
  if (version === 2) return (fnv1a32(String(fnv1a32(seed + id))) % 10000) / 10000;
  return (fnv1a32(id + seed) % 1000) / 1000;
}
// The SDK's variant ranges (util.ts getBucketRanges), to find the buckets on their edges.
function ranges(def) {
  let cumulative = 0;
  return def.variants.map((v) => {
    const start = cumulative;
    cumulative += v.weight;
    return [start, start + def.coverage * v.weight];
  });
}

// For every range edge e, the buckets next to it (k-1, k, k+1 over 10000 or 1000, with
// k = round(e * scale)), and for a namespace the same around its bounds. For each, an id
// that lands there (and inside the namespace, when the bucket is a variant edge), so that
// `<` against `<=` and the order of the double sums are tested on every run. Users get
// attributes that pass every definition's targeting.
function edgeUsers(def) {
  const scale = def.hash_version === 2 ? 10000 : 1000;
  const seed = def.seed || def.key;
  const want = [];
  const near = (e, sc) => [-1, 0, 1].map((d) => (Math.round(e * sc) + d) / sc).filter((b) => b >= 0 && b < 1);
  for (const [a, b] of ranges(def)) for (const e of [a, b]) for (const t of near(e, scale)) want.push(["bucket", t]);
  if (def.namespace) for (const e of def.namespace.range) for (const t of near(e, 1000)) want.push(["ns", t]);
  const inNs = (id) => {
    if (!def.namespace) return true;
    const n = bucketOf("__" + def.namespace.name, id, 1);
    return n >= def.namespace.range[0] && n < def.namespace.range[1];
  };
  const out = [];
  const targets = [];
  for (const [kind, t] of want) {
    if (targets.some(([k2, t2]) => k2 === kind && t2 === t)) continue;
    targets.push([kind, t]);
    for (let n = 0; n < 2000000; n++) {
      const id = `edge-${kind}-${t}-${n}-é`;
      const hit = kind === "ns" ? bucketOf("__" + def.namespace.name, id, 1) === t
        : bucketOf(seed, id, def.hash_version) === t && inNs(id);
      if (hit) {
        out.push(id);
        break;
      }
    }
  }
  return { ids: out, buckets: targets.filter(([k]) => k === "bucket").map(([, t]) => t) };
}
const EDGE_ATTRS = { country: "NL", age: 40, plan: "pro" };

function escapeId(s) {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

// ---- checks ----------------------------------------------------------------------------

function knownVector() {
  const expected = [1, 0, 0, 1, 1, 1, 0, 1, 0];
  const got = [];
  for (let i = 1; i <= 9; i++) {
    const gb = new GrowthBook({ attributes: { id: String(i) } });
    got.push(gb.run({ key: "my-test", variations: [0, 1], hashVersion: 1 }).value);
    gb.destroy();
  }
  ok(JSON.stringify(got) === JSON.stringify(expected),
    "GrowthBook SDK known vector: my-test, hashVersion 1, 50/50, ids 1..9 -> 1,0,0,1,1,1,0,1,0",
    [`got ${got.join(",")}`]);
}

async function bunsenKnownVector(sdkKey) {
  const key = `my-test`;
  const def = { key, name: key, variants: variants(["control", "treatment"], [0.5, 0.5]), hash_version: 1 };
  const c = await api("POST", "/api/v1/experiments", ADMIN, def);
  const s = c.status === 201 || c.status === 200 ? await api("POST", `/api/v1/experiments/${key}/start`, ADMIN) : c;
  if (!ok(s.status === 200, "Bunsen creates and starts my-test (hash_version 1, seed = key)",
    s.status === 200 ? [] : [`status ${s.status}: ${s.text.slice(0, 300)}`])) {
    return;
  }
  const got = [];
  for (let i = 1; i <= 9; i++) {
    const r = await api("POST", "/api/v1/assign", sdkKey,
      { user_id: String(i), experiments: [key], log_exposure: false });
    const a = r.json && r.json.assignments && r.json.assignments[key];
    got.push(a ? (a.variant === "treatment" ? 1 : 0) : `HTTP ${r.status}`);
  }
  ok(got.join(",") === "1,0,0,1,1,1,0,1,0",
    "Bunsen /assign on the known vector: my-test, ids 1..9 -> 1,0,0,1,1,1,0,1,0", [`got ${got.join(",")}`]);
}

async function createDefinitions() {
  const created = [];
  for (const def of DEFS) {
    const body = { name: def.key, ...def };
    const c = await api("POST", "/api/v1/experiments", ADMIN, body);
    const details = [];
    let good = c.status === 201 || c.status === 200;
    if (!good) details.push(`create: status ${c.status}: ${c.text.slice(0, 400)}`);
    if (good) {
      // The stored definition must be the one sent. Weights are compared to 1e-12: the
      // API renders doubles with 15 significant digits (http_reply_json), so 1/3 comes
      // back as 0.333333333333333; whether assignment uses the exact doubles is what
      // the parity checks below decide.
      const x = c.json || {};
      const xv = x.variants || [];
      const same =
        xv.length === def.variants.length &&
        def.variants.every((v, i) => xv[i].key === v.key && Math.abs(xv[i].weight - v.weight) <= 1e-12) &&
        x.coverage === def.coverage && x.hash_version === def.hash_version &&
        x.seed === (def.seed || def.key) &&
        JSON.stringify(x.namespace || null) === JSON.stringify(def.namespace || null);
      if (!same) {
        good = false;
        details.push(`stored definition differs: ${c.text.slice(0, 600)}`);
      }
      const s = await api("POST", `/api/v1/experiments/${def.key}/start`, ADMIN);
      if (s.status !== 200 || !s.json || s.json.status !== "running") {
        good = false;
        details.push(`start: status ${s.status}: ${s.text.slice(0, 300)}`);
      }
    }
    if (ok(good, `create and start ${def.key} (${describe(def)})`, details)) created.push(def);
  }
  return created;
}

function describe(def) {
  const parts = [`weights ${def.variants.map((v) => +v.weight.toFixed(4)).join("/")}`, `coverage ${def.coverage}`,
    `hash v${def.hash_version}`];
  if (def.seed) parts.push(`seed ${JSON.stringify(def.seed)}`);
  if (def.namespace) parts.push(`namespace ${def.namespace.name} [${def.namespace.range.join(", ")})`);
  if (def.targeting) parts.push(`targeting ${JSON.stringify(def.targeting)}`);
  return parts.join(", ");
}

async function main() {
  if (!BASE || !ADMIN) {
    console.error("growthbook-parity: BUNSEN_URL and BUNSEN_ADMIN_KEY are required (see tests/sdk/run.sh)");
    process.exit(2);
  }
  diag(`GrowthBook SDK parity against ${BASE}; PARITY_SEED=${SEED} users=${N_USERS}+${FIXED_IDS.length} concurrency=${CONCURRENCY}`);
  knownVector();

  const k = await api("POST", "/api/v1/keys", ADMIN, { name: `sdk-parity-${run}`, role: "sdk" });
  const sdkKey = k.json && k.json.key;
  if (!ok(k.status === 201 && typeof sdkKey === "string", "create an sdk key (POST /api/v1/keys)",
    [`status ${k.status}: ${k.text.slice(0, 200)}`].filter(() => k.status !== 201))) {
    return finish();
  }
  await bunsenKnownVector(sdkKey);

  const defs = await createDefinitions();
  if (defs.length === 0) return finish();
  const keys = defs.map((d) => d.key);

  // Users and their attributes: the fixed ids, the edge ids, then the generated ones.
  const users = FIXED_IDS.map((id) => ({ id, attrs: randomAttributes() }));
  const seen = new Set(FIXED_IDS);
  const edgeBuckets = new Map();
  for (const def of defs) {
    const e = edgeUsers(def);
    edgeBuckets.set(def.key, e.buckets);
    for (const id of e.ids) {
      if (!seen.has(id)) users.push({ id, attrs: EDGE_ATTRS });
      seen.add(id);
    }
  }
  const nFixed = users.length;
  diag(`${nFixed - FIXED_IDS.length} edge ids (buckets on and next to every range and namespace bound)`);
  while (users.length < nFixed + N_USERS) {
    const id = randomId();
    if (seen.has(id)) continue;
    seen.add(id);
    users.push({ id, attrs: randomAttributes() });
  }

  const stats = new Map(defs.map((d) => [d.key,
    { pairs: 0, mism: [], fmism: [], inExp: {}, reasons: {}, buckets: new Set() }]));

  // API.md "Ecosystem endpoints": the SDK payload must evaluate like /assign. Checked
  // when the daemon serves it (a 404 means not implemented yet: skipped, not failed).
  const fr = await api("GET", `/api/features/${encodeURIComponent(sdkKey)}`, null);
  let features = null;
  if (fr.status === 404) {
    skip("GET /api/features/{sdk_key} payload", "not implemented (404)");
  } else {
    const f = fr.json && fr.json.features;
    const missing = f ? keys.filter((k) => !f[k]) : keys;
    if (ok(fr.status === 200 && f && missing.length === 0,
      "GET /api/features/{sdk_key} returns a payload with every running experiment",
      fr.status === 200 ? (missing.length ? [`missing: ${missing.join(", ")}`] : [])
        : [`status ${fr.status}: ${fr.text.slice(0, 300)}`])) {
      features = f;
    }
  }
  const httpErrors = [];
  const sdkExps = defs.map(sdkExperiment);
  let next = 0;
  const t0 = Date.now();

  async function worker() {
    while (next < users.length) {
      const u = users[next++];
      const r = await api("POST", "/api/v1/assign", sdkKey,
        { user_id: u.id, attributes: u.attrs, experiments: keys, log_exposure: false, explain: false });
      if (r.status !== 200 || !r.json || typeof r.json.assignments !== "object") {
        httpErrors.push(`${escapeId(u.id)}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
        continue;
      }
      const gb = new GrowthBook({ attributes: { id: u.id, ...u.attrs } });
      const gf = features ? new GrowthBook({ attributes: { id: u.id, ...u.attrs }, features }) : null;
      for (let i = 0; i < defs.length; i++) {
        const def = defs[i];
        const st = stats.get(def.key);
        st.pairs++;
        const b = r.json.assignments[def.key];
        const s = gb.run(sdkExps[i]);
        const problems = [];
        if (!b) {
          problems.push("missing from Bunsen's reply");
        } else {
          if (b.variant !== s.value) problems.push(`variant bunsen=${b.variant} sdk=${s.value}`);
          if (b.in_experiment !== s.inExperiment) {
            problems.push(`in_experiment bunsen=${b.in_experiment} sdk=${s.inExperiment}`);
          }
          if (b.in_experiment === false && b.variant !== def.variants[0].key) {
            problems.push(`out of the experiment but variant ${b.variant} is not the control`);
          }
          if (s.inExperiment && s.bucket !== undefined && b.bucket !== s.bucket) {
            problems.push(`bucket bunsen=${b.bucket} sdk=${s.bucket}`);
          }
          st.reasons[b.reason] = (st.reasons[b.reason] || 0) + 1;
          if (typeof b.bucket === "number") st.buckets.add(b.bucket);
          if (b.in_experiment) st.inExp[b.variant] = (st.inExp[b.variant] || 0) + 1;
        }
        if (gf && b) {
          const f = gf.evalFeature(def.key);
          const fin = !!(f.source === "experiment" && f.experimentResult && f.experimentResult.inExperiment);
          if ((f.value !== b.variant || fin !== b.in_experiment) && st.fmism.length < 1000) {
            st.fmism.push(`id=${escapeId(u.id)} attrs=${JSON.stringify(u.attrs)}: bunsen ${b.variant}/` +
              `${b.in_experiment} (${b.reason}), payload ${f.value}/${fin} (source ${f.source})`);
          }
        }
        if (problems.length && st.mism.length < 1000) {
          const seed = def.seed || def.key;
          const ns = def.namespace ? ` ns_bucket=${bucketOf("__" + def.namespace.name, u.id, 1)}` : "";
          st.mism.push(`id=${escapeId(u.id)} attrs=${JSON.stringify(u.attrs)} reason=${b && b.reason} ` +
            `bucket(local)=${bucketOf(seed, u.id, def.hash_version)}${ns}: ${problems.join("; ")}`);
        }
      }
      gb.destroy();
      if (gf) gf.destroy();
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const secs = (Date.now() - t0) / 1000;
  diag(`${users.length} users x ${defs.length} experiments in ${secs.toFixed(1)} s ` +
    `(${Math.round(users.length / secs)} assign requests/s)`);

  ok(httpErrors.length === 0, `POST /api/v1/assign answered 200 for all ${users.length} users`,
    httpErrors.length ? [`${httpErrors.length} failed`, ...httpErrors.slice(0, MAX_DETAILS)] : []);

  for (const def of defs) {
    const st = stats.get(def.key);
    const n = st.mism.length;
    const details = [
      `reasons ${JSON.stringify(st.reasons)}; in-experiment by variant ${JSON.stringify(st.inExp)}`,
    ];
    if (n) details.push(`${n}${n >= 1000 ? "+" : ""} mismatches; first ${Math.min(n, MAX_DETAILS)}:`, ...st.mism.slice(0, MAX_DETAILS));
    ok(n === 0 && st.pairs === users.length - httpErrors.length,
      `parity ${def.key}: ${st.pairs} users agree with the GrowthBook SDK (variant, inExperiment, bucket)`, details);
    if (features) {
      const fm = st.fmism.length;
      ok(fm === 0, `features payload ${def.key}: the SDK evaluating GET /api/features agrees with /assign`,
        fm ? [`${fm}${fm >= 1000 ? "+" : ""} mismatches; first ${Math.min(fm, MAX_DETAILS)}:`,
          ...st.fmism.slice(0, MAX_DETAILS)] : []);
    }
    // Guard against a vacuous pass: every variant is reached and every applicable
    // exclusion happened at least once.
    const want = ["hashed"];
    if (def.coverage < 1) want.push("coverage");
    if (def.namespace) want.push("namespace");
    if (def.targeting) want.push("not_targeted");
    const missingVariants = def.variants.filter((v) => !st.inExp[v.key]).map((v) => v.key);
    const missingReasons = want.filter((r) => !st.reasons[r]);
    const edges = edgeBuckets.get(def.key);
    const missingEdges = edges.filter((b) => !st.buckets.has(b));
    ok(missingVariants.length === 0 && missingReasons.length === 0 && missingEdges.length === 0,
      `parity ${def.key} exercised every variant, every exclusion (${want.join(", ")}) ` +
        `and the ${edges.length} buckets at its range edges`,
      [missingVariants.length ? `variants never assigned: ${missingVariants.join(", ")}` : "",
        missingReasons.length ? `reasons never seen: ${missingReasons.join(", ")}` : "",
        missingEdges.length ? `edge buckets never hit: ${missingEdges.join(", ")}` : ""].filter(Boolean));
  }
  return finish();
}

function finish() {
  const { run, failed } = plan();
  diag(`${run - failed} passed, ${failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s` +
    (failed ? `; reproduce with PARITY_SEED=${SEED}` : ""));
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  ok(false, `unexpected error: ${e && e.stack ? e.stack.split("\n")[0] : e}`);
  finish();
});

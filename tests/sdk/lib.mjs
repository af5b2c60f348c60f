// lib.mjs - what the SDK tests (growthbook-parity.mjs, growthbook-extras.mjs,
// growthbook-full.mjs) share: the daemon's address and admin key from the environment
// (BUNSEN_URL, BUNSEN_ADMIN_KEY: tests/sdk/run.sh sets them), integer knobs from the
// environment, TAP output (one count of tests and failures per process) and a JSON API call.

export const BASE = (process.env.BUNSEN_URL || "").replace(/\/+$/, "");
export const ADMIN = process.env.BUNSEN_ADMIN_KEY || "";

/** A non-negative integer from the environment variable name, else def. */
export function intEnv(name, def) {
  const v = process.env[name];
  if (v === undefined || v === "") return def;
  const n = Number.parseInt(v, 10);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
  return n;
}

// ---- TAP -------------------------------------------------------------------------------

let testNo = 0;
let failures = 0;

/** One test: "ok N - name" or "not ok N - name", then each non-empty detail as "# line". */
export function ok(cond, name, details) {
  testNo++;
  if (!cond) failures++;
  console.log(`${cond ? "ok" : "not ok"} ${testNo} - ${name}`);
  for (const line of details || []) if (line) console.log(`# ${line}`);
  return !!cond;
}

/** A test not run, with the reason (TAP "# SKIP"). */
export function skip(name, reason) {
  testNo++;
  console.log(`ok ${testNo} - ${name} # SKIP ${reason}`);
}

export const diag = (msg) => console.log(`# ${msg}`);

/** Print the plan ("1..N") and return how many ran and failed. */
export function plan() {
  console.log(`1..${testNo}`);
  return { run: testNo, failed: failures };
}

// ---- HTTP ------------------------------------------------------------------------------

/**
 * method path with key (null: none) and body (JSON, undefined: none) -> {status, json, text}
 * (json null when the body is not JSON). A connection reset is retried up to tries times in
 * all (only for requests safe to repeat: the callers' /assign calls log nothing); after the
 * last, status 0 and the error as text. Each try times out after 15 s.
 */
export async function api(method, path, key, body, { tries = 3 } = {}) {
  const headers = key ? { Authorization: `Bearer ${key}` } : {};
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let last;
  for (let attempt = 0; attempt < tries; attempt++) {
    try {
      const res = await fetch(BASE + path, { method, headers, body: payload, signal: AbortSignal.timeout(15000) });
      const text = await res.text();
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        // left null; the caller reports the status and text
      }
      return { status: res.status, json, text };
    } catch (e) {
      last = e;
    }
  }
  return { status: 0, json: null, text: String(last && (last.cause || last)) };
}

export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

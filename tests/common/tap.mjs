// tap.mjs - what the Node test scripts (tests/sdk, tests/ecosystem) share: the daemon's
// address and admin key from the environment (BUNSEN_URL, BUNSEN_ADMIN_KEY: each suite's
// run.sh sets them), integer knobs from the environment, TAP output (one count of tests and
// failures per process) and one JSON call to the daemon's API. No dependencies.

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
export function skip(name, why) {
  testNo++;
  console.log(`ok ${testNo} - ${name} # SKIP ${why}`);
}

/** A comment, one "# " line per line of msg. */
export function diag(msg) {
  for (const line of String(msg).split("\n")) console.log(`# ${line}`);
}

/** Print the plan ("1..N") and return how many ran and failed. */
export function plan() {
  console.log(`1..${testNo}`);
  return { run: testNo, failed: failures };
}

// ---- HTTP ------------------------------------------------------------------------------

/**
 * One request to the daemon -> {status, json, text, headers}; key null sends no credentials,
 * body undefined no body (else JSON), json is null when the reply is not JSON. Never throws:
 * a transport failure is status 0 with the error as text. `retry` (only for requests safe to
 * repeat) tries a reset connection 3 times in all. Each try times out after 20 s.
 */
export async function api(method, path, key, body, { headers = {}, retry = false } = {}) {
  const h = { ...headers };
  if (key) h.Authorization = `Bearer ${key}`;
  let payload;
  if (body !== undefined) {
    h["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let last;
  for (let attempt = 0; attempt < (retry ? 3 : 1); attempt++) {
    try {
      const res = await fetch(BASE + path, { method, headers: h, body: payload, signal: AbortSignal.timeout(20000) });
      const text = await res.text();
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        // left null; the caller reports the status and text
      }
      return { status: res.status, json, text, headers: res.headers };
    } catch (e) {
      last = e;
    }
  }
  return { status: 0, json: null, text: String(last && (last.cause || last)), headers: new Headers() };
}

export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

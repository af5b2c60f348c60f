// lib.mjs - helpers for the dashboard's browser tests: the daemon, the JSON API,
// Chromium with console capture, and a tiny TAP runner.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

// ---- the daemon ----

/** Start the daemon on 127.0.0.1 port 0 with a fresh data dir; resolves {url, adminKey, stop}. */
export async function startDaemon({ bin, webDir, args = [] }) {
  const dir = mkdtempSync(join(tmpdir(), 'bunsen-browser-'));
  const child = spawn(bin, ['serve', '--listen', '127.0.0.1', '--port', '0', '--data-dir', dir, '--web-dir', webDir, '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`daemon did not print its port in 15 s; stderr: ${stderr}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)\//);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code}; stderr: ${stderr}`));
    });
  });
  const keyFile = join(dir, 'admin.key');
  for (let i = 0; i < 50 && !existsSync(keyFile); i++) await new Promise((r) => setTimeout(r, 100));
  const adminKey = readFileSync(keyFile, 'utf8').trim();
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 5000);
        child.on('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    if (process.env.BUNSEN_KEEP_TEST_DIRS) console.log(`# data dir kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  return { url, adminKey, dir, stop, alive: () => child.exitCode === null, stderr: () => stderr };
}

// ---- the JSON API ----

export function apiClient(base, key) {
  const call = async (method, path, body, { text = false } = {}) => {
    const headers = { Authorization: `Bearer ${key}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(`${base}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const t = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${t}`);
    return text ? t : JSON.parse(t);
  };
  return {
    get: (p, o) => call('GET', p, undefined, o),
    post: (p, b) => call('POST', p, b === undefined ? {} : b),
    patch: (p, b) => call('PATCH', p, b),
    del: (p) => call('DELETE', p),
  };
}

// ---- Chromium ----

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A persistent context on a fresh user-data dir (Playwright passes it as --user-data-dir). */
export async function launch(executablePath) {
  const profile = mkdtempSync(join(tmpdir(), 'bunsen-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  context.setDefaultTimeout(15000);
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Console errors, page errors and failed requests of a page, collected per scenario.
 * `allow` lists regexes of messages a scenario expects (a deliberate 400 or 401).
 */
export function watchPage(page) {
  const log = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log.push({ kind: `console.${m.type()}`, text: m.text() });
  });
  page.on('pageerror', (e) => log.push({ kind: 'pageerror', text: String(e && e.stack ? e.stack : e) }));
  page.on('requestfailed', (r) => {
    const f = r.failure();
    // a blob: download, or navigation away while loading, is not an error of ours
    if (r.url().startsWith('blob:') || (f && /ERR_ABORTED/.test(f.errorText))) return;
    log.push({ kind: 'requestfailed', text: `${r.url()} ${f ? f.errorText : ''}` });
  });
  return {
    take(allow = []) {
      const bad = log.filter((e) => !allow.some((re) => re.test(e.text)));
      log.length = 0;
      return bad;
    },
  };
}

/** No browser error beyond those `allow` matches since the last take. */
export function assertNoBrowserErrors(watch, allow = []) {
  const bad = watch.take(allow);
  assert(bad.length === 0, `unexpected browser errors:\n${bad.map((e) => `  ${e.kind}: ${e.text}`).join('\n')}`);
}

/** A locator's text with its white space collapsed. */
export async function textOf(locator) {
  return ((await locator.textContent()) || '').replace(/\s+/g, ' ').trim();
}

/** Sign in on page `p` with `key` and wait for the header's role. */
export async function signIn(p, key) {
  await p.getByRole('heading', { name: 'Sign in to Bunsen' }).waitFor();
  await p.getByLabel('API key').fill(key);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.locator('#who-role').filter({ hasText: /\w/ }).waitFor();
}

/** Wait until page `p`'s hash, without its query, is `hash` (a saved form goes back to its list or experiment). */
export async function waitHash(p, hash) {
  let last = '';
  for (let i = 0; i < 100; i++) {
    last = (await p.evaluate(() => location.hash)).split('?')[0];
    if (last === `#${hash}`) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assertEq(last, `#${hash}`, 'the page');
}

/**
 * A browser suite's frame, started at once (`const { T, page, ... } = await suite({ label })`
 * at the top of the suite): its own daemon (BUNSEN_BIN, BUNSEN_WEB_DIR, extra `args`), an
 * admin API client, Chromium (CHROMIUM) with one page and a watch on its errors, a TAP
 * runner T for the scenarios, and the helpers the suites share: go(hash, p = page) opens
 * the dashboard at #hash, waitHash(hash, p = page) waits for the page to be there,
 * goDiscarding(hash, p = page) opens #hash from a form with changes not saved (Leave),
 * noErrors(allow) fails on a browser error `allow` does not match, text is textOf. A
 * setup that fails prints "not ok 1 - setup" and exits. After the scenarios, `await run()`
 * runs them (E2E_ONLY picks scenarios; each starts with no errors left over from the last),
 * stops everything and exits with the outcome.
 */
export async function suite({ label, args = [] }) {
  const bin = process.env.BUNSEN_BIN || 'build/bunsen';
  const webDir = process.env.BUNSEN_WEB_DIR || 'web';
  const exe = process.env.CHROMIUM || '/usr/bin/chromium';
  let daemon;
  let browser;
  const stop = async () => {
    if (browser) await browser.close().catch(() => {});
    if (daemon) await daemon.stop();
  };
  let page;
  try {
    daemon = await startDaemon({ bin, webDir, args });
    browser = await launch(exe);
    page = browser.context.pages()[0] || (await browser.context.newPage());
  } catch (e) {
    console.log(`not ok 1 - setup: ${e.message}`);
    console.log('1..1');
    await stop();
    process.exit(1);
  }
  const watch = watchPage(page);
  const T = tap();
  const version = browser.context.browser() ? browser.context.browser().version() : exe;
  console.log(`# ${label}: daemon ${daemon.url}, chromium ${version}`);
  return {
    T,
    daemon,
    admin: apiClient(daemon.url, daemon.adminKey),
    browser,
    page,
    watch,
    text: textOf,
    noErrors(allow = []) {
      assertNoBrowserErrors(watch, allow);
    },
    async go(hash, p = page) {
      await p.goto(`${daemon.url}/#${hash}`);
    },
    waitHash: (hash, p = page) => waitHash(p, hash),
    /** go(hash) away from a form holding changes not saved: the page asks, this answers Leave. */
    async goDiscarding(hash, p = page) {
      await p.goto(`${daemon.url}/#${hash}`);
      await p.getByRole('dialog').getByRole('button', { name: 'Leave without saving' }).click();
      await waitHash(p, hash);
    },
    async run() {
      let failed = 1;
      try {
        failed = await T.run({ only: process.env.E2E_ONLY, beforeEach: () => watch.take() });
        if (!daemon.alive()) {
          console.log('# the daemon died during the run; its stderr:');
          for (const l of daemon.stderr().split('\n')) console.log(`# daemon: ${l}`);
          failed += 1;
        }
      } finally {
        await stop();
      }
      process.exit(failed ? 1 : 0);
    },
  };
}

// ---- TAP ----

export function tap() {
  const tests = [];
  return {
    test(name, fn) {
      tests.push({ name, fn });
    },
    async run({ only, beforeEach } = {}) {
      let n = 0;
      let failed = 0;
      const selected = only ? tests.filter((t) => new RegExp(only).test(t.name)) : tests;
      for (const t of selected) {
        n += 1;
        if (beforeEach) beforeEach();
        try {
          await t.fn();
          console.log(`ok ${n} - ${t.name}`);
        } catch (e) {
          failed += 1;
          console.log(`not ok ${n} - ${t.name}`);
          for (const line of String(e && e.stack ? e.stack : e).split('\n').slice(0, 12)) console.log(`# ${line}`);
        }
      }
      console.log(`1..${n}`);
      console.log(`# ${n - failed} passed, ${failed} failed`);
      return failed;
    },
  };
}

export function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

export function assertEq(actual, expected, msg) {
  if (actual !== expected) throw new Error(`${msg}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

/** A small deterministic PRNG (mulberry32, shared with tests/sdk and tests/ecosystem). */
export { mulberry32 as rng } from '../common/mulberry32.mjs';

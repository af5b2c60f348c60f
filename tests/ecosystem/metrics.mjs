// metrics.mjs - GET /metrics against Prometheus' own tooling (promtool, Debian package
// `prometheus`; run.sh installs it and passes PROMTOOL).
//
// - After traffic of every kind (the scripts before this one, plus a burst here),
//   `promtool check metrics` parses the exposition and exits 0 (its lint warnings are
//   printed as diagnostics).
// - A stricter structural check than promtool's parser: every sample belongs to a family
//   declared by # TYPE, each family's lines are one contiguous group (the exposition
//   format requires it; promtool tolerates interleaving), no series twice, histogram
//   buckets sorted and cumulative with +Inf = _count.
// - The families docs/INTEGRATIONS.md names exist; assignment counters move by exactly
//   the decisions made; the PromQL in docs/INTEGRATIONS.md parses (`promtool check
//   rules`) and uses only metric names /metrics exposes; the scrape config in it passes
//   `promtool check config`.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ADMIN, BASE, api, brief, createKey, diag, main, ok, runTag, setupExperiment, skip, stopAll, variants,
} from "./lib.mjs";

const PROMTOOL = process.env.PROMTOOL || "promtool";
const DOC = join(dirname(fileURLToPath(import.meta.url)), "../../docs/INTEGRATIONS.md");
const T = `pm${runTag}`;

function promtool(args, input) {
  const r = spawnSync(PROMTOOL, args, { input, encoding: "utf8" });
  return { status: r.error ? -1 : r.status, out: `${r.stdout || ""}${r.stderr || ""}${r.error ? r.error.message : ""}`.trim() };
}

// Parses the text format: families (name -> {type, help, firstLine, lastLine}) and samples.
function parse(text) {
  const fam = new Map();
  const samples = [];
  const problems = [];
  const lines = text.split("\n");
  const familyOf = (name) => {
    if (fam.has(name)) return name;
    for (const suf of ["_bucket", "_sum", "_count"]) {
      const base = name.endsWith(suf) ? name.slice(0, -suf.length) : null;
      if (base && fam.has(base) && fam.get(base).type === "histogram") return base;
    }
    return null;
  };
  let current = null;
  const closed = new Set();
  lines.forEach((line, i) => {
    if (line === "") return;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
    let name;
    if (m) {
      name = m[2];
      const f = fam.get(name) || { name };
      if (m[1] === "TYPE") {
        if (f.type) problems.push(`line ${i + 1}: second TYPE for ${name}`);
        if (f.samples) problems.push(`line ${i + 1}: TYPE for ${name} after its samples`);
        f.type = m[3];
      } else f.help = m[3];
      fam.set(name, f);
    } else if (line.startsWith("#")) {
      return;
    } else {
      m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? (\S+)( -?\d+)?$/.exec(line);
      if (!m) {
        problems.push(`line ${i + 1}: unparsable sample: ${line}`);
        return;
      }
      const f = familyOf(m[1]);
      if (!f) {
        problems.push(`line ${i + 1}: sample ${m[1]} has no # TYPE`);
        return;
      }
      name = f;
      const labels = {};
      for (const [, k, v] of (m[2] || "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
      samples.push({ metric: m[1], family: f, labels, raw: m[2] || "", value: Number(m[3]), line: i + 1 });
      fam.get(f).samples = (fam.get(f).samples || 0) + 1;
    }
    if (name !== current) {
      if (closed.has(name)) problems.push(`line ${i + 1}: ${name} continues after another family's lines (one group per family)`);
      if (current) closed.add(current);
      current = name;
    }
  });
  return { fam, samples, problems };
}

function histogramProblems(fam, samples) {
  const out = [];
  for (const [name, f] of fam) {
    if (f.type !== "histogram") continue;
    const series = new Map();
    for (const s of samples.filter((x) => x.family === name)) {
      const { le, ...rest } = s.labels;
      const id = JSON.stringify(rest);
      const e = series.get(id) || { buckets: [], count: null };
      if (s.metric === `${name}_bucket`) e.buckets.push([le === "+Inf" ? Infinity : Number(le), s.value]);
      if (s.metric === `${name}_count`) e.count = s.value;
      series.set(id, e);
    }
    for (const [id, e] of series) {
      const les = e.buckets.map((b) => b[0]);
      if (!les.every((v, i) => i === 0 || v > les[i - 1])) out.push(`${name}${id}: le not ascending`);
      if (!e.buckets.every((b, i) => i === 0 || b[1] >= e.buckets[i - 1][1])) out.push(`${name}${id}: buckets not cumulative`);
      const inf = e.buckets.find((b) => b[0] === Infinity);
      if (!inf || inf[1] !== e.count) out.push(`${name}${id}: +Inf ${inf && inf[1]} != _count ${e.count}`);
    }
  }
  return out;
}

async function scrape(key = ADMIN) {
  const r = await fetch(`${BASE}/metrics`, key ? { headers: { authorization: `Bearer ${key}` } } : {});
  return { status: r.status, type: r.headers.get("content-type"), text: await r.text() };
}

main(async () => {
  diag(`GET ${BASE}/metrics against ${PROMTOOL} (${promtool(["--version"]).out.split("\n")[0]})`);
  // ---- traffic of every kind -----------------------------------------------------------
  const sdk = (await createKey("sdk", `${T}-sdk`)).key;
  const key = `${T}-exp`;
  const s = await setupExperiment({ key, variants: variants(["control", "b"], [0.5, 0.5]), coverage: 0.5 });
  if (!ok(s.status === 200, `create and start ${key}`, [brief(s)])) return;
  const before = parse((await scrape()).text);
  const reasons = {};
  for (let i = 0; i < 40; i++) {
    const a = await api("POST", "/api/v1/assign", sdk, { user_id: `${T}-u${i}`, experiments: [key] });
    const r = a.json && a.json.assignments[key].reason;
    reasons[r] = (reasons[r] || 0) + 1;
  }
  await api("POST", `/ofrep/v1/evaluate/flags/${key}`, sdk, { context: { targetingKey: `${T}-u0` } });
  await api("POST", "/ofrep/v1/evaluate/flags", sdk, { context: { targetingKey: `${T}-u1` } });
  await api("POST", "/api/v1/events", sdk, { events: [{ user_id: `${T}-u0`, event: "purchase", value: 3, id: "e1" }, { user_id: `${T}-u0`, event: "purchase", value: 3, id: "e1" }] });
  await api("POST", "/api/v1/exposures", sdk, { exposures: [{ experiment: key, user_id: `${T}-u0`, variant: "b" }] });
  await api("GET", `/api/features/${sdk}`, null);
  await api("GET", "/api/v1/no-such-route", ADMIN);
  await api("GET", "/api/v1/experiments", "bsn_wrong");
  await api("GET", "/healthz", null);
  await api("GET", `/api/v1/experiments/${key}/results`, ADMIN);

  // ---- promtool ----------------------------------------------------------------------------
  const m = await scrape();
  ok(m.status === 200 && /^text\/plain; version=0\.0\.4/.test(m.type || ""), `GET /metrics: 200, text/plain; version=0.0.4`,
    [`status ${m.status}, content-type ${m.type}, ${m.text.length} bytes`]);
  const check = promtool(["check", "metrics"], m.text);
  ok(check.status === 0, `promtool check metrics exits 0 on the scrape`,
    [`exit ${check.status}`, check.out ? `promtool: ${check.out.split("\n").join(" | ").slice(0, 2000)}` : "promtool printed nothing (no lint warnings)"]);

  const anon = await scrape(null);
  ok(anon.status === 200 && !anon.text.includes(key) && /bunsen_assignments_total\{reason="hashed"\}/.test(anon.text),
    `GET /metrics without a key: 200, no experiment keys (assignments summed by reason only)`,
    [`status ${anon.status}`]);

  // ---- structure -----------------------------------------------------------------------------
  const p = parse(m.text);
  const dup = [];
  const seen = new Set();
  for (const x of p.samples) {
    const id = `${x.metric}${x.raw}`;
    if (seen.has(id)) dup.push(id);
    seen.add(id);
  }
  const probs = [...p.problems, ...histogramProblems(p.fam, p.samples), ...dup.map((d) => `duplicate series ${d}`)];
  for (const [name, f] of p.fam) {
    if (!f.help) probs.push(`${name}: no # HELP`);
    if (f.type === "counter" && !name.endsWith("_total")) probs.push(`${name}: counter without _total`);
  }
  ok(probs.length === 0, `exposition structure: one contiguous group per family, TYPE before samples, no duplicate series, histograms cumulative with +Inf = _count`,
    probs.slice(0, 10));

  const want = {
    bunsen_build_info: "gauge", bunsen_http_requests_total: "counter", bunsen_http_request_duration_seconds: "histogram",
    bunsen_assignments_total: "counter", bunsen_ingested_rows_total: "counter", bunsen_writer_queue_depth: "gauge",
    bunsen_writer_commit_duration_seconds: "histogram", bunsen_writer_commits_total: "counter",
    process_cpu_seconds_total: "counter", process_resident_memory_bytes: "gauge", process_open_fds: "gauge",
    process_start_time_seconds: "gauge",
  };
  const wrong = Object.entries(want).filter(([n, t]) => !p.fam.has(n) || p.fam.get(n).type !== t).map(([n, t]) => `${n} (${t})`);
  ok(wrong.length === 0, `the documented families exist with their types: ${Object.keys(want).join(", ")}`, wrong);

  const count = (parsed, reason) => {
    const x = parsed.samples.find((s) => s.metric === "bunsen_assignments_total" && s.labels.experiment === key && s.labels.reason === reason);
    return x ? x.value : 0;
  };
  const moved = Object.entries(reasons).filter(([r, n]) => count(p, r) - count(before, r) < n);
  ok(moved.length === 0 && (reasons.hashed || 0) > 0 && (reasons.coverage || 0) > 0,
    `bunsen_assignments_total{experiment,reason} counts the decisions made (40 /assign: ${JSON.stringify(reasons)})`,
    moved.map(([r, n]) => `reason ${r}: +${count(p, r) - count(before, r)}, expected at least +${n}`));
  const routes = new Set(p.samples.filter((x) => x.metric === "bunsen_http_requests_total").map((x) => x.labels.route));
  const needRoutes = ["/api/v1/assign", "/ofrep/v1/evaluate/flags/{key}", "/ofrep/v1/evaluate/flags", "/api/features/{sdk_key}"];
  const missingRoutes = needRoutes.filter((r) => !routes.has(r));
  const leaks = [...routes].filter((r) => r && (r.includes(sdk) || r.includes(key) || r.includes("no-such-route")));
  ok(missingRoutes.length === 0 && leaks.length === 0,
    `bunsen_http_requests_total labels routes by pattern (no ids, keys or unknown paths as label values)`,
    [missingRoutes.length ? `missing ${missingRoutes.join(", ")}` : "", leaks.length ? `raw paths as labels: ${leaks.join(", ")}` : "", `routes: ${[...routes].join(" ")}`]);

  // ---- docs/INTEGRATIONS.md ----------------------------------------------------------------
  let doc = null;
  try {
    doc = readFileSync(DOC, "utf8");
  } catch {
    // reported below
  }
  if (!doc) {
    skip(`docs/INTEGRATIONS.md PromQL and scrape config`, `${DOC} not found`);
  } else {
    const exprs = [...doc.matchAll(/```promql\n([\s\S]*?)```/g)].flatMap((b) => b[1].split("\n"))
      .map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    const dir = mkdtempSync(join(tmpdir(), "bunsen-promql-"));
    try {
      const rules = ["groups:", "  - name: integrations-md", "    rules:",
        ...exprs.map((e, i) => `      - record: bunsen:doc_expr_${i}\n        expr: ${JSON.stringify(e)}`)].join("\n") + "\n";
      writeFileSync(join(dir, "rules.yml"), rules);
      const r = promtool(["check", "rules", join(dir, "rules.yml")]);
      const names = new Set(exprs.flatMap((e) => e.match(/\bbunsen_[a-z_]+/g) || []));
      const known = (n) => p.fam.has(n) || ["_bucket", "_sum", "_count"].some((s) => n.endsWith(s) && p.fam.has(n.slice(0, -s.length)));
      const unknown = [...names].filter((n) => !known(n));
      ok(exprs.length >= 5 && r.status === 0 && unknown.length === 0,
        `the ${exprs.length} PromQL expressions in docs/INTEGRATIONS.md parse (promtool check rules) and name only exposed metrics`,
        [r.status === 0 ? "" : r.out.slice(0, 1000), unknown.length ? `unknown metrics: ${unknown.join(", ")}` : ""]);
      const cfg = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((b) => b[1]).find((b) => b.includes("scrape_configs:"));
      if (!cfg) {
        ok(false, `docs/INTEGRATIONS.md has a Prometheus scrape config (a yaml block with scrape_configs:)`);
      } else {
        writeFileSync(join(dir, "prometheus.yml"), cfg);
        const c = promtool(["check", "config", "--syntax-only", join(dir, "prometheus.yml")]);
        ok(c.status === 0, `the scrape config in docs/INTEGRATIONS.md passes promtool check config`, [c.out.slice(0, 600)]);
      }
      const alerts = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((b) => b[1]).find((b) => b.includes("groups:"));
      if (alerts) {
        writeFileSync(join(dir, "alerts.yml"), alerts);
        const c = promtool(["check", "rules", join(dir, "alerts.yml")]);
        ok(c.status === 0, `the alerting rules in docs/INTEGRATIONS.md pass promtool check rules`, [c.out.slice(0, 600)]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  await stopAll([key]);
});

// openapi.mjs - the OpenAPI description the daemon serves (GET /api/v1/openapi.yaml)
// through an independent validator, @apidevtools/swagger-parser (validate(): the OpenAPI
// 3.1 JSON schema plus its own semantic checks, with every $ref resolved).
//
// Also a contract check for the ecosystem routes: real replies of GET
// /api/features/{sdk_key} and of the OFREP routes (success, bulk, 400, 404) validate
// against the response schemas the document declares for them (ajv, JSON Schema 2020-12,
// the dialect of OpenAPI 3.1). And replies of results (with a correction), a breakdown and
// a time series validate with every member they carry declared (what a generated client sees).
import SwaggerParser from "@apidevtools/swagger-parser";
import Ajv2020 from "ajv/dist/2020.js";
import yaml from "js-yaml";
import {
  ADMIN, BASE, api, brief, createKey, diag, main, ok, runTag, setupExperiment, stopAll, variants,
} from "./lib.mjs";

const T = `oa${runTag}`;

main(async () => {
  diag(`GET ${BASE}/api/v1/openapi.yaml through @apidevtools/swagger-parser validate()`);
  const res = await fetch(`${BASE}/api/v1/openapi.yaml`); // public: no key
  const text = await res.text();
  ok(res.status === 200 && /yaml/.test(res.headers.get("content-type") || ""),
    `GET /api/v1/openapi.yaml without a key: 200, a YAML content type`,
    [`status ${res.status}, content-type ${res.headers.get("content-type")}, ${text.length} bytes`]);
  let doc = null;
  try {
    doc = yaml.load(text);
  } catch (e) {
    ok(false, `the document is YAML`, [String(e.message).slice(0, 500)]);
    return;
  }
  ok(doc && typeof doc.openapi === "string" && doc.openapi.startsWith("3.1"), `the document is YAML, openapi ${doc && doc.openapi}`);

  let validated = null;
  try {
    validated = await SwaggerParser.validate(structuredClone(doc));
  } catch (e) {
    const hint = /info\/license/.test(e.message)
      ? "note: swagger-parser's OAS 3.1 schema (2021-04-15) wants info.license.identifier or .url; " +
        "OAS 3.1.0 makes both optional, but `identifier: <SPDX id>` is the portable form"
      : "";
    ok(false, `swagger-parser validate() accepts the document`, [...String(e.message).split("\n").slice(0, 20), hint]);
  }
  if (validated) ok(true, `swagger-parser validate() accepts the document (${Object.keys(validated.paths).length} paths)`);

  const paths = Object.keys(doc.paths || {});
  const need = ["/api/features/{sdk_key}", "/ofrep/v1/evaluate/flags/{key}", "/ofrep/v1/evaluate/flags", "/metrics", "/api/v1/exposures", "/api/v1/assign"];
  const absent = need.filter((p) => !paths.includes(p));
  ok(absent.length === 0, `the document describes the ecosystem routes (${need.join(", ")})`, absent);

  // ---- real replies against the declared schemas ----------------------------------------
  let deref;
  try {
    deref = await SwaggerParser.dereference(structuredClone(doc));
  } catch (e) {
    ok(false, `dereference the document`, [String(e.message).slice(0, 500)]);
    return;
  }
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const schemaOf = (path, method, status) => {
    const op = deref.paths[path] && deref.paths[path][method];
    const r = op && op.responses && op.responses[String(status)];
    const c = r && r.content && (r.content["application/json"] || Object.values(r.content)[0]);
    return c && c.schema;
  };
  const sdk = (await createKey("sdk", `${T}-sdk`)).key;
  const key = `${T}-exp`;
  const s = await setupExperiment({
    key,
    variants: variants(["control", "b"], [0.5, 0.5]),
    coverage: 0.9,
    namespace: { name: `${T}-ns`, range: [0, 0.8] },
    targeting: { country: { $in: ["NL"] } },
    forced: { [`${T}-qa`]: "b" },
  });
  if (!ok(s.status === 200, `create and start ${key} (coverage, namespace, targeting, forced)`, [brief(s)])) return;
  const cases = [
    ["GET /api/features/{sdk_key} 200", "/api/features/{sdk_key}", "get", await api("GET", `/api/features/${sdk}`, null)],
    ["POST /ofrep/v1/evaluate/flags/{key} 200", "/ofrep/v1/evaluate/flags/{key}", "post",
      await api("POST", `/ofrep/v1/evaluate/flags/${key}`, sdk, { context: { targetingKey: "u-1", country: "NL" } })],
    ["POST /ofrep/v1/evaluate/flags/{key} 200 (forced)", "/ofrep/v1/evaluate/flags/{key}", "post",
      await api("POST", `/ofrep/v1/evaluate/flags/${key}`, sdk, { context: { targetingKey: `${T}-qa` } })],
    ["POST /ofrep/v1/evaluate/flags/{key} 400", "/ofrep/v1/evaluate/flags/{key}", "post",
      await api("POST", `/ofrep/v1/evaluate/flags/${key}`, sdk, { context: { country: "NL" } })],
    ["POST /ofrep/v1/evaluate/flags/{key} 404", "/ofrep/v1/evaluate/flags/{key}", "post",
      await api("POST", `/ofrep/v1/evaluate/flags/${T}-none`, sdk, { context: { targetingKey: "u-1" } })],
    ["POST /ofrep/v1/evaluate/flags 200", "/ofrep/v1/evaluate/flags", "post",
      await api("POST", "/ofrep/v1/evaluate/flags", sdk, { context: { targetingKey: "u-2", country: "NL" } })],
    ["POST /ofrep/v1/evaluate/flags 400", "/ofrep/v1/evaluate/flags", "post",
      await api("POST", "/ofrep/v1/evaluate/flags", sdk, { context: "not an object" })],
  ];
  // the schemas are not vacuous: malformed replies fail them
  {
    const f = schemaOf("/api/features/{sdk_key}", "get", 200);
    const e = schemaOf("/ofrep/v1/evaluate/flags/{key}", "post", 200);
    const bad = [
      [f, { features: { x: { rules: [{ force: "b", condition: 3 }] } } }],
      [f, { flags: [] }],
      [e, { value: "b" }],
      [e, { key: "k", reason: 5, value: "b" }],
    ].filter(([sch, v]) => !sch || ajv.validate(sch, v));
    ok(bad.length === 0, `the declared schemas reject malformed payloads and evaluations (not vacuous)`,
      bad.map(([, v]) => `accepted ${JSON.stringify(v)}`));
  }
  for (const [name, path, method, r] of cases) {
    const schema = schemaOf(path, method, r.status);
    if (!schema) {
      ok(false, `${name}: the document declares a JSON schema for status ${r.status}`, [brief(r)]);
      continue;
    }
    const valid = ajv.validate(schema, r.json);
    ok(valid && name.includes(` ${r.status}`), `${name}: the reply matches the declared schema`,
      valid ? [] : [brief(r), ...ajv.errors.slice(0, 5).map((e) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`)]);
  }
  await stopAll([key]);

  // ---- every member a results reply carries is declared ------------------------------------
  // A reply can validate while carrying members the schema does not name (objects are open),
  // and a client generated from the document then does not see them: the time series'
  // relative_lift was declared as Lift (no p_value, p_value_adjusted, significant) and a
  // breakdown's slices as two members (journey29 J3). Each object of the reply is walked
  // with every schema that applies to it (allOf, the oneOf/anyOf branches it matches).
  const undeclared = (schema, value, at, out) => {
    const applied = [];
    const gather = (sch) => {
      if (!sch || typeof sch !== "object") return;
      applied.push(sch);
      for (const b of sch.allOf || []) gather(b);
      for (const b of [...(sch.oneOf || []), ...(sch.anyOf || [])]) if (ajv.validate(b, value)) gather(b);
    };
    gather(schema);
    if (Array.isArray(value)) {
      for (const sch of applied) if (sch.items) value.forEach((v, i) => undeclared(sch.items, v, `${at}/${i}`, out));
    } else if (value && typeof value === "object") {
      const open = applied.some((sch) => sch.additionalProperties === true || sch.patternProperties ||
        (sch.additionalProperties && typeof sch.additionalProperties === "object"));
      for (const [k, v] of Object.entries(value)) {
        const subs = applied.filter((sch) => sch.properties && k in sch.properties);
        if (subs.length === 0 && !open) out.add(`${at}/${k}`.replace(/\/\d+(?=\/|$)/g, "/*"));
        for (const sch of subs) undeclared(sch.properties[k], v, `${at}/${k}`, out);
      }
    }
    return out;
  };
  const rkey = `${T}-res`, metric = `${T}-buy`;
  const m = await api("POST", "/api/v1/metrics", ADMIN, { key: metric, event: metric, type: "binomial" });
  const r0 = await setupExperiment({
    key: rkey, variants: variants(["control", "b"], [0.5, 0.5]), metrics: [metric],
    primary_metric: metric, dimensions: ["country"],
  });
  if (!ok(m.status === 201 && r0.status === 200, `create ${metric} and start ${rkey} (a dimension)`, [brief(m), brief(r0)])) return;
  for (let i = 0; i < 40; i++) {
    await api("POST", "/api/v1/assign", ADMIN, { user_id: `${T}-r${i}`, attributes: { country: i % 2 ? "NL" : "BE" }, experiments: [rkey] });
  }
  const buys = [];
  for (let i = 0; i < 40; i += 3) buys.push({ user_id: `${T}-r${i}`, event: metric });
  await api("POST", "/api/v1/events", ADMIN, { events: buys });
  const E = `/api/v1/experiments/${rkey}`;
  const replies = [
    ["results", "/api/v1/experiments/{key}/results", await api("GET", `${E}/results?correction=holm`, ADMIN)],
    ["results?dimension=country", "/api/v1/experiments/{key}/results", await api("GET", `${E}/results?dimension=country&correction=holm`, ADMIN)],
    ["timeseries", "/api/v1/experiments/{key}/timeseries", await api("GET", `${E}/timeseries?metric=${metric}&correction=holm`, ADMIN)],
  ];
  for (const [name, path, r] of replies) {
    const schema = schemaOf(path, "get", 200);
    const valid = r.status === 200 && schema && ajv.validate(schema, r.json);
    const extra = valid ? [...undeclared(schema, r.json, "", new Set())] : [];
    ok(valid && extra.length === 0, `GET .../${name}: the reply matches the declared schema, every member declared`,
      valid ? extra.map((x) => `undeclared: ${x}`) : [brief(r), ...(ajv.errors || []).slice(0, 5).map((e) => `${e.instancePath || "/"} ${e.message}`)]);
  }
  await stopAll([rkey]);
});

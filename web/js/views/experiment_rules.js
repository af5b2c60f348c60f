// experiment_rules.js - what an experiment body may hold and which of its fields the API
// refuses to change in each status (API.md "Experiments": a running or paused experiment's
// assignment fields, a stopped one's results too), in words; and which of a person's changes
// its latest version refuses when they are merged on top of it (merge.js). Pure: no DOM.

import { keyProblem } from '../validate.js';

const utf8 = new TextEncoder();

/** The length of `s` in UTF-8 bytes: the server's limits count bytes, not characters. */
export function byteLength(s) {
  return utf8.encode(String(s)).length;
}

/** A share (0-1) as the percentage text the form shows, at most 4 decimals. */
export function pctText(w) {
  if (typeof w !== 'number' || !Number.isFinite(w)) return '';
  return String(Number((w * 100).toFixed(4)));
}

// Fields whose change would reassign users: refused while running or paused, and once
// stopped (they would rewrite the frozen results). Variant names and values are not in it.
const ASSIGNMENT = ['variants', 'seed', 'hash_version', 'namespace', 'targeting', 'hash_attribute', 'fallback_attribute'];
// Fields that decide the results: refused once stopped.
const RESULTS = ['metrics', 'guardrails', 'primary_metric', 'analysis', 'mde'];
// Fixed once started: sequential results are always valid only with the tuning chosen
// before the first look.
const STARTED = ['sequential_tuning'];

/** The fields the API refuses to change for an experiment in `status` (a Set). */
export function frozenFields(status) {
  if (status === 'running' || status === 'paused') return new Set([...ASSIGNMENT, ...STARTED]);
  if (status === 'stopped') return new Set([...ASSIGNMENT, ...STARTED, ...RESULTS]);
  return new Set();
}

/** Can coverage only go up in `status` (lowering it moves exposed users out of their variant)? */
export function coverageOnlyUp(status) {
  return status === 'running' || status === 'paused';
}

/**
 * Why a group of fields is read-only in `status` ('running', 'paused', 'stopped'): `what`
 * is 'variants', 'traffic', 'targeting' or 'metrics'. Returns {lead, reason}.
 */
export function lockReason(status, what) {
  if (status === 'stopped') {
    const lead = 'Read-only: the experiment is stopped and its results are frozen. ';
    return {
      lead,
      reason: {
        variants: 'Changing variant keys or weights, or adding or removing variants, would rewrite them: start a new experiment instead. Names and values may change.',
        traffic: 'Changing the namespace, seed, hash version or hashed attribute would rewrite them. Coverage may change: it assigns no one any more.',
        targeting: 'Changing targeting would rewrite them.',
        metrics: 'Changing the metrics, guardrails or primary metric would rewrite them: start a new experiment to analyse others. Breakdown dimensions may change.',
        analysis: 'Changing the analysis defaults or the MDE would rewrite them: other methods, alphas and corrections are a choice on the results page.',
      }[what],
    };
  }
  return {
    lead: 'Read-only while the experiment is running or paused: ',
    reason: {
      variants: 'changing variant keys or weights, or adding or removing variants, would move users between variants. Stop it and start a new experiment instead. Names and values may change.',
      traffic: 'changing the namespace, seed, hash version or hashed attribute would reassign users. Coverage may go up, not down.',
      targeting: 'changing targeting would change who is in the experiment.',
      metrics: '',
      analysis: '',
    }[what],
  };
}

/**
 * Why a running or paused experiment's coverage may not go below what it is: users already
 * exposed to a variant would leave it while the results still count them there (the API
 * answers 409). `status` is the experiment's, `was` its coverage (0-1).
 */
export function coverageDownProblem(status, was) {
  const what = status === 'paused' ? 'stop it' : 'pause or stop it';
  return `While the experiment is ${status}, coverage can only go up (it is ${pctText(was)}%): lowering it would move users already exposed to a variant out of it, while the results still count them there. To send fewer users into it, ${what}, or start a new experiment.`;
}

function tooLong(what, s, max) {
  const n = byteLength(s);
  if (n <= max) return null;
  const more = n > s.length ? ` (now ${n}: an accented letter takes 2 bytes, most other scripts 3, an emoji 4)` : ` (now ${n})`;
  return `${what} is too long: at most ${max} bytes of UTF-8${more}.`;
}

const ATTRIBUTE_MAX = 128; // MODEL_ATTRIBUTE_MAX: hash_attribute, fallback_attribute

/**
 * Every problem of an experiment body `p` at once, in words ([{field, message}]).
 * `forcedDupes` lists forced user ids typed twice (the body's map keeps only one);
 * `running` is {status, coverage} of a running or paused experiment as stored.
 */
/**
 * The JSON type of a variant's value as the server reads it (src/core/experiment_values.c
 * type_of): no value (absent) and null are the variant's key, a string; integers and reals
 * are one type, "a number"; an array is a type of its own.
 */
export function valueType(v) {
  if (v === undefined || v === null || typeof v === 'string') return 'a string';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  return Array.isArray(v) ? 'an array' : 'an object';
}

/**
 * The server's rule of one JSON type (experiment_check_value_types): every variant's value
 * of the control's type, and a default value (not null: the control's value) of it too.
 * One problem beside each odd value (the server names the first); `unparsed`: the fields
 * whose text is not JSON (named already, their type unknown: not compared).
 */
export function valueTypeProblems(p, unparsed = new Set()) {
  const out = [];
  const vs = p.variants || [];
  if (!vs.length || unparsed.has('variants[0].value')) return out;
  const want = valueType(vs[0].value);
  const noValue = (v) => (v === undefined || v === null ? ' (no value: its key)' : '');
  const control = `the control’s (“${vs[0].key}”) is ${want}${noValue(vs[0].value)}`;
  vs.forEach((v, i) => {
    const f = `variants[${i}].value`;
    if (i === 0 || unparsed.has(f)) return;
    const got = valueType(v.value);
    if (got !== want) out.push({ field: f, message: `Variant ${i + 1} value is ${got}${noValue(v.value)}, but ${control}: the variants’ values must all be of one JSON type (the flag’s type in SDKs).` });
  });
  if (p.default_value !== undefined && p.default_value !== null && !unparsed.has('default_value')) {
    const got = valueType(p.default_value);
    if (got !== want) out.push({ field: 'default_value', message: `The default value is ${got}, but the variants’ values are ${want}${vs[0].value === undefined || vs[0].value === null ? ' (no value: their keys)' : ''}: it must be of their JSON type (the flag’s type in SDKs), or empty for the control’s value.` });
  }
  return out;
}

export function experimentProblems(p, { forcedDupes = [], running = null, unparsed = new Set() } = {}) {
  const out = [];
  const add = (field, message) => {
    if (message) out.push({ field, message });
  };
  if (running && typeof p.coverage === 'number' && p.coverage < running.coverage) add('coverage', coverageDownProblem(running.status, running.coverage));
  if (p.key !== undefined) add('key', keyProblem(p.key));
  if (p.name) add('name', tooLong('The name', p.name, 200));
  if (p.owner) add('owner', tooLong('The owner', p.owner, 200));
  if (p.hypothesis) add('hypothesis', tooLong('The hypothesis', p.hypothesis, 10000));
  if (p.description) add('description', tooLong('The description', p.description, 10000));
  const keys = new Set();
  if (p.variants) {
    p.variants.forEach((v, i) => {
      const k = keyProblem(v.key, `Variant ${i + 1}’s key`);
      if (k) add(`variants[${i}].key`, k);
      else if (keys.has(v.key)) add(`variants[${i}].key`, `Variant ${i + 1}’s key “${v.key}” is used twice: each variant needs its own key.`);
      keys.add(v.key);
      if (v.name) add(`variants[${i}].name`, tooLong(`Variant ${i + 1}’s name`, v.name, 200));
      if (!(typeof v.weight === 'number' && v.weight >= 0 && v.weight <= 1)) add(`variants[${i}].weight`, `Variant ${i + 1}’s weight must be a percentage from 0 to 100.`);
    });
    const total = p.variants.reduce((a, v) => a + (typeof v.weight === 'number' ? v.weight : NaN), 0);
    if (Number.isFinite(total) && Math.abs(total - 1) > 1e-6) {
      add(`variants[${p.variants.length - 1}].weight`, `The weights must add up to 100% (the sum is now ${Number((total * 100).toFixed(4))}%).`);
    }
  }
  out.push(...valueTypeProblems(p, unparsed));
  if (p.namespace) {
    const [a, b] = p.namespace.range;
    const ok = (x) => typeof x === 'number' && x >= 0 && x <= 1;
    if (p.namespace.name === '') add('namespace.name', 'A namespace range applies only inside a namespace: name the namespace, or set the range back to 0 to 1 (no namespace).');
    else add('namespace.name', keyProblem(p.namespace.name, 'The namespace'));
    if (!ok(a)) add('namespace.range[0]', 'The range start is a number from 0 to 1.');
    if (!ok(b)) add('namespace.range[1]', 'The range end is a number from 0 to 1.');
    if (ok(a) && ok(b) && !(a < b)) add('namespace.range', `The range start must be below its end (start < end; now ${a} to ${b}).`);
  }
  for (const f of ['hash_attribute', 'fallback_attribute']) {
    const v = p[f];
    if (typeof v !== 'string') continue;
    const what = f === 'hash_attribute' ? 'The hashed attribute' : 'The fallback attribute';
    if (/[\u0000-\u001f\u007f-\u009f]/.test(v)) add(f, `${what} cannot contain a control character (a tab, a line break).`);
    else add(f, tooLong(what, v, ATTRIBUTE_MAX));
  }
  for (const u of forcedDupes) add(`forced.${u}`, `The forced user “${u}” is listed twice.`);
  for (const [u, variant] of Object.entries(p.forced || {})) {
    add(`forced.${u}`, tooLong('A forced user id', u, 256));
    if (p.variants && !keys.has(variant)) add(`forced.${u}`, `Choose a variant for the forced user “${u}”: the one it had was removed.`);
  }
  const al = p.analysis && p.analysis.alpha;
  if (!(typeof al === 'number' && al > 0 && al < 1)) add('analysis.alpha', 'Alpha is the false-positive rate, a number between 0 and 1 (e.g. 0.05).');
  if (!(typeof p.sequential_tuning === 'number' && p.sequential_tuning >= 1)) add('sequential_tuning', 'Sequential tuning is a number of users, at least 1 (e.g. 5000).');
  if (p.mde !== undefined && p.mde !== null && !(p.mde > 0 && p.mde < 10)) add('mde', 'The minimum detectable effect is a percentage above 0 (e.g. 5 for 5%).');
  if (Array.isArray(p.dimensions)) {
    if (p.dimensions.length > 3) add('dimensions', 'Break results down by at most 3 attributes.');
    const bad = p.dimensions.find((d) => !/^[A-Za-z0-9_.-]{1,64}$/.test(d));
    if (bad !== undefined) add('dimensions', `“${bad}” is not an attribute name: use letters, digits, _ . - (at most 64).`);
    else if (new Set(p.dimensions).size !== p.dimensions.length) add('dimensions', 'An attribute is listed twice.');
  }
  return out;
}

/** Do two payload variant lists differ in what assigns users (keys, weights, how many)? */
function variantsReassign(a, b) {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return true;
  return a.some((v, i) => v.key !== b[i].key || Math.abs(v.weight - b[i].weight) > 1e-9);
}

/**
 * Which changes an experiment now in `status` refuses, for merging a person's changes on top
 * of its latest version (merge.js `mergeEdits`, after a 412 or a sign-in): returns
 * `(field, value, now) => why` (null: allowed), `now` the latest version's payload.
 */
export function refusedChange(status) {
  const frozen = frozenFields(status);
  return (f, v, now) => {
    if (f === 'variants') {
      return frozen.has(f) && variantsReassign(v, now[f]) ? `the experiment is now ${status}: variant keys and weights cannot change` : null;
    }
    if (frozen.has(f)) return `the experiment is now ${status}: ${f.replace(/_/g, ' ')} cannot change`;
    if (f === 'coverage' && coverageOnlyUp(status) && typeof v === 'number' && v < now.coverage) {
      return `the experiment is now ${status}: coverage can only go up (it is ${pctText(now.coverage)}%)`;
    }
    return null;
  };
}

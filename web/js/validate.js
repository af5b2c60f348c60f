// validate.js - form checks in the dashboard, in words a person understands, all at
// once: each check returns a list of {field, message}, `field` in the API's notation
// ("variants[1].weight") so the message lands next to its control. The server checks
// everything again; its single-field errors go through humanize() too.

import { h, clear, showFieldError } from './dom.js';

const KEY_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/**
 * `v` made a key by every rule at once: lower-case, accents dropped ("Café" -> "cafe"),
 * spaces as "-", other characters dropped, starting with a letter or digit, at most 64
 * characters; "" when nothing is left ("!!!").
 */
export function keySuggestion(v) {
  return String(v)
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .trim()
    .replace(/\s+/g, '-')
    .replace(/[^a-z0-9_.-]/g, '')
    .replace(/-{2,}/g, '-')
    .replace(/^[_.-]+/, '')
    .slice(0, 64)
    .replace(/-+$/, '');
}

/**
 * Why `v` is not a valid key (experiments, metrics, variants), or null when it is: the
 * first rule it breaks, with a suggestion that keeps every rule ("Purchase Rate": lower-case,
 * try “purchase-rate”), not only the one named.
 */
export function keyProblem(v, what = 'The key') {
  if (!v) return `${what} is required.`;
  const s = keySuggestion(v);
  const tryIt = s && s !== v && KEY_RE.test(s) ? ` (try “${s}”)` : '';
  if (v.length > 64) return `${what} is too long: at most 64 characters (now ${v.length}).`;
  if (/[A-Z]/.test(v)) return `${what} must be lower-case${tryIt}.`;
  if (/\s/.test(v)) return `${what} cannot contain spaces${tryIt}.`;
  if (!/^[a-z0-9]/.test(v)) return `${what} must start with a lower-case letter or a digit${tryIt}.`;
  if (!KEY_RE.test(v)) return `${what} may use only lower-case letters, digits, “_”, “.” and “-”${tryIt}.`;
  return null;
}

// the labels the experiment form shows for the API's top-level fields (a message that
// starts with one of these names says the label instead)
const TOP_LABEL = {
  primary_metric: 'Primary metric', default_value: 'Default value', hash_version: 'Hash version',
  hash_attribute: 'Hashed attribute', fallback_attribute: 'Fallback attribute',
  sequential_tuning: 'Sequential tuning', metrics: 'Metrics to analyse', guardrails: 'Guardrails',
  targeting: 'Targeting', variants: 'Variants',
};
const VARIANT_PART = { key: 'key', name: 'name', weight: 'weight', value: 'value' };

/**
 * The label the form shows for an API field path: "variants[0].value" -> "Variant 1 value",
 * "metrics[2]" -> "Metrics to analyse", "targeting.$or[1].country.$regex" -> "Targeting rule
 * on “country”"; null for a path without one (the message keeps it as it is).
 */
export function fieldLabel(path) {
  let m = /^variants\[(\d+)\](?:\.(\w+))?$/.exec(path);
  if (m) return m[2] === undefined ? `Variant ${Number(m[1]) + 1}` : VARIANT_PART[m[2]] ? `Variant ${Number(m[1]) + 1} ${VARIANT_PART[m[2]]}` : null;
  m = /^(metrics|guardrails)\[\d+\]$/.exec(path);
  if (m) return TOP_LABEL[m[1]];
  if (/^targeting[.[]/.test(path)) {
    // the attribute: the last part of the path that is not an operator or an index
    const parts = path.slice('targeting'.length).split(/\.|\[\d+\]/).filter((x) => x !== '' && !x.startsWith('$'));
    return parts.length ? `Targeting rule on “${parts[parts.length - 1]}”` : 'Targeting';
  }
  return Object.hasOwn(TOP_LABEL, path) ? TOP_LABEL[path] : null;
}

// a field path inside a message: variants[1].weight, metrics[0], targeting.$or[1].country.$regex
const PATH_RE = /\b(?:variants\[\d+\](?:\.\w+)?|metrics\[\d+\]|guardrails\[\d+\]|targeting[.[][^\s:]*)/g;

/** A server message without regular expressions or internal field paths. */
export function humanize(msg) {
  if (!msg) return msg;
  return String(msg)
    .replace(/(\S+) must match \^\[a-z0-9\]\[a-z0-9_.-\]\{0,63\}\$ \([^)]*\)/, (_, f) => `${f} may use only lower-case letters, digits, “_”, “.” and “-”, starting with a letter or digit, at most 64 characters`)
    .replace(/ in \[(-?[\d.e+]+), (-?[\d.e+]+)\]/, ' from $1 to $2')
    .replace(PATH_RE, (p) => fieldLabel(p) || p)
    .replace(/^(\w+)(?= )/, (w) => (Object.hasOwn(TOP_LABEL, w) ? TOP_LABEL[w] : w));
}

/** A number from a text input: undefined when empty, NaN when not a number. */
export function numberOf(text) {
  const t = String(text ?? '').trim();
  if (t === '') return undefined;
  return Number(t);
}

/**
 * The number inputs of `form` holding text that is not a number. Chromium lets a person
 * type "4e", "5-" or "1e400" into <input type="number"> and then reports its value as ""
 * (validity.badInput), which would read as an empty field: a cap removed, a default put
 * back. One {field, message} per such input that is shown and enabled (a hidden or
 * disabled one is not sent), `field` its data-field. A form checks this before it reads
 * any value and sends nothing while the list is not empty.
 */
export function badNumberProblems(form) {
  const out = [];
  for (const el of form.querySelectorAll('input[type="number"]')) {
    if (!el.validity || !el.validity.badInput || el.disabled || el.closest('[hidden]')) continue;
    const label = (el.labels && el.labels[0] ? el.labels[0].textContent : el.getAttribute('aria-label') || 'This field').trim();
    out.push({ field: el.dataset.field || '', message: `${label}: not a number. Correct what was typed (digits, one “.”, no letters).` });
  }
  return out;
}

/** `problems` without those on a field that `first` already names (a bad number says it best). */
export function mergeProblems(first, problems) {
  const named = new Set(first.map((p) => p.field));
  return [...first, ...problems.filter((p) => !named.has(p.field))];
}

/**
 * Show `errors` ([{field, message}]) next to their controls in `form`, with a summary
 * saying how many there are; focus the first. Returns true when there were errors.
 */
export function showErrors(form, errors, summary) {
  if (!errors.length) return false;
  let first = null;
  for (const e of errors) {
    const at = showFieldError(form, e.field, humanize(e.message));
    if (!first && at) first = at;
  }
  if (summary) {
    clear(summary);
    summary.append(h('div', { class: 'alert alert-error', role: 'alert' },
      h('strong', {}, errors.length === 1 ? 'One field needs attention' : `${errors.length} fields need attention`),
      errors.length > 1 ? h('ul', {}, errors.map((e) => h('li', {}, humanize(e.message)))) : [': ', humanize(errors[0].message)]));
  }
  if (first) first.focus();
  else if (summary) summary.focus();
  return true;
}

/**
 * Where a server error belongs: its field, or for a targeting error whose message starts
 * with the path inside the condition ("targeting.$or[1].country.$regex: pattern ... cannot
 * be evaluated") that path, so it lands beside the rule's row (targeting.js gives each rule
 * value the path it has in the condition); the JSON box is the fallback.
 */
function errorField(field, message) {
  if (field !== 'targeting') return field || '';
  const m = /^(targeting[.[][^\s:]*)/.exec(message || '');
  return m ? m[1] : field;
}

/** Server errors: the `errors` array when the API sends one, else the single field. */
export function serverErrors(err) {
  if (Array.isArray(err.errors) && err.errors.length) return err.errors.map((e) => ({ field: errorField(e.field, e.message), message: e.message }));
  return [{ field: errorField(err.field, err.message), message: err.message }];
}

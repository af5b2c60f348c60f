// validate.js - form checks in the dashboard, in words a person understands, all at
// once: each check returns a list of {field, message}, `field` in the API's notation
// ("variants[1].weight") so the message lands next to its control. The server checks
// everything again; its single-field errors go through humanize() too.

import { h, clear, showFieldError } from './dom.js';

const KEY_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/** Why `v` is not a valid key (experiments, metrics, variants), or null when it is. */
export function keyProblem(v, what = 'The key') {
  if (!v) return `${what} is required.`;
  if (v.length > 64) return `${what} is too long: at most 64 characters (now ${v.length}).`;
  if (/[A-Z]/.test(v)) return `${what} must be lower-case (try “${v.toLowerCase()}”).`;
  if (/\s/.test(v)) return `${what} cannot contain spaces (try “${v.trim().replace(/\s+/g, '-')}”).`;
  if (!/^[a-z0-9]/.test(v)) return `${what} must start with a lower-case letter or a digit.`;
  if (!KEY_RE.test(v)) return `${what} may use only lower-case letters, digits, “_”, “.” and “-”.`;
  return null;
}

/** A server message without regular expressions or internal field paths. */
export function humanize(msg) {
  if (!msg) return msg;
  return String(msg)
    .replace(/(\S+) must match \^\[a-z0-9\]\[a-z0-9_.-\]\{0,63\}\$ \([^)]*\)/, (_, f) => `${f} may use only lower-case letters, digits, “_”, “.” and “-”, starting with a letter or digit, at most 64 characters`)
    .replace(/ in \[(-?[\d.e+]+), (-?[\d.e+]+)\]/, ' from $1 to $2');
}

/** A number from a text input: undefined when empty, NaN when not a number. */
export function numberOf(text) {
  const t = String(text ?? '').trim();
  if (t === '') return undefined;
  return Number(t);
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

/** Server errors: the `errors` array when the API sends one, else the single field. */
export function serverErrors(err) {
  if (Array.isArray(err.errors) && err.errors.length) return err.errors.map((e) => ({ field: e.field || '', message: e.message }));
  return [{ field: err.field || '', message: err.message }];
}

// check_user.js - "Check a user" on the experiment page: which variant does this user get,
// and why? POST /assign for this one experiment with `explain: true` and `log_exposure:
// false` (a check is never an exposure and never changes the results), attributes typed as
// JSON as an SDK sends them (the GET form's attr.* are all strings). The answer: the
// variant and value, the reason in words, and the explain block (what was hashed, the
// bucket against each variant's range, the rule that decided). The API lets admins,
// editors and SDK keys assign, not viewers: they get a line saying so.

import { api } from '../api.js';
import { h, fill, clear, nextId, errorBox, showFieldError, clearFieldErrors } from '../dom.js';

const REASON_TEXT = {
  hashed: 'in the experiment: the user’s bucket falls in this variant’s range',
  forced: 'forced: the user id is in the forced users list (not counted in the results)',
  released: 'released: every user gets the released variant (not counted)',
  not_running: 'not running: everyone gets the default (not counted)',
  not_targeted: 'not targeted: the targeting does not match (or the hashed attribute is missing), so the user gets the default and is not counted',
  namespace: 'outside the namespace range: the user gets the default and is not counted',
  coverage: 'outside the coverage: the user gets the default and is not counted',
};

/** Attributes typed in the box: empty = none, else a JSON object; throws a readable Error. */
export function parseAttributes(text) {
  const t = String(text || '').trim();
  if (t === '') return {};
  let v;
  try {
    v = JSON.parse(t);
  } catch (e) {
    throw new Error(`The attributes are not valid JSON (${e.message}). Write an object such as {"country": "NL", "age": 31}.`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('The attributes are a JSON object such as {"country": "NL", "age": 31}.');
  return v;
}

function num(x, digits = 4) {
  return typeof x === 'number' && Number.isFinite(x) ? String(Number(x.toFixed(digits))) : '—';
}

/** The answer of POST /assign for experiment `x` (its assignment `a`), as a block. */
function answerBlock(x, userId, a) {
  const ex = a.explain || {};
  const ranges = Array.isArray(ex.ranges) ? ex.ranges : [];
  const inRange = (r) => typeof ex.bucket === 'number' && ex.bucket >= r[0] && ex.bucket < r[1];
  return h('div', { class: 'check-answer', id: 'check-answer', dataset: { reason: a.reason, variant: a.variant } },
    h('p', { class: 'check-headline' },
      h('strong', { class: 'check-user-id' }, userId), ' gets ', h('code', {}, a.variant),
      a.in_experiment ? ' and is counted in the results' : ' and is not counted in the results'),
    h('dl', { class: 'meta' },
      h('dt', {}, 'Reason'), h('dd', { id: 'check-reason' }, REASON_TEXT[a.reason] || a.reason, ` (${a.reason})`),
      h('dt', {}, 'Value'), h('dd', {}, h('code', { class: 'value-json' }, JSON.stringify(a.value))),
      ex.rule ? [h('dt', {}, 'Rule that decided'), h('dd', { id: 'check-rule' }, ex.rule)] : null,
      h('dt', {}, 'Hashed'), h('dd', {}, h('code', {}, ex.hash_input || '—'),
        ex.hash_attribute && ex.hash_attribute !== 'id' ? ` (attribute ${ex.hash_attribute})` : '',
        `, seed ${JSON.stringify(ex.seed ?? x.seed)}, hash version ${ex.hash_version ?? x.hash_version}`),
      h('dt', {}, 'Bucket'), h('dd', { id: 'check-bucket' }, typeof ex.bucket === 'number' ? num(ex.bucket) : 'none (no hash was needed to decide)'),
      typeof ex.namespace_bucket === 'number' ? [h('dt', {}, 'Namespace bucket'), h('dd', {}, num(ex.namespace_bucket))] : null),
    ranges.length
      ? h('div', { class: 'table-wrap' }, h('table', { class: 'table small', id: 'check-ranges' },
        h('caption', { class: 'visually-hidden' }, 'Bucket range per variant'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Variant'), h('th', { scope: 'col', class: 'num' }, 'Range [start, end)'))),
        h('tbody', {}, ranges.map((r, i) => h('tr', { class: inRange(r) ? 'check-hit' : null },
          h('th', { scope: 'row' }, x.variants[i] ? x.variants[i].key : `#${i + 1}`, inRange(r) ? ' ← bucket' : ''),
          h('td', { class: 'num' }, `[${num(r[0])}, ${num(r[1])})`))))))
      : null);
}

/** The folded "Check a user" block of experiment `x` (not for drafts or archived ones). */
export function checkUserBlock(ctx, x) {
  if (x.status === 'draft' || x.status === 'archived') return null;
  const wrap = h('details', { class: 'card check-user', id: 'check-user' }, h('summary', {}, 'Check a user'));
  if (!ctx.can('editor')) {
    wrap.append(h('p', { class: 'muted' }, `Checking which variant a user gets needs an editor or admin key (your role, ${ctx.me.role}, cannot call /assign).`));
    return wrap;
  }
  const userId = nextId('cu-user');
  const attrsId = nextId('cu-attrs');
  const userIn = h('input', { type: 'text', id: userId, name: 'user_id', autocomplete: 'off', spellcheck: 'false', required: true, dataset: { field: 'user_id' } });
  const attrsIn = h('textarea', { id: attrsId, name: 'attributes', rows: 3, class: 'code', spellcheck: 'false', placeholder: '{"country": "NL", "age": 31}', dataset: { field: 'attributes' } });
  const out = h('div', { class: 'check-out', 'aria-live': 'polite' });
  const btn = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Check');
  const form = h('form', { class: 'check-user-form', novalidate: true },
    h('p', { class: 'muted small' }, 'Which variant does a user get, and why? Nothing is logged: a check is not an exposure.'),
    h('div', { class: 'grid-2' },
      h('div', { class: 'field' }, h('label', { for: userId }, 'User id'), userIn),
      h('div', { class: 'field' }, h('label', { for: attrsId }, 'Attributes (JSON, optional)'), attrsIn,
        h('p', { class: 'hint' }, 'As your application sends them: numbers as numbers, true/false, lists in [ ].'))),
    h('div', { class: 'form-actions' }, btn),
    out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    // spaces around an id are a slip of the paste, as in the forced users' ids (trimmed there):
    // checked untrimmed, " qa 1 " is not the forced "qa 1", while the headline would show it so
    const id = userIn.value.trim();
    if (id !== userIn.value) userIn.value = id;
    // a problem in what was typed: beside its field, marked and described by it, focused
    clearFieldErrors(form);
    if (id === '') {
      clear(out);
      showFieldError(form, 'user_id', 'Enter a user id.');
      userIn.focus();
      return;
    }
    let attributes;
    try {
      attributes = parseAttributes(attrsIn.value);
    } catch (err) {
      clear(out);
      showFieldError(form, 'attributes', err.message);
      attrsIn.focus();
      return;
    }
    btn.disabled = true;
    try {
      const r = await api.explainAssignment(x.key, id, attributes);
      if (!ctx.alive()) return;
      const a = r.assignments && r.assignments[x.key];
      fill(out, a ? answerBlock(x, id, a) : errorBox({ message: `The server did not assign ${x.key}.` }));
    } catch (err) {
      if (err.status === 401 || !ctx.alive()) return;
      fill(out, errorBox(err, 'Cannot check this user:'));
    } finally {
      btn.disabled = false;
    }
  });
  wrap.append(form);
  return wrap;
}

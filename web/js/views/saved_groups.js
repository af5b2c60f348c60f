// saved_groups.js - saved groups (API.md "Saved groups"): named lists of attribute values
// that targeting uses through {"attr": {"$inGroup": "key"}} and $notInGroup. List,
// create, view (read-only for viewers), edit and delete. Leaving the form with changes not
// saved asks first (leave.js); after a 412 (someone else saved the group meanwhile) or a
// sign-in mid-edit the form shows the latest version with the person's changes put back on
// top (merge.js).
//
// Values are edited as text, one value per line, in a single <textarea> (a group holds up
// to 100,000 values: no element per value). How a line is stored follows the API, which
// keeps each value as the JSON string or number it was sent as, and whose $inGroup
// compares with strict equality (GrowthBook's): the string "123" matches an attribute
// sent as "123", the number 123 matches 123 (or 123.0), and neither matches the other.

import { api } from '../api.js';
import { h, fill, errorBox, field, announce, clearFieldErrors, confirmDialog, showFieldError, nextId, debounce } from '../dom.js';
import { fmtDateTime, fmtInt } from '../format.js';
import { keyProblem, humanize } from '../validate.js';
import { guardLeaving, takeDraft, whileSaving, leaveAfterSave } from '../leave.js';
import { changedFields, mergeNote, takeMine, draftOnTop, reloadAfterStale } from '../merge.js';

/** At most this many values in one group (SAVED_GROUP_MAX_VALUES). */
export const MAX_VALUES = 100000;
/** Bytes of one string value (UTF-8). */
export const MAX_VALUE_BYTES = 256;
/** The daemon's default cap of a saved group's body (--ingest-body-max), for a warning only. */
const DEFAULT_BODY_MAX = 8 * 1048576; // --ingest-body-max: a group's body may take that much

const MODES = [
  ['text', 'Text', 'each line is stored as a string: 123 is stored as "123" and matches an attribute sent as the string "123", not the number 123'],
  ['number', 'Numbers', 'each line must be a number and is stored as one: 123 matches an attribute sent as the number 123 (or 123.0), not the string "123"'],
  ['json', 'Mixed (JSON per line)', 'each line is a JSON value: 123 is a number, "123" (quoted) is a string'],
];

const utf8 = new TextEncoder();
const NUMBER_RE = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
// the server's validate_text(): C0 controls, DEL and C1 controls are refused
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE_RE = /\p{Cs}/u;

/** Why string `s` cannot be a value, or null. */
function stringProblem(s) {
  if (CONTROL_RE.test(s)) return 'contains a control character (a tab?)';
  if (LONE_SURROGATE_RE.test(s)) return 'is not valid Unicode text';
  if (s.length <= MAX_VALUE_BYTES / 3) return null; // at most 3 UTF-8 bytes per UTF-16 unit
  const n = utf8.encode(s).length;
  if (n > MAX_VALUE_BYTES) return `is ${fmtInt(n)} bytes long; a value is at most ${MAX_VALUE_BYTES} bytes (UTF-8)`;
  return null;
}

/** Why number text `t` cannot be a value, or null; its number in `out.v`. */
function numberProblem(t, out) {
  if (!NUMBER_RE.test(t)) return 'is not a number (digits, an optional “-”, “.” and exponent; no thousands separators)';
  const v = Number(t);
  if (!Number.isFinite(v)) return 'is too large for a number';
  if (!/[.eE]/.test(t) && !Number.isSafeInteger(v)) return 'is a whole number too large to be stored exactly (above 9,007,199,254,740,991): store such ids as text';
  out.v = v;
  return null;
}

function short(t) {
  return t.length > 40 ? `${t.slice(0, 37)}…` : t;
}

/**
 * The values of `text` (one per line) under `mode` ('text', 'number', 'json'):
 * {values, lines (the line number of each value), problems ([{line, message}], at most
 * `maxProblems`), problemCount, duplicates}. Spaces around a line and empty lines are
 * ignored (in 'json' mode a quoted string keeps its spaces).
 */
export function parseValues(text, mode, maxProblems = 5) {
  const values = [];
  const lines = [];
  const problems = [];
  let problemCount = 0;
  const seen = new Set();
  let duplicates = 0;
  const bad = (line, message) => {
    problemCount += 1;
    if (problems.length < maxProblems) problems.push({ line, message });
  };
  const rows = text.split('\n');
  for (let i = 0; i < rows.length; i++) {
    const t = rows[i].trim();
    if (t === '') continue;
    const line = i + 1;
    let v;
    if (mode === 'number') {
      const out = {};
      const p = numberProblem(t, out);
      if (p) {
        bad(line, `line ${line}: “${short(t)}” ${p}`);
        continue;
      }
      v = out.v;
    } else if (mode === 'json') {
      if (NUMBER_RE.test(t)) {
        const out = {};
        const p = numberProblem(t, out);
        if (p) {
          bad(line, `line ${line}: ${short(t)} ${p}`);
          continue;
        }
        v = out.v;
      } else {
        try {
          v = JSON.parse(t);
        } catch {
          v = undefined;
        }
        if (typeof v !== 'string') {
          bad(line, `line ${line}: ${short(t)} is neither a number nor a "quoted" string`);
          continue;
        }
        const p = stringProblem(v);
        if (p) {
          bad(line, `line ${line}: ${short(t)} ${p}`);
          continue;
        }
      }
    } else {
      const p = stringProblem(t);
      if (p) {
        bad(line, `line ${line}: “${short(t)}” ${p}`);
        continue;
      }
      v = t;
    }
    const id = typeof v === 'number' ? `n${v}` : `s${v}`;
    if (seen.has(id)) duplicates += 1;
    else seen.add(id);
    values.push(v);
    lines.push(line);
  }
  if (values.length > MAX_VALUES) {
    bad(0, `A saved group holds at most ${fmtInt(MAX_VALUES)} values; this list has ${fmtInt(values.length)}.`);
  }
  return { values, lines, problems, problemCount, duplicates };
}

/** The mode in which stored `values` read back exactly, and their text in it. */
export function valuesText(values) {
  const strings = values.every((v) => typeof v === 'string');
  const numbers = values.length > 0 && values.every((v) => typeof v === 'number');
  // a string with spaces around it, or empty, would not survive a line's trimming
  const plain = strings && values.every((v) => v !== '' && v.trim() === v);
  if (plain) return { mode: 'text', text: values.join('\n') };
  if (numbers) return { mode: 'number', text: values.map((v) => JSON.stringify(v)).join('\n') };
  return { mode: 'json', text: values.map((v) => JSON.stringify(v)).join('\n') };
}

/** Rewrite `text` from one mode to another when it parses cleanly, else null. */
function convertText(text, from, to) {
  if (from === to) return text;
  if (from !== 'json' && to !== 'json') return text; // the same lines, read another way
  const p = parseValues(text, from, 1);
  if (p.problemCount) return null;
  if (to === 'json') return p.values.map((v) => JSON.stringify(v)).join('\n');
  const back = valuesText(p.values);
  if (back.mode !== 'json' && (back.mode === to || p.values.length === 0)) return back.text;
  if (to === 'text' && p.values.every((v) => typeof v !== 'string' || (v !== '' && v.trim() === v))) {
    return p.values.map(String).join('\n');
  }
  return null;
}

/** Does `cond` name saved group `key` through $inGroup / $notInGroup? */
export function usesGroup(cond, key, depth = 0) {
  if (!cond || typeof cond !== 'object' || depth > 64) return false;
  if (Array.isArray(cond)) return cond.some((c) => usesGroup(c, key, depth + 1));
  for (const [k, v] of Object.entries(cond)) {
    if ((k === '$inGroup' || k === '$notInGroup') && v === key) return true;
    if (usesGroup(v, key, depth + 1)) return true;
  }
  return false;
}

function countText(n) {
  return n === 1 ? '1 value' : `${fmtInt(n)} values`;
}

export async function renderSavedGroups(ctx) {
  ctx.title('Saved groups');
  const groups = await api.listSavedGroups();
  if (!ctx.alive()) return;
  const canEdit = ctx.can('editor');
  const table = h('table', { class: 'table table-cards', id: 'groups-table' },
    h('caption', { class: 'visually-hidden' }, 'Saved groups'),
    h('thead', {}, h('tr', {}, ['Group', 'Attribute', 'Values', 'Updated'].map((t, i) => h('th', { scope: 'col', class: i === 2 ? 'num' : null }, t)))),
    h('tbody', {}, groups.map((g) => h('tr', { dataset: { key: g.key } },
      h('th', { scope: 'row', 'data-label': 'Group' }, h('a', { href: `#/saved-groups/${encodeURIComponent(g.key)}` }, g.name || g.key), h('div', { class: 'muted small' }, h('code', {}, g.key))),
      h('td', { 'data-label': 'Attribute' }, h('code', {}, g.attribute)),
      h('td', { 'data-label': 'Values', class: 'num' }, fmtInt(g.values_count ?? (g.values || []).length)),
      h('td', { 'data-label': 'Updated' }, fmtDateTime(g.updated_at))))));
  fill(ctx.main,
    h('div', { class: 'page-head' }, h('h1', {}, 'Saved groups'),
      canEdit ? h('a', { class: 'btn btn-primary', href: '#/saved-groups/new' }, 'New saved group') : null),
    h('p', { class: 'muted' }, 'Named lists of values (user ids, accounts, countries…) that targeting uses with the operators “is in saved group” and “is not in saved group” ($inGroup / $notInGroup). A list of up to 100,000 values is kept once, here, instead of in every experiment.'),
    groups.length ? h('div', { class: 'table-wrap' }, table) : h('p', { class: 'empty' }, 'No saved groups yet.'));
}

// The values both sides changed merge as additions and removals (merge.js): mine and theirs both kept.
const MERGE_SHAPES = { values: 'set' };

// what the merge notice calls each field of the body
const FIELD_LABEL = { name: 'Name', attribute: 'Attribute', description: 'Description', values: 'Values' };

export async function renderSavedGroupForm(ctx, key) {
  const editing = !!key;
  let g = { key: ctx.query.key || '', name: '', attribute: ctx.query.attribute || 'id', description: '', values: [] };
  if (editing) {
    try {
      g = await api.getSavedGroup(key);
    } catch (err) {
      if (!ctx.alive() || err.status === 401) return;
      ctx.title(key);
      fill(ctx.main, h('p', { class: 'breadcrumb' }, h('a', { href: '#/saved-groups' }, 'Saved groups')),
        h('h1', {}, err.status === 404 ? 'Saved group not found' : key), errorBox(err),
        err.status === 404 && ctx.can('editor') ? h('p', {}, h('a', { href: `#/saved-groups/new?key=${encodeURIComponent(key)}` }, `Create the saved group “${key}”`)) : null);
      return;
    }
  }
  // the experiments that name it (for "used by" and the delete dialog); a failure only hides them
  const experiments = editing ? await api.listExperiments().catch(() => null) : null;
  if (!ctx.alive()) return;
  const env = { editing, readOnly: !ctx.can('editor'), experiments };
  ctx.title(editing ? g.name || g.key : 'New saved group');
  // changes typed before a sign-in (leave.js): back on top of the version just loaded
  const draft = env.readOnly ? null : takeDraft();
  if (draft) {
    const { doc, note } = draftOnTop(draft, g, groupForm(env, g).payload(), undefined, MERGE_SHAPES);
    showGroupForm(ctx, env, doc, g, note);
  } else showGroupForm(ctx, env, g, g, null);
}

/**
 * Render the saved-group form into the page: `doc` is what it shows, `stored` the group as
 * the server has it (an edit sends the fields that differ from it), `note` the notice after a
 * 412 or a sign-in (merge.js) or null. Leaving it with changes not saved asks first (leave.js).
 */
function showGroupForm(ctx, env, doc, stored, note) {
  const { editing, readOnly, experiments } = env;
  const f = groupForm(env, doc);
  // the version loaded (for a new group: the blank form), read as the shown form reads its own
  const baseline = (doc === stored ? f : groupForm(env, stored)).payload();
  const changed = (p) => changedFields(baseline, p);
  const release = readOnly ? () => {} : guardLeaving(f.form, () => Object.keys(changed(f.payload())).length > 0, () => ({ was: baseline, mine: changed(f.payload()) }));
  const noteEl = note
    ? mergeNote(note, { what: 'saved group', labels: FIELD_LABEL, useMine: (field) => showGroupForm(ctx, env, { ...stored, ...changed(f.payload()), [field]: note.mine[field] }, stored, takeMine(note, field)) })
    : null;

  f.form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (readOnly || f.saveBtn.disabled) return;
    clearFieldErrors(f.form);
    const body = editing ? changed(f.payload()) : f.payload();
    const errs = f.problems(body);
    if (errs.length) {
      for (const p of errs) showFieldError(f.form, p.field, p.message);
      fill(f.summary, h('div', { class: 'alert alert-error', role: 'alert' }, h('strong', {}, errs.length === 1 ? 'One field needs attention' : `${errs.length} fields need attention`)));
      const first = f.form.querySelector('[aria-invalid="true"]');
      if (first) first.focus();
      return;
    }
    if (editing && Object.keys(body).length === 0) {
      announce('Nothing changed', 'info');
      return;
    }
    f.saveBtn.disabled = true;
    try {
      const saved = await whileSaving(editing ? api.updateSavedGroup(stored.key, body) : api.createSavedGroup(body));
      release();
      announce(`Saved group ${saved.key} ${editing ? 'saved' : 'created'} (${countText(saved.values.length)})`, 'ok');
      if (ctx.alive()) ctx.navigate(leaveAfterSave('#/saved-groups'));
    } catch (err) {
      if (err.status === 401) return;
      if (err.status === 412 && editing) {
        await reloadAfterStale({
          ctx,
          what: 'saved group',
          load: () => api.getSavedGroup(stored.key),
          payloadOf: (fresh) => groupForm(env, fresh).payload(),
          was: baseline,
          mine: body,
          shapes: MERGE_SHAPES,
          summary: f.summary,
          show: (d, fresh, next) => showGroupForm(ctx, env, d, fresh, next),
        });
      } else f.showServerError(err);
    } finally {
      f.saveBtn.disabled = false;
    }
  });

  const users = experiments ? experiments.filter((x) => usesGroup(x.targeting, stored.key)) : [];
  const live = users.filter((x) => x.status === 'running' || x.status === 'paused');
  if (f.delBtn) {
    f.delBtn.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: `Delete saved group “${stored.key}”?`,
        body: [
          live.length
            ? h('p', {}, `It is used by the ${live.map((x) => `${x.status} experiment “${x.key}”`).join(', ')}: the server refuses while an experiment that uses it runs or is paused. Stop ${live.length > 1 ? 'them' : 'it'} first.`)
            : h('p', {}, 'Experiments that name it in their targeting can no longer start (a running or paused one keeps it: the server refuses to delete it then).'),
        ],
        confirmLabel: 'Delete saved group',
        danger: true,
        onConfirm: () => api.deleteSavedGroup(stored.key),
      });
      if (ok) {
        release();
        announce(`Saved group ${stored.key} deleted`, 'ok');
        ctx.navigate('#/saved-groups');
      } else f.delBtn.focus();
    });
  }
  const usedBy = editing && experiments
    ? h('div', { class: 'card used-by' }, h('h2', {}, 'Used by'),
      users.length
        ? h('ul', {}, users.map((x) => h('li', {}, h('a', { href: `#/experiments/${encodeURIComponent(x.key)}` }, x.name || x.key), ' ', h('span', { class: ['badge', `badge-${x.status}`] }, x.status))))
        : h('p', { class: 'muted' }, 'No experiment’s targeting names this group.'))
    : null;

  fill(ctx.main,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/saved-groups' }, 'Saved groups'), editing ? ` / ${stored.key}` : null),
    h('h1', {}, editing ? `${readOnly ? '' : 'Edit '}${stored.name || stored.key}` : 'New saved group'),
    editing ? h('p', { class: 'muted small' }, `${countText((stored.values || []).length)} · created ${fmtDateTime(stored.created_at)} · updated ${fmtDateTime(stored.updated_at)}`) : null,
    noteEl,
    f.form,
    f.usage,
    usedBy);
}

/**
 * The saved-group form's controls for `g` (what it shows). Returns {form, summary, saveBtn, delBtn, usage, payload, problems,
 * showServerError}: `payload()` reads the controls into the API body (an edit sends the
 * fields of it that changed), `problems(body)` checks one in the page.
 */
function groupForm(env, g) {
  const { editing, readOnly } = env;
  const ro = (el) => {
    if (readOnly) el.readOnly = true;
    return el;
  };
  const keyIn = ro(h('input', { type: 'text', value: g.key, required: true, readonly: editing, autocomplete: 'off', spellcheck: 'false' }));
  const nameIn = ro(h('input', { type: 'text', value: editing && g.name === g.key ? '' : g.name, autocomplete: 'off', placeholder: editing ? g.key : 'the key' }));
  const attrIn = ro(h('input', { type: 'text', value: g.attribute, required: true, autocomplete: 'off', spellcheck: 'false' }));
  const descIn = ro(h('textarea', { rows: 2 }));
  descIn.value = g.description || '';

  const initial = valuesText(g.values || []);
  let mode = initial.mode;
  const modeName = nextId('vmode');
  const modeRadios = MODES.map(([v, label, hint]) => {
    const id = `${modeName}-${v}`;
    const input = h('input', { type: 'radio', name: modeName, id, value: v, checked: v === mode, disabled: readOnly });
    return { v, input, el: h('div', { class: 'check', hidden: v === 'json' && mode !== 'json' }, input, h('label', { for: id }, h('strong', {}, label), ` — ${hint}`)) };
  });
  const modeBox = h('fieldset', { class: 'checks', dataset: { field: 'values-mode' } }, h('legend', {}, 'Values are'), modeRadios.map((r) => r.el));

  const valuesIn = ro(h('textarea', { class: 'code values', rows: 14, wrap: 'off', spellcheck: 'false', autocomplete: 'off', dataset: { field: 'values' } }));
  valuesIn.value = initial.text;
  const countEl = h('p', { class: 'values-count', id: nextId('vcount'), 'aria-live': 'polite' });
  const splitBtn = readOnly ? null : h('button', { type: 'button', class: 'btn btn-small' }, 'Split commas into lines');
  const valuesField = field(`Values (one per line)`, valuesIn, {
    hint: readOnly
      ? 'One value per line.'
      : `One value per line; spaces around a value and empty lines are ignored. Pasting a comma-separated list? Paste it, then “Split commas into lines”. At most ${fmtInt(MAX_VALUES)} values, each text value at most ${MAX_VALUE_BYTES} bytes.`,
  });
  valuesField.wrap.append(countEl, splitBtn ? h('div', { class: 'row-actions' }, splitBtn) : null);
  valuesIn.setAttribute('aria-describedby', `${valuesIn.getAttribute('aria-describedby') || ''} ${countEl.id}`.trim());

  const snippet = h('code', {});
  const usage = h('div', { class: 'card usage' },
    h('h2', {}, 'Use it in targeting'),
    h('p', {}, 'In an experiment’s targeting, add a rule on the attribute with the operator “is in saved group” (or “is not in saved group”) and this group’s key, or as JSON:'),
    h('pre', { class: 'code' }, snippet),
    h('p', { class: 'hint' }, 'The condition names the attribute it compares; the group’s own attribute says which attribute its values are, for people reading it. An experiment whose targeting names a group that does not exist cannot start.'));
  const showSnippet = () => {
    const k = editing ? g.key : keyIn.value.trim() || 'group-key';
    snippet.textContent = JSON.stringify({ [attrIn.value.trim() || 'id']: { $inGroup: k } });
  };
  keyIn.addEventListener('input', showSnippet);
  attrIn.addEventListener('input', showSnippet);
  showSnippet();

  let last = null;
  let parsed = null; // [text, mode] that `last` was parsed from
  const check = () => {
    last = parseValues(valuesIn.value, mode);
    parsed = [valuesIn.value, mode];
    const parts = [countText(last.values.length)];
    if (last.duplicates) parts.push(`${fmtInt(last.duplicates)} repeated (kept; a repeat changes nothing)`);
    if (last.problemCount) parts.push(last.problemCount === 1 ? '1 problem' : `${fmtInt(last.problemCount)} problems`);
    if (!readOnly) {
      const bytes = JSON.stringify(last.values).length; // characters: a lower bound of the bytes
      if (bytes > DEFAULT_BODY_MAX * 0.95) parts.push(`about ${(bytes / 1048576).toFixed(1)} MiB to send: above the server’s default limit of 8 MiB for a group (--ingest-body-max) it refuses with 413`);
    }
    countEl.textContent = parts.join(' · ');
    countEl.classList.toggle('bad', last.problemCount > 0);
    return last;
  };
  const recheck = debounce(check, 150);
  valuesIn.addEventListener('input', recheck);
  for (const r of modeRadios) {
    r.input.addEventListener('change', () => {
      if (!r.input.checked) return;
      const conv = convertText(valuesIn.value, mode, r.v);
      if (conv !== null && conv !== valuesIn.value) valuesIn.value = conv;
      mode = r.v;
      check();
    });
  }
  if (splitBtn) {
    splitBtn.addEventListener('click', () => {
      const parts = valuesIn.value.split(/[,\n]/).map((t) => t.trim()).filter((t) => t !== '');
      valuesIn.value = parts.join('\n');
      check();
      valuesIn.focus();
    });
  }

  const summary = h('div', { class: 'form-errors', tabindex: '-1' });
  const saveBtn = h('button', { type: 'submit', class: 'btn btn-primary' }, editing ? 'Save saved group' : 'Create saved group');
  const delBtn = editing && !readOnly ? h('button', { type: 'button', class: 'btn btn-danger' }, 'Delete') : null;
  const form = h('form', { class: 'group-form card', novalidate: true },
    summary,
    h('div', { class: 'grid-2' },
      field('Key', keyIn, { field: 'key', hint: editing ? 'The key cannot change; targeting refers to it.' : 'Lower-case letters, digits, “_”, “.”, “-”. Targeting refers to it.' }).wrap,
      field('Name', nameIn, { field: 'name', hint: 'Empty: the key.' }).wrap,
      field('Attribute', attrIn, { field: 'attribute', hint: 'Which attribute the values are, e.g. id, account_id, country.' }).wrap),
    field('Description', descIn, { field: 'description' }).wrap,
    modeBox,
    valuesField.wrap,
    readOnly ? h('p', { class: 'muted' }, 'Read-only: your role cannot change saved groups.') : h('div', { class: 'form-actions' }, saveBtn, h('a', { class: 'btn', href: '#/saved-groups' }, 'Cancel'), delBtn));

  /** Client-side problems of the form, [{field, message}]. */
  const problems = (body) => {
    const out = [];
    if (!editing) {
      const k = keyProblem(body.key);
      if (k) out.push({ field: 'key', message: k });
    }
    if (body.name != null && utf8.encode(body.name).length > 200) out.push({ field: 'name', message: 'The name is too long: at most 200 bytes.' });
    if (body.attribute !== undefined) {
      if (!body.attribute) out.push({ field: 'attribute', message: 'Enter the attribute whose values these are, e.g. id.' });
      else if (utf8.encode(body.attribute).length > 128) out.push({ field: 'attribute', message: 'The attribute is too long: at most 128 bytes.' });
      else if (CONTROL_RE.test(body.attribute)) out.push({ field: 'attribute', message: 'The attribute contains a control character.' });
    }
    if (body.description != null && utf8.encode(body.description).length > 10000) out.push({ field: 'description', message: 'The description is too long: at most 10,000 bytes.' });
    if (last.problemCount) {
      const more = last.problemCount - last.problems.length;
      out.push({ field: 'values', message: `${last.problems.map((p) => p.message).join('; ')}${more > 0 ? `; and ${fmtInt(more)} more` : ''}.` });
    }
    return out;
  };

  /** The server's error next to its field; a values[i] field names the line. */
  const showServerError = (err) => {
    let name = err.field || '';
    let msg = humanize(err.message);
    const m = name.match(/^values\[(\d+)\]$/);
    if (m && last && last.lines[Number(m[1])] !== undefined) msg = `Line ${last.lines[Number(m[1])]}: ${msg}`;
    // a body over the server's cap names no field: it is the values
    if (!name && err.status === 413) name = 'values';
    const at = name ? showFieldError(form, name, msg) : null;
    if (!at) {
      summary.append(errorBox({ ...err, message: msg, status: err.status }, 'Not saved:'));
      summary.focus();
    } else at.focus();
  };

  const payload = () => {
    // the values as typed now (parsed again only when they changed: 100,000 lines take a while)
    if (!parsed || parsed[0] !== valuesIn.value || parsed[1] !== mode) check();
    const desc = descIn.value.trim();
    const name = nameIn.value.trim();
    const attribute = attrIn.value.trim();
    if (editing) return { name: name || null, attribute, description: desc, values: last.values };
    const body = { key: keyIn.value.trim(), attribute, description: desc, values: last.values };
    if (name) body.name = name;
    return body;
  };

  check();
  return { form, summary, saveBtn, delBtn, usage, payload, problems, showServerError };
}

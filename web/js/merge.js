// merge.js - a person's changes kept when the document they edit changed under them: someone
// else saved it first (the API's 412 on If-Match, api.js), or the key stopped working
// mid-edit and the form comes back after signing in again (leave.js holds the changes).
// It owns the three-way merge of a form's fields (`mergeEdits`, pure; a field both sides
// changed merges one level deeper when the form's adapter gives its shape), the notice that says
// what was put back and what collided (`mergeNote`), and the flow after a 412 that loads the
// latest version and shows the form again with the changes on top (`reloadAfterStale`).
// The experiment, metric and saved-group forms share it. Each form reads a document into
// its payload (the API body its controls make) and says which of its changes the latest
// version refuses (an experiment's status: experiment_rules.js `refusedChange`).

import { h, errorBox } from './dom.js';

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The fields of payload `p` that differ from `baseline` (the payload of the version the form
 * loaded); a field left out (undefined) is no change. With no baseline: all of `p`.
 */
export function changedFields(baseline, p) {
  if (!baseline) return p;
  return Object.fromEntries(Object.entries(p).filter(([k, v]) => v !== undefined && !same(v, baseline[k])));
}

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const byKeyList = (v) => Array.isArray(v) && v.every((x) => isObj(x) && typeof x.key === 'string');

/**
 * The key-by-key merge of objects `was` -> `mine` on top of `now` (`now`'s own changes kept):
 * {value, conflicts: [{sub, mine, theirs}]}; a key both changed, differently, keeps `now`'s.
 */
function mergeKeys(was, now, mine) {
  const value = { ...now };
  const conflicts = [];
  for (const k of new Set([...Object.keys(was), ...Object.keys(mine)])) {
    const mv = mine[k];
    if (same(mv, was[k]) || same(mv, now[k])) continue; // not my change, or theirs too
    if (!same(was[k], now[k])) conflicts.push({ sub: k, mine: mv, theirs: now[k] });
    else if (mv === undefined) delete value[k];
    else value[k] = mv;
  }
  return { value, conflicts };
}

/**
 * One level below a field both sides changed, as its `shape` says (a form's adapter):
 * 'keys' an object key by key (analysis, forced users: user by user), 'byKey' a list of
 * objects with a `key` (variants: by variant key, each field of it), 'set' a list as
 * additions and removals (saved-group values; never a conflict). Returns {value, conflicts}
 * (each conflict {sub, label, mine, theirs}) or null when the values are not of that shape.
 */
function mergeBelow(shape, was, now, mine) {
  if (shape === 'keys' && isObj(was) && isObj(now) && isObj(mine)) {
    const m = mergeKeys(was, now, mine);
    return { value: m.value, conflicts: m.conflicts.map((c) => ({ ...c, label: c.sub })) };
  }
  if (shape === 'set' && Array.isArray(was) && Array.isArray(now) && Array.isArray(mine)) {
    const has = (list) => new Set(list.map((x) => JSON.stringify(x)));
    const [w, m] = [has(was), has(mine)];
    const value = now.filter((x) => !w.has(JSON.stringify(x)) || m.has(JSON.stringify(x)));
    const got = has(value);
    for (const x of mine) if (!w.has(JSON.stringify(x)) && !got.has(JSON.stringify(x))) value.push(x);
    return { value, conflicts: [] };
  }
  if (shape === 'byKey' && byKeyList(was) && byKeyList(now) && byKeyList(mine)) {
    const at = (list, k) => list.find((x) => x.key === k);
    const value = [];
    const conflicts = [];
    for (const n of now) {
      const [w, m] = [at(was, n.key), at(mine, n.key)];
      if (!w) value.push(n); // theirs, new
      else if (!m) {
        if (!same(w, n)) conflicts.push({ sub: n.key, label: n.key, mine: undefined, theirs: n }); // I removed it, they changed it
        value.push(n);
      } else {
        const k = mergeKeys(w, n, m);
        value.push(k.value);
        for (const c of k.conflicts) conflicts.push({ sub: `${n.key}.${c.sub}`, label: `${n.key} ${c.sub}`, mine: c.mine, theirs: c.theirs });
      }
    }
    for (const m of mine) {
      if (at(now, m.key)) continue;
      const w = at(was, m.key);
      if (!w) value.push(m); // mine, new
      else if (!same(w, m)) conflicts.push({ sub: m.key, label: m.key, mine: m, theirs: undefined }); // they removed what I changed
    }
    return { value, conflicts };
  }
  return null;
}

/** `base` (a field's value) with the person's side of conflict `at` put back. */
function putMine(at, base) {
  if (at.whole) return at.mine;
  if (Array.isArray(base)) {
    const [vk, prop] = at.sub.split(/\.(.*)/s);
    const i = base.findIndex((x) => x.key === vk);
    if (prop === undefined) {
      if (at.mine === undefined) return base.filter((x) => x.key !== vk);
      return i < 0 ? [...base, at.mine] : base.map((x, j) => (j === i ? at.mine : x));
    }
    if (i < 0) return base;
    const v = { ...base[i] };
    if (at.mine === undefined) delete v[prop];
    else v[prop] = at.mine;
    return base.map((x, j) => (j === i ? v : x));
  }
  const v = { ...(isObj(base) ? base : {}) };
  if (at.mine === undefined) delete v[at.sub];
  else v[at.sub] = at.mine;
  return v;
}

/**
 * Which of a person's changes can go on top of the latest version? `was` is the form's
 * payload of the version it loaded, `now` of the latest, `mine` the fields the person
 * changed; `refuse(field, value, now)` says why the latest version refuses a change (or
 * null); `shapes` (a form's adapter) says which fields merge one level deeper when both
 * sides changed them (mergeBelow: 'keys', 'byKey', 'set'), and which are whole but replace
 * the other person's value ('replace': targeting rules, shown with theirs). Returns {apply,
 * conflicts, frozen, at, now}: `apply` the fields to put back (the other side left them, or
 * the parts they left, as they were); `conflicts` the fields, or parts ("analysis.alpha",
 * "variants.b.name", "forced.qa-1"), both changed, differently (the latest is kept, the
 * person's shown), `at` says which field each part is of; `frozen` the refused ones
 * ([{field, why}]). A change the other side made too is in none of them.
 */
export function mergeEdits(was, now, mine, refuse = () => null, shapes = {}) {
  const apply = {};
  const conflicts = [];
  const frozen = [];
  const at = {};
  for (const [f, v] of Object.entries(mine)) {
    if (same(v, now[f])) continue;
    const theirs = !same(was[f], now[f]);
    const below = theirs ? mergeBelow(shapes[f], was[f], now[f], v) : null;
    const value = below ? below.value : v;
    if (below && same(value, now[f]) && below.conflicts.length === 0) continue;
    const why = refuse(f, value, now);
    if (why) frozen.push({ field: f, why });
    else if (below) {
      if (!same(value, now[f])) apply[f] = value;
      for (const c of below.conflicts) {
        const id = `${f}.${c.sub}`;
        conflicts.push(id);
        at[id] = { field: f, ...c };
      }
    } else if (theirs) {
      conflicts.push(f);
      if (shapes[f] === 'replace') at[f] = { field: f, whole: true, replace: true, mine: v, theirs: now[f] };
    } else apply[f] = v;
  }
  return { apply, conflicts, frozen, at, now };
}

/** The field a conflict (a field, or a part of one: mergeEdits) is of. */
export function fieldOf(note, id) {
  return note.at && note.at[id] ? note.at[id].field : id;
}

/**
 * The notice `note` after "Use mine" on conflict `id`: the person's value put back (for a
 * part, into `current`, the field's value in the form now, else the merged or latest one),
 * no longer a conflict. The field's new value is `apply[fieldOf(note, id)]`.
 */
export function takeMine(note, id, current) {
  const conflicts = note.conflicts.filter((c) => c !== id);
  const at = note.at && note.at[id];
  if (!at) return { ...note, apply: { ...note.apply, [id]: note.mine[id] }, conflicts };
  const f = at.field;
  const base = current !== undefined ? current : f in note.apply ? note.apply[f] : (note.now || {})[f];
  return { ...note, apply: { ...note.apply, [f]: putMine(at, base) }, conflicts };
}

/**
 * A form's changes (`draft`: {was, mine}, leave.js) on top of `fresh`, the version loaded
 * after signing in again, whose payload is `now`. Returns {doc, note}: the document the form
 * shows, and its notice.
 */
export function draftOnTop(draft, fresh, now, refuse, shapes) {
  const merged = mergeEdits(draft.was || {}, now, draft.mine, refuse, shapes);
  return { doc: { ...fresh, ...merged.apply }, note: { kind: 'signin', mine: draft.mine, ...merged } };
}

/** A value as the notice shows it: text in quotes, the rest as JSON, cut when long. */
function shownValue(v) {
  const t = typeof v === 'string' ? `“${v}”` : v === undefined || v === null ? '(none)' : JSON.stringify(v);
  return t.length > 300 ? `${t.slice(0, 300)}…` : t;
}

/**
 * The notice above a form shown again with the person's changes: `note` is {kind, mine,
 * apply, conflicts, frozen} (kind 'stale' after a 412, 'signin' after signing in again).
 * `what` names the document ("experiment", "metric"), `labels` the fields; each conflict has
 * the person's value and a "Use mine" button that calls `useMine(field)`.
 */
export function mergeNote(note, { what, labels = {}, useMine }) {
  const label = (f) => labels[f] || f;
  const applied = Object.keys(note.apply).map(label).join(', ');
  const lead = note.kind === 'signin'
    ? h('p', {}, h('strong', {}, 'Your changes are back'), `: you signed in again before they were saved${applied ? ` (${applied})` : ''}. Nothing is saved yet: check the form and save.`)
    : h('p', {}, h('strong', {}, `Someone else changed this ${what} since you opened it`), ', so nothing was saved. The form now shows the latest version',
      applied ? [' with your changes put back: ', applied] : '', '. Check it and save again.');
  return h('div', { class: 'alert alert-warn merge-note', role: 'alert', tabindex: '-1' },
    lead,
    note.conflicts.length ? [
      h('p', {}, note.kind === 'signin' ? `Changed by someone else meanwhile; the form shows the latest ${what}:` : 'Changed by both of you; the form shows theirs:'),
      h('ul', {}, note.conflicts.map((c) => {
        const at = (note.at || {})[c];
        const name = at && !at.whole ? `${label(at.field)} (${at.label})` : label(c);
        const mine = at ? at.mine : note.mine[c];
        return h('li', {}, `${name}: yours was `, h('code', { class: 'merge-value' }, shownValue(mine)),
          at && at.replace ? [', theirs is ', h('code', { class: 'merge-value merge-theirs' }, shownValue(at.theirs)), `. Using yours replaces their ${name.toLowerCase()} rules with yours as a whole.`] : '', ' ',
          h('button', { type: 'button', class: 'btn btn-small', onclick: () => useMine(c) }, at && at.replace ? `Use mine (${name}), replacing theirs` : `Use mine (${name})`));
      })),
    ] : null,
    note.frozen.length ? [
      h('p', {}, 'Not put back:'),
      h('ul', {}, note.frozen.map((z) => h('li', {}, `${label(z.field)} (${z.why}): yours was `, h('code', { class: 'merge-value' }, shownValue(note.mine[z.field]))))),
    ] : null);
}

/**
 * After a 412 on saving `mine` (the changed fields of a form whose loaded version read as
 * `was`): load the latest version (`load()`), merge `mine` on top of it and show the form
 * again (`show(doc, stored, note)`), its notice focused. `payloadOf(doc)` reads a version
 * as the form would; `refuse(fresh)` gives the refusals of that version (mergeEdits);
 * `shapes` which fields merge one level deeper (mergeEdits); `gone(fresh)` says why it can no
 * longer be edited at all (or null). When the latest
 * version cannot be loaded, or is gone, the form stays as typed with the reason in
 * `summary`. `what` names the document ("metric").
 */
export async function reloadAfterStale({ ctx, what, load, payloadOf, was, mine, refuse, shapes, gone, summary, show }) {
  const keep = (message) => {
    summary.append(errorBox({ message }));
    summary.focus();
  };
  let fresh;
  try {
    fresh = await load();
  } catch (err) {
    if (err.status === 401 || !ctx.alive()) return;
    if (err.status === 404) keep(`Someone else deleted this ${what} since you opened it, so nothing was saved. Your changes are still in the form.`);
    else keep(`Someone else changed this ${what} since you opened it, and its latest version cannot be loaded (${err.message}). Nothing was saved; your changes are still in the form.`);
    return;
  }
  if (!ctx.alive()) return;
  const why = gone ? gone(fresh) : null;
  if (why) {
    keep(why);
    return;
  }
  let now;
  try {
    now = payloadOf(fresh);
  } catch {
    now = {};
  }
  const merged = mergeEdits(was || {}, now, mine, refuse ? refuse(fresh) : undefined, shapes);
  show({ ...fresh, ...merged.apply }, fresh, { kind: 'stale', mine, ...merged });
  const shown = ctx.main.querySelector('.merge-note');
  if (shown) shown.focus();
}

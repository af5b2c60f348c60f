// merge.js - a person's changes kept when the document they edit changed under them: someone
// else saved it first (the API's 412 on If-Match, api.js), or the key stopped working
// mid-edit and the form comes back after signing in again (leave.js holds the changes).
// It owns the three-way merge of a form's fields (`mergeEdits`, pure), the notice that says
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

/**
 * Which of a person's changes can go on top of the latest version? `was` is the form's
 * payload of the version it loaded, `now` of the latest, `mine` the fields the person
 * changed; `refuse(field, value, now)` says why the latest version refuses a change (or
 * null). Returns {apply, conflicts, frozen}: `apply` the fields to put back (the other side
 * left them as they were); `conflicts` the fields both changed, differently (the latest is
 * kept, the person's shown); `frozen` the refused ones ([{field, why}]). A change the other
 * side made too is in none of them: there is nothing left to do.
 */
export function mergeEdits(was, now, mine, refuse = () => null) {
  const apply = {};
  const conflicts = [];
  const frozen = [];
  for (const [f, v] of Object.entries(mine)) {
    if (same(v, now[f])) continue;
    const why = refuse(f, v, now);
    if (why) frozen.push({ field: f, why });
    else if (!same(was[f], now[f])) conflicts.push(f);
    else apply[f] = v;
  }
  return { apply, conflicts, frozen };
}

/** The notice `note` after "Use mine" on `field`: the person's value put back, no longer a conflict. */
export function takeMine(note, field) {
  return { ...note, apply: { ...note.apply, [field]: note.mine[field] }, conflicts: note.conflicts.filter((c) => c !== field) };
}

/**
 * A form's changes (`draft`: {was, mine}, leave.js) on top of `fresh`, the version loaded
 * after signing in again, whose payload is `now`. Returns {doc, note}: the document the form
 * shows, and its notice.
 */
export function draftOnTop(draft, fresh, now, refuse) {
  const merged = mergeEdits(draft.was || {}, now, draft.mine, refuse);
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
      h('ul', {}, note.conflicts.map((c) => h('li', {}, `${label(c)}: yours was `, h('code', { class: 'merge-value' }, shownValue(note.mine[c])), ' ',
        h('button', { type: 'button', class: 'btn btn-small', onclick: () => useMine(c) }, `Use mine (${label(c)})`)))),
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
 * `gone(fresh)` says why it can no longer be edited at all (or null). When the latest
 * version cannot be loaded, or is gone, the form stays as typed with the reason in
 * `summary`. `what` names the document ("metric").
 */
export async function reloadAfterStale({ ctx, what, load, payloadOf, was, mine, refuse, gone, summary, show }) {
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
  const merged = mergeEdits(was || {}, now, mine, refuse ? refuse(fresh) : undefined);
  show({ ...fresh, ...merged.apply }, fresh, { kind: 'stale', mine, ...merged });
  const shown = ctx.main.querySelector('.merge-note');
  if (shown) shown.focus();
}

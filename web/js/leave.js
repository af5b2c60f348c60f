// leave.js - the unsaved-changes guard. While a form with changes not saved is on the page,
// leaving it asks first: a link inside the app (a dialog, "Leave without saving"), Back,
// Forward or a typed address (the same dialog, the form's address put back meanwhile), and
// closing or reloading the tab (the browser's own question, `beforeunload`), signing out
// (app.js asks `mayDiscard()`). One guard at a time, as one page is shown at a time; it
// lapses by itself once its form is gone. While the form's save is on its way
// (`whileSaving()`), leaving does not offer "Leave without saving" (the save goes through
// anyway): the form goes to the address asked for once it is saved (`leaveAfterSave()`),
// or stays, saying so, when the save fails.
//
// A key that stops working mid-edit (a 401: revoked, expired) brings the sign-in form in
// the form's place. Before it does, app.js calls `holdForSignIn()`: the guarded form's
// changes (its `snapshot()`: {was, mine}, the payload it loaded and the fields changed) are
// kept in this page's memory, and the form at the same address takes them back
// (`takeDraft()`) when it renders after the sign-in, on top of the version it then loads
// (merge.js). Memory only, never storage: closing or reloading the tab meanwhile asks
// first, as for the form itself.
//
// The router (app.js) renders on `hashchange`. This module's listener is registered in the
// capture phase, which runs before the router's at the window (and is registered first:
// app.js imports the views that import this), so it can stop a navigation the person does
// not confirm before the page is replaced. Stopping it also keeps a dialog already open from
// seeing it, so asking closes that dialog first (as cancelled); one waiting on the server
// (data-busy) is waited for, and the leaving goes on once its answer is in.

import { h, confirmDialog, announce } from './dom.js';

let guard = null; // {el, dirty, snapshot, hash}: the form, "are there changes?", its changes, its address
let held = null; // {hash, draft}: a form's changes kept through a sign-in (holdForSignIn)
let asking = false;
let wanted = null; // the address asked for while the guarded form's save was on its way
let after = null; // the address asked for while a dialog waited on the server (leaveTo)

function armed() {
  if (guard && !guard.el.isConnected) guard = null; // the page changed (a save, a sign-out)
  if (!guard) return false;
  try {
    return guard.dirty();
  } catch {
    return true; // a form that cannot even be read holds something typed
  }
}

async function confirmLeave(how = 'leave') {
  asking = true;
  try {
    const signOut = how === 'sign out';
    return await confirmDialog({
      title: signOut ? 'Sign out without saving?' : 'Leave without saving?',
      body: h('p', {}, `Your changes on this page are not saved. If you ${how} now, they are lost.`),
      confirmLabel: signOut ? 'Sign out without saving' : 'Leave without saving',
      danger: true,
    });
  } finally {
    asking = false;
  }
}

/**
 * Close any dialog already open (a "Delete metric?" asked before Back was pressed), as
 * cancelled: its own hashchange listener, which would close it, never runs, as this guard
 * stops the event; two dialogs would stack and the first stay after the second.
 */
function closeDialogs() {
  for (const d of document.querySelectorAll('dialog[open]')) {
    if (d.dataset.busy) continue; // waiting on the server: it closes once the answer is in
    d.dispatchEvent(new Event('cancel', { cancelable: true })); // confirmDialog resolves false
    if (d.open) d.close();
  }
}

async function leaveTo(hash) {
  // the form is being saved: the save goes through whatever the page does, so "Leave
  // without saving" would be a lie; the form goes there once it is saved (leaveAfterSave)
  if (guard && guard.saving) {
    wanted = hash;
    announce('Saving your changes: you will leave once they are saved.', 'info');
    return;
  }
  // a dialog waiting on the server (a delete under way) stays; leaving waits for its answer
  // (a later Back or link press only changes where to), then goes on as below, unless the
  // answer already took the page elsewhere (a delete done)
  if (document.querySelector('dialog[open][data-busy]')) {
    const waiting = after !== null;
    after = hash;
    if (waiting) return;
    const g = guard;
    await busyEnded();
    hash = after;
    after = null;
    if (guard !== g || !g.el.isConnected) return;
    // the dialog stays open when its request failed: its message goes to a toast as it closes
    const said = document.querySelector('dialog[open] .dialog-error');
    if (said && said.textContent.trim()) announce(said.textContent.trim(), 'error');
  }
  closeDialogs();
  if (armed() && !(await confirmLeave())) return;
  guard = null;
  location.hash = hash;
}

/** Resolves once no open dialog waits on the server (data-busy). */
function busyEnded() {
  return new Promise((resolve) => {
    const obs = new MutationObserver(() => {
      if (document.querySelector('dialog[open][data-busy]')) return;
      obs.disconnect();
      resolve();
    });
    obs.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-busy', 'open'] });
  });
}

// a link to another page of the app: ask before the address changes
document.addEventListener(
  'click',
  (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target instanceof Element ? e.target.closest('a[href]') : null;
    if (!a || (a.target && a.target !== '_self') || a.hasAttribute('download')) return;
    const href = a.getAttribute('href');
    if (!href.startsWith('#') || href === location.hash || !armed()) return;
    e.preventDefault();
    if (!asking) leaveTo(href);
  },
  true
);

// Back, Forward, a typed address: the address already changed; put the form's back
// (a new history entry, so Back still leads where it led) and ask
window.addEventListener(
  'hashchange',
  (e) => {
    if (location.hash === (guard && guard.hash) || !armed()) return;
    e.stopImmediatePropagation();
    const to = location.hash;
    history.pushState(null, '', guard.hash);
    if (!asking) leaveTo(to);
  },
  true
);

window.addEventListener('beforeunload', (e) => {
  if (!armed() && !held) return;
  e.preventDefault();
  e.returnValue = ''; // older browsers ask only with a return value
});

/**
 * Guard the form `el` (shown at the current address): `dirty()` says whether it holds
 * changes not saved (it may throw: then it does); `snapshot()` returns them as a draft
 * ({was, mine}) to keep through a sign-in. Replaces any earlier guard. Returns a function
 * that lifts it (call it before the form itself navigates after a save).
 */
export function guardLeaving(el, dirty, snapshot) {
  const g = { el, dirty, snapshot, hash: location.hash };
  guard = g;
  return () => {
    if (guard === g) guard = null;
  };
}

/**
 * The guarded form's save is on its way (`promise`, the request): leaving meanwhile waits
 * for it instead of asking "Leave without saving?". Returns `promise`. When the save
 * fails the person stays on the form, told so if they had asked to leave.
 */
export function whileSaving(promise) {
  const g = guard;
  if (!g) return promise;
  g.saving = true;
  wanted = null;
  promise.then(
    () => {
      g.saving = false;
    },
    () => {
      g.saving = false;
      if (wanted) announce('Not saved, so you are still on this page: see the message below.', 'error');
      wanted = null;
    }
  );
  return promise;
}

/** Where a form goes after its save: the address asked for while it was saving, else `target`. */
export function leaveAfterSave(target) {
  const to = wanted;
  wanted = null;
  return to || target;
}

/**
 * Sign out? With a guarded form holding changes, ask first ("Sign out without saving?").
 * Resolves true to go ahead (the guard lifted, any held draft dropped), false to stay.
 */
export async function mayDiscard() {
  if (armed()) {
    if (asking || !(await confirmLeave('sign out'))) return false;
    guard = null;
  }
  held = null;
  return true;
}

/**
 * The key stopped working (a 401) and the sign-in form is about to replace the page: keep
 * the guarded form's changes for it to take back after the sign-in. Returns whether there
 * were changes to keep (a form without changes, or none, leaves nothing).
 */
export function holdForSignIn() {
  if (!armed() || !guard.snapshot) return false;
  try {
    held = { hash: guard.hash, draft: guard.snapshot() };
  } catch {
    return false;
  }
  guard = null;
  return true;
}

/** The changes kept through a sign-in for the form at the current address ({was, mine}), once; or null. */
export function takeDraft() {
  if (!held || held.hash !== location.hash) return null;
  const { draft } = held;
  held = null;
  return draft;
}

/** Drop changes kept through a sign-in that no form took back; returns whether there were any. */
export function dropDraft() {
  const had = !!held;
  held = null;
  return had;
}

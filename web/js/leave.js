// leave.js - the unsaved-changes guard. While a form with changes not saved is on the page,
// leaving it asks first: a link inside the app (a dialog, "Leave without saving"), Back,
// Forward or a typed address (the same dialog, the form's address put back meanwhile), and
// closing or reloading the tab (the browser's own question, `beforeunload`). One guard at
// a time, as one page is shown at a time; it lapses by itself once its form is gone.
//
// The router (app.js) renders on `hashchange`. This module's listener is registered in the
// capture phase, which runs before the router's at the window (and is registered first:
// app.js imports the views that import this), so it can stop a navigation the person does
// not confirm before the page is replaced.

import { h, confirmDialog } from './dom.js';

let guard = null; // {el, dirty, hash}: the form, "are there changes?", the form's address
let asking = false;

function armed() {
  if (guard && !guard.el.isConnected) guard = null; // the page changed (a save, a sign-out)
  if (!guard) return false;
  try {
    return guard.dirty();
  } catch {
    return true; // a form that cannot even be read holds something typed
  }
}

async function confirmLeave() {
  asking = true;
  try {
    return await confirmDialog({
      title: 'Leave without saving?',
      body: h('p', {}, 'Your changes on this page are not saved. If you leave now, they are lost.'),
      confirmLabel: 'Leave without saving',
      danger: true,
    });
  } finally {
    asking = false;
  }
}

async function leaveTo(hash) {
  if (!(await confirmLeave())) return;
  guard = null;
  location.hash = hash;
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
  if (!armed()) return;
  e.preventDefault();
  e.returnValue = ''; // older browsers ask only with a return value
});

/**
 * Guard the form `el` (shown at the current address): `dirty()` says whether it holds
 * changes not saved (it may throw: then it does). Replaces any earlier guard. Returns a
 * function that lifts it (call it before the form itself navigates after a save).
 */
export function guardLeaving(el, dirty) {
  const g = { el, dirty, hash: location.hash };
  guard = g;
  return () => {
    if (guard === g) guard = null;
  };
}

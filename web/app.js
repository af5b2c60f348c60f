// app.js - the dashboard shell: sign-in, role, navigation and a hash router.
// Routes are "#/path?query"; each view renders into <main> and gets a context with
// the signed-in identity, role checks and helpers. A 401 from any request brings the
// sign-in form back and returns to the same page afterwards; a form with changes not saved
// keeps them through it (leave.js), and Sign out asks before dropping them.

import { api, getKey, setKey, clearKey, setUnauthorizedHandler } from './js/api.js';
import { h, clear, fill, errorBox, loading, parseQuery, nextId, clearToasts, announce } from './js/dom.js';
import { renderExperimentList } from './js/views/experiments.js';
import { renderExperimentForm } from './js/views/experiment_form.js';
import { renderExperiment } from './js/views/experiment.js';
import { renderMetrics, renderMetricForm } from './js/views/metrics.js';
import { renderSavedGroups, renderSavedGroupForm } from './js/views/saved_groups.js';
import { renderPower } from './js/views/power.js';
import { renderAudit, renderKeys } from './js/views/admin.js';
import { mayDiscard, holdForSignIn, dropDraft } from './js/leave.js';

const ROLE_RANK = { viewer: 1, editor: 2, admin: 3 };
const main = document.getElementById('main');
const state = { me: null, seq: 0, signinReason: '', rendered: false };

// [pattern, nav section, view, least role]
const routes = [
  [/^\/experiments$/, 'experiments', (c) => renderExperimentList(c)],
  [/^\/experiments\/new$/, 'experiments', (c) => renderExperimentForm(c, null), 'editor'],
  [/^\/experiments\/([^/]+)\/edit$/, 'experiments', (c, k) => renderExperimentForm(c, k), 'editor'],
  [/^\/experiments\/([^/]+)$/, 'experiments', (c, k) => renderExperiment(c, k)],
  [/^\/metrics$/, 'metrics', (c) => renderMetrics(c)],
  [/^\/metrics\/new$/, 'metrics', (c) => renderMetricForm(c, null), 'editor'],
  [/^\/metrics\/([^/]+)$/, 'metrics', (c, k) => renderMetricForm(c, k)],
  [/^\/saved-groups$/, 'saved-groups', (c) => renderSavedGroups(c)],
  [/^\/saved-groups\/new$/, 'saved-groups', (c) => renderSavedGroupForm(c, null), 'editor'],
  [/^\/saved-groups\/([^/]+)$/, 'saved-groups', (c, k) => renderSavedGroupForm(c, k)],
  [/^\/power$/, 'power', (c) => renderPower(c)],
  [/^\/audit$/, 'audit', (c) => renderAudit(c), 'admin'],
  [/^\/keys$/, 'keys', (c) => renderKeys(c), 'admin'],
];

function can(role) {
  return !!state.me && (ROLE_RANK[state.me.role] || 0) >= (ROLE_RANK[role] || 99);
}

function splitHash() {
  const raw = location.hash.replace(/^#/, '') || '/experiments';
  const i = raw.indexOf('?');
  const path = (i < 0 ? raw : raw.slice(0, i)).replace(/\/+$/, '') || '/experiments';
  return { path, query: parseQuery(i < 0 ? '' : raw.slice(i + 1)) };
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function updateShell(section) {
  const signedIn = !!state.me;
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('who').hidden = !signedIn;
  document.body.dataset.role = signedIn ? state.me.role : '';
  if (!signedIn) return;
  document.getElementById('who-name').textContent = state.me.name;
  const role = document.getElementById('who-role');
  role.textContent = state.me.role;
  role.className = `role-badge role-${state.me.role}`;
  for (const li of document.querySelectorAll('[data-role-min]')) {
    // not merely hidden by CSS: removed from the accessibility tree and tab order
    li.hidden = !can(li.dataset.roleMin);
  }
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/**
 * The page shown after a sign-in is not the form whose changes were kept through it (its
 * address changed, the new key's role cannot edit it, it failed to load): say they are gone.
 */
function draftNotTaken() {
  if (dropDraft()) announce('The changes you had not saved before signing in again could not be brought back on this page: they are lost.', 'error');
}

function focusHeading() {
  const h1 = main.querySelector('h1');
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: false });
  }
}

function renderSignin() {
  state.seq += 1;
  updateShell(null);
  document.title = 'Sign in · Bunsen';
  const inputId = nextId('key');
  const hintId = inputId + '-hint';
  const input = h('input', {
    id: inputId,
    name: 'key',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': hintId,
  });
  const errSlot = h('div', { class: 'form-errors' });
  const btn = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card signin', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: inputId }, 'API key'), input,
      h('p', { class: 'hint', id: hintId },
        'Paste a key with the viewer, editor or admin role. It is kept only for this browser tab ' +
        '(session storage) and sent as a Bearer token.')),
    errSlot,
    btn
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(errSlot);
    const key = input.value.trim();
    if (!key) {
      errSlot.appendChild(errorBox({ message: 'Enter an API key.' }));
      input.focus();
      return;
    }
    btn.disabled = true;
    try {
      const me = await api.me(key);
      if (!ROLE_RANK[me.role]) {
        throw new Error(`This key has the "${me.role}" role, which cannot use the dashboard.`);
      }
      setKey(key);
      state.me = me;
      state.signinReason = '';
      // the sign-in form is gone with the focus in it: the page's heading takes it
      state.rendered = true;
      route();
    } catch (err) {
      const msg = err.status === 401 ? 'That key was not accepted: it is unknown or revoked.' : err.message;
      errSlot.appendChild(errorBox({ message: msg }));
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } finally {
      btn.disabled = false;
    }
  });
  fill(main,
    h('h1', {}, 'Sign in to Bunsen'),
    state.signinReason ? h('div', { class: 'alert alert-warn', role: 'alert' }, state.signinReason) : null,
    form
  );
  input.focus();
}

async function route() {
  const seq = ++state.seq;
  clearToasts();
  if (!getKey()) {
    state.me = null;
    renderSignin();
    return;
  }
  if (!state.me) {
    fill(main, loading('Checking your key…'));
    try {
      state.me = await api.me();
    } catch (err) {
      if (seq !== state.seq) return;
      if (err.status === 401) return; // the handler showed the sign-in
      fill(main, h('h1', {}, 'Bunsen'), errorBox(err, 'Cannot load your identity:'));
      return;
    }
    if (seq !== state.seq) return;
  }
  const { path, query } = splitHash();
  let match = null;
  for (const r of routes) {
    const m = path.match(r[0]);
    if (m) {
      try {
        match = { route: r, args: m.slice(1).map(decodeURIComponent) };
      } catch {
        // a broken escape (#/experiments/%E0%A4%A) names no page: "Page not found", not
        // an URIError that leaves the previous page on screen
        match = null;
      }
      break;
    }
  }
  if (!match) {
    draftNotTaken();
    updateShell(null);
    fill(main, h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: '#/experiments' }, 'Go to experiments')));
    focusHeading();
    return;
  }
  const [, section, view, least] = match.route;
  updateShell(section);
  if (least && !can(least)) {
    draftNotTaken();
    fill(main,
      h('h1', {}, 'Not allowed'),
      h('p', {}, `Your role (${state.me.role}) cannot use this page.`),
      h('p', {}, h('a', { href: '#/experiments' }, 'Go to experiments'))
    );
    focusHeading();
    return;
  }
  const ctx = {
    main,
    me: state.me,
    can,
    query,
    path,
    navigate,
    alive: () => seq === state.seq,
    title: (t) => {
      document.title = `${t} · Bunsen`;
    },
    /** Change the query part of the URL without re-rendering. */
    setQuery: (q) => {
      const u = new URLSearchParams();
      for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
      const qs = u.toString();
      history.replaceState(null, '', `#${path}${qs ? '?' + qs : ''}`);
    },
  };
  fill(main, loading());
  try {
    await view(ctx, ...match.args);
  } catch (err) {
    if (seq !== state.seq || err.status === 401) return;
    fill(main, h('h1', {}, 'Something went wrong'), errorBox(err));
  }
  if (seq === state.seq) draftNotTaken();
  // after a navigation, focus the new page's heading; on first load leave focus at the
  // top of the document so the skip link comes first
  if (seq === state.seq) {
    if (state.rendered) focusHeading();
    state.rendered = true;
  }
}

setUnauthorizedHandler(() => {
  // several requests in flight may all get 401: show the sign-in once
  if (!state.me && main.querySelector('form.signin')) return;
  const wasSignedIn = !!state.me;
  // a form's changes not saved: kept, and back in the form after the sign-in
  const kept = holdForSignIn();
  state.me = null;
  state.signinReason = (wasSignedIn
    ? 'Your key is no longer accepted (it may have been revoked). Sign in again to continue.'
    : 'Your session has ended. Sign in again to continue.') +
    (kept ? ' Your changes on this page are not saved yet: they come back in the form once you sign in (do not close or reload the tab).' : '');
  renderSignin();
});

document.getElementById('signout').addEventListener('click', async () => {
  // a form with changes not saved asks first
  if (!(await mayDiscard())) return;
  clearKey();
  state.me = null;
  state.signinReason = '';
  location.hash = '#/experiments';
  renderSignin();
});

// the skip link must not change the hash: that is the router's
document.querySelector('.skip-link').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

window.addEventListener('hashchange', route);
route();

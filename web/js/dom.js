// dom.js - small DOM helpers: element builders, a live region, confirmation dialogs
// and server validation errors placed next to the field they name.
// Nothing here writes HTML strings or style attributes (the CSP forbids inline styles).

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

function setAttrs(el, attrs, isSvg) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (!isSvg && (k === 'value' || k === 'checked' || k === 'selected' || k === 'indeterminate'))
      el[k] = v;
    else if (k === 'style') throw new Error('inline styles are not allowed by the CSP');
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** h('button', {class: 'btn', onclick: fn}, 'Save') */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs, false);
  append(el, children);
  return el;
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs, true);
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Append children (skipping null/false, flattening arrays) to `el`. */
export function add(el, ...children) {
  append(el, children);
  return el;
}

/** Replace the children of `el`. */
export function fill(el, ...children) {
  return add(clear(el), ...children);
}

let uid = 0;
export function nextId(prefix = 'id') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** Say something to screen readers (and show it briefly as a toast). */
export function announce(msg, kind = 'info') {
  const live = document.getElementById('live');
  if (live) {
    live.textContent = '';
    // a fresh text node makes screen readers repeat an identical message
    setTimeout(() => {
      live.textContent = msg;
    }, 30);
  }
  const toasts = document.getElementById('toasts');
  if (toasts) {
    // in the page flow above the content (never over it), with a dismiss button
    const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss notification' }, '×');
    const t = h('div', { class: ['toast', `toast-${kind}`], dataset: { born: String(Date.now()) } }, h('span', {}, msg), close);
    close.addEventListener('click', () => t.remove());
    toasts.appendChild(t);
    while (toasts.children.length > 3) toasts.firstChild.remove();
    setTimeout(() => t.remove(), kind === 'error' ? 10000 : 6000);
  }
}

/**
 * On navigation: drop the toasts of the page being left. A toast born in the last
 * second says what the navigation did ("Experiment saved") and stays.
 */
export function clearToasts() {
  const toasts = document.getElementById('toasts');
  if (!toasts) return;
  for (const t of [...toasts.children]) if (Date.now() - Number(t.dataset.born || 0) > 1000) t.remove();
}

/**
 * A block that shows an error (an ApiError or anything with a message). `err.link`
 * ({href, text}) adds a link to the page that fixes it (e.g. a missing saved group).
 */
export function errorBox(err, prefix) {
  const msg = err && err.message ? err.message : String(err);
  const stale = err && err.status === 412;
  let reload = null;
  if (stale) {
    reload = h('button', { type: 'button', class: 'btn btn-small reload-btn' }, 'Reload');
    reload.addEventListener('click', () => location.reload());
  }
  return h(
    'div',
    { class: ['alert', 'alert-error', stale ? 'alert-stale' : null], role: 'alert' },
    prefix && !stale ? h('strong', {}, prefix + ' ') : null,
    msg,
    reload ? [' ', reload] : null,
    err && err.link ? [' ', h('a', { href: err.link.href }, err.link.text)] : null
  );
}

/**
 * The content of a table cell naming a variant: its name, with the key below in small
 * monospace as the metric tables show metric keys; the key alone when the variant has no
 * name (format.js variantName gives `name` = the key then); `tag` (e.g. "control") follows
 * the name.
 */
export function variantCell(name, key, tag = null) {
  return name && name !== key ? [h('span', { class: 'variant-name' }, name), tag, h('div', { class: 'muted small' }, h('code', {}, key))] : [key, tag];
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, text);
}

/** A labelled form control in a wrapper; returns {wrap, input}. */
export function field(label, input, { hint, field: name, className } = {}) {
  const id = input.id || nextId('f');
  input.id = id;
  if (name) input.dataset.field = name;
  const hintEl = hint ? h('p', { class: 'hint', id: id + '-hint' }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  const wrap = h('div', { class: ['field', className] }, h('label', { for: id }, label), input, hintEl);
  return { wrap, input };
}

/**
 * A modal confirmation built on <dialog>. `body` is a node (or nodes); `onConfirm(form, ui)`
 * runs on confirm and may throw to show an error inside the dialog and stay open (an error
 * with `closeDialog` set closes it instead, resolving false; `ui.setConfirmLabel(t)` renames
 * the confirm button, e.g. "Stop anyway" after a 412). Resolves true when confirmed, false
 * when cancelled.
 *
 * While `onConfirm` is still waiting on the server the dialog does not pretend it can be
 * cancelled: Cancel is disabled, Escape does nothing and the confirm button says
 * `busyLabel` ("Stopping…"), since the request goes through whatever the page does. Leaving
 * the page meanwhile (Back, a typed address) takes the dialog away, and the promise still
 * settles once the request ends: true when it succeeded, false (and an error toast) when not.
 */
export function confirmDialog({ title, body, confirmLabel = 'Confirm', busyLabel = 'Working…', danger = false, onConfirm }) {
  return new Promise((resolve) => {
    const titleId = nextId('dlg');
    const errSlot = h('div', { class: 'dialog-error' });
    const okBtn = h('button', { type: 'submit', class: ['btn', danger ? 'btn-danger' : 'btn-primary'] }, confirmLabel);
    const cancelBtn = h('button', { type: 'button', class: 'btn' }, 'Cancel');
    const form = h(
      'form',
      { method: 'dialog', class: 'dialog-form' },
      h('h2', { id: titleId }, title),
      h('div', { class: 'dialog-body' }, body),
      errSlot,
      h('div', { class: 'dialog-actions' }, cancelBtn, okBtn)
    );
    const dlg = h('dialog', { 'aria-labelledby': titleId, class: 'dialog' }, form);
    let done = false;
    let pending = false; // onConfirm is waiting on the server
    let left = false; // the page was left while it waited: the dialog is gone, the answer is not
    let label = confirmLabel;
    const ui = {
      setConfirmLabel(t) {
        label = t;
        if (!pending) okBtn.textContent = t;
      },
    };
    const takeAway = () => {
      window.removeEventListener('hashchange', onLeave);
      if (dlg.open) dlg.close();
      dlg.remove();
    };
    const onLeave = () => {
      if (!pending) return finish(false);
      left = true;
      takeAway();
    };
    const finish = (v) => {
      if (done) return;
      done = true;
      takeAway();
      resolve(v);
    };
    const setPending = (on) => {
      pending = on;
      okBtn.disabled = on;
      cancelBtn.disabled = on;
      okBtn.textContent = on ? busyLabel : label;
      if (on) dlg.dataset.busy = 'true';
      else delete dlg.dataset.busy;
      form.setAttribute('aria-busy', on ? 'true' : 'false');
    };
    cancelBtn.addEventListener('click', () => {
      if (!pending) finish(false);
    });
    // a link inside the dialog (an error's "create it" link) leaves the page: close it
    window.addEventListener('hashchange', onLeave);
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      if (!pending) finish(false);
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (pending) return;
      clear(errSlot);
      setPending(true);
      try {
        if (onConfirm) await onConfirm(form, ui);
        finish(true);
      } catch (err) {
        setPending(false);
        if (left || (err && err.closeDialog)) {
          if (left && !(err && err.status === 401)) announce(`${label}: not done. ${err && err.message ? err.message : err}`, 'error');
          finish(false);
          return;
        }
        // an error the body already shows beside its field (and focused) is not said twice
        if (!(err && err.shownInField)) errSlot.appendChild(errorBox(err));
        if (!dlg.contains(document.activeElement)) okBtn.focus(); // the disabled button lost it
      }
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    cancelBtn.focus();
  });
}

// ---- server validation errors next to their field ----

/** "variants[1].weight" -> ["variants[1].weight", "variants[1]", "variants"] */
export function fieldPath(name) {
  const out = [];
  let f = name;
  while (f) {
    out.push(f);
    const m = f.match(/^(.*)(\[\d+\]|\.[^.[\]]*)$/);
    f = m ? m[1] : '';
  }
  return out;
}

function cssEscape(v) {
  return window.CSS && CSS.escape ? CSS.escape(v) : v.replace(/["\\]/g, '\\$&');
}

export function clearFieldErrors(form) {
  for (const el of form.querySelectorAll('.field-error')) el.remove();
  for (const el of form.querySelectorAll('[aria-invalid="true"]')) {
    el.removeAttribute('aria-invalid');
    const ids = (el.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && !x.endsWith('-err'));
    if (ids.length) el.setAttribute('aria-describedby', ids.join(' '));
    else el.removeAttribute('aria-describedby');
  }
  const summary = form.querySelector('.form-errors');
  if (summary) clear(summary);
}

/**
 * Put `message` next to the control whose data-field is `name` (or its nearest
 * ancestor path: "forced.u1" falls back to "forced"). Returns the element it marked, or
 * null when no control matched (the message then goes to the form's summary).
 */
export function showFieldError(form, name, message) {
  let target = null;
  for (const f of fieldPath(name || '')) {
    target = form.querySelector(`[data-field="${cssEscape(f)}"]`);
    if (target) break;
  }
  if (!target) {
    const summary = form.querySelector('.form-errors');
    if (summary) summary.appendChild(errorBox({ message }));
    return null;
  }
  const errId = nextId('e') + '-err';
  const msg = h('p', { class: 'field-error', id: errId }, message);
  const isControl = /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName);
  const control = isControl ? target : target.querySelector('input, select, textarea');
  if (isControl) {
    const wrap = target.closest('.field, td, .cell') || target.parentElement;
    wrap.appendChild(msg);
  } else {
    target.appendChild(msg);
  }
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    const ids = (control.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
    ids.push(errId);
    control.setAttribute('aria-describedby', ids.join(' '));
  }
  // a control inside a closed <details> would be invisible
  const det = target.closest('details');
  if (det) det.open = true;
  return control || target;
}

/** Debounce: run fn once the calls stop for `ms`. */
export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

/** A status badge for an experiment status. */
export function statusBadge(status) {
  return h('span', { class: ['badge', `badge-${status}`] }, status);
}

/** Parse "a=1&b=2" into an object. */
export function parseQuery(q) {
  const out = {};
  for (const [k, v] of new URLSearchParams(q || '')) out[k] = v;
  return out;
}

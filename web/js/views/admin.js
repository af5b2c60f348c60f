// admin.js - admin-only pages: the audit log (filterable, paged) and API keys
// (list, revoked ones on request, create with the secret shown once - and for an encrypted
// sdk key its decryption key - revoke).

import { api } from '../api.js';
import { h, fill, clear, errorBox, field, nextId, announce, confirmDialog, showFieldError, clearFieldErrors } from '../dom.js';
import { fmtDateTime } from '../format.js';

/** Timestamps (fields named *_at or ts, in ms) as dates, also inside objects. */
export function readable(v, name = '') {
  if (typeof v === 'number' && (/_at$/.test(name) || name === 'ts') && v > 1e11) return fmtDateTime(v);
  if (Array.isArray(v)) return v.map((y) => readable(y));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, y]) => [k, readable(y, k)]));
  return v;
}

/** Long arrays (a saved group's 100,000 values) cut to their first items and a count. */
function cut(v) {
  if (Array.isArray(v)) return v.length > 20 ? [...v.slice(0, 20).map(cut), `… ${v.length - 20} more (${v.length} in all)`] : v.map(cut);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, y]) => [k, cut(y)]));
  return v;
}

function short(v, name) {
  if (v === undefined) return '∅';
  const r = readable(v, name);
  const t = Array.isArray(v) && v.length > 5
    ? `${v.length} items: ${JSON.stringify(v.slice(0, 5)).slice(1, -1)}, …`
    : typeof r === 'string' && r !== v ? r : JSON.stringify(r);
  return t.length > 80 ? t.slice(0, 77) + '…' : t;
}

/** The top-level fields that differ between before and after. */
function changes(before, after) {
  if (!before || !after) return [];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const out = [];
  for (const k of keys) {
    if (k === 'updated_at') continue;
    if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) out.push([k, before[k], after[k]]);
  }
  return out;
}

function entryDetails(e) {
  const diff = changes(e.before, e.after);
  const summaryText = diff.length ? diff.map((d) => d[0]).join(', ') : e.before && !e.after ? 'deleted' : !e.before && e.after ? 'created' : '';
  const body = diff.length
    ? h('ul', { class: 'diff' }, diff.map(([k, b, a]) => h('li', {}, h('code', {}, k), ': ', h('span', { class: 'before' }, short(b, k)), ' → ', h('span', { class: 'after' }, short(a, k)))))
    : h('pre', { class: 'code' }, JSON.stringify(readable(cut(e.after || e.before || {})), null, 2));
  return h('details', {}, h('summary', {}, summaryText || 'details'), body);
}


/* An audit entry's actor: its name and, beneath, its id (a key's "key_..."): names need not
   be unique (older keys), so the id is what tells two actors of one name apart. The daemon's
   own actors ("cli", "system") have their name as their id: shown once. */
function actorCell(a) {
  if (!a) return '—';
  if (!a.name || a.name === a.id) return h('code', { class: 'actor-id' }, a.id || '—');
  return [h('span', { class: 'actor-name' }, a.name), h('br', {}), h('code', { class: 'actor-id muted small' }, a.id)];
}

/* An audit entry's target: a link to an experiment, metric or saved group; for an API key
   (key.create, key.revoke) the key's name from the entry's documents above its id, as the
   actor column shows a key. */
function targetCell(e) {
  if (e.target_type === 'experiment') return h('a', { href: `#/experiments/${encodeURIComponent(e.target)}` }, e.target);
  if (e.target_type === 'metric') return h('a', { href: `#/metrics/${encodeURIComponent(e.target)}` }, e.target);
  if (e.target_type === 'saved_group' && e.action !== 'saved_group.delete') return h('a', { href: `#/saved-groups/${encodeURIComponent(e.target)}` }, e.target);
  if (e.target_type === 'key') {
    const name = (e.after && e.after.name) || (e.before && e.before.name);
    if (typeof name === 'string' && name !== '' && name !== e.target) {
      return [h('span', { class: 'target-name' }, name), h('br', {}), h('code', { class: 'target-id muted small' }, e.target)];
    }
    return h('code', { class: 'target-id' }, e.target);
  }
  return e.target;
}

export async function renderAudit(ctx) {
  ctx.title('Audit log');
  const typeSel = h('select', { id: 'au-type' },
    [['', 'All'], ['experiment', 'Experiments'], ['metric', 'Metrics'], ['saved_group', 'Saved groups'], ['key', 'API keys']].map(([v, t]) => h('option', { value: v, selected: ctx.query.target_type === v }, t)));
  const targetIn = h('input', { id: 'au-target', type: 'search', value: ctx.query.target || '', placeholder: 'key, e.g. checkout-button', autocomplete: 'off' });
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter the audit log' },
    h('div', { class: 'field' }, h('label', { for: 'au-type' }, 'Target type'), typeSel),
    h('div', { class: 'field field-grow' }, h('label', { for: 'au-target' }, 'Target'), targetIn),
    h('div', { class: 'field' }, h('span', { class: 'label-spacer', 'aria-hidden': 'true' }, ' '), h('button', { type: 'submit', class: 'btn' }, 'Filter')));
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams(Object.entries({ target_type: typeSel.value, target: targetIn.value.trim() }).filter(([, v]) => v));
    ctx.navigate(`#/audit${q.toString() ? '?' + q : ''}`);
  });

  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Load older entries');
  const status = h('p', { class: 'muted', role: 'status' });
  const table = h('table', { class: 'table table-cards', id: 'audit-table' },
    h('caption', { class: 'visually-hidden' }, 'Audit log, newest first'),
    h('thead', {}, h('tr', {}, ['Time', 'Actor', 'Action', 'Target', 'Changes'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody);

  fill(ctx.main, h('h1', {}, 'Audit log'), filters, status, h('div', { class: 'table-wrap' }, table), more);

  let before = null;
  let count = 0;
  const load = async () => {
    more.disabled = true;
    let r;
    try {
      r = await api.audit({ limit: 50, before, target_type: ctx.query.target_type, target: ctx.query.target });
    } catch (err) {
      if (err.status === 401 || !ctx.alive()) return;
      ctx.main.append(errorBox(err));
      return;
    }
    if (!ctx.alive()) return;
    for (const e of r.entries) {
      tbody.append(h('tr', {},
        h('td', { 'data-label': 'Time' }, fmtDateTime(e.ts)),
        h('td', { 'data-label': 'Actor' }, actorCell(e.actor)),
        h('td', { 'data-label': 'Action' }, h('code', {}, e.action)),
        h('td', { 'data-label': 'Target' }, targetCell(e)),
        h('td', { 'data-label': 'Changes' }, entryDetails(e))));
    }
    count += r.entries.length;
    before = r.next_before;
    more.hidden = !before;
    more.disabled = false;
    status.textContent = count ? `${count} entries shown` : 'No entries.';
  };
  more.addEventListener('click', load);
  await load();
}

/** What each role may do (docs/API.md "Roles"), one line each under the Role select. */
const ROLE_HELP = [
  ['viewer', 'reads experiments, results, metrics and saved groups; changes nothing.'],
  ['editor', 'a viewer’s reads, and creates, edits, starts and stops experiments, metrics and saved groups; can check a user’s assignment.'],
  ['admin', 'everything, and API keys and the audit log.'],
  ['sdk', 'for applications: assigns users and sends exposures and events; reads no results.'],
];

export async function renderKeys(ctx) {
  ctx.title('API keys');
  const keys = await api.listKeys();
  if (!ctx.alive()) return;

  const nameIn = h('input', { type: 'text', autocomplete: 'off', required: true });
  const roleSel = h('select', {}, ['viewer', 'editor', 'admin', 'sdk'].map((r) => h('option', { value: r }, r)));
  const encIn = h('input', { type: 'checkbox', id: nextId('encrypt'), name: 'encrypt', dataset: { field: 'encrypt' } });
  const encField = h('div', { class: 'field check', hidden: true }, encIn,
    h('label', { for: encIn.id }, 'Encrypt this key’s SDK payload (the SDK needs the decryption key shown after creating it)'));
  const showEnc = () => {
    encField.hidden = roleSel.value !== 'sdk';
    if (encField.hidden) encIn.checked = false;
  };
  roleSel.addEventListener('change', showEnc);
  const createBtn = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create key');
  const secret = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card key-form', novalidate: true },
    h('h2', {}, 'Create a key'),
    h('div', { class: 'form-errors' }),
    h('div', { class: 'grid-3' },
      field('Name', nameIn, { field: 'name', hint: 'Who or what uses it, e.g. checkout-svc.' }).wrap,
      field('Role', roleSel, { field: 'role', hint: ROLE_HELP.map(([r, t]) => h('span', { class: 'role-help', dataset: { role: r } }, h('strong', {}, r), `: ${t}`)) }).wrap,
      h('div', { class: 'field' }, h('span', { class: 'label-spacer', 'aria-hidden': 'true' }, ' '), createBtn)),
    encField,
    secret);

  /** A read-only copy of `value` with a Copy button, labelled `label`. */
  const copyRow = (label, value, what) => {
    const id = nextId('secret');
    const input = h('input', { id, type: 'text', readonly: true, value, class: 'code' });
    const copy = h('button', { type: 'button', class: 'btn btn-small' }, 'Copy');
    copy.setAttribute('aria-label', `Copy the ${what}`);
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(value);
        announce(`${what[0].toUpperCase()}${what.slice(1)} copied`, 'ok');
      } catch {
        input.select();
      }
    });
    return { input, el: [h('label', { for: id }, label), h('div', { class: 'copy-row' }, input, copy)] };
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (createBtn.disabled) return;
    clearFieldErrors(form);
    // one key per submit: a second click while the first request runs would create a
    // second key and replace the first one's secret before anyone copied it
    createBtn.disabled = true;
    try {
      const body = { name: nameIn.value.trim(), role: roleSel.value };
      if (body.role === 'sdk' && encIn.checked) body.encrypt = true;
      const k = await api.createKey(body);
      const main = copyRow(`New ${k.role} key “${k.name}”. Copy it now: it is not shown again.`, k.key, 'key');
      const dec = k.decryption_key
        ? copyRow('Decryption key of its payload (the SDK’s decryptionKey). Copy it now: it is not shown again.', k.decryption_key, 'decryption key')
        : null;
      form.reset(); // before the secret is shown: it would empty the secret's inputs too
      showEnc();
      fill(secret, h('div', { class: 'alert alert-ok new-key' }, main.el, dec ? dec.el : null));
      main.input.focus();
      main.input.select();
      tbody.prepend(keyRow(k));
    } catch (err) {
      if (err.status === 401) return;
      const at = showFieldError(form, err.field || '', err.message);
      if (at) at.focus();
    } finally {
      createBtn.disabled = false;
    }
  });

  const keyRow = (k) => {
    const tr = h('tr', { class: k.revoked_at ? 'key-revoked' : null, dataset: { id: k.id } },
      h('th', { scope: 'row', 'data-label': 'Name' }, k.name),
      h('td', { 'data-label': 'Role' }, h('span', { class: `role-badge role-${k.role}` }, k.role),
        // which SDK needs a decryptionKey
        k.role === 'sdk' && k.encrypt ? [' ', h('span', { class: 'tag tag-encrypted', title: 'Its SDK payload is served encrypted: the SDK needs the decryption key shown when the key was created (decryptionKey).' }, 'encrypted payload')] : null),
      h('td', { 'data-label': 'Prefix' }, h('code', {}, k.prefix ? `${k.prefix}…` : '—')),
      h('td', { 'data-label': 'Created' }, fmtDateTime(k.created_at)),
      h('td', { 'data-label': 'Actions' }));
    const cell = tr.lastChild;
    if (k.revoked_at) cell.append(h('span', { class: 'muted' }, `revoked ${fmtDateTime(k.revoked_at)}`));
    else if (k.id === ctx.me.id) cell.append(h('span', { class: 'muted' }, 'this session'));
    else {
      const btn = h('button', { type: 'button', class: 'btn btn-small btn-danger' }, 'Revoke');
      btn.setAttribute('aria-label', `Revoke key ${k.name}`);
      btn.addEventListener('click', async () => {
        const ok = await confirmDialog({
          title: `Revoke “${k.name}”?`,
          body: h('p', {}, 'Every request with this key gets 401 from now on. This cannot be undone.'),
          confirmLabel: 'Revoke key',
          danger: true,
          onConfirm: () => api.revokeKey(k.id),
        });
        if (ok) {
          if (showRevoked.checked) load();
          else tr.remove();
          announce(`Key ${k.name} revoked`, 'ok');
        } else btn.focus();
      });
      cell.append(btn);
    }
    return tr;
  };
  const tbody = h('tbody', {}, keys.map(keyRow));
  const listHead = h('h2', {}, 'Active keys');
  const caption = h('caption', { class: 'visually-hidden' }, 'Active API keys');
  const showRevoked = h('input', { type: 'checkbox', id: nextId('revoked') });
  const listError = h('div');
  // the list again, with or without the revoked keys (GET /keys?include_revoked=true)
  const load = async () => {
    showRevoked.disabled = true;
    try {
      const ks = await api.listKeys(showRevoked.checked);
      if (!ctx.alive()) return;
      const all = showRevoked.checked;
      listHead.textContent = all ? 'Keys, revoked ones included' : 'Active keys';
      caption.textContent = all ? 'API keys, revoked ones included' : 'Active API keys';
      tbody.replaceChildren(...ks.map(keyRow));
      clear(listError);
    } catch (err) {
      if (err.status !== 401) fill(listError, errorBox(err, 'Cannot list the keys:'));
    } finally {
      showRevoked.disabled = false;
    }
  };
  showRevoked.addEventListener('change', load);
  fill(ctx.main,
    h('h1', {}, 'API keys'),
    form,
    listHead,
    h('div', { class: 'field check' }, showRevoked, h('label', { for: showRevoked.id }, 'Show revoked keys')),
    listError,
    h('div', { class: 'table-wrap' }, h('table', { class: 'table table-cards', id: 'keys-table' },
      caption,
      h('thead', {}, h('tr', {}, ['Name', 'Role', 'Prefix', 'Created', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      tbody)));
}

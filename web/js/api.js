// api.js - the Bunsen HTTP API as seen by the dashboard.
// The key lives in sessionStorage (gone when the tab closes) and goes out as a Bearer
// token. A 401 clears it and calls the handler the shell registered, which brings back
// the sign-in form.
//
// Concurrency (API.md v1.1): the ETag of every GET of an experiment, metric or saved
// group is kept per document, and every edit of that document (PATCH, DELETE, lifecycle POST) sends it
// as If-Match. A 412 means someone else changed it since this page loaded it.

const STORE = 'bunsen.apiKey';
const BASE = 'api/v1'; // relative, so the dashboard also works behind a path prefix

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || 'unknown';
    this.field = field || null;
    this.retryAfter = null; // seconds, from a 503's or 429's Retry-After
  }
}

/** Retry-After in seconds (delta-seconds or an HTTP date), or null. */
export function retryAfterSeconds(value, now = Date.now()) {
  if (value === null || value === undefined || String(value).trim() === '') return null;
  const t = String(value).trim();
  if (/^\d+$/.test(t)) return Number(t);
  const at = Date.parse(t);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - now) / 1000)) : null;
}

let onUnauthorized = () => {};

/** The ETag last seen per document path ("/experiments/k", "/metrics/k", "/saved-groups/k"). */
const etags = new Map();

/** The document an API path reads or edits: "/experiments/k/stop" -> "/experiments/k". */
function docPath(path) {
  const m = path.match(/^\/(experiments|metrics|saved-groups)\/([^/?]+)(?:\/(start|pause|resume|stop|archive))?(?:\?|$)/);
  return m && m[2] !== 'new' ? `/${m[1]}/${m[2]}` : null;
}

export const CHANGED_ELSEWHERE =
  'This was changed by someone else since you opened it: reload the page to see the latest version, then make your change again.';

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export function getKey() {
  try {
    return sessionStorage.getItem(STORE);
  } catch {
    return null;
  }
}

export function setKey(key) {
  sessionStorage.setItem(STORE, key);
}

export function clearKey() {
  try {
    sessionStorage.removeItem(STORE);
  } catch {
    /* storage disabled: nothing to clear */
  }
}

function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

/** An absolute URL of an API path, e.g. for "copy JSON URL". */
export function apiUrl(path, params) {
  return new URL(BASE + path + qs(params), document.baseURI).href;
}

/**
 * One request. `opts.key` overrides the stored key (sign-in checks a key before
 * keeping it); `opts.text` returns the body as text; `opts.file` returns {blob, filename,
 * headers} (a download: the name from Content-Disposition); `opts.quiet401` does not sign
 * out. An error is an ApiError, with `retryAfter` when the server sent Retry-After.
 */
export async function request(method, path, body, opts = {}) {
  const key = opts.key || getKey();
  const headers = { Accept: opts.accept || (opts.text ? 'text/csv' : 'application/json') };
  if (key) headers.Authorization = 'Bearer ' + key;
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const doc = docPath(path);
  const isRead = method === 'GET' && !/\/(results|timeseries)/.test(path);
  if (doc && method !== 'GET' && etags.has(doc)) headers['If-Match'] = etags.get(doc);
  let res;
  try {
    res = await fetch(BASE + path, init);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the Bunsen server. Is it running?');
  }
  if (!res.ok) {
    let err = null;
    try {
      const j = await res.json();
      err = j && j.error;
    } catch {
      /* not JSON */
    }
    const e = new ApiError(
      res.status,
      err && err.code,
      res.status === 412 ? CHANGED_ELSEWHERE : (err && err.message) || `${res.status} ${res.statusText}`,
      err && err.field
    );
    if (err && Array.isArray(err.errors)) e.errors = err.errors;
    e.retryAfter = retryAfterSeconds(res.headers.get('Retry-After'));
    if (res.status === 401 && !opts.quiet401) {
      clearKey();
      onUnauthorized(e);
    }
    throw e;
  }
  if (doc && (isRead || method !== 'GET')) {
    // a write answers with the new version (or none: then the next GET brings it)
    const tag = res.headers.get('ETag');
    if (tag && (isRead || method !== 'DELETE')) etags.set(doc, tag);
    else etags.delete(doc);
  }
  if (opts.text) return res.text();
  if (opts.file) {
    const m = /filename="([^"]*)"/.exec(res.headers.get('Content-Disposition') || '');
    return { blob: await res.blob(), filename: m ? m[1] : null, headers: res.headers };
  }
  if (res.status === 204) return null;
  return res.json();
}

const enc = encodeURIComponent;

export const api = {
  me: (key) => request('GET', '/me', undefined, { key, quiet401: !!key }),

  listMetrics: () => request('GET', '/metrics').then((r) => r.metrics),
  getMetric: (k) => request('GET', `/metrics/${enc(k)}`),
  createMetric: (m) => request('POST', '/metrics', m),
  updateMetric: (k, m) => request('PATCH', `/metrics/${enc(k)}`, m),
  deleteMetric: (k) => request('DELETE', `/metrics/${enc(k)}`),

  listExperiments: (status) =>
    request('GET', '/experiments' + qs({ status })).then((r) => r.experiments),
  getExperiment: (k) => request('GET', `/experiments/${enc(k)}`),
  createExperiment: (x) => request('POST', '/experiments', x),
  updateExperiment: (k, x) => request('PATCH', `/experiments/${enc(k)}`, x),
  deleteExperiment: (k) => request('DELETE', `/experiments/${enc(k)}`),
  lifecycle: (k, action, body) =>
    request('POST', `/experiments/${enc(k)}/${action}`, body || {}),

  results: (k, params) => request('GET', `/experiments/${enc(k)}/results` + qs(params)),
  resultsCsv: (k, params) =>
    request('GET', `/experiments/${enc(k)}/results` + qs({ ...params, format: 'csv' }), undefined, {
      text: true,
    }),
  resultsUrl: (k, params) => apiUrl(`/experiments/${enc(k)}/results`, params),
  timeseries: (k, params) => request('GET', `/experiments/${enc(k)}/timeseries` + qs(params)),
  /** The time series as a CSV file ({blob, filename, headers}). */
  timeseriesCsv: (k, params) =>
    request('GET', `/experiments/${enc(k)}/timeseries` + qs({ ...params, format: 'csv' }), undefined, {
      file: true,
      accept: 'text/csv',
    }),
  /** The per-user export of one metric (format csv or ndjson) as a file; streamed by the server. */
  usersExport: (k, params) =>
    request('GET', `/experiments/${enc(k)}/users` + qs(params), undefined, {
      file: true,
      accept: params && params.format === 'ndjson' ? 'application/x-ndjson' : 'text/csv',
    }),
  usersUrl: (k, params) => apiUrl(`/experiments/${enc(k)}/users`, params),
  /** One user's assignment in experiment `k`, explained, never logged as an exposure. */
  explainAssignment: (k, userId, attributes) =>
    request('POST', '/assign', {
      user_id: userId,
      attributes: attributes || {},
      experiments: [k],
      explain: true,
      log_exposure: false,
    }),

  /** Without their values: each group has values_count (a table or a list of keys). */
  listSavedGroups: () => request('GET', '/saved-groups?values=false').then((r) => r.saved_groups),
  getSavedGroup: (k) => request('GET', `/saved-groups/${enc(k)}`),
  createSavedGroup: (g) => request('POST', '/saved-groups', g),
  updateSavedGroup: (k, g) => request('PATCH', `/saved-groups/${enc(k)}`, g),
  deleteSavedGroup: (k) => request('DELETE', `/saved-groups/${enc(k)}`),

  power: (body) => request('POST', '/power', body),

  audit: (params) => request('GET', '/audit' + qs(params)),
  /** Active keys; with `includeRevoked`, the revoked ones too (each with revoked_at). */
  listKeys: (includeRevoked = false) => request('GET', '/keys' + (includeRevoked ? qs({ include_revoked: 'true' }) : '')).then((r) => r.keys),
  createKey: (body) => request('POST', '/keys', body),
  revokeKey: (id) => request('DELETE', `/keys/${enc(id)}`),
};

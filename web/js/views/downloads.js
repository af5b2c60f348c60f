// downloads.js - the experiment page's files: saving a fetched file under its name, the
// time series as CSV (`.../timeseries?format=csv`) and the per-user export (`.../users`, CSV
// or NDJSON, one metric: each exposed user's variant, first exposure, value and pre-period
// value). The API wants the key as a Bearer header, which a plain link cannot send, so each
// is a button that fetches the file and hands it to the browser as a download.

import { api } from '../api.js';
import { h, nextId, announce } from '../dom.js';

/** Hand `blob` to the browser as a download named `filename`. */
export function saveFile(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/**
 * Run `fetchFile` (resolves {blob, filename, headers}) behind `btn`, then save the file as
 * `name`, or as the server names it (Content-Disposition) when `name` is null.
 */
async function fetchAndSave(btn, fetchFile, name, fallbackName, what) {
  btn.disabled = true;
  try {
    const f = await fetchFile();
    saveFile(f.blob, name || f.filename || fallbackName);
    const rebuilding = f.headers && f.headers.get('Bunsen-Rebuilding');
    announce(rebuilding
      ? `${what} downloaded while a rebuild runs (${rebuilding} users rebuilt): its values mix the old and the new definition`
      : `${what} downloaded`, 'ok');
  } catch (err) {
    if (err.status !== 401) announce(`${what} download failed: ${err.message}`, 'error');
  } finally {
    btn.disabled = false;
  }
}

/** "Download CSV" of the time series; `params()` gives {metric, method, alpha} at click time. */
export function seriesCsvButton(x, params) {
  const btn = h('button', { type: 'button', class: 'btn btn-small', id: 'download-series-csv' }, 'Download the daily series (CSV)');
  btn.addEventListener('click', () => {
    const p = params();
    // the server's name does not say the metric: this one does
    fetchAndSave(btn, () => api.timeseriesCsv(x.key, p), `${x.key}-timeseries-${p.metric}.csv`, null, 'Time series CSV');
  });
  return btn;
}

/**
 * The metrics whose per-user values the API exports for `x`: its metrics, primary metric
 * and guardrails that are not ratios, and the parts of its ratios (a ratio has no values
 * of its own), in that order, once each.
 */
export function exportableMetrics(x, catalogue) {
  const defs = new Map((catalogue || []).map((m) => [m.key, m]));
  const out = [];
  const add = (k) => {
    if (k && !out.includes(k)) out.push(k);
  };
  for (const k of [x.primary_metric, ...(x.metrics || []), ...(x.guardrails || [])]) {
    const m = defs.get(k);
    if (m && m.type === 'ratio') {
      add(m.numerator);
      add(m.denominator);
    } else add(k);
  }
  return out;
}

/** The folded "Per-user data" block of a started experiment, or null for a draft. */
export function usersExportBlock(x, catalogue) {
  if (x.status === 'draft') return null;
  const keys = exportableMetrics(x, catalogue);
  const names = new Map((catalogue || []).map((m) => [m.key, m.name || m.key]));
  const metricId = nextId('ux-metric');
  const formatId = nextId('ux-format');
  const metricSel = h('select', { id: metricId, name: 'metric' },
    keys.map((k) => h('option', { value: k }, names.get(k) && names.get(k) !== k ? `${names.get(k)} (${k})` : k)));
  const formatSel = h('select', { id: formatId, name: 'format' },
    h('option', { value: 'csv' }, 'CSV'), h('option', { value: 'ndjson' }, 'NDJSON (one JSON object per line)'));
  const btn = h('button', { type: 'button', class: 'btn', id: 'download-users' }, 'Download per-user data');
  const url = h('code', { class: 'users-url' });
  const sync = () => {
    url.textContent = api.usersUrl(x.key, { metric: metricSel.value, format: formatSel.value });
  };
  metricSel.addEventListener('change', sync);
  formatSel.addEventListener('change', sync);
  sync();
  btn.addEventListener('click', () => {
    const p = { metric: metricSel.value, format: formatSel.value };
    fetchAndSave(btn, () => api.usersExport(x.key, p), null, `${x.key}-${p.metric}-users.${p.format}`, 'Per-user data');
  });
  return h('details', { class: 'card users-export', id: 'users-export' },
    h('summary', {}, 'Per-user data'),
    h('p', { class: 'muted small' },
      'Every exposed user of one metric: variant, first exposure, the user’s value and the value before the experiment (for CUPED), to re-analyse elsewhere. A ratio metric has none of its own: download its numerator and denominator.'),
    keys.length === 0
      ? h('p', { class: 'muted' }, 'This experiment has no metrics to export.')
      : [
        h('div', { class: 'export-row' },
          h('div', { class: 'field' }, h('label', { for: metricId }, 'Metric'), metricSel),
          h('div', { class: 'field' }, h('label', { for: formatId }, 'Format'), formatSel),
          btn),
        h('p', { class: 'muted small' }, 'The file is built in this tab. For a very large experiment, fetch it with your API key as a Bearer token instead: ', url),
      ]);
}

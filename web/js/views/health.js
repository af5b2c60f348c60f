// health.js - is the experiment's traffic healthy? The sample-ratio check, always shown
// ("OK, p = 0.43" or a red banner, "unavailable" while the results fail), and the new
// exposed users per variant per day (chart and table), derived from the cumulative users of
// the time series (asked again after a 503 as retry.js says).

import { api } from '../api.js';
import { h, fill, errorBox, loading, nextId } from '../dom.js';
import { fmtInt, fmtPct, fmtPEq } from '../format.js';
import { dailyBars, barClasses } from '../charts.js';
import { retryDelay } from '../retry.js';
import { unavailableText, retryButton } from './decision.js';

/** The sample-ratio status of results `r`: a line when healthy, a red banner when not. */
export function srmStatus(r) {
  const srm = (r && r.srm) || {};
  const users = r ? r.variants.map((v, i) => (srm.observed ? srm.observed[i] : v.users)) : [];
  const total = users.reduce((a, b) => a + (b || 0), 0);
  const observed = r ? r.variants.map((v, i) => `${v.key} ${fmtInt(users[i])}`).join(' · ') : '';
  const expected = (srm.expected || []).map((e) => fmtPct(e)).join(' / ');
  if (!r || total === 0) {
    return h('p', { class: 'alert alert-info srm-status', id: 'srm-status', dataset: { srm: 'none' } },
      h('strong', {}, 'Sample ratio: nothing to check yet. '),
      'No user has been exposed so far; the check starts with the first exposures.');
  }
  if (srm.mismatch) {
    return h('div', { class: 'alert alert-error srm-banner srm-status', id: 'srm-status', role: 'alert', dataset: { srm: 'mismatch' } },
      h('strong', {}, '⚠ Sample ratio mismatch. '),
      `Observed users ${observed}; expected split ${expected} (${fmtPEq(srm.p_value)}). `,
      'Assignment or exposure logging is probably broken: do not trust these results until the cause is found.');
  }
  if (typeof srm.p_value !== 'number') {
    return h('p', { class: 'alert alert-info srm-status', id: 'srm-status', dataset: { srm: 'none' } },
      h('strong', {}, 'Sample ratio: not tested. '), srm.warning ? `${srm.warning}.` : 'The test needs users in every variant.');
  }
  return h('p', { class: 'srm-status', id: 'srm-status', dataset: { srm: 'ok' } },
    'Sample ratio: ', h('span', { class: 'srm-ok' }, `✓ OK, ${fmtPEq(srm.p_value)}`),
    h('span', { class: 'muted' }, ` (observed ${observed}; expected ${expected})`));
}

/** The sample-ratio line while the results fail ({error, retryIn, retry} as decisionPanel's). */
export function srmUnavailable(info) {
  return h('div', { class: 'alert alert-warn srm-status', id: 'srm-status', dataset: { srm: 'unavailable' } },
    h('strong', {}, 'Sample ratio: unavailable. '),
    unavailableText(info, 'the split cannot be checked yet'),
    info.retryIn === null || info.retryIn === undefined ? [' ', retryButton(info.retry, 'srm-retry')] : null);
}

/**
 * New exposed users per variant per day from a time series document (cumulative users per
 * day): [{date, counts: [...]}].
 */
export function dailyExposures(ts, keys) {
  const prev = keys.map(() => 0);
  return (ts.days || []).map((d) => {
    const counts = keys.map((k, i) => {
      const v = d.variants.find((y) => y.key === k);
      const cum = v && typeof v.users === 'number' ? v.users : prev[i];
      const n = Math.max(0, cum - prev[i]);
      prev[i] = cum;
      return n;
    });
    return { date: d.date, counts };
  });
}

/**
 * The health card of experiment `x`; `srmSlot` is filled by the results loader. The
 * exposures come from the daily series of a metric that has one (a ratio has none).
 */
export function healthSection(ctx, x, catalogue = []) {
  const srmSlot = h('div', { class: 'srm-slot' }, loading('Checking the sample ratio…'));
  const box = h('div', { class: 'exposure-box' });
  const headId = nextId('health');
  const card = h('section', { class: 'card health', 'aria-labelledby': headId, id: 'health' },
    h('h2', { id: headId }, 'Traffic health'), srmSlot, box);
  const keys = x.variants.map((v) => v.key);
  const ratio = new Set(catalogue.filter((m) => m.type === 'ratio').map((m) => m.key));
  const used = [x.primary_metric, ...(x.metrics || []), ...(x.guardrails || [])].filter(Boolean);
  const metric = used.find((k) => !ratio.has(k));
  if (x.status === 'draft') {
    fill(srmSlot, srmStatus(null));
    return { el: card, setResults: () => {}, setUnavailable: () => {} };
  }
  if (!metric && used.length) {
    box.append(h('p', { class: 'muted' }, 'Exposures per day come from a metric’s daily series, and ratio metrics have none: add a ratio’s numerator or denominator to the experiment’s metrics to see them.'));
  } else if (!metric) {
    box.append(h('p', { class: 'muted' }, 'Add a metric to the experiment to see the exposures per day.'));
  } else {
    box.append(loading('Loading exposures per day…'));
    let attempt = 0;
    const load = () => api.timeseries(x.key, { metric }).then((ts) => {
      if (!ctx.alive()) return;
      const days = dailyExposures(ts, keys);
      const table = h('table', { class: 'table small', id: 'exposures-table' },
        h('caption', { class: 'visually-hidden' }, 'New exposed users per variant per day'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Day'), keys.map((k) => h('th', { scope: 'col', class: 'num' }, k)), h('th', { scope: 'col', class: 'num' }, 'Total'))),
        h('tbody', {}, days.map((d) => h('tr', { dataset: { date: d.date } }, h('th', { scope: 'row' }, d.date),
          d.counts.map((c, i) => h('td', { class: 'num', dataset: { variant: keys[i] } }, fmtInt(c))),
          h('td', { class: 'num' }, fmtInt(d.counts.reduce((a, b) => a + b, 0)))))));
      fill(box,
        h('h3', {}, 'Exposures per day'),
        days.length ? dailyBars(days, keys, { title: 'New exposed users per variant per day' }) : h('p', { class: 'muted' }, 'No days yet.'),
        h('ul', { class: 'legend' }, keys.map((k, i) => h('li', {}, h('span', { class: ['swatch', ...barClasses(i)], 'aria-hidden': 'true' }), k))),
        h('details', { class: 'data-table', open: days.length <= 7 }, h('summary', {}, 'Exposures per day as a table'), h('div', { class: 'table-wrap' }, table)));
    }).catch((err) => {
      if (err.status === 401 || !ctx.alive()) return;
      const wait = retryDelay(err, attempt);
      const again = () => {
        if (!ctx.alive() || !card.isConnected) return;
        fill(box, loading('Loading exposures per day…'));
        load();
      };
      fill(box, errorBox(err, 'Cannot load the exposures per day:'),
        wait === null
          ? retryButton(() => { attempt = 0; again(); }, 'exposures-retry')
          : h('p', { class: 'muted small' }, `Trying again in ${wait} second${wait === 1 ? '' : 's'}.`));
      if (wait !== null) {
        attempt += 1;
        setTimeout(again, wait * 1000);
      }
    });
    load();
  }
  return {
    el: card,
    setResults: (r) => fill(srmSlot, srmStatus(r)),
    setUnavailable: (info) => fill(srmSlot, srmUnavailable(info)),
  };
}

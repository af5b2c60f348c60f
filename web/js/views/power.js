// power.js - the power calculator: baseline, minimum detectable effect, alpha, power,
// variants and daily traffic -> users per variant, total users and days (POST /power).

import { api } from '../api.js';
import { h, clear, fill, errorBox, field, showFieldError, clearFieldErrors } from '../dom.js';
import { fmtInt } from '../format.js';

function num(text) {
  const t = String(text).trim();
  if (t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

export async function renderPower(ctx) {
  ctx.title('Power calculator');
  const typeSel = h('select', {}, h('option', { value: 'binomial' }, 'Conversion rate (binomial)'), h('option', { value: 'mean' }, 'Mean (count or sum)'));
  const baseIn = h('input', { type: 'number', step: 'any', value: '0.1', inputmode: 'decimal' });
  const sdIn = h('input', { type: 'number', step: 'any', min: '0', value: '', inputmode: 'decimal' });
  const mdeIn = h('input', { type: 'number', step: 'any', value: '0.05', inputmode: 'decimal' });
  const relIn = h('input', { type: 'checkbox', id: 'pw-relative', checked: true, dataset: { field: 'relative' } });
  const alphaIn = h('input', { type: 'number', step: 'any', min: '0', max: '1', value: '0.05' });
  const powerIn = h('input', { type: 'number', step: 'any', min: '0', max: '1', value: '0.8' });
  const varIn = h('input', { type: 'number', step: '1', min: '2', max: '20', value: '2' });
  const dailyIn = h('input', { type: 'number', step: '1', min: '0', value: '1000' });

  const sdField = field('Standard deviation', sdIn, { field: 'stddev', hint: 'Of the metric per user, e.g. from a past experiment.' });
  const baseField = field('Baseline', baseIn, { field: 'baseline' });
  const baseHint = h('p', { class: 'hint' });
  baseField.wrap.append(baseHint);
  const mdeHint = h('p', { class: 'hint' });
  const mdeField = field('Minimum detectable effect', mdeIn, { field: 'mde' });
  mdeField.wrap.append(mdeHint);
  const describe = () => {
    const bin = typeSel.value === 'binomial';
    sdField.wrap.hidden = bin;
    baseHint.textContent = bin ? 'Current conversion rate, e.g. 0.10 for 10%.' : 'Current mean per user.';
    mdeHint.textContent = relIn.checked ? 'Relative change, e.g. 0.05 for +5%.' : bin ? 'Absolute change in the rate, e.g. 0.01 for one point.' : 'Absolute change in the mean.';
  };
  typeSel.addEventListener('change', describe);
  relIn.addEventListener('change', describe);
  describe();

  const out = h('div', { class: 'power-out', 'aria-live': 'polite' });
  const summary = h('div', { class: 'form-errors', tabindex: '-1' });
  const form = h('form', { class: 'card power-form', novalidate: true },
    summary,
    h('div', { class: 'grid-3' },
      field('Metric type', typeSel, { field: 'metric_type' }).wrap,
      baseField.wrap,
      sdField.wrap,
      mdeField.wrap,
      h('div', { class: 'field check' }, relIn, h('label', { for: relIn.id }, 'Effect is relative to the baseline')),
      field('Alpha (false-positive rate)', alphaIn, { field: 'alpha' }).wrap,
      field('Power', powerIn, { field: 'power', hint: 'Chance of detecting the effect if it is real.' }).wrap,
      field('Variants (including control)', varIn, { field: 'variants' }).wrap,
      field('Daily users entering the experiment', dailyIn, { field: 'daily_users' }).wrap),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Calculate')));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    const body = {
      metric_type: typeSel.value,
      baseline: num(baseIn.value),
      mde: num(mdeIn.value),
      relative: relIn.checked,
      alpha: num(alphaIn.value),
      power: num(powerIn.value),
      variants: num(varIn.value),
      daily_users: num(dailyIn.value),
    };
    if (typeSel.value === 'mean') body.stddev = num(sdIn.value);
    for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
    try {
      const r = await api.power(body);
      if (!ctx.alive()) return;
      fill(out, h('dl', { class: 'power-result' },
        h('div', {}, h('dt', {}, 'Users per variant'), h('dd', { id: 'pw-users' }, fmtInt(r.users_per_variant))),
        h('div', {}, h('dt', {}, 'Total users'), h('dd', { id: 'pw-total' }, fmtInt(r.total_users))),
        h('div', {}, h('dt', {}, 'Days'), h('dd', { id: 'pw-days' }, r.days === null || r.days === undefined ? '—' : fmtInt(r.days)))),
      r.days === null || r.days === undefined ? h('p', { class: 'muted' }, 'Give the daily traffic to estimate the duration.') : null);
    } catch (err) {
      if (err.status === 401) return;
      clear(out);
      summary.append(errorBox(err));
      const at = err.field ? showFieldError(form, err.field, err.message) : null;
      if (at) at.focus();
      else summary.focus();
    }
  });

  fill(ctx.main,
    h('h1', {}, 'Power calculator'),
    h('p', { class: 'muted' }, 'How many users does an experiment need to detect an effect of a given size, and how long will that take?'),
    form,
    out
  );
  form.requestSubmit(); // an answer for the defaults straight away
}

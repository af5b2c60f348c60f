// power.js - the power calculator: baseline, minimum detectable effect, significance,
// power, variants and daily traffic -> users per variant, total users and days
// (POST /power). People type percentages as percentages ("10" for 10%); the page
// converts them to the API's fractions. It can be prefilled from an experiment: its
// primary metric's control mean (and spread), its variants, its MDE and the traffic
// observed so far (#/power?experiment=KEY; daily users left empty, and days "—", until it has
// a day of traffic), shown to 6 significant digits and computed with
// the exact numbers while left as shown, so that it agrees with the decision panel. The
// effect is a size with a direction (increase or decrease, sent as the sign of `mde`): a
// rate's users needed differ between 10% -> 10.5% and 10% -> 9.5%, and the prefill takes
// the metric's goal, as the decision panel plans a decrease-goal metric's p1 (1 - mde). Any
// change clears the previous answer.
// The API's total is users per variant x variants, right for equal weights; for an
// experiment whose weights differ the page shows the total at which its variant of the
// least weight has the users needed (users per variant / that weight), and days from it.

import { api } from '../api.js';
import { h, clear, fill, errorBox, field, clearFieldErrors, loading } from '../dom.js';
import { fmtInt, fmtDays } from '../format.js';
import { numberOf, showErrors, serverErrors, badNumberProblems, mergeProblems } from '../validate.js';
import { DEFAULT_MDE, runningMs, totalNeeded, unequalWeights, leastWeight } from '../decide.js';

const DAY = 86400000;

function pctText(x, digits = 4) {
  return String(Number((x * 100).toFixed(digits)));
}

/** The binomial target rate in percent: `v.baseline` moved by the effect, in its direction. */
export function targetRate(v) {
  const sign = v.decrease ? -1 : 1;
  return v.relative ? v.baseline * (1 + (sign * v.mde) / 100) : v.baseline + sign * v.mde;
}

/**
 * Every problem of the inputs at once ([{field, message}]); `v` holds parsed numbers (the
 * effect a size above 0, `v.decrease` its direction).
 */
export function powerProblems(v) {
  const out = [];
  const bad = (x) => x === undefined || Number.isNaN(x);
  if (v.binomial) {
    if (bad(v.baseline) || !(v.baseline >= 0 && v.baseline <= 100)) out.push({ field: 'baseline', message: 'The baseline conversion rate is a percentage from 0 to 100, e.g. 10 for 10%.' });
    else if (v.relative && v.baseline === 0) out.push({ field: 'baseline', message: 'A relative effect needs a baseline above 0% (or make the effect absolute, in percentage points).' });
  } else {
    if (bad(v.baseline) || (v.relative && v.baseline === 0)) out.push({ field: 'baseline', message: v.relative ? 'The baseline mean is a number other than 0 (a relative effect needs one).' : 'The baseline mean is a number.' });
    if (bad(v.stddev) || !(v.stddev > 0)) out.push({ field: 'stddev', message: 'The standard deviation is a number above 0 (from a past experiment or this one).' });
  }
  const dir = v.mde < 0 ? ' (its direction is chosen under “Direction of the effect”)' : '';
  if (bad(v.mde) || !(v.mde > 0)) out.push({ field: 'mde', message: v.relative ? `The effect is a percentage above 0, e.g. 5 for a 5% change${dir}.` : `The effect is a number above 0${dir}.` });
  else if (v.binomial && !out.length) {
    const t = targetRate(v);
    const shown = `${Number(t.toFixed(4))}%`;
    if (!(t >= 0)) out.push({ field: 'mde', message: `A decrease of this size takes the rate to ${shown}: the target rate cannot go below 0%.` });
    else if (!(t <= 100)) out.push({ field: 'mde', message: `An increase of this size takes the rate to ${shown}: the target rate cannot go above 100%.` });
  }
  if (bad(v.alpha) || !(v.alpha > 0 && v.alpha < 50)) out.push({ field: 'alpha', message: 'The significance level is a percentage between 0 and 50, usually 5.' });
  if (bad(v.power) || !(v.power > 0 && v.power < 100)) out.push({ field: 'power', message: 'Power is a percentage between 0 and 100, usually 80.' });
  if (bad(v.variants) || !(Number.isInteger(v.variants) && v.variants >= 2 && v.variants <= 20)) out.push({ field: 'variants', message: 'Variants is a whole number from 2 to 20, counting the control.' });
  if (v.daily_users !== undefined && (Number.isNaN(v.daily_users) || v.daily_users < 0)) out.push({ field: 'daily_users', message: 'Daily users is a number of users, 0 or more (or empty).' });
  return out;
}

export async function renderPower(ctx) {
  ctx.title('Power calculator');
  const expSel = h('select', { id: 'pw-experiment' }, h('option', { value: '' }, 'None: type the numbers'));
  const typeSel = h('select', {}, h('option', { value: 'binomial' }, 'Conversion rate (binomial)'), h('option', { value: 'mean' }, 'Mean (count or sum)'));
  const baseIn = h('input', { type: 'number', step: 'any', value: '10', inputmode: 'decimal' });
  const sdIn = h('input', { type: 'number', step: 'any', min: '0', value: '', inputmode: 'decimal' });
  const mdeIn = h('input', { type: 'number', step: 'any', value: '5', inputmode: 'decimal' });
  const relIn = h('input', { type: 'checkbox', id: 'pw-relative', checked: true, dataset: { field: 'relative' } });
  const dirSel = h('select', {}, h('option', { value: 'increase' }, 'Increase (the target is above the baseline)'), h('option', { value: 'decrease' }, 'Decrease (the target is below the baseline)'));
  const alphaIn = h('input', { type: 'number', step: 'any', min: '0', max: '50', value: '5', inputmode: 'decimal' });
  const powerIn = h('input', { type: 'number', step: 'any', min: '0', max: '100', value: '80', inputmode: 'decimal' });
  const varIn = h('input', { type: 'number', step: '1', min: '2', max: '20', value: '2' });
  const dailyIn = h('input', { type: 'number', step: '1', min: '0', value: '1000' });

  const sdField = field('Standard deviation per user', sdIn, { field: 'stddev', hint: 'From a past experiment, or prefilled from one.' });
  const baseField = field('Baseline', baseIn, { field: 'baseline' });
  const mdeField = field('Minimum detectable effect', mdeIn, { field: 'mde' });
  const baseLabel = baseField.wrap.querySelector('label');
  const mdeLabel = mdeField.wrap.querySelector('label');
  const baseHint = h('p', { class: 'hint' });
  const mdeHint = h('p', { class: 'hint' });
  baseField.wrap.append(baseHint);
  mdeField.wrap.append(mdeHint);
  const context = h('p', { class: 'muted', id: 'pw-context' });
  const describe = () => {
    const bin = typeSel.value === 'binomial';
    sdField.wrap.hidden = bin;
    baseLabel.textContent = bin ? 'Baseline conversion rate (%)' : 'Baseline mean per user';
    baseHint.textContent = bin ? 'The control’s rate today, e.g. 10 for 10%.' : 'The control’s mean per user today.';
    mdeLabel.textContent = relIn.checked ? 'Minimum detectable effect (% of the baseline)' : bin ? 'Minimum detectable effect (percentage points)' : 'Minimum detectable effect (in the metric’s unit)';
    const down = dirSel.value === 'decrease';
    mdeHint.textContent = relIn.checked ? `The smallest relative change worth detecting, e.g. 5 for ${down ? '−' : '+'}5%.` : bin ? (down ? 'e.g. 1 to detect 10% → 9%.' : 'e.g. 1 to detect 10% → 11%.') : 'The smallest change of the mean worth detecting.';
  };

  const out = h('div', { class: 'power-out', 'aria-live': 'polite' });
  const summary = h('div', { class: 'form-errors', tabindex: '-1' });
  const stale = () => {
    if (out.firstChild) fill(out, h('p', { class: 'muted', id: 'pw-stale' }, 'The inputs changed: press Calculate for a new answer.'));
  };
  const form = h('form', { class: 'card power-form', novalidate: true },
    summary,
    field('Prefill from an experiment', expSel, { field: 'experiment', hint: 'Takes its primary metric, variants, minimum detectable effect and the traffic seen so far.' }).wrap,
    context,
    h('div', { class: 'grid-3' },
      field('Metric type', typeSel, { field: 'metric_type' }).wrap,
      baseField.wrap,
      sdField.wrap,
      mdeField.wrap,
      h('div', { class: 'field check' }, relIn, h('label', { for: relIn.id }, 'Effect is relative to the baseline')),
      field('Direction of the effect', dirSel, { field: 'direction', hint: 'Which way the metric should move (its goal). For a conversion rate the users needed differ: 10% → 9.5% is not 10% → 10.5%.' }).wrap,
      field('Significance level (%)', alphaIn, { field: 'alpha', hint: 'False-positive rate, usually 5.' }).wrap,
      field('Power (%)', powerIn, { field: 'power', hint: 'Chance of detecting the effect if it is real, usually 80.' }).wrap,
      field('Variants (including control)', varIn, { field: 'variants' }).wrap,
      field('Daily users entering the experiment', dailyIn, { field: 'daily_users' }).wrap),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Calculate')));
  typeSel.addEventListener('change', describe);
  relIn.addEventListener('change', describe);
  dirSel.addEventListener('change', describe);
  form.addEventListener('input', stale);
  form.addEventListener('change', stale);
  describe();

  // the prefilled experiment when its weights differ (its totals are the smallest variant's)
  let weighted = null;
  // input -> {shown, sent, type}: a prefilled number is shown rounded and sent exact
  // (`sent`, in the API's units) while the input still shows it for the same metric type
  const exact = new Map();
  const prefillNumber = (input, shown, sent) => {
    input.value = shown;
    exact.set(input, { shown, sent, type: typeSel.value });
  };
  const exactOf = (input) => {
    const e = exact.get(input);
    return e && e.shown === input.value && e.type === typeSel.value ? e.sent : undefined;
  };
  async function prefill(key) {
    weighted = null;
    exact.clear();
    clear(context);
    if (!key) return;
    context.append(loading('Reading the experiment…'));
    let x;
    let r;
    let catalogue;
    try {
      [x, catalogue] = await Promise.all([api.getExperiment(key), api.listMetrics()]);
      r = x.status === 'draft' ? null : await api.results(key);
    } catch (err) {
      if (err.status === 401 || !ctx.alive()) return;
      fill(context, errorBox(err, 'Cannot prefill:'));
      return;
    }
    if (!ctx.alive()) return;
    const pm = x.primary_metric || (x.metrics || [])[0];
    const def = catalogue.find((m) => m.key === pm);
    const rm = r && r.metrics.find((m) => m.key === pm);
    const c = rm && rm.variants[0];
    typeSel.value = def && def.type === 'binomial' ? 'binomial' : 'mean';
    relIn.checked = true;
    // the metric's goal: the decision panel plans a decrease as p1 (1 - mde)
    dirSel.value = def && def.goal === 'decrease' ? 'decrease' : 'increase';
    mdeIn.value = pctText(typeof x.mde === 'number' ? x.mde : DEFAULT_MDE);
    varIn.value = String(x.variants.length);
    alphaIn.value = pctText((x.analysis && x.analysis.alpha) || 0.05);
    const notes = [];
    if (dirSel.value === 'decrease') notes.push('planned as a decrease, the metric’s goal');
    if (c && typeof c.mean === 'number') {
      // shown to 6 significant digits, sent exact: two decimals of a percent (0.4449% ->
      // 0.44) moved the users needed away from the decision panel's, which uses the mean
      if (typeSel.value === 'binomial') prefillNumber(baseIn, String(Number((c.mean * 100).toPrecision(6))), c.mean);
      else prefillNumber(baseIn, String(Number(c.mean.toPrecision(6))), c.mean);
      if (typeof c.stddev === 'number') prefillNumber(sdIn, String(Number(c.stddev.toPrecision(6))), c.stddev);
      notes.push(`baseline from the control’s ${fmtInt(c.users)} users`);
    } else notes.push('no results yet: type the baseline');
    const elapsed = (runningMs(x) || 0) / DAY;
    const users = r ? r.variants.reduce((a, v) => a + v.users, 0) : 0;
    if (elapsed >= 1 && users > 0) {
      dailyIn.value = String(Math.round(users / elapsed));
      notes.push(`daily users from ${fmtInt(users)} users in ${fmtDays(Math.floor(elapsed))}`);
    } else {
      // no measured rate: the page's 1,000 would give a duration ("Days 29") that nothing
      // measured backs; days stay "—" until the daily users are typed
      dailyIn.value = '';
      notes.push(users > 0 ? 'less than a day of traffic: type the daily users' : 'no traffic yet: type the daily users');
    }
    if (unequalWeights(x)) {
      weighted = x;
      notes.push(`weights ${x.variants.map((y) => `${Number((y.weight * 100).toFixed(2))}%`).join(' / ')}: the total is the one at which the variant of the least weight has the users needed`);
    }
    describe();
    fill(context, `Prefilled from ${x.name || x.key}, primary metric ${(def && def.name) || pm || 'none'}: ${notes.join('; ')}.`);
    form.requestSubmit();
  }
  expSel.addEventListener('change', () => {
    ctx.setQuery({ experiment: expSel.value });
    prefill(expSel.value);
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFieldErrors(form);
    const bin = typeSel.value === 'binomial';
    const v = {
      binomial: bin,
      relative: relIn.checked,
      decrease: dirSel.value === 'decrease',
      baseline: numberOf(baseIn.value),
      stddev: numberOf(sdIn.value),
      mde: numberOf(mdeIn.value),
      alpha: numberOf(alphaIn.value),
      power: numberOf(powerIn.value),
      variants: numberOf(varIn.value),
      daily_users: numberOf(dailyIn.value),
    };
    clear(out);
    if (showErrors(form, mergeProblems(badNumberProblems(form), powerProblems(v)), summary)) return;
    const body = {
      metric_type: typeSel.value,
      baseline: exactOf(baseIn) ?? (bin ? v.baseline / 100 : v.baseline),
      // the API takes the direction as the sign of the effect
      mde: (v.decrease ? -1 : 1) * (v.relative || bin ? v.mde / 100 : v.mde),
      relative: v.relative,
      alpha: v.alpha / 100,
      power: v.power / 100,
      variants: v.variants,
    };
    if (v.daily_users !== undefined) body.daily_users = v.daily_users;
    if (!bin) body.stddev = exactOf(sdIn) ?? v.stddev;
    // the prefilled experiment's weights, while the variants are still its own
    const w = weighted && v.variants === weighted.variants.length ? weighted : null;
    try {
      const r = await api.power(body);
      if (!ctx.alive()) return;
      let total = r.total_users;
      let days = r.days === undefined ? null : r.days;
      let totalLabel = 'Total users';
      if (w) {
        total = totalNeeded(w, r.users_per_variant);
        days = v.daily_users > 0 ? Math.ceil(total / v.daily_users) : null;
        totalLabel = `Total users, for the smallest variant (weight ${Number((leastWeight(w) * 100).toFixed(2))}%)`;
      }
      fill(out, h('dl', { class: 'power-result' },
        h('div', {}, h('dt', {}, 'Users per variant'), h('dd', { id: 'pw-users' }, fmtInt(r.users_per_variant))),
        h('div', {}, h('dt', { id: 'pw-total-label' }, totalLabel), h('dd', { id: 'pw-total' }, fmtInt(total))),
        h('div', {}, h('dt', {}, 'Days'), h('dd', { id: 'pw-days' }, days === null ? '—' : fmtInt(days)))),
      bin ? h('p', { class: 'muted', id: 'pw-target' }, `Planned for a conversion rate going from ${Number((body.baseline * 100).toPrecision(6))}% to ${Number(targetRate({ ...v, baseline: body.baseline * 100 }).toPrecision(6))}% (${v.decrease ? 'a decrease' : 'an increase'}).`) : null,
      w ? h('p', { class: 'muted', id: 'pw-weights' }, `The weights of ${w.name || w.key} differ: users per variant × variants (${fmtInt(r.total_users)}) would be right only for equal weights; its variant of the least weight reaches ${fmtInt(r.users_per_variant)} users last.`) : null,
      days === null ? h('p', { class: 'muted' }, 'Give the daily traffic to estimate the duration.') : null);
    } catch (err) {
      if (err.status === 401) return;
      showErrors(form, serverErrors(err), summary);
    }
  });

  fill(ctx.main,
    h('h1', {}, 'Power calculator'),
    h('p', { class: 'muted' }, 'How many users does an experiment need to detect an effect of a given size, and how long will that take?'),
    form,
    out
  );
  let list = [];
  try {
    list = await api.listExperiments();
  } catch (err) {
    if (err.status === 401) return;
  }
  if (!ctx.alive()) return;
  for (const x of list.filter((y) => y.status !== 'archived')) {
    expSel.append(h('option', { value: x.key, selected: x.key === ctx.query.experiment }, `${x.name || x.key} (${x.status})`));
  }
  if (ctx.query.experiment && list.some((x) => x.key === ctx.query.experiment)) await prefill(ctx.query.experiment);
  else form.requestSubmit(); // an answer for the defaults straight away
}

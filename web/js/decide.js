// decide.js - what a product manager should do with an experiment: ship, keep running or
// stop, and why. Pure functions (no DOM): tests/browser/format_unit.mjs checks them against
// literal texts, and the browser tests check that the page says what they imply.
//
// Inputs: the experiment document, a results document (GET /results) and the metrics
// catalogue. Users needed per variant come from the results' `decision` (the server's
// power analysis for the experiment's `mde`) when it is there, else from the control
// arm's observed mean and standard deviation with the normal approximation below.

import { shownVerdict, daysBetween, fmtProb, fmtPEq, variantName } from './format.js';

const DAY = 86400000;
export const DEFAULT_MDE = 0.05;

function isNum(x) {
  return typeof x === 'number' && Number.isFinite(x);
}

/** The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9). */
export function normQuantile(p) {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -normQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Users per variant to detect a relative change `mde` of the control mean with a two-sided
 * test at `alpha` and power 0.8: 2 (z(1-alpha/2) + z(0.8))^2 sd^2 / (mde * mean)^2.
 * null when the control has no usable mean or spread yet.
 */
export function usersNeeded(mean, sd, mde, alpha) {
  if (!isNum(mean) || !isNum(sd) || mean === 0 || sd <= 0 || !(mde > 0)) return null;
  const z = normQuantile(1 - alpha / 2) + normQuantile(0.8);
  const delta = mde * Math.abs(mean);
  return Math.ceil((2 * z * z * sd * sd) / (delta * delta));
}

function pick(o, names) {
  for (const n of names) if (o && isNum(o[n])) return o[n];
  return null;
}

export const STATE_TEXT = {
  ship: 'ship candidate',
  worse: 'worse than control',
  harm: 'harm on a guardrail',
  running: 'keep running',
  paused: 'paused: resume to collect more data',
  ended: 'inconclusive: ended early',
  'no-effect': 'no effect detected at this power',
  none: 'no data yet',
  waiting: 'waiting for exposures',
  empty: 'ended with no exposures',
  untrusted: 'untrusted (sample ratio mismatch)',
};

/**
 * How long experiment `x` has run as of `now`, in ms, its pauses left out (no users
 * arrive while paused): (stopped_at or now) - started_at - paused_ms - the current pause.
 * Null when never started.
 */
export function runningMs(x, now = Date.now()) {
  if (!isNum(x.started_at)) return null;
  const end = x.stopped_at || now;
  let paused = isNum(x.paused_ms) ? x.paused_ms : 0;
  if (isNum(x.paused_at) && !x.stopped_at && end > x.paused_at) paused += end - x.paused_at;
  return Math.max(0, end - x.started_at - paused);
}

/**
 * The least positive weight of experiment `x`'s variants (a variant of weight 0 gets no
 * users and waits for none), or null when it has none.
 */
export function leastWeight(x) {
  const ws = (x.variants || []).map((v) => v.weight).filter((w) => isNum(w) && w > 0);
  return ws.length ? Math.min(...ws) : null;
}

/**
 * Total users when each of the variants with a weight above 0 has `needed`: the variant of
 * the least weight reaches it last, at needed / that weight (needed x variants only when the
 * weights are equal). Null when it cannot be known.
 */
export function totalNeeded(x, needed) {
  const ws = (x.variants || []).map((v) => v.weight).filter((w) => isNum(w) && w > 0);
  if (!isNum(needed) || ws.length === 0) return null;
  const least = Math.min(...ws);
  // equal weights stored as 0.333333 and 0.333334: needed x variants, not one more
  if (!unequalWeights(x)) return needed * ws.length;
  return Math.ceil(needed / least);
}

/** Whether the weights of `x`'s variants that get users differ. */
export function unequalWeights(x) {
  const ws = (x.variants || []).map((v) => v.weight).filter((w) => isNum(w) && w > 0);
  return ws.some((w) => Math.abs(w - ws[0]) > 1e-4 * ws[0]);
}

/**
 * The multiple-comparison family of results `r` as the server adjusts it
 * (src/api/results_family.c, STATS.md "Multiple comparisons"): every (metric, treatment) of
 * the document whose relative lift has a p-value (the verdicts follow the relative family;
 * a comparison without a p-value is not counted). Returns {comparisons, metrics,
 * treatments}: how many comparisons, over how many metrics and at most how many treatments.
 */
export function comparisonFamily(r) {
  let comparisons = 0;
  const metrics = new Set();
  let treatments = 0;
  for (const m of (r && r.metrics) || []) {
    const tested = m.variants.slice(1).filter((v) => v.relative_lift && isNum(v.relative_lift.p_value));
    comparisons += tested.length;
    if (tested.length) metrics.add(m.key);
    treatments = Math.max(treatments, tested.length);
  }
  return { comparisons, metrics: metrics.size, treatments };
}

/**
 * The caveat of a decision read from uncorrected p-values of a family of more than one
 * comparison (frequentist or sequential with `correction` none), naming the p-values of the
 * `rows` it rests on; '' when it does not apply (a correction on, Bayesian, one comparison).
 */
export function multiplicityCaveat(r, pm, rows) {
  if (!r || r.method === 'bayesian' || (r.correction && r.correction !== 'none')) return '';
  const fam = comparisonFamily(r);
  if (fam.comparisons < 2) return '';
  const ps = rows.map((row) => {
    const v = pm ? pm.variants.find((y) => y.key === row.variant) : null;
    const p = v && v.relative_lift ? v.relative_lift.p_value : null;
    return isNum(p) ? `${row.name || row.variant} ${fmtPEq(p)}` : null;
  }).filter(Boolean);
  const shape = `${fam.metrics} metric${fam.metrics === 1 ? '' : 's'} × ${fam.treatments} treatment${fam.treatments === 1 ? '' : 's'}`;
  return ` Not corrected for multiple comparisons: ${ps.length ? `${ps.join(', ')} ${ps.length === 1 ? 'is' : 'are'}` : 'this is'} one of ${fam.comparisons} comparisons (${shape}), so a p-value below ${r.alpha || 0.05} can come up by chance; check it under a correction (Holm–Bonferroni) before acting on it.`;
}

/**
 * The decision for experiment `x` from results `r`. Returns
 * {daysRunning, running, usersSoFar, perVariant: [{key, users}], smallest, progress, needed,
 *  neededTotal, neededSource, mde, daysLeft, warning, srm: "ok"|"mismatch"|"none",
 *  rows: [{variant, name, state, text, why}] (`name`: variantName, what the prose says),
 *  guardrails: [{metric, variant, verdict}], overall: {action, headline, why, correct}}
 * (`correct`: true when `why` carries the multiple-comparison caveat, multiplicityCaveat).
 * `r` null: "Not started" for a draft, action "unavailable" for any other status (its
 * results failed). `now` is the current time in ms (a parameter, for tests).
 */
export function decide(x, r, catalogue, now = Date.now()) {
  const byKey = new Map((catalogue || []).map((m) => [m.key, m]));
  const ran = runningMs(x, now);
  const running = x.status === 'running' || x.status === 'paused';
  const elapsed = ran === null ? null : ran / DAY;
  const out = {
    daysRunning: ran === null ? null : daysBetween(0, ran),
    running,
    usersSoFar: null,
    perVariant: [],
    smallest: null, // users of the variant (weight above 0) that has the fewest
    progress: null, // smallest / needed, at most 1 (the server's decision.progress)
    needed: null,
    neededTotal: null, // total users when every variant has `needed` (totalNeeded)
    neededSource: null,
    plannedFor: 'fixed_sample',
    mde: isNum(x.mde) ? x.mde : DEFAULT_MDE,
    daysLeft: null,
    warning: null, // the server's decision.warning ("the experiment is paused: ...")
    srm: 'none',
    rows: [],
    guardrails: [],
    overall: { action: 'none', headline: 'Not started', why: 'Start the experiment to collect exposures.' },
  };
  if (x.status === 'draft') return out;
  if (!r) {
    // started, but its results could not be read (503 while the server is busy...):
    // not "not started", and not "no exposures" either
    out.overall = { action: 'unavailable', headline: 'Decision unavailable', why: 'The results could not be computed, so the page cannot say what to do yet.' };
    return out;
  }
  out.perVariant = r.variants.map((v) => ({ key: v.key, users: v.users || 0 }));
  out.usersSoFar = out.perVariant.reduce((s, v) => s + v.users, 0);
  // the variants that receive users, as the server counts them: one of weight 0 stays
  // empty by design and waits for nothing
  const weightOf = new Map((x.variants || []).map((v) => [v.key, v.weight]));
  const live = out.perVariant.filter((v) => !(weightOf.get(v.key) === 0));
  out.smallest = live.length ? Math.min(...live.map((v) => v.users)) : 0;
  const srm = r.srm || {};
  out.srm = out.usersSoFar === 0 ? 'none' : srm.mismatch ? 'mismatch' : 'ok';

  // users needed for the experiment's MDE on the primary metric
  const pm = r.metrics.find((m) => m.key === x.primary_metric);
  const dec = r.decision || null;
  if (dec) {
    if (isNum(dec.mde)) out.mde = dec.mde;
    out.needed = pick(dec, ['users_needed_per_variant', 'users_per_variant', 'users_needed']);
    if (out.needed !== null) out.neededSource = 'server';
    // sequential: the confidence sequence's plan, more users than the fixed-sample one
    out.plannedFor = dec.planned_for === 'sequential' ? 'sequential' : 'fixed_sample';
    const dl = pick(dec, ['days_left']);
    if (dl !== null) out.daysLeft = Math.max(0, Math.ceil(dl));
    const least = pick(dec, ['users_smallest_variant']);
    if (least !== null) out.smallest = least;
    const pr = pick(dec, ['progress']);
    if (pr !== null) out.progress = Math.min(1, Math.max(0, pr));
    if (typeof dec.warning === 'string' && dec.warning) out.warning = dec.warning;
  }
  if (out.needed === null && pm && pm.variants.length) {
    const c = pm.variants[0];
    out.needed = usersNeeded(c.mean, c.stddev, out.mde, r.alpha || 0.05);
    if (out.needed !== null) out.neededSource = 'dashboard';
  }
  if (out.needed !== null) {
    if (out.progress === null) out.progress = out.needed > 0 ? Math.min(1, out.smallest / out.needed) : 1;
    out.neededTotal = totalNeeded(x, out.needed);
  }
  // no projection while paused (no users arrive), as the server's days_left
  if (out.daysLeft === null && out.needed !== null && x.status === 'running' && elapsed !== null && elapsed >= 1) {
    let worst = 0;
    for (const v of live) {
      const rate = v.users / elapsed;
      const missing = Math.max(0, out.needed - v.users);
      worst = Math.max(worst, missing === 0 ? 0 : rate > 0 ? missing / rate : Infinity);
    }
    out.daysLeft = Number.isFinite(worst) ? Math.ceil(worst) : null;
  }
  const enough = out.needed !== null && out.smallest >= out.needed;

  // Bayesian: no significance test, a chance to beat control and a credible interval
  // (STATISTICS.md): the reasons say so, never "significantly"
  const bayes = r.method === 'bayesian';
  const known = (v) => isNum(v.chance_to_beat_control);
  // the chance on the verdict's side: a binomial metric's chance comes from the unadjusted
  // conversions, its verdict from the CUPED-adjusted interval, and the pre-period can put
  // them on opposite sides (the server's warning says so): the reason then says the
  // interval decided, never "beats control with only a 100% chance" (STATISTICS.md)
  const fits = (v, better) => known(v) && (better ? v.chance_to_beat_control > 0.5 : v.chance_to_beat_control < 0.5);
  // as the server's warning: CUPED on and applied (theta not 0), the chance strictly on the
  // other side of one half
  const cupedApplied = (v) => r.cuped === true && v.cuped && isNum(v.cuped.theta) && v.cuped.theta !== 0;
  const against = (v, better) => (known(v) && cupedApplied(v) && v.chance_to_beat_control !== 0.5 && !fits(v, better)
    ? ' (by its CUPED-adjusted interval: the chance to beat control, from the unadjusted conversions, points the other way)' : '');
  // the relative lift had no test: say which one decided
  const byAbs = (dv) => (dv.absolute ? ' (by its absolute lift: the relative lift has no test, as a mean or its standard error is 0)' : '');

  // guardrails that got worse, per variant: the reason of the first one
  const harmed = new Map();
  for (const g of x.guardrails || []) {
    const gm = r.metrics.find((m) => m.key === g);
    if (!gm) continue;
    const gName = (byKey.get(g) && byKey.get(g).name) || g;
    for (const v of gm.variants.slice(1)) {
      const gv = shownVerdict(v, gm.goal, r);
      out.guardrails.push({ metric: g, variant: v.key, verdict: gv.verdict });
      if (gv.verdict !== 'loss' || harmed.has(v.key)) continue;
      // the chance to be worse is the complement of the chance to beat control (which is
      // in the guardrail's goal direction)
      harmed.set(v.key, !bayes ? `${gName} (a guardrail) got significantly worse${byAbs(gv)}.`
        : fits(v, false) ? `${gName} (a guardrail) is worse than control with a ${fmtProb(1 - v.chance_to_beat_control)} chance${byAbs(gv)}.`
          : `${gName} (a guardrail) is credibly worse than control${byAbs(gv)}${against(v, false)}.`);
    }
  }

  const pmName = pm ? (byKey.get(pm.key) && byKey.get(pm.key).name) || pm.key : null;
  // "did not move significantly" (frequentist, sequential) or its Bayesian counterpart
  const still = bayes ? 'shows no credible change yet' : 'has not moved significantly yet';
  const didNot = bayes ? 'showed no credible change' : 'did not move significantly';
  const paused = x.status === 'paused';
  for (const v of pm ? pm.variants.slice(1) : x.variants.slice(1).map((y) => ({ key: y.key }))) {
    const dv = pm ? shownVerdict(v, pm.goal, r) : { verdict: 'none', absolute: false };
    const vd = dv.verdict;
    const by = byAbs(dv);
    let state;
    let why;
    if (harmed.has(v.key)) {
      state = 'harm';
      why = harmed.get(v.key);
    } else if (vd === 'win') {
      state = 'ship';
      why = !bayes ? `${pmName} is significantly better than control${by}.`
        : fits(v, true) ? `${pmName} beats control with a ${fmtProb(v.chance_to_beat_control)} chance${by}.` : `${pmName} is credibly better than control${by}${against(v, true)}.`;
    } else if (vd === 'loss') {
      state = 'worse';
      why = !bayes ? `${pmName} is significantly worse than control${by}.`
        : fits(v, false) ? `${pmName} beats control with only a ${fmtProb(v.chance_to_beat_control)} chance${by}.` : `${pmName} is credibly worse than control${by}${against(v, false)}.`;
    } else if (!pm) {
      state = 'none';
      why = 'The experiment has no primary metric to decide on.';
    } else if (enough) {
      state = 'no-effect';
      why = `Every variant has the ${out.needed.toLocaleString('en-US')} users needed to see a ${Math.round(out.mde * 1000) / 10}% change, and ${pmName} ${bayes ? 'shows no credible change' : 'did not move significantly'}.`;
    } else if (!running) {
      // stopped before it could tell: "keep running" no longer applies (the headline's
      // "Inconclusive: ended before enough data")
      state = 'ended';
      why = out.needed === null
        ? `There was not enough data to say how many users ${pmName} needed.`
        : `${pmName} ${didNot}, and not every variant had the ${out.needed.toLocaleString('en-US')} users needed to see a ${Math.round(out.mde * 1000) / 10}% change.`;
    } else {
      // paused: no users arrive, so "keep running" would wait for ever (the headline's
      // "Paused: resume to reach the users needed")
      state = paused ? 'paused' : 'running';
      why = out.needed === null
        ? `Not enough data yet to say how many users ${pmName} needs.`
        : `${pmName} ${still}, and not every variant has the ${out.needed.toLocaleString('en-US')} users needed to see a ${Math.round(out.mde * 1000) / 10}% change.`;
    }
    if (out.usersSoFar === 0) {
      // nobody exposed yet: the row agrees with the headline ("Wait: no exposures yet",
      // "Paused with no exposures yet", "Ended with no exposures")
      state = x.status === 'paused' ? 'paused' : running ? 'waiting' : 'empty';
      why = running ? 'No user has been exposed yet.' : 'No user was exposed before the experiment stopped.';
    }
    if (out.srm === 'mismatch') {
      // the headline says to fix the split first: no row may read "ship candidate" (or any
      // other verdict) meanwhile; the reason keeps what was measured
      state = 'untrusted';
      why = `The split of users does not match the weights, so this cannot be trusted. As measured: ${why}`;
    }
    out.rows.push({ variant: v.key, name: variantName(x, v.key), state, text: STATE_TEXT[state], why });
  }

  // one recommendation for the page
  const ship = out.rows.filter((row) => row.state === 'ship');
  const bad = out.rows.filter((row) => row.state === 'harm' || row.state === 'worse');
  const wait = out.rows.filter((row) => ['running', 'paused', 'ended', 'none'].includes(row.state));
  const verb = running ? '' : ' (the experiment has ended)';
  if (out.srm === 'mismatch') {
    out.overall = { action: 'fix', headline: 'Do not decide yet: fix the traffic split', why: 'The split of users between variants does not match the weights (sample ratio mismatch), so every result below may be biased. Find the cause (assignment or exposure logging) first.' };
  } else if (out.usersSoFar === 0 && !running) {
    // ended before anyone saw it: waiting or checking /assign no longer helps
    out.overall = { action: 'none', headline: 'Ended with no exposures', why: 'No user was exposed before the experiment stopped, so there is nothing to decide. To test the idea, start a new experiment and check that your application calls /assign or sends exposures.' };
  } else if (out.usersSoFar === 0 && x.status === 'paused') {
    out.overall = { action: 'wait', headline: 'Paused with no exposures yet', why: 'No user has been exposed, and none will be while the experiment is paused: resume it, then check that your application calls /assign or sends exposures.' };
  } else if (out.usersSoFar === 0) {
    out.overall = { action: 'wait', headline: 'Wait: no exposures yet', why: 'No user has been exposed yet. Check that your application calls /assign or sends exposures.' };
  } else if (ship.length) {
    const best = ship.map((row) => row.name).join(', ');
    let why = ship.map((row) => `${row.name}: ${row.why}`).join(' ') + (bad.length ? ` Not ${bad.map((row) => row.name).join(', ')}: ${bad.map((row) => row.why).join(' ')}` : '');
    if (running && !enough && out.needed !== null && r.method !== 'sequential') {
      // a fixed-horizon test read early: say so rather than let a lucky day decide
      // the smallest variant decides: with unequal weights a total says nothing of it
      why += ` Early: the smallest variant has ${out.smallest.toLocaleString('en-US')} of the ${out.needed.toLocaleString('en-US')} users planned per variant; confirm at the planned sample${out.daysLeft !== null ? ` (about ${out.daysLeft} more day${out.daysLeft === 1 ? '' : 's'})` : ''} or with the Sequential analysis before shipping.`;
    } else if (!running && !enough && out.needed !== null && r.method !== 'sequential') {
      // stopped on a lucky day is the case the caveat above warns about: stopping does not
      // make the early read any safer
      why += ` Ended early: the smallest variant had ${out.smallest.toLocaleString('en-US')} of the ${out.needed.toLocaleString('en-US')} users planned per variant (${Math.min(99, Math.round((out.progress ?? 0) * 100))}%); a result read early overstates effects: confirm it in a follow-up experiment or with the Sequential analysis before shipping.`;
    }
    const caveat = multiplicityCaveat(r, pm, ship);
    out.overall = { action: 'ship', headline: `Ship ${best}${verb}`, why: why + caveat, correct: caveat !== '' };
  } else if (wait.length && x.status === 'paused') {
    // no users arrive while paused: "keep running" would wait for ever (the server's
    // decision says days_left null, "no projection until it resumes")
    const headline = out.needed !== null ? 'Paused: resume to reach the users needed' : 'Paused: resume to collect more data';
    out.overall = { action: 'wait', headline, why: `${wait[0].why} No users arrive while the experiment is paused: resume it to go on.` + (bad.length ? ` Meanwhile ${bad.map((row) => `${row.name}: ${row.why}`).join(' ')}` : '') };
  } else if (wait.length && running) {
    const left = out.daysLeft !== null ? ` about ${out.daysLeft} more day${out.daysLeft === 1 ? '' : 's'}` : '';
    out.overall = { action: 'wait', headline: `Keep running${left}`, why: wait[0].why + (bad.length ? ` Meanwhile ${bad.map((row) => `${row.name}: ${row.why}`).join(' ')}` : '') };
  } else if (wait.length) {
    // ended before enough data, with or without a worse treatment beside: not "no effect
    // detected" (which says the users needed were reached)
    out.overall = { action: 'stop', headline: 'Inconclusive: ended before enough data', why: `${wait[0].why} The experiment has ended, so no decision can be drawn from it.` + (bad.length ? ` Do not ship ${bad.map((row) => `${row.name}: ${row.why}`).join(' ')}` : '') };
  } else if (bad.length && bad.length === out.rows.length) {
    const caveat = multiplicityCaveat(r, pm, bad.filter((row) => row.state === 'worse'));
    out.overall = { action: 'stop', headline: 'Stop: keep the control', why: bad.map((row) => `${row.name}: ${row.why}`).join(' ') + caveat, correct: caveat !== '' };
  } else {
    out.overall = { action: 'stop', headline: 'Stop: no effect detected', why: `${(out.rows.find((row) => row.state === 'no-effect') || out.rows[0] || { why: '' }).why} A real effect, if any, is likely smaller than the ${Math.round(out.mde * 1000) / 10}% the experiment was sized for: keep the control, or ship the cheaper variant.` };
  }
  return out;
}

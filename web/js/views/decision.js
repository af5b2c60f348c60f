// decision.js - the top of the experiment page: one recommendation (ship, keep running,
// stop, fix) with the reason, the facts behind it (days running, users so far and the
// smallest variant's against the users needed per variant for the experiment's MDE, days
// left) and a plain-language state per treatment on the primary metric and its guardrails.
// The logic is js/decide.js.

import { h, fill, loading, nextId, variantCell } from '../dom.js';
import { fmtInt, fmtDays, fmtDateTime } from '../format.js';
import { decide, leastWeight, unequalWeights } from '../decide.js';

const OUTCOME_TEXT = { won: 'Won', lost: 'Lost', inconclusive: 'Inconclusive' };

/** The outcome as the page says it: "Won: <the winner's name>" when a winner is recorded. */
function outcomeText(x, c) {
  const said = OUTCOME_TEXT[c.outcome] || c.outcome;
  if (c.outcome !== 'won' || !c.winner) return said;
  const v = x.variants.find((w) => w.key === c.winner);
  return `${said}: ${(v && v.name) || c.winner}`;
}

/** The recorded conclusion of a stopped experiment, or null. */
export function conclusionBlock(x) {
  const c = x.conclusion;
  if (!c) return null;
  return h('section', { class: ['card', 'conclusion', `conclusion-${c.outcome}`], id: 'conclusion', 'aria-label': 'Conclusion' },
    h('h2', {}, 'Conclusion: ', h('span', { class: ['outcome', `outcome-${c.outcome}`], dataset: { winner: c.winner || '' }, title: c.winner ? `Variant ${c.winner}` : null }, outcomeText(x, c))),
    c.notes ? h('p', { class: 'notes-text' }, c.notes) : h('p', { class: 'muted' }, 'No notes.'),
    h('p', { class: 'muted small' }, `Recorded ${fmtDateTime(c.concluded_at)}.`));
}

export function outcomeTag(c) {
  if (!c) return null;
  return h('span', { class: ['outcome', `outcome-${c.outcome}`], title: c.notes || '' }, OUTCOME_TEXT[c.outcome] || c.outcome);
}

function fact(label, value, extra, id) {
  return h('div', {}, h('dt', {}, label), h('dd', { id }, value, extra ? [' ', h('span', { class: 'small muted' }, extra)] : null));
}

function render(box, x, r, catalogue, { onCorrection = null } = {}) {
  const d = decide(x, r, catalogue);
  box.className = `card decision decision-${d.overall.action}`;
  box.dataset.decision = d.overall.action;
  const mdePct = `${Math.round(d.mde * 1000) / 10}%`;
  // the smallest variant (the server's decision.progress): a total hides a variant that
  // lags when the weights differ
  const progress = d.progress;
  const uneven = unequalWeights(x);
  const totalNote = d.neededTotal === null ? null
    : uneven ? `(${fmtInt(d.neededTotal)} in total: the variant of the least weight, ${Number((leastWeight(x) * 100).toFixed(2))}%, gets there last)`
      : `(${fmtInt(d.neededTotal)} in total)`;
  const m = r && r.metrics.find((y) => y.key === x.primary_metric);
  const mName = m ? ((catalogue || []).find((c) => c.key === m.key) || {}).name || m.key : null;
  const headId = nextId('decision');
  fill(box,
    h('h2', { class: 'visually-hidden', id: headId }, 'Decision'),
    h('p', { class: 'decision-headline', id: 'decision-headline', tabindex: '-1' }, d.overall.headline),
    h('p', { class: 'decision-why', id: 'decision-why' }, d.overall.why),
    // a definition change is being applied: the decision reads the previous definition's numbers
    r && r.rebuilding
      ? h('p', { class: 'decision-rebuilding alert alert-info', id: 'decision-rebuilding' }, 'Recomputing after a definition change: this decision reads the last complete numbers, under the previous definition, and may change when the rebuild ends (see Results).')
      : null,
    // read from uncorrected p-values of several comparisons (decide.js multiplicityCaveat):
    // one click shows the same results under Holm (the experiment's stored analysis stays)
    d.overall.correct && onCorrection ? h('p', { class: 'decision-correct' }, correctionButton(box, onCorrection)) : null,
    h('dl', { class: 'facts' },
      fact('Days running', d.daysRunning === null ? '—' : fmtDays(d.daysRunning), x.status === 'stopped' ? '(ended)' : x.status === 'paused' ? '(paused)' : null, 'days-running'),
      fact('Users so far', fmtInt(d.usersSoFar), d.needed !== null ? `smallest variant: ${fmtInt(d.smallest)} of ${fmtInt(d.needed)} needed` : null, 'users-so-far'),
      // the server's warning without users needed says why there are none: beside them
      fact(`Users needed per variant (${mdePct} change)`, d.needed === null ? 'not known yet' : fmtInt(d.needed),
        d.needed === null ? (d.warning ? `(${d.warning})` : null)
          : [totalNote, d.neededSource === 'dashboard' ? '(estimated here from the control’s spread)' : null,
            d.plannedFor === 'sequential' ? '(for the sequential test, whose always-valid interval is wider than a fixed-sample test’s)' : null].filter(Boolean).join(' ') || null, 'users-needed'),
      // paused: the page's own words (the server's "the experiment is paused: ..." says the same)
      fact('Days left', !d.running ? '—' : d.daysLeft === 0 ? 'none: enough users' : x.status === 'paused' ? 'none while paused' : d.daysLeft === null ? 'after one full day' : fmtDays(d.daysLeft),
        x.status === 'paused' && d.daysLeft !== 0 ? '(no users arrive, so no projection until it resumes)' : null, 'days-left')),
    progress !== null ? h('div', { class: 'field' },
      h('label', { for: headId + '-p' }, `Progress of the smallest variant to the sample needed to detect a ${mdePct} change in ${mName}`),
      h('progress', { id: headId + '-p', max: '1', value: String(progress) }, `${Math.round(progress * 100)}%`)) : null,
    d.rows.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'table table-cards small', id: 'decision-table' },
      h('caption', {}, mName ? `State per variant on the primary metric, ${mName}${(x.guardrails || []).length ? ', and its guardrails' : ''}` : 'State per variant'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Variant'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Why'))),
      h('tbody', {}, d.rows.map((row) => h('tr', { dataset: { variant: row.variant, state: row.state } },
        h('th', { scope: 'row', 'data-label': 'Variant' }, variantCell(row.name, row.variant)),
        h('td', { 'data-label': 'State' }, h('span', { class: ['state', `state-${row.state}`] }, row.text)),
        h('td', { 'data-label': 'Why' }, row.why)))))) : null,
    r && r.method === 'frequentist' && d.overall.action === 'wait'
      ? h('p', { class: 'muted small' }, 'With the frequentist method, decide once the users needed are reached: looking early and stopping on a lucky day inflates false positives. The sequential method lets you stop as soon as a result is significant, and needs more users to reach the same power.')
      : null,
    x.status !== 'draft' ? h('p', { class: 'small' }, h('a', { href: `#/power?experiment=${encodeURIComponent(x.key)}` }, 'Open the power calculator for this experiment')) : null);
  if (box.dataset.focusHeadline) {
    delete box.dataset.focusHeadline;
    box.querySelector('#decision-headline').focus();
  }
  return d.overall.headline;
}

/**
 * "Check it under Holm–Bonferroni": switches the Results section's correction (this page
 * only); the card's next rendering puts the focus on its headline (the button is gone).
 */
function correctionButton(box, onCorrection) {
  const btn = h('button', { type: 'button', class: 'btn btn-small', id: 'decision-use-holm' }, 'Check it under Holm–Bonferroni');
  btn.addEventListener('click', () => {
    btn.disabled = true;
    box.dataset.focusHeadline = 'true';
    onCorrection('holm');
  });
  return btn;
}

/**
 * What a failed results read means for the reader (`consequence`: what cannot be done),
 * its reason, then whether the page asks again by itself (`retryIn` seconds).
 */
export function unavailableText({ error, retryIn }, consequence = 'this cannot be decided yet') {
  const why = error && error.message ? error.message : 'the server did not answer';
  const next = retryIn !== null && retryIn !== undefined
    ? ` Trying again in ${retryIn} second${retryIn === 1 ? '' : 's'}.`
    : '';
  return `The results could not be computed (${why.replace(/\.$/, '')}), so ${consequence}.${next}`;
}

/** A "Try again" button calling `retry`, or null. */
export function retryButton(retry, id) {
  if (!retry) return null;
  const btn = h('button', { type: 'button', class: 'btn btn-small', id }, 'Try again');
  btn.addEventListener('click', () => {
    btn.disabled = true;
    retry();
  });
  return btn;
}

/** The card while the results fail: not "not started", not "no exposures". */
function renderUnavailable(box, x, catalogue, info) {
  const d = decide(x, null, catalogue);
  box.className = 'card decision decision-unavailable';
  box.dataset.decision = d.overall.action;
  fill(box,
    h('h2', { class: 'visually-hidden' }, 'Decision'),
    h('p', { class: 'decision-headline', id: 'decision-headline' }, d.overall.headline),
    h('p', { class: 'decision-why', id: 'decision-why' }, unavailableText(info)),
    info.retryIn === null || info.retryIn === undefined ? retryButton(info.retry, 'decision-retry') : null);
}

/**
 * The decision card; call update(results) whenever the results change (it returns the
 * headline shown, for the Results section's announcement), and
 * unavailable({error, retryIn, retry}) when they fail (retryIn: seconds until the page asks
 * again by itself, or null; retry: asks now). `onCorrection(c)`: shows the results under
 * correction `c` (the button beside a decision read from uncorrected p-values).
 */
export function decisionPanel(x, catalogue, { onCorrection = null } = {}) {
  const box = h('section', { class: 'card decision', id: 'decision', 'aria-label': 'Decision' });
  if (x.status === 'draft') {
    render(box, x, null, catalogue);
  } else {
    box.append(loading('Working out the decision…'));
  }
  return {
    el: box,
    update: (r) => render(box, x, r, catalogue, { onCorrection }),
    unavailable: (info) => renderUnavailable(box, x, catalogue, info),
  };
}

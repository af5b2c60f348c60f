// charts.js - the two SVG charts of the results page, drawn by hand: a forest plot of
// relative-lift intervals per variant, and the cumulative lift over time with its
// interval. Colours come from classes in style.css (the CSP allows no inline styles).

import { s, nextId } from './dom.js';
import { fmtPct, fmtPctInterval, UNBOUNDED_INTERVAL } from './format.js';

function isNum(x) {
  return typeof x === 'number' && Number.isFinite(x);
}

/** Colours of the treatments' series (style.css .series-0 ... .series-7). */
const SERIES_COLOURS = 8;

/**
 * The classes of treatment `k`'s series (0 the first treatment): one of eight colours, its
 * line dashed from the ninth treatment and dotted from the seventeenth, so that the 19
 * treatments the API allows all differ (the legend's swatches are striped alike).
 */
export function seriesClasses(k) {
  return [`series-${k % SERIES_COLOURS}`, k >= 2 * SERIES_COLOURS ? 'series-dot' : k >= SERIES_COLOURS ? 'series-dash' : null].filter(Boolean);
}

/** The classes of variant `j`'s bars (0 the control, grey): a treatment's are its series'. */
export function barClasses(j) {
  return j === 0 ? ['series-control'] : seriesClasses(j - 1);
}

/** Round tick values covering [lo, hi], about `count` of them. */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) {
    const d = Math.abs(lo) || 1;
    lo -= d / 2;
    hi += d / 2;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

function domain(values) {
  const v = values.filter(isNum);
  let lo = Math.min(0, ...v);
  let hi = Math.max(0, ...v);
  if (lo === hi) {
    lo -= 0.1;
    hi += 0.1;
  }
  const pad = (hi - lo) * 0.06;
  const ticks = niceTicks(lo - pad, hi + pad, narrow() ? 4 : 5);
  return { lo: Math.min(lo - pad, ticks[0]), hi: Math.max(hi + pad, ticks[ticks.length - 1]), ticks };
}

/** Phones get a narrower drawing, so that its text stays readable when scaled down. */
function narrow() {
  return typeof window !== 'undefined' && window.matchMedia && window.matchMedia('(max-width: 600px)').matches;
}

function tickLabel(v) {
  return fmtPct(v, { signed: true, digits: Math.abs(v) < 0.1 && v !== 0 ? 1 : 0 });
}

/**
 * Forest plot. rows: [{label, estimate, lo, hi, verdict, unbounded}], values as fractions;
 * `unbounded` (an adjusted interval of an adjusted p-value of 1): a dashed line across the
 * whole axis, with open ends. `title` names the chart for assistive technology.
 */
export function forestPlot(rows, { title }) {
  const small = narrow();
  const W = small ? 360 : 640;
  const rowH = 34;
  const top = 12;
  const axisH = 30;
  const left = small ? 84 : 130;
  const right = small ? 16 : 24;
  const H = top + rows.length * rowH + axisH;
  const d = domain(rows.flatMap((r) => [r.lo, r.hi, r.estimate]));
  const x = (v) => left + ((v - d.lo) / (d.hi - d.lo)) * (W - left - right);
  const titleId = nextId('chart');

  const svg = s('svg', {
    class: 'chart forest',
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-labelledby': titleId,
    preserveAspectRatio: 'xMinYMin meet',
  });
  const desc = rows
    .map((r) => `${r.label}: ${fmtPct(r.estimate, { signed: true })} (${r.unbounded ? 'unbounded interval' : isNum(r.lo) ? `${fmtPct(r.lo, { signed: true })} to ${fmtPct(r.hi, { signed: true })}` : 'no interval'})`)
    .join('; ');
  svg.append(s('title', { id: titleId }, `${title}. ${desc || 'No treatment variants.'}`));

  const plotBottom = top + rows.length * rowH;
  for (const t of d.ticks) {
    svg.append(
      s('line', { class: 'grid', x1: x(t), x2: x(t), y1: top - 4, y2: plotBottom }),
      s('text', { class: 'tick', x: x(t), y: plotBottom + 18, 'text-anchor': 'middle' }, tickLabel(t))
    );
  }
  svg.append(s('line', { class: 'zero', x1: x(0), x2: x(0), y1: top - 6, y2: plotBottom + 4 }));

  rows.forEach((r, i) => {
    const cy = top + i * rowH + rowH / 2;
    const g = s('g', { class: ['forest-row', `verdict-${r.verdict}`], dataset: { variant: r.label } });
    g.append(s('text', { class: 'label', x: left - 10, y: cy + 4, 'text-anchor': 'end' }, r.label.length > (small ? 10 : 16) ? r.label.slice(0, small ? 9 : 15) + '…' : r.label));
    if (r.unbounded) {
      g.append(s('line', { class: ['ci', 'ci-unbounded'], x1: left, x2: W - right, y1: cy, y2: cy }));
    } else if (isNum(r.lo) && isNum(r.hi)) {
      g.append(
        s('line', { class: 'ci', x1: x(r.lo), x2: x(r.hi), y1: cy, y2: cy }),
        s('line', { class: 'ci', x1: x(r.lo), x2: x(r.lo), y1: cy - 6, y2: cy + 6 }),
        s('line', { class: 'ci', x1: x(r.hi), x2: x(r.hi), y1: cy - 6, y2: cy + 6 })
      );
    }
    if (isNum(r.estimate)) {
      g.append(s('circle', { class: 'est', cx: x(r.estimate), cy, r: 5.5 }));
    } else {
      g.append(s('text', { class: 'tick', x: x(0) + 8, y: cy + 4 }, 'no estimate'));
    }
    svg.append(g);
  });
  return svg;
}

/**
 * Cumulative relative lift per day. series: [{label, points: [{date, estimate, lo, hi,
 * unbounded}]}]; `unbounded` (an adjusted interval of an adjusted p-value of 1): a dotted
 * line across the whole height on that day, never a missing band (which would read as the
 * most certain day when it is the least).
 */
export function liftChart(series, dates, { title }) {
  const small = narrow();
  const W = small ? 360 : 640;
  const H = small ? 240 : 280;
  const m = { l: small ? 52 : 62, r: small ? 10 : 16, t: 14, b: 44 };
  const d = domain(series.flatMap((se) => se.points.flatMap((p) => [p.lo, p.hi, p.estimate])));
  const n = dates.length;
  const x = (i) => (n <= 1 ? (m.l + W - m.r) / 2 : m.l + (i / (n - 1)) * (W - m.l - m.r));
  const y = (v) => m.t + (1 - (v - d.lo) / (d.hi - d.lo)) * (H - m.t - m.b);
  const titleId = nextId('chart');
  const svg = s('svg', { class: 'chart lift', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': titleId, preserveAspectRatio: 'xMinYMin meet' });
  const last = series.map((se) => {
    const p = se.points[se.points.length - 1];
    return p ? `${se.label} ${fmtPct(p.estimate, { signed: true })} ${p.unbounded ? `${UNBOUNDED_INTERVAL} (unbounded)` : fmtPctInterval([p.lo, p.hi])} on ${p.date}` : se.label;
  });
  svg.append(s('title', { id: titleId }, `${title}. Latest: ${last.join('; ') || 'no data'}.`));

  for (const t of d.ticks) {
    svg.append(
      s('line', { class: 'grid', x1: m.l, x2: W - m.r, y1: y(t), y2: y(t) }),
      s('text', { class: 'tick', x: m.l - 8, y: y(t) + 4, 'text-anchor': 'end' }, tickLabel(t))
    );
  }
  svg.append(s('line', { class: 'zero', x1: m.l, x2: W - m.r, y1: y(0), y2: y(0) }));
  const every = Math.max(1, Math.ceil(n / (small ? 4 : 6)));
  dates.forEach((dt, i) => {
    if (i % every !== 0 && i !== n - 1) return;
    if (i !== n - 1 && n - 1 - i < every && i !== 0) return;
    svg.append(s('text', { class: 'tick', x: x(i), y: H - m.b + 20, 'text-anchor': n <= 1 ? 'middle' : i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle' }, dt.slice(5)));
  });
  svg.append(s('text', { class: 'axis-title', x: (m.l + W - m.r) / 2, y: H - 6, 'text-anchor': 'middle' }, 'day (UTC, cumulative)'));

  // the series' whiskers on one day side by side, not on top of each other (a dot on a
  // chart of one day too, where there is no line to follow)
  const S = series.length;
  const slot = n <= 1 ? (W - m.l - m.r) / 2 : ((W - m.l - m.r) / (n - 1)) * 0.6;
  const step = S > 1 ? Math.min(n <= 1 ? 14 : 6, slot / S) : 0;
  series.forEach((se, k) => {
    const dx = (k - (S - 1) / 2) * step;
    const g = s('g', { class: ['series', ...seriesClasses(k)], dataset: { variant: se.label } });
    const idx = new Map(dates.map((dt, i) => [dt, i]));
    const pts = se.points.filter((p) => idx.has(p.date)).map((p) => ({ ...p, i: idx.get(p.date) }));
    // bands over consecutive points that have an interval
    let run = [];
    const flush = () => {
      if (run.length >= 2) {
        const upper = run.map((p) => `${x(p.i)},${y(p.hi)}`);
        const lower = run.slice().reverse().map((p) => `${x(p.i)},${y(p.lo)}`);
        g.append(s('polygon', { class: 'band', points: upper.concat(lower).join(' ') }));
      } else if (run.length === 1) {
        const p = run[0];
        const cx = x(p.i) + dx;
        const cap = Math.min(6, Math.max(2, step / 2 - 1) || 6);
        g.append(
          s('line', { class: 'whisker', x1: cx, x2: cx, y1: y(p.lo), y2: y(p.hi) }),
          s('line', { class: 'whisker', x1: cx - cap, x2: cx + cap, y1: y(p.lo), y2: y(p.lo) }),
          s('line', { class: 'whisker', x1: cx - cap, x2: cx + cap, y1: y(p.hi), y2: y(p.hi) })
        );
      }
      run = [];
    };
    for (const p of pts) {
      if (isNum(p.lo) && isNum(p.hi)) run.push(p);
      else {
        flush();
        if (p.unbounded) g.append(s('line', { class: ['whisker', 'whisker-unbounded'], x1: x(p.i) + dx, x2: x(p.i) + dx, y1: m.t, y2: H - m.b, dataset: { date: p.date } }));
      }
    }
    flush();
    const valid = pts.filter((p) => isNum(p.estimate));
    if (valid.length >= 2) {
      g.append(s('polyline', { class: 'line', points: valid.map((p) => `${x(p.i)},${y(p.estimate)}`).join(' ') }));
    }
    for (const p of valid) {
      g.append(s('circle', { class: 'dot', cx: x(p.i) + (n <= 1 ? dx : 0), cy: y(p.estimate), r: valid.length > 30 ? 2 : 3.5 }));
    }
    svg.append(g);
  });
  return svg;
}

/**
 * Exposures per day: one group of bars per day, one bar per variant (new users that day,
 * not cumulative). days: [{date, counts: [n per variant]}], keys: variant keys.
 */
export function dailyBars(days, keys, { title }) {
  const small = narrow();
  const W = small ? 360 : 640;
  const H = small ? 200 : 220;
  const m = { l: small ? 48 : 56, r: 10, t: 12, b: 40 };
  const top = Math.max(1, ...days.flatMap((d) => d.counts.filter(isNum)));
  const ticks = niceTicks(0, top, 4).filter((t) => t >= 0);
  const hi = Math.max(top, ticks[ticks.length - 1] || top);
  const y = (v) => m.t + (1 - v / hi) * (H - m.t - m.b);
  const n = Math.max(1, days.length);
  const band = (W - m.l - m.r) / n;
  const bw = Math.min(36, Math.max(1, (band * 0.8) / Math.max(1, keys.length)));
  const titleId = nextId('chart');
  const svg = s('svg', { class: 'chart bars', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': titleId, preserveAspectRatio: 'xMinYMin meet' });
  const last = days[days.length - 1];
  const desc = last ? `Latest day ${last.date}: ${keys.map((k, i) => `${k} ${last.counts[i]}`).join(', ')}` : 'no data';
  svg.append(s('title', { id: titleId }, `${title}. ${desc}.`));
  for (const t of ticks) {
    svg.append(
      s('line', { class: 'grid', x1: m.l, x2: W - m.r, y1: y(t), y2: y(t) }),
      s('text', { class: 'tick', x: m.l - 8, y: y(t) + 4, 'text-anchor': 'end' }, t >= 10000 ? `${Math.round(t / 1000)}k` : String(t))
    );
  }
  const every = Math.max(1, Math.ceil(n / (small ? 4 : 7)));
  days.forEach((d, i) => {
    const x0 = m.l + i * band + (band - bw * keys.length) / 2; // the group centred on its day
    keys.forEach((k, j) => {
      const v = d.counts[j];
      if (!isNum(v) || v <= 0) return;
      svg.append(s('rect', { class: ['bar', ...barClasses(j)], x: x0 + j * bw, y: y(v), width: Math.max(0.5, bw - 0.5), height: Math.max(0, y(0) - y(v)), dataset: { variant: k, date: d.date } }));
    });
    if (i % every === 0 || i === n - 1) {
      svg.append(s('text', { class: 'tick', x: m.l + i * band + band / 2, y: H - m.b + 18, 'text-anchor': 'middle' }, d.date.slice(5)));
    }
  });
  svg.append(s('line', { class: 'axis', x1: m.l, x2: W - m.r, y1: y(0), y2: y(0) }));
  svg.append(s('text', { class: 'axis-title', x: (m.l + W - m.r) / 2, y: H - 4, 'text-anchor': 'middle' }, 'new exposed users per day (UTC)'));
  return svg;
}

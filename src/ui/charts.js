// charts.js - the few charts the interface draws, as plain SVG: stacked
// horizontal bars (where each vCPU's time goes, by kstat) and line charts
// (rates over time from the ustats file).  Colours come from a fixed palette
// keyed by name, so a kstat keeps its colour from chart to chart.

import { s, h } from './dom.js';

const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948',
  '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#1f77b4', '#d62728'];

export function colour(name) {
  let x = 0;
  for (const c of name) x = (x * 31 + c.charCodeAt(0)) >>> 0;
  return PALETTE[x % PALETTE.length];
}

// rows: [{label, parts: [{name, value}]}]; each row is scaled to 100 %.
export function stackedBars(rows, opts = {}) {
  const W = opts.width || 1200, rowH = 26, left = 70, top = 8;
  const names = [];
  for (const r of rows) for (const p of r.parts) if (p.value > 0 && !names.includes(p.name)) names.push(p.name);
  const H = top + rows.length * rowH + 10;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', class: 'chart', role: 'img',
    'aria-label': opts.title || 'chart' });
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    svg.appendChild(s('text', { x: 0, y: y + 16, class: 'axis' }, r.label));
    const total = r.parts.reduce((a, p) => a + p.value, 0);
    let x = left;
    for (const p of r.parts) {
      if (!total || p.value <= 0) continue;
      const w = (W - left - 4) * p.value / total;
      svg.appendChild(s('rect', { x: x.toFixed(2), y, width: Math.max(w, 0.5).toFixed(2), height: rowH - 6,
        fill: colour(p.name), 'data-name': p.name },
      s('title', {}, `${r.label} ${p.name}: ${(100 * p.value / total).toFixed(1)} %`)));
      if (w > 44) svg.appendChild(s('text', { x: x + 3, y: y + 14, class: 'barlabel' }, p.name));
      x += w;
    }
  });
  return h('figure', { class: 'chartbox' }, svg, legend(names));
}

function legend(names) {
  return h('div', { class: 'legend' }, names.map((n) =>
    h('span', { class: 'key' }, svgSwatch(colour(n)), n)));
}

function svgSwatch(c) {
  return s('svg', { width: 10, height: 10, class: 'swatch' }, s('rect', { width: 10, height: 10, fill: c }));
}

// t: x values (seconds); series: [{name, values}]
export function lineChart(t, series, opts = {}) {
  const W = opts.width || 1200, H = opts.height || 200, L = 64, R = 8, T = 10, B = 24;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', class: 'chart', role: 'img',
    'aria-label': opts.title || 'chart' });
  if (!t.length) {
    svg.appendChild(s('text', { x: L, y: H / 2, class: 'axis' }, 'no samples yet'));
    return h('figure', { class: 'chartbox' }, svg);
  }
  const x0 = t[0], x1 = t[t.length - 1] > x0 ? t[t.length - 1] : x0 + 1;
  let ymax = 0;
  for (const se of series) for (const v of se.values) ymax = Math.max(ymax, v);
  if (ymax <= 0) ymax = 1;
  const X = (x) => L + (W - L - R) * (x - x0) / (x1 - x0);
  const Y = (y) => T + (H - T - B) * (1 - y / ymax);
  svg.appendChild(s('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axisline' }));
  svg.appendChild(s('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axisline' }));
  svg.appendChild(s('text', { x: 2, y: T + 10, class: 'axis' }, shortNum(ymax) + (opts.unit || '')));
  svg.appendChild(s('text', { x: 2, y: H - B, class: 'axis' }, '0'));
  svg.appendChild(s('text', { x: L, y: H - 6, class: 'axis' }, `${x0.toFixed(0)} s`));
  svg.appendChild(s('text', { x: W - R - 40, y: H - 6, class: 'axis' }, `${x1.toFixed(0)} s`));
  for (const se of series) {
    const pts = se.values.map((v, i) => `${X(t[i]).toFixed(1)},${Y(v).toFixed(1)}`).join(' ');
    svg.appendChild(s('polyline', { points: pts, fill: 'none', stroke: colour(se.name), 'stroke-width': 1.5,
      'data-name': se.name }, s('title', {}, se.name)));
  }
  return h('figure', { class: 'chartbox' }, svg, legend(series.map((x) => x.name)));
}

function shortNum(v) {
  if (v >= 1e9) return (v / 1e9).toFixed(1) + 'G';
  if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (v >= 1e3) return (v / 1e3).toFixed(1) + 'k';
  return v.toFixed(v < 10 ? 1 : 0);
}

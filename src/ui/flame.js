// flame.js - the callstack profile as an interactive flame graph.  hostd
// sends vmx-callstack's labelled stacks (GET /vms/{id}/profile: labels, and
// [count, vcpu, [label ids, root first]]); this builds the trees the viewer
// builds (top-down, bottom-up, rooted at one frame) and draws them as SVG,
// the root at the top.  Guest, monitor and kstat frames have their own
// colours; a click selects a frame (details, zoom, root at it), the search box
// marks every frame whose name contains the text.

import { h, s, add, clear, fmtNum, pct } from './dom.js';

const ROW = 18, W = 1200;

export function kindOf(label) {
  if (label.startsWith('guest:')) return 'g';
  if (label.startsWith('kstat:')) return 'k';
  return 'm';
}

// A tree of {lab, total, self, kids: Map(lab -> node), parent}.
export function buildTree(p, mode, rootAt) {
  const root = { lab: -1, total: 0, self: 0, kids: new Map(), parent: null };
  for (const [count, , frames] of p.stacks) {
    let fr = frames;
    if (rootAt >= 0) {
      if (mode === 'bottom') {
        const i = fr.lastIndexOf(rootAt);
        if (i < 0) continue;
        fr = fr.slice(0, i + 1);
      } else {
        const i = fr.indexOf(rootAt);
        if (i < 0) continue;
        fr = fr.slice(i);
      }
    }
    if (mode === 'bottom') fr = fr.slice().reverse();
    let n = root;
    n.total += count;
    for (const lab of fr) {
      let k = n.kids.get(lab);
      if (!k) {
        k = { lab, total: 0, self: 0, kids: new Map(), parent: n };
        n.kids.set(lab, k);
      }
      k.total += count;
      n = k;
    }
    n.self += count;
  }
  return root;
}

// The hottest functions by self samples (the leaf of each stack).
export function hottest(p, filter, limit) {
  const self = new Map();
  let total = 0;
  for (const [count, , frames] of p.stacks) {
    total += count;
    const leaf = frames[frames.length - 1];
    if (!filter(p.labels[leaf])) continue;
    self.set(leaf, (self.get(leaf) || 0) + count);
  }
  return { total, rows: [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit) };
}

export class FlameGraph {
  constructor(container, profile) {
    this.el = container;
    this.p = profile;
    this.mode = 'top';
    this.rootAt = -1;
    this.zoom = null;
    this.search = '';
    this.selected = null;
    this.render();
  }

  setMode(m) { this.mode = m; this.zoom = null; this.selected = null; this.rebuild(); }
  setRootAt(lab) { this.rootAt = lab; this.zoom = null; this.selected = null; this.rebuild(); }
  setSearch(q) { this.search = q; this.draw(); }

  rebuild() { this.tree = buildTree(this.p, this.mode, this.rootAt); this.draw(); }

  render() {
    clear(this.el);
    const modeSel = h('select', { id: 'fg-mode', 'aria-label': 'view', onchange: (e) => this.setMode(e.target.value) },
      h('option', { value: 'top' }, 'top-down (callers first)'),
      h('option', { value: 'bottom' }, 'bottom-up (hottest functions first)'));
    const search = h('input', { id: 'fg-search', type: 'search', placeholder: 'search frames',
      oninput: (e) => this.setSearch(e.target.value) });
    this.rootInfo = h('span', { id: 'fg-rootat', class: 'muted' });
    this.matchInfo = h('span', { id: 'fg-match', class: 'muted' });
    const reset = h('button', { id: 'fg-reset', type: 'button', onclick: () => { this.rootAt = -1; this.zoom = null; this.selected = null; this.rebuild(); } }, 'Reset');
    this.svgBox = h('div', { id: 'flamegraph', class: 'flame' });
    this.details = h('div', { id: 'fg-details', class: 'fgdetails' });
    add(this.el,
      h('div', { class: 'toolbar' }, modeSel, search, reset, this.rootInfo, this.matchInfo),
      h('div', { class: 'legend' },
        h('span', { class: 'key' }, swatch('g'), 'guest frame'),
        h('span', { class: 'key' }, swatch('m'), 'monitor frame'),
        h('span', { class: 'key' }, swatch('k'), 'kstat')),
      this.svgBox, this.details);
    this.rebuild();
  }

  draw() {
    const root = this.zoom || this.tree;
    const labels = this.p.labels;
    const q = this.search.toLowerCase();
    let depth = 0;
    const boxes = [];
    let matched = 0;
    const walk = (n, x, d, w, inMatch) => {
      if (w < 0.3) return;
      const isMatch = q && n.lab >= 0 && labels[n.lab].toLowerCase().includes(q);
      if (isMatch && !inMatch) matched += n.total;
      if (n !== root || n.lab >= 0) boxes.push({ n, x, d, w, isMatch });
      depth = Math.max(depth, d);
      const kids = [...n.kids.values()].sort((a, b) => b.total - a.total);
      let cx = x;
      for (const k of kids) {
        const kw = w * k.total / n.total;
        walk(k, cx, d + 1, kw, inMatch || isMatch);
        cx += kw;
      }
    };
    const d0 = root.lab >= 0 ? 0 : -1;
    walk(root, 0, d0, W, false);
    const H = (depth + 1) * ROW + 4;
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', class: 'fg', role: 'img',
      'aria-label': 'flame graph' });
    for (const b of boxes) {
      const lab = b.n.lab >= 0 ? labels[b.n.lab] : 'all';
      const g = s('g', { class: `fg-cell fg-${b.n.lab >= 0 ? kindOf(lab) : 'k'}${b.isMatch ? ' match' : ''}${b.n === this.selected ? ' sel' : ''}`,
        'data-label': lab, onclick: () => this.select(b.n) },
      s('title', {}, `${lab}: ${fmtNum(b.n.total)} samples (${pct(b.n.total, this.tree.total)}), self ${fmtNum(b.n.self)}`),
      s('rect', { x: b.x.toFixed(2), y: b.d * ROW, width: Math.max(b.w - 0.5, 0.2).toFixed(2), height: ROW - 1 }));
      if (b.w > 40) {
        const chars = Math.floor((b.w - 6) / 6.5);
        const txt = lab.length > chars ? lab.slice(0, Math.max(chars - 1, 1)) + '…' : lab;
        g.appendChild(s('text', { x: (b.x + 3).toFixed(2), y: b.d * ROW + 13 }, txt));
      }
      svg.appendChild(g);
    }
    clear(this.svgBox).appendChild(svg);
    this.rootInfo.textContent = this.rootAt >= 0 ? `rooted at ${labels[this.rootAt]}` : '';
    this.matchInfo.textContent = q ? `matched: ${pct(matched, this.tree.total)}` : '';
    this.showDetails();
  }

  select(n) { this.selected = n; this.draw(); }

  showDetails() {
    clear(this.details);
    const n = this.selected;
    if (!n || n.lab < 0) {
      add(this.details, h('p', { class: 'muted' }, `${fmtNum(this.tree.total)} samples. Click a frame for its figures.`));
      return;
    }
    const lab = this.p.labels[n.lab];
    add(this.details,
      h('p', {}, h('strong', { id: 'fg-selected' }, lab), ` — ${fmtNum(n.total)} samples (${pct(n.total, this.tree.total)} of the view), self ${fmtNum(n.self)} (${pct(n.self, this.tree.total)})`),
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', id: 'fg-zoom', onclick: () => { this.zoom = n; this.draw(); } }, 'Zoom here'),
        h('button', { type: 'button', id: 'fg-root', onclick: () => this.setRootAt(n.lab) }, 'Root at this frame'),
        this.zoom ? h('button', { type: 'button', onclick: () => { this.zoom = null; this.draw(); } }, 'Zoom out') : null));
  }
}

function swatch(kind) {
  return s('svg', { width: 10, height: 10, class: `swatch fg-${kind}` }, s('rect', { width: 10, height: 10 }));
}

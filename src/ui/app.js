// app.js - the web interface's pages (docs/UI.md), drawn from hostd's API:
// log in, the VM list with power operations and build-type switches (with the
// task's phases live until done), and a VM's page: tasks, events, the tail of
// vmx.log and, for the stats build, counters, kstats, locks, rates over time
// and the callstack profile.  Hash routes (#/vms, #/vm/3/stats) keep the
// browser's back button working; each page polls what it shows and stops when
// the user leaves it.

import { h, add, clear, fmtNum, fmtNs, pct } from './dom.js';
import * as api from './api.js';
import { stackedBars, lineChart } from './charts.js';
import { FlameGraph, hottest } from './flame.js';

const main = () => document.getElementById('main');
let page = 0;            // bumped on every navigation: pollers of old pages stop
const timers = [];

function poll(fn, ms) {
  const gen = page;
  const tick = async () => {
    if (gen !== page) return;
    try { await fn(); } catch (e) { showError(e); }
    if (gen === page) timers.push(setTimeout(tick, ms));
  };
  tick();
}

function stopPolling() {
  page++;
  while (timers.length) clearTimeout(timers.pop());
}

function toast(msg, kind) {
  const t = document.getElementById('toast');
  add(clear(t), h('div', { class: `msg ${kind || ''}` }, msg));
  setTimeout(() => { if (t.textContent === msg) clear(t); }, 6000);
}

function showError(e) {
  toast(e && e.message ? e.message : String(e), 'error');
}

function header() {
  const nav = clear(document.getElementById('nav'));
  const who = clear(document.getElementById('who'));
  const s = api.session();
  if (!s) return;
  add(nav, h('a', { href: '#/vms', id: 'nav-vms' }, 'Virtual machines'));
  add(who, h('span', { id: 'whoami' }, `${s.user} (${s.role})`), ' ',
    h('button', { type: 'button', id: 'logout', onclick: async () => { await api.logout(); go('#/login'); } }, 'Log out'));
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function route() {
  stopPolling();
  header();
  const hash = location.hash || '#/vms';
  if (!api.session()) return pageLogin();
  let m;
  if ((m = hash.match(/^#\/vm\/(\d+)(?:\/(\w+))?$/))) return pageVm(Number(m[1]), m[2] || 'overview');
  return pageVms();
}

// ---- log in ----------------------------------------------------------------------

function pageLogin() {
  const err = h('p', { id: 'login-error', class: 'error', role: 'alert' });
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true });
  const pw = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { id: 'login', class: 'card narrow', onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = '';
    try {
      await api.login(user.value, pw.value);
      go('#/vms');
    } catch (x) {
      err.textContent = x.message;
    }
  } },
  h('h1', {}, 'Log in to hostd'),
  h('label', {}, 'User', user), h('label', {}, 'Password', pw),
  h('button', { type: 'submit', id: 'login-submit' }, 'Log in'), err);
  add(clear(main()), form);
  user.focus();
}

// ---- the VM list -------------------------------------------------------------------

const POWER_OPS = {
  poweredOff: [['on', 'Power on']],
  suspended: [['resume', 'Resume'], ['on', 'Power on']],
  poweredOn: [['off', 'Shut down'], ['hardOff', 'Power off'], ['reset', 'Reset'], ['suspend', 'Suspend']],
};

function powerButtons(vm, after) {
  if (!api.isAdmin() || vm.busyTask) return [];
  return (POWER_OPS[vm.powerState] || []).map(([op, label]) =>
    h('button', { type: 'button', class: `op op-${op}`, 'data-op': op, onclick: async () => {
      try {
        const t = await api.call('POST', `/vms/${vm.id}/power`, { op });
        toast(`${label}: task ${t.id} started`);
        after && after(t);
      } catch (e) { showError(e); }
    } }, label));
}

function buildTypeCell(vm) {
  const parts = [h('span', { class: 'bt' }, vm.buildType)];
  if (vm.runningBuildType && vm.runningBuildType !== vm.buildType)
    parts.push(' ', h('span', { class: 'muted' }, `(running ${vm.runningBuildType})`));
  else if (vm.runningBuildType)
    parts.push(' ', h('span', { class: 'muted' }, '(running)'));
  if (vm.pendingRevert)
    parts.push(h('div', { class: 'revert' }, `reverts to ${vm.pendingRevert.buildType} in ${fmtDuration(vm.pendingRevert.inSeconds)}`));
  return parts;
}

function fmtDuration(s) {
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor(s % 3600 / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${s} s`;
}

function pageVms() {
  const table = h('tbody', { id: 'vm-rows' });
  const taskBox = h('div', { id: 'task-box' });
  const admin = api.isAdmin();
  const root = h('section', {},
    h('h1', {}, 'Virtual machines'),
    h('table', { class: 'grid', id: 'vms' },
      h('thead', {}, h('tr', {}, ['Name', 'File', 'Host', 'Power', 'Build type', admin ? 'Actions' : null].map((x) => x && h('th', {}, x)))),
      table),
    taskBox,
    admin ? registerForm() : null);
  add(clear(main()), root);
  let host = '';
  api.call('GET', '/host').then((hst) => { host = hst.hostname || hst.name || ''; }).catch(() => {});
  let shown = null;
  poll(async () => {
    const r = await api.call('GET', '/vms');
    if (r === shown) return; // 304: nothing changed, nothing redrawn
    shown = r;
    clear(table);
    for (const vm of r.vms) {
      add(table, h('tr', { 'data-vm': vm.id, 'data-name': vm.name },
        h('td', {}, h('a', { href: `#/vm/${vm.id}`, class: 'vmname' }, vm.name)),
        h('td', { class: 'mono' }, vm.file),
        h('td', {}, host),
        h('td', { class: `power ${vm.powerState}` }, vm.powerState, vm.busyTask ? h('span', { class: 'muted' }, ` (task ${vm.busyTask})`) : null),
        h('td', { class: 'btcell' }, buildTypeCell(vm)),
        admin ? h('td', { class: 'actions' }, powerButtons(vm, (t) => watchTask(t.id, taskBox)),
          vm.busyTask ? null : h('button', { type: 'button', class: 'op op-switch', onclick: () => switchDialog(vm, taskBox) }, 'Switch build type…'),
          vm.powerState !== 'poweredOn' && !vm.busyTask ? h('button', { type: 'button', class: 'op op-unregister danger', onclick: async () => {
            if (!confirm(`Unregister ${vm.name}? Its files stay on the datastore.`)) return;
            try { await api.call('DELETE', `/vms/${vm.id}`); toast(`${vm.name} unregistered`); } catch (e) { showError(e); }
          } }, 'Unregister') : null) : null));
    }
    if (!r.vms.length) add(table, h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No VMs registered.')));
  }, 2000);
}

function registerForm() {
  const file = h('input', { id: 'reg-file', placeholder: '[datastore] dir/name.vmx', size: 40, required: true });
  const name = h('input', { id: 'reg-name', placeholder: 'name (optional)' });
  return h('form', { class: 'card', id: 'register', onsubmit: async (e) => {
    e.preventDefault();
    const body = { file: file.value };
    if (name.value) body.name = name.value;
    try {
      const vm = await api.call('POST', '/vms', body);
      toast(`registered ${vm.name}`);
      file.value = name.value = '';
    } catch (x) { showError(x); }
  } }, h('h2', {}, 'Register a VM'), file, ' ', name, ' ', h('button', { type: 'submit' }, 'Register'));
}

// ---- switching the build type ----------------------------------------------------------

function switchDialog(vm, taskBox) {
  const running = vm.powerState === 'poweredOn';
  const bt = h('select', { id: 'sw-buildtype' }, ['default', 'debug', 'stats'].map((b) =>
    h('option', { value: b, selected: b === (vm.buildType === 'stats' ? 'default' : 'stats') }, b)));
  const method = h('select', { id: 'sw-method', disabled: !running },
    h('option', { value: 'fast' }, 'fast (the guest pauses for milliseconds)'),
    h('option', { value: 'suspend' }, 'suspend and resume'));
  const revert = h('input', { id: 'sw-revert', placeholder: 'e.g. 2h (optional)', size: 12 });
  const err = h('p', { class: 'error', id: 'sw-error', role: 'alert' });
  const dlg = h('dialog', { id: 'switch-dialog' },
    h('form', { method: 'dialog', onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = '';
      const body = { buildType: bt.value };
      if (running) body.method = method.value;
      if (revert.value.trim()) body.revertAfter = revert.value.trim();
      try {
        const t = await api.call('PUT', `/vms/${vm.id}/buildType`, body);
        dlg.close();
        dlg.remove();
        watchTask(t.id, taskBox);
      } catch (x) { err.textContent = x.message; }
    } },
    h('h2', {}, `Switch ${vm.name}`),
    h('p', { class: 'muted' }, running ? 'The VM keeps running; it moves to the new build type\'s monitor process.' : 'The VM is not running: its .vmx is changed.'),
    h('label', {}, 'Build type ', bt),
    h('label', {}, 'Method ', method),
    h('label', {}, 'Revert to default after ', revert),
    err,
    h('div', { class: 'toolbar' },
      h('button', { type: 'submit', id: 'sw-go' }, 'Switch'),
      h('button', { type: 'button', onclick: () => { dlg.close(); dlg.remove(); } }, 'Cancel'))));
  add(document.body, dlg);
  dlg.showModal();
}

// A task's progress until it ends: state, progress bar, phases, then the result.
function watchTask(id, box) {
  const panel = h('div', { class: 'card task', id: `task-${id}`, 'data-task': id });
  box.prepend(panel);
  const gen = page;
  const tick = async () => {
    if (gen !== page) return;
    let t;
    try { t = await api.call('GET', `/tasks/${id}`); } catch (e) { showError(e); return; }
    drawTask(panel, t);
    if (t.state === 'running') setTimeout(tick, 250);
  };
  tick();
}

function drawTask(panel, t) {
  clear(panel);
  panel.setAttribute('data-state', t.state);
  const res = t.result || {};
  add(panel,
    h('div', {}, h('strong', {}, `Task ${t.id}: ${t.op}`), ' ', h('span', { class: `state ${t.state}`, 'data-field': 'state' }, t.state),
      t.what ? h('span', { class: 'muted' }, ` — ${t.what}`) : null),
    h('progress', { max: 100, value: t.progress || 0 }),
    h('ol', { class: 'phases' }, (t.phases || []).map((p) =>
      h('li', { 'data-phase': p.name }, `${p.name} `, h('span', { class: 'muted' }, `${p.ms} ms`)))),
    t.state === 'success' && res.downtimeMs !== undefined ?
      h('p', { class: 'downtime' }, `Done: ${res.from || ''} → ${res.to || ''}, method ${res.method || 'suspend'}, guest downtime `,
        h('strong', { 'data-field': 'downtime' }, `${res.downtimeMs} ms`),
        res.fallbackReason ? ` (fast path not used: ${res.fallbackReason})` : '') : null,
    t.state === 'success' && res.downtimeMs === undefined ? h('p', { class: 'downtime' }, 'Done.') : null,
    t.state === 'error' ? h('p', { class: 'error', 'data-field': 'error' }, t.error || 'failed') : null);
}

// ---- one VM --------------------------------------------------------------------------

const TABS = [['overview', 'Overview'], ['stats', 'Stats'], ['time', 'Over time'], ['profile', 'Profile']];

async function pageVm(id, tab) {
  const head = h('div', { id: 'vm-head' });
  const body = h('div', { id: 'vm-body' });
  const taskBox = h('div', { id: 'task-box' });
  const tabs = h('nav', { class: 'tabs' }, TABS.map(([k, label]) =>
    h('a', { href: `#/vm/${id}/${k}`, id: `tab-${k}`, class: k === tab ? 'active' : '' }, label)));
  add(clear(main()), h('p', {}, h('a', { href: '#/vms' }, '← all VMs')), head, taskBox, tabs, body);
  let vm;
  try { vm = await api.call('GET', `/vms/${id}`); } catch (e) { showError(e); return; }
  const drawHead = (v) => {
    add(clear(head),
      h('h1', { id: 'vm-title' }, v.name),
      h('p', { class: 'facts' }, h('span', { class: 'mono' }, v.file), ' · ',
        h('span', { class: `power ${v.powerState}`, id: 'vm-power' }, v.powerState), ' · build type ',
        h('span', { id: 'vm-bt' }, buildTypeCell(v)), v.pid ? ` · pid ${v.pid}` : '',
        ` · ${v.memSizeMB} MB`),
      v.configError ? h('p', { class: 'error' }, v.configError) : null,
      api.isAdmin() ? h('div', { class: 'toolbar' }, powerButtons(v, (t) => watchTask(t.id, taskBox)),
        v.busyTask ? null : h('button', { type: 'button', class: 'op op-switch', onclick: () => switchDialog(v, taskBox) }, 'Switch build type…')) : null);
  };
  drawHead(vm);
  const gen = page;
  poll(async () => {
    const v = await api.call('GET', `/vms/${id}`);
    if (v !== vm) drawHead(v);
    vm = v;
  }, 2000);
  if (gen !== page) return;
  if (tab === 'stats') return tabStats(vm, body);
  if (tab === 'time') return tabTime(vm, body);
  if (tab === 'profile') return tabProfile(vm, body);
  return tabOverview(vm, body);
}

function tabOverview(vm, body) {
  const tasks = h('tbody', { id: 'vm-tasks' }), events = h('tbody', { id: 'vm-events' });
  const log = h('pre', { id: 'vm-log', class: 'log' });
  add(body,
    h('h2', {}, 'Tasks'), h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, ['Id', 'Operation', 'User', 'State', 'Started', 'Result'].map((x) => h('th', {}, x)))), tasks),
    h('h2', {}, 'Events'), h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, ['Time', 'User', 'Type', 'Message'].map((x) => h('th', {}, x)))), events),
    h('h2', {}, 'vmx.log (tail)'), log);
  let shown = [];
  poll(async () => {
    const [t, e, l] = await Promise.all([api.call('GET', '/tasks?limit=200'), api.call('GET', `/events?vm=${vm.id}&limit=30`),
      api.call('GET', `/vms/${vm.id}/log?lines=200`)]);
    if (t === shown[0] && e === shown[1] && l === shown[2]) return;
    shown = [t, e, l];
    clear(tasks);
    for (const x of t.tasks.filter((x) => x.vm === vm.id).slice(0, 20)) {
      const r = x.result || {};
      add(tasks, h('tr', {}, h('td', {}, x.id), h('td', {}, x.op), h('td', {}, x.user), h('td', { class: `state ${x.state}` }, x.state),
        h('td', {}, x.started || ''), h('td', {}, x.state === 'error' ? x.error || '' :
          r.downtimeMs !== undefined ? `${r.from} → ${r.to}, downtime ${r.downtimeMs} ms` : r.powerState || '')));
    }
    clear(events);
    for (const x of e.events) add(events, h('tr', {}, h('td', {}, x.time), h('td', {}, x.user), h('td', {}, x.type), h('td', {}, x.message)));
    log.textContent = l.lines.join('\n');
  }, 3000);
}

function needsStats(vm, body) {
  if (vm.powerState === 'poweredOn' && vm.runningBuildType === 'stats') return false;
  add(body, h('p', { class: 'muted', id: 'no-stats' },
    `${vm.name} is not running the stats build (now: ${vm.runningBuildType || vm.powerState}). Switch it to stats to collect counters, kstats and a profile.`));
  return true;
}

function tabStats(vm, body) {
  if (needsStats(vm, body)) return;
  const kbox = h('div', { id: 'kstats' }), cbox = h('div', { id: 'counters' }), lbox = h('div', { id: 'locks' });
  const filter = h('input', { id: 'counter-filter', type: 'search', placeholder: 'filter counters' });
  add(body, h('h2', {}, 'Where the time goes (kstats per vCPU)'), kbox,
    h('h2', {}, 'Locks, by contention'), lbox,
    h('h2', {}, 'Counters'), filter, cbox);
  let last = null;
  const draw = () => { if (last) drawCounters(cbox, last, filter.value.toLowerCase()); };
  filter.addEventListener('input', draw);
  poll(async () => {
    last = await api.call('GET', `/vms/${vm.id}/stats`);
    drawKstats(kbox, last);
    drawLocks(lbox, last);
    draw();
  }, 3000);
}

function drawKstats(box, st) {
  const slots = st.samplesPerSlot || [];
  const vcpus = [];
  for (let i = 0; i < slots.length; i++) if (slots[i] > 0) vcpus.push(i);
  const slotName = (i) => (i === slots.length - 1 ? 'other' : `vCPU ${i}`);
  const rows = vcpus.map((i) => ({ label: slotName(i), parts: st.kstats.map((k) => ({ name: k.name, value: (k.samplesPerSlot || [])[i] || 0 })) }));
  const kst = st.kstats.filter((k) => k.samples > 0).sort((a, b) => b.samples - a.samples);
  const table = h('table', { class: 'grid num', id: 'kstat-table' },
    h('thead', {}, h('tr', {}, h('th', {}, 'kstat'), h('th', {}, 'invocations'),
      vcpus.map((i) => h('th', {}, `${slotName(i)} s`)), vcpus.map((i) => h('th', {}, `${slotName(i)} %`)))),
    h('tbody', {}, kst.map((k) => h('tr', {}, h('td', {}, k.name), h('td', {}, fmtNum(k.invocations)),
      vcpus.map((i) => h('td', {}, ((k.samplesPerSlot[i] || 0) / (st.hz || 1)).toFixed(2))),
      vcpus.map((i) => h('td', {}, pct(k.samplesPerSlot[i] || 0, slots[i])))))));
  add(clear(box), stackedBars(rows, { title: 'kstats per vCPU' }), table);
}

function drawLocks(box, st) {
  const locks = (st.locks || []).slice().sort((a, b) => (b.contended - a.contended) || ((b.waitTotalNs || 0) - (a.waitTotalNs || 0)) || (b.acquisitions - a.acquisitions));
  const waits = st.waitables || [];
  add(clear(box),
    h('table', { class: 'grid num', id: 'lock-table' },
      h('thead', {}, h('tr', {}, ['lock', 'kind', 'acquisitions', 'contended', 'contended %', 'wait total', 'hold total', 'hold max'].map((x) => h('th', {}, x)))),
      h('tbody', {}, locks.map((l) => h('tr', { class: l.contended ? 'hot' : '' }, h('td', {}, l.name), h('td', {}, l.kind),
        h('td', {}, fmtNum(l.acquisitions)), h('td', {}, fmtNum(l.contended)), h('td', {}, pct(l.contended, l.acquisitions)),
        h('td', {}, fmtNs(l.waitTotalNs)),
        // Hold totals of locks timed 1 in holdSampleEvery are estimates (docs/STATS.md).
        h('td', (l.holdSampleEvery || 1) > 1 ? { title: `estimated: 1 hold in ${l.holdSampleEvery} timed` } : {},
          ((l.holdSampleEvery || 1) > 1 ? '~' : '') + fmtNs(l.holdTotalNs)),
        h('td', {}, fmtNs(l.holdMaxNs)))))),
    waits.length ? h('table', { class: 'grid num', id: 'wait-table' },
      h('thead', {}, h('tr', {}, ['condition variable / semaphore', 'kind', 'waits', 'time waited for a signal'].map((x) => h('th', {}, x)))),
      h('tbody', {}, waits.map((w) => h('tr', {}, h('td', {}, w.name), h('td', {}, w.kind), h('td', {}, fmtNum(w.waits)), h('td', {}, fmtNs(w.waitedTotalNs)))))) : null);
}

function drawCounters(box, st, q) {
  // Per-register rows (MMIO.uart0.w.0x0) group under their device (MMIO.uart0).
  const groups = new Map();
  for (const c of st.counters) {
    if (q && !c.name.toLowerCase().includes(q)) continue;
    const parts = c.name.split('.');
    const g = parts.length > 2 ? parts.slice(0, 2).join('.') : parts[0];
    if (!groups.has(g)) groups.set(g, { total: 0, rows: [] });
    const e = groups.get(g);
    e.total += c.total;
    e.rows.push(c);
  }
  const sorted = [...groups.entries()].sort((a, b) => b[1].total - a[1].total);
  add(clear(box), h('table', { class: 'grid num', id: 'counter-table' },
    h('thead', {}, h('tr', {}, h('th', {}, 'counter'), h('th', {}, 'total'))),
    sorted.map(([g, e]) => h('tbody', { class: 'group' },
      h('tr', { class: 'grouphead' }, h('td', {}, g, e.rows.length > 1 ? h('span', { class: 'muted' }, ` (${e.rows.length})`) : null), h('td', {}, fmtNum(e.total))),
      e.rows.length > 1 ? e.rows.sort((a, b) => b.total - a.total).map((c) =>
        h('tr', { class: 'sub' }, h('td', {}, c.name), h('td', {}, fmtNum(c.total)))) : null))));
}

function tabTime(vm, body) {
  const last = h('select', { id: 'time-window' }, ['1m', '5m', '15m', '1h', 'all'].map((w) => h('option', { value: w, selected: w === '5m' }, w)));
  const cbox = h('div', { id: 'series-counters' }), kbox = h('div', { id: 'series-kstats' });
  const info = h('p', { class: 'muted', id: 'series-info' });
  add(body, h('div', { class: 'toolbar' }, 'Window: ', last), info,
    h('h2', {}, 'Busiest counters, per second'), cbox, h('h2', {}, 'Time by kstat, share of each interval'), kbox);
  const load = async () => {
    const q = last.value === 'all' ? '' : `?last=${last.value}`;
    const sr = await api.call('GET', `/vms/${vm.id}/series${q}`);
    if (sr.pending) { info.textContent = sr.pending; return; }
    info.textContent = `${sr.file}: ${sr.t.length} intervals of ${(sr.intervalUs / 1e6).toFixed(1)} s, run time ${sr.elapsedSeconds.toFixed(0)} s (${sr.buildType})`;
    // One small chart per counter: their rates differ by orders of magnitude.
    add(clear(cbox), h('div', { class: 'multiples' }, sr.counters.slice(0, 6).map((c) =>
      h('div', {}, h('h3', {}, c.name, c.description ? h('span', { class: 'muted' }, ` — ${c.description}`) : null),
        lineChart(sr.t, [{ name: c.name, values: c.perSecond }], { unit: '/s', height: 160, width: 600, title: c.name })))));
    const tot = sr.t.map((_, i) => sr.kstats.reduce((a, k) => a + k.samples[i], 0));
    add(clear(kbox), lineChart(sr.t, sr.kstats.slice().sort((a, b) => b.total - a.total).slice(0, 6).map((k) =>
      ({ name: k.name, values: k.samples.map((v, i) => (tot[i] ? 100 * v / tot[i] : 0)) })), { unit: ' %', title: 'kstat share' }));
  };
  last.addEventListener('change', () => load().catch(showError));
  if (vm.runningBuildType !== 'stats')
    info.textContent = `${vm.name} is not running the stats build; the figures are from its last stats run, if any.`;
  poll(load, 5000);
}

function tabProfile(vm, body) {
  const info = h('p', { class: 'muted', id: 'profile-info' });
  const vcpu = h('select', { id: 'profile-vcpu' }, h('option', { value: '' }, 'all vCPUs'));
  const tail = h('input', { type: 'checkbox', id: 'profile-tail' });
  const hot = h('div', { id: 'hottest' });
  const fg = h('div', { id: 'flame' });
  add(body, h('div', { class: 'toolbar' }, vcpu, h('label', {}, tail, ' show the monitor frames above guest code'),
    h('button', { type: 'button', id: 'profile-reload', onclick: () => load().catch(showError) }, 'Reload')), info,
  h('h2', {}, 'Hottest guest functions (self samples)'), hot, h('h2', {}, 'Flame graph'), fg);
  let graph = null;
  const load = async () => {
    const q = new URLSearchParams();
    if (vcpu.value !== '') q.set('vcpu', vcpu.value);
    if (tail.checked) q.set('monitorTail', '1');
    const p = await api.call('GET', `/vms/${vm.id}/profile${q.toString() ? '?' + q : ''}`);
    if (p.pending) { info.textContent = p.pending; return; }
    info.textContent = `${p.file}: ${fmtNum(p.samples)} samples at ${p.hz} Hz over ${p.elapsedSeconds.toFixed(1)} s (${p.buildType})${p.drops ? `, ${fmtNum(p.drops)} dropped` : ''}`;
    if (vcpu.options.length === 1) for (const v of p.vcpus) add(vcpu, h('option', { value: v }, `vCPU ${v}`));
    const ht = hottest(p, (l) => l.startsWith('guest:'), 15);
    add(clear(hot), h('table', { class: 'grid num', id: 'hot-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'function'), h('th', {}, 'samples'), h('th', {}, 'share'))),
      h('tbody', {}, ht.rows.map(([lab, n]) => h('tr', {}, h('td', {}, p.labels[lab]), h('td', {}, fmtNum(n)), h('td', {}, pct(n, ht.total)))))));
    graph = new FlameGraph(fg, p);
  };
  vcpu.addEventListener('change', () => load().catch(showError));
  tail.addEventListener('change', () => load().catch(showError));
  load().catch(showError);
  return graph;
}

api.setUnauthorizedHandler(() => go('#/login'));
window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', route);

// api.js - the hostd API as the interface uses it: the session token (kept
// in sessionStorage, sent as a Bearer header, never in a URL), JSON errors
// turned into exceptions carrying the API's message, and conditional GETs
// (If-None-Match) so that polling moves bytes only when something changed.

const PREFIX = '/api/v1';
const KEY = 'vmx3.session';
const cache = new Map(); // path -> {etag, data}

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || '';
    this.field = e.field || '';
  }
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch (_) {
    return null;
  }
}

function saveSession(s) {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
  cache.clear();
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export async function call(method, path, body) {
  const s = session();
  const headers = { 'Accept': 'application/json' };
  if (s) headers['Authorization'] = 'Bearer ' + s.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const c = method === 'GET' ? cache.get(path) : undefined;
  if (c) headers['If-None-Match'] = c.etag;
  const r = await fetch(PREFIX + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store', credentials: 'omit',
  });
  if (r.status === 304 && c) return c.data;
  let data = null;
  const text = await r.text();
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = null; }
  }
  if (r.status === 401 && path !== '/session') {
    saveSession(null);
    onUnauthorized();
  }
  if (!r.ok) throw new ApiError(r.status, data);
  const etag = r.headers.get('ETag');
  if (method === 'GET' && etag) cache.set(path, { etag, data });
  return data;
}

export async function login(username, password) {
  const r = await call('POST', '/session', { username, password });
  saveSession({ token: r.token, user: r.user, role: r.role });
  return session();
}

export async function logout() {
  try { await call('DELETE', '/session'); } catch (_) { /* the token is dropped either way */ }
  saveSession(null);
}

export function isAdmin() {
  const s = session();
  return !!s && s.role === 'admin';
}

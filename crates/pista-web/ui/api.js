// Calls to Pista's own API as the logged-in user. Every call says it comes from the UI
// (X-Requested-With), so a refusal comes without the browser's login dialog, and every change
// carries the session's CSRF value. A 401 sends the browser to the login page.

let csrf = sessionStorage.getItem('pista.csrf') || '';

/** Remembers the session's CSRF value (from the login or /api/0/me). */
export function setCsrf(value) {
  csrf = value || '';
  if (csrf) sessionStorage.setItem('pista.csrf', csrf);
  else sessionStorage.removeItem('pista.csrf');
}

/** An error answer of the API, with its status and the server's reason. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls `path`; answers the parsed JSON (or null for an empty body). */
export async function call(path, { method = 'GET', body } = {}) {
  const headers = { 'X-Requested-With': 'pista-ui' };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const reason = (data && data.error) || `${response.status} ${response.statusText}`;
    if (response.status === 401 && path !== '/api/0/login') {
      window.dispatchEvent(new CustomEvent('pista:logged-out'));
    }
    throw new ApiError(response.status, reason);
  }
  return data;
}

/** Asks `path` for a download and reads only its headers: answers nothing when the server
 * would send the file, throws the server's reason (an unknown device, a bad range, a busy
 * server) when it refuses. A refusal comes before the first byte, which a plain link would
 * show as no more than a failed download. The answer's body is not read: the request ends. */
export async function checkDownload(path) {
  const stop = new AbortController();
  const response = await fetch(path, {
    headers: { 'X-Requested-With': 'pista-ui' }, credentials: 'same-origin', signal: stop.signal,
  });
  if (response.ok) {
    stop.abort();
    return;
  }
  let reason = `${response.status} ${response.statusText}`;
  try {
    reason = (await response.json()).error || reason;
  } catch {
    // not JSON: the status says it
  }
  if (response.status === 401) window.dispatchEvent(new CustomEvent('pista:logged-out'));
  throw new ApiError(response.status, reason);
}

// The fences as the map and fences pages draw them, and the way both keep them current: a
// read of /api/0/fences once the page's /api/0/live?kinds=fence stream is open, and again on
// each of its fence events (a fence created, replaced or deleted anywhere: this API, another
// browser, the configuration, an app's region), after a `lagged` event, and at once when another
// tab of this browser says it changed one (a BroadcastChannel, which asks no server for anything).
// There is no timed poll: the browser reopens a dropped stream by itself, and its reopening
// reads the list again, so nothing changed while it was away is missed.

import { call } from './api.js';

const L = window.L;

const channel = 'BroadcastChannel' in window ? new BroadcastChannel('pista.fences') : null;

/** Tells the other tabs that the fences changed (this tab reloads by itself). */
export function announce() {
  channel?.postMessage('changed');
}

/** A Leaflet circle or polygon for a fence of the API's list. */
export function shape(fence, options = {}) {
  const style = { className: 'fence', interactive: true, ...options };
  return Array.isArray(fence.polygon)
    ? L.polygon(fence.polygon, style)
    : L.circle([fence.lat, fence.lon], { ...style, radius: fence.radius || 0 });
}

/** The bounds of a fence, worked out without a map (a Leaflet circle needs one for its own). */
export function bounds(fence) {
  return Array.isArray(fence.polygon)
    ? L.latLngBounds(fence.polygon)
    : L.latLng(fence.lat, fence.lon).toBounds(2 * (fence.radius || 0));
}

/** Calls `onList(fences)` with the list at once and whenever it changes; `onError(error)` when
 * a read fails. Answers `{ reload, stop }`: read again now, and stop following. */
export function follow(onList, onError = () => {}) {
  let last = null;
  let stopped = false;
  let reading = false;
  let again = false;
  async function read() {
    // One read at a time; changes during a read are caught by one more read after it.
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      const list = await call('/api/0/fences');
      const text = JSON.stringify(list);
      if (!stopped && text !== last) {
        last = text;
        onList(list);
      }
    } catch (error) {
      if (!stopped) onError(error);
    } finally {
      reading = false;
    }
    if (again && !stopped) {
      again = false;
      read();
    }
  }
  const listen = () => read();
  channel?.addEventListener('message', listen);
  const stream = new EventSource('/api/0/live?kinds=fence');
  stream.addEventListener('fence', listen);
  stream.addEventListener('lagged', listen);
  // Read once the stream is open (and on every reopening), so no change falls between the two.
  stream.onopen = listen;
  stream.onerror = () => {
    if (stream.readyState === EventSource.CLOSED) call('/api/0/me').catch(() => {});
  };
  read();
  return {
    reload: read,
    stop() {
      stopped = true;
      stream.close();
      channel?.removeEventListener('message', listen);
    },
  };
}

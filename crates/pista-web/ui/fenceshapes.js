// The fences as the map and fences pages draw them, and the way both keep them current: a
// read of /api/0/fences at once, then every POLL_MS, and at once when another tab of this
// browser says it changed one (a BroadcastChannel, which asks no server for anything).
// FIXME(#8): the live stream has no fence event, so a change made elsewhere (the API, another
// browser, an app's region) shows only at the next poll, up to POLL_MS later.

import { call } from './api.js';

const L = window.L;

/** How often the fences are read again. */
export const POLL_MS = 5000;

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
  async function read() {
    try {
      const list = await call('/api/0/fences');
      const text = JSON.stringify(list);
      if (!stopped && text !== last) {
        last = text;
        onList(list);
      }
    } catch (error) {
      if (!stopped) onError(error);
    }
  }
  const listen = () => read();
  channel?.addEventListener('message', listen);
  const timer = setInterval(read, POLL_MS);
  read();
  return {
    reload: read,
    stop() {
      stopped = true;
      clearInterval(timer);
      channel?.removeEventListener('message', listen);
    },
  };
}

// The fences as the map and fences pages draw them, and the way both keep them current: a
// read of /api/0/fences at once, and again on each `fence` event of the tab's live stream
// (devices.js: a fence created, replaced or deleted anywhere, through this API, another browser,
// the configuration or an app's region), after a `lagged` event, whenever that stream opens, and
// at once when another tab of this browser says it changed one (a BroadcastChannel, which asks
// no server for anything). There is no timed poll: the browser reopens a dropped stream by
// itself, and its reopening reads the list again, so nothing changed meanwhile is missed.

import { call } from './api.js';
import * as devices from './devices.js';

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
  const unsubscribe = devices.onFences(listen);
  read();
  return {
    reload: read,
    stop() {
      stopped = true;
      unsubscribe();
      channel?.removeEventListener('message', listen);
    },
  };
}

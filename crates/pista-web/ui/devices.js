// The devices the logged-in user may see, kept current: first from /api/0/last (the newest
// stored location of each device, with accuracy and battery) and /api/0/map (the device
// objects, with status, country and address), then from the server's live stream
// /api/0/live (`map` events: the device objects). The same stream carries the `fence` events
// (a fence created, replaced or deleted), handed to `onFences` listeners: one stream per tab,
// as a browser keeps at most six connections to a server and each open stream holds one.
// A device object lacks the accuracy and battery, so each one is followed by a read of that
// device's /api/0/last. Pages subscribe and are told which device changed.

import { call } from './api.js';

/** Ages (seconds) that separate online, stale and offline. */
export const ONLINE_FOR = 15 * 60;
export const STALE_FOR = 6 * 60 * 60;

const devices = new Map(); // topic → device record
const listeners = new Set();
const fenceListeners = new Set();
let source = null;
let started = false;
let retry = null;

/** Every device record, in no particular order. */
export function all() {
  return [...devices.values()];
}

/** Calls `listener(device | null)` on every change (null: everything may have changed). */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function notify(device) {
  for (const listener of listeners) listener(device);
}

/** online, stale or offline: by the fix's age, or offline when the device said so. */
export function state(device, now = Date.now() / 1000) {
  if (device.status === 0) return 'offline';
  const age = now - (device.tst || 0);
  if (age <= ONLINE_FOR) return 'online';
  if (age <= STALE_FOR) return 'stale';
  return 'offline';
}

function merge(topic, fields) {
  const known = devices.get(topic) || { topic };
  const device = Object.assign(known, fields);
  devices.set(topic, device);
  return device;
}

function fromLast(item) {
  return merge(item.topic, {
    user: item.username,
    device: item.device,
    tid: item.tid || item.device.slice(-2).toUpperCase(),
    lat: item.lat,
    lon: item.lon,
    tst: item.tst,
    acc: item.acc,
    alt: item.alt,
    vel: item.vel,
    cog: item.cog,
    batt: item.batt,
    t: item.t,
    addr: item.addr ?? devices.get(item.topic)?.addr,
  });
}

function fromObject(object) {
  const fields = {};
  for (const key of ['tid', 'lat', 'lon', 'tst', 'alt', 'vel', 'cog', 'compass', 'cc', 't',
    'status', 'trip', 'dist', 'odo', 'job', 'jobname']) {
    if (object[key] !== undefined && object[key] !== null) fields[key] = object[key];
  }
  if (object.addr && object.addr !== 'unknown location') fields.addr = object.addr;
  return merge(object.topic, fields);
}

/** Reads the newest location of every device again (at the start and after a gap). */
export async function reload() {
  const [items, objects] = await Promise.all([call('/api/0/last'), call('/api/0/map')]);
  for (const item of items) fromLast(item);
  for (const object of objects) {
    if (devices.has(object.topic)) fromObject(object);
  }
  notify(null);
}

async function refresh(device) {
  if (!device.user || device.refreshing) return;
  device.refreshing = true;
  try {
    const query = `user=${encodeURIComponent(device.user)}&device=${encodeURIComponent(device.device)}`;
    const [item] = await call(`/api/0/last?${query}`);
    if (item && item.tst >= (devices.get(device.topic)?.tst || 0)) notify(fromLast(item));
  } finally {
    device.refreshing = false;
  }
}

function onObject(event) {
  let object;
  try {
    object = JSON.parse(event.data);
  } catch {
    return;
  }
  if (!object.topic) return;
  const known = devices.has(object.topic);
  const device = fromObject(object);
  notify(device);
  if (known) refresh(device).catch(() => {});
  else reload().catch(() => {});
}

/** Shows in the nav bar whether live updates flow. */
function liveState(value) {
  const badge = document.querySelector('.live');
  if (badge) {
    badge.dataset.live = value;
    badge.title = value === 'open' ? 'Live updates flow' : 'Live updates are interrupted';
  }
}

function connect() {
  const stream = new EventSource('/api/0/live?kinds=map,fence');
  source = stream;
  let opened = false;
  const fencesChanged = () => fenceListeners.forEach((listener) => listener());
  stream.addEventListener('map', onObject);
  stream.addEventListener('fence', fencesChanged);
  stream.addEventListener('lagged', () => {
    reload().catch(() => {});
    fencesChanged();
  });
  stream.onopen = () => {
    // Fences are read again at every opening: what changed while it was closed is not missed.
    fencesChanged();
    // After a reconnection, what came in between is read again.
    if (opened) reload().catch(() => {});
    opened = true;
    liveState('open');
  };
  stream.onerror = () => {
    liveState('closed');
    if (stream !== source || stream.readyState !== EventSource.CLOSED) return;
    // A refused stream (the session ended) is not retried by the browser: ask why.
    clearTimeout(retry);
    retry = setTimeout(() => {
      call('/api/0/me').then(() => {
        if (started) connect();
      }, () => {});
    }, 3000);
  };
}

/** Calls `listener()` on each fence event of the stream, after a `lagged` event and whenever
 * the stream opens; answers the function that stops the calls. */
export function onFences(listener) {
  fenceListeners.add(listener);
  return () => fenceListeners.delete(listener);
}

/** Starts the reading once; later calls do nothing. */
export async function start() {
  if (started) return;
  started = true;
  connect();
  await reload();
}

/** Forgets everything (at logout). */
export function stop() {
  if (source) source.close();
  clearTimeout(retry);
  source = null;
  started = false;
  liveState('closed');
  devices.clear();
  notify(null);
}

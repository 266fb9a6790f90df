// The tracks page: one device's history between two days of the browser's time zone, drawn
// as a line with a mark every N km, its length and point count, and links to the server's
// export of the same range (GPX, GeoJSON, CSV, KML, the Recorder's .rec lines). The points
// come from /api/0/locations; the files from /api/0/export, never made in the browser.
//
// FIXME(#8): the server has no simplified track for long ranges yet, so every point of the
// range is fetched and drawn; a year of a busy device is slow to draw.

import { call } from './api.js';
import * as basemap from './basemap.js';
import * as devices from './devices.js';
import * as format from './format.js';

const L = window.L;
const MARK_EVERY = [1, 2, 5, 10, 20, 40, 100];
const DOWNLOADS = [
  ['gpx', 'GPX'], ['geojson', 'GeoJSON'], ['csv', 'CSV'], ['kml', 'KML'], ['rec', 'REC'],
];
const EARTH_RADIUS_KM = 6371.0088;

/** The great-circle distance in km between two points (haversine). */
export function distanceKm(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2
    + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The points with the distance along the track so far (`km`), and the indexes to mark: the
 * first point and the first to reach each further multiple of `every` km. */
export function measure(points, every) {
  let km = 0;
  let next = every;
  const marks = points.length ? [0] : [];
  const measured = points.map((point, index) => {
    if (index > 0) km += distanceKm(points[index - 1], point);
    if (index > 0 && km >= next) {
      marks.push(index);
      while (next <= km) next += every;
    }
    return { ...point, km };
  });
  return { points: measured, km, marks };
}

/** `YYYY-MM-DD` of a date in the browser's time zone. */
function dayOf(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** Epoch seconds of the first second of day `YYYY-MM-DD` in the browser's time zone, plus
 * `days` days. */
function dayStart(day, days = 0) {
  const [year, month, date] = day.split('-').map(Number);
  return Math.floor(new Date(year, month - 1, date + days).getTime() / 1000);
}

function field(label, input) {
  const wrapper = format.el('label', null, label);
  wrapper.append(input);
  return wrapper;
}

export function show(main, { settings }) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
  const page = format.el('div', 'tracks-page');
  const panel = format.el('form', 'track-form');
  const device = format.el('select', 'device');
  const from = format.el('input', 'from');
  const to = format.el('input', 'to');
  from.type = 'date';
  to.type = 'date';
  from.required = true;
  to.required = true;
  from.value = to.value = dayOf(new Date());
  const every = format.el('select', 'mark-every');
  for (const km of MARK_EVERY) every.append(new Option(`${km} km`, String(km)));
  every.value = '10';
  const showButton = format.el('button', 'show', 'Show');
  showButton.type = 'submit';
  const note = format.el('p', 'zone', `Days run from midnight to midnight in ${zone}, `
    + 'the time zone of this browser.');
  const summary = format.el('p', 'track-summary');
  summary.setAttribute('aria-live', 'polite');
  const downloads = format.el('p', 'downloads');
  downloads.hidden = true;
  panel.append(
    field('Device', device), field('From', from), field('To', to),
    field('Mark every', every), showButton, note, summary, downloads,
  );
  const holder = format.el('div', 'map');
  page.append(panel, holder);
  main.replaceChildren(page);

  const map = basemap.make(holder, settings);
  map.setView([30, 0], 2);
  const layer = L.layerGroup().addTo(map);
  let shown = null; // the last answer: { points, key }

  function fillDevices() {
    const chosen = device.value;
    const list = devices.all()
      .filter((d) => d.user && d.device)
      .sort((a, b) => String(a.tid).localeCompare(String(b.tid)));
    device.replaceChildren(...list.map((d) => new Option(`${d.tid} (${d.user}/${d.device})`,
      JSON.stringify([d.user, d.device]))));
    if (list.some((d) => JSON.stringify([d.user, d.device]) === chosen)) device.value = chosen;
    showButton.disabled = list.length === 0;
  }

  function range() {
    const [first, last] = [from.value, to.value].sort();
    return { from: dayStart(first), to: dayStart(last, 1) - 1 };
  }

  function query(user, name, { from: start, to: end }) {
    return `user=${encodeURIComponent(user)}&device=${encodeURIComponent(name)}`
      + `&from=${start}&to=${end}`;
  }

  function draw() {
    layer.clearLayers();
    if (!shown) return;
    const { points, km, marks } = measure(shown.points, Number(every.value));
    const count = points.length;
    summary.textContent = `${count} ${count === 1 ? 'point' : 'points'} · ${km.toFixed(2)} km`;
    summary.dataset.points = String(count);
    if (!count) return;
    const line = points.map((p) => [p.lat, p.lon]);
    L.polyline(line, { className: 'track', smoothFactor: 0, interactive: false }).addTo(layer);
    for (const index of marks) {
      const point = points[index];
      const mark = L.circleMarker([point.lat, point.lon], { className: 'mark', radius: 6 });
      const text = `${format.dateTime(point.tst)} · ${point.km.toFixed(2)} km`
        + (point.addr ? ` · ${point.addr}` : '');
      mark.bindPopup(format.el('span', null, text));
      mark.addTo(layer);
    }
    map.fitBounds(L.latLngBounds(line).pad(0.1), { maxZoom: 16 });
  }

  function links(user, name, bounds) {
    const items = DOWNLOADS.map(([code, label]) => {
      const link = format.el('a', null, label);
      link.href = `/api/0/export?${query(user, name, bounds)}&format=${code}`;
      link.setAttribute('download', '');
      link.dataset.format = code;
      return link;
    });
    downloads.replaceChildren('Download: ', ...items.flatMap((a, i) => (i ? [' ', a] : [a])));
    downloads.hidden = false;
  }

  panel.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!device.value) return;
    const [user, name] = JSON.parse(device.value);
    const bounds = range();
    summary.textContent = 'Reading…';
    delete summary.dataset.points;
    showButton.disabled = true;
    try {
      const answer = await call(`/api/0/locations?${query(user, name, bounds)}`
        + '&fields=tst,lat,lon,addr');
      const points = answer.data.filter((p) => Number.isFinite(p.lat) && Number.isFinite(p.lon));
      shown = { points };
      draw();
      links(user, name, bounds);
    } catch (error) {
      shown = null;
      draw();
      summary.textContent = `The track could not be read: ${error.message}`;
    } finally {
      showButton.disabled = false;
    }
  });
  every.addEventListener('change', draw);

  const unsubscribe = devices.subscribe(fillDevices);
  fillDevices();
  return () => {
    unsubscribe();
    map.remove();
  };
}

// The tracks page: one or more devices' history between two days, in the browser's time zone
// or in each device's own, drawn as a line per device (each its own colour, with a legend),
// with marks every N km, point counts and lengths, playback, and links to the server's export
// of the same range (GPX, GeoJSON, CSV, KML, the Recorder's .rec lines, the original's TXT).
// The lines come from /api/0/track, simplified on the server: first for an overview (every
// point when the range is short), then, as the map moves, for the visible part at the map's
// zoom, and every point of it from DETAIL_ZOOM on. Lengths, counts and marks are the server's,
// from every point. The files come from /api/0/export, never made in the browser.

import { call } from './api.js';
import * as basemap from './basemap.js';
import * as devices from './devices.js';
import * as format from './format.js';
import * as playback from './playback.js';
import * as zones from './zones.js';

const L = window.L;
const MARK_EVERY = [1, 2, 5, 10, 20, 40, 100];
const DOWNLOADS = [
  ['gpx', 'GPX'], ['geojson', 'GeoJSON'], ['csv', 'CSV'], ['kml', 'KML'], ['rec', 'REC'],
  ['txt', 'TXT'],
];
const COLORS = ['#c0392b', '#2471a3', '#229954', '#ca6f1e', '#7d3c98', '#17a589'];
/** The zoom of the first read: a line simplified to half a pixel at zoom 10 (about 70 m). */
const OVERVIEW_ZOOM = 10;
/** Ranges of at most this many points are read whole at once. */
const WHOLE_BELOW = 2000;
/** From this zoom on, the visible part is drawn with every point. */
export const DETAIL_ZOOM = 15;

/** `YYYY-MM-DD` of a date in the browser's time zone. */
function dayOf(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function field(label, input) {
  const wrapper = format.el('label', null, label);
  wrapper.append(input);
  return wrapper;
}

/** `user=..&device=..&from=..&to=..` of a shown device. */
function query(shown) {
  return `user=${encodeURIComponent(shown.user)}&device=${encodeURIComponent(shown.name)}`
    + `&from=${shown.range.from}&to=${shown.range.to}`;
}

/** The map's visible box, a quarter larger on each side, as `west,south,east,north`. */
function visibleBox(map) {
  const box = map.getBounds().pad(0.25);
  const clamp = (value) => Math.max(-90, Math.min(90, value)).toFixed(6);
  // Leaflet's longitudes run on past ±180 when the view crosses the antimeridian; wrapped back,
  // such a box has its west above its east, which the server reads as crossing.
  const wrap = (value) => ((((value + 180) % 360) + 360) % 360 - 180).toFixed(6);
  const wide = box.getEast() - box.getWest() >= 360;
  const [west, east] = wide ? ['-180', '180'] : [wrap(box.getWest()), wrap(box.getEast())];
  return [west, clamp(box.getSouth()), east, clamp(box.getNorth())].join(',');
}

export function show(main, { settings }) {
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const page = format.el('div', 'tracks-page');
  const panel = format.el('form', 'track-form');
  const device = format.el('select', 'device');
  device.multiple = true;
  device.size = 4;
  device.title = 'Ctrl-click or Cmd-click to pick several';
  const from = format.el('input', 'from');
  const to = format.el('input', 'to');
  from.type = 'date';
  to.type = 'date';
  from.required = true;
  to.required = true;
  from.value = to.value = dayOf(new Date());
  const zoneMode = format.el('select', 'zone-mode');
  zoneMode.append(new Option('this browser\'s time zone', 'browser'),
    new Option('each device\'s local time', 'device'));
  const every = format.el('select', 'mark-every');
  for (const km of MARK_EVERY) every.append(new Option(`${km} km`, String(km)));
  every.value = '10';
  const showButton = format.el('button', 'show', 'Show');
  showButton.type = 'submit';
  const note = format.el('p', 'zone');
  const summary = format.el('p', 'track-summary');
  summary.setAttribute('aria-live', 'polite');
  const legend = format.el('ul', 'track-legend');
  const downloads = format.el('div', 'downloads');
  downloads.hidden = true;
  const controls = format.el('div', 'playback-holder');
  panel.append(
    field('Devices', device), field('From', from), field('To', to), field('Days in', zoneMode),
    field('Mark every', every), showButton, note, summary, legend, controls, downloads,
  );
  const holder = format.el('div', 'map');
  page.append(panel, holder);
  main.replaceChildren(page);

  const map = basemap.make(holder, settings);
  map.setView([30, 0], 2);
  const layer = L.layerGroup().addTo(map);
  const player = playback.make(controls, map, (tst, track) => zones.dateTime(tst, track.zone));
  let shown = []; // { user, name, tid, color, zone, zoneKnown, range, overview, detail, readout }
  let reading = 0; // the newest read; older answers are dropped
  let refineTimer = null;

  function noteZone() {
    if (zoneMode.value === 'browser') {
      note.textContent = `Days run from midnight to midnight in ${browserZone}, `
        + 'the time zone of this browser.';
    } else if (!shown.length) {
      note.textContent = 'Days run from midnight to midnight in each device\'s time zone, '
        + `as its messages name it (tzname), else in ${browserZone}.`;
    } else {
      const each = shown.map((s) => (s.zoneKnown ? `${s.tid} ${s.zone}`
        : `${s.tid} ${s.zone} (this browser's: no zone is known for it)`));
      note.textContent = `Days run from midnight to midnight in each device's time zone: ${each.join(', ')}.`;
    }
  }

  function fillDevices() {
    const chosen = new Set([...device.selectedOptions].map((o) => o.value));
    const list = devices.all()
      .filter((d) => d.user && d.device)
      .sort((a, b) => String(a.tid).localeCompare(String(b.tid)));
    device.replaceChildren(...list.map((d) => {
      const option = new Option(`${d.tid} (${d.user}/${d.device})`,
        JSON.stringify([d.user, d.device, d.tid]));
      option.selected = chosen.has(option.value);
      return option;
    }));
    if (list.length && !device.selectedOptions.length) device.options[0].selected = true;
    showButton.disabled = list.length === 0;
  }

  /** The device's time zone, if the browser knows it: as its newest message names it
   * (`tzname`), or else the zone of that message's position (the server looks it up offline
   * when `fields` asks for `tzname`; a nautical zone such as Etc/GMT+3 at sea). */
  async function deviceZone(user, name) {
    const [item] = await call(`/api/0/last?user=${encodeURIComponent(user)}`
      + `&device=${encodeURIComponent(name)}&fields=tzname`);
    const zone = item && item.tzname;
    return zone && zones.known(zone) ? zone : null;
  }

  function drawnPoints(s) {
    return (s.detail || s.overview).returned;
  }

  function draw(fit) {
    layer.clearLayers();
    const total = shown.reduce((sum, s) => sum + s.overview.points, 0);
    const km = shown.reduce((sum, s) => sum + s.overview.km, 0);
    const drawn = shown.reduce((sum, s) => sum + drawnPoints(s), 0);
    const points = `${total} ${total === 1 ? 'point' : 'points'}`;
    summary.textContent = shown.length === 1 ? `${points} · ${km.toFixed(2)} km`
      : `${shown.length} devices · ${points} · ${km.toFixed(2)} km`;
    summary.dataset.points = String(total);
    summary.dataset.drawn = String(drawn);
    summary.dataset.detail = shown.every((s) => (s.detail || s.overview).tolerance === 0)
      ? 'full' : 'simplified';

    const bounds = [];
    for (const s of shown) {
      const answer = s.detail || s.overview;
      const runs = answer.segments.map((run) => run.map((p) => [p[1], p[2]]));
      if (runs.length) {
        L.polyline(runs, {
          className: 'track', color: s.color, smoothFactor: 0, interactive: false,
        }).addTo(layer);
      }
      for (const mark of s.overview.marks) {
        const circle = L.circleMarker([mark.lat, mark.lon], {
          className: 'mark', radius: 6, color: s.color,
        });
        const text = `${s.tid} · ${zones.dateTime(mark.tst, s.zone)} · ${mark.km.toFixed(2)} km`
          + (mark.addr ? ` · ${mark.addr}` : '');
        circle.bindPopup(format.el('span', null, text));
        circle.addTo(layer);
      }
      if (s.overview.bounds) {
        const [west, south, east, north] = s.overview.bounds;
        bounds.push([south, west], [north, east]);
      }
      const count = s.overview.points;
      s.figures.textContent = ` ${s.tid} (${s.user}/${s.name}) · ${count} `
        + `${count === 1 ? 'point' : 'points'}, ${drawnPoints(s)} drawn · ${s.overview.km.toFixed(2)} km`;
    }
    if (fit && bounds.length) map.fitBounds(L.latLngBounds(bounds).pad(0.1), { maxZoom: 16 });
  }

  function legendRows() {
    legend.replaceChildren(...shown.map((s) => {
      const row = format.el('li');
      row.dataset.device = `${s.user}/${s.name}`;
      const swatch = format.el('span', 'swatch');
      swatch.style.background = s.color;
      s.figures = format.el('span', 'figures');
      s.readout = format.el('span', 'readout');
      row.append(swatch, s.figures, format.el('br'), s.readout);
      return row;
    }));
  }

  function links() {
    const rows = shown.map((s) => {
      const row = format.el('p');
      const zone = encodeURIComponent(s.zone);
      const items = DOWNLOADS.map(([code, label]) => {
        const link = format.el('a', null, label);
        link.href = `/api/0/export?${query(s)}&format=${code}${code === 'txt' ? `&tz=${zone}` : ''}`;
        link.setAttribute('download', '');
        link.dataset.format = code;
        return link;
      });
      const title = shown.length === 1 ? 'Download: ' : `${s.tid}: `;
      row.append(title, ...items.flatMap((a, i) => (i ? [' ', a] : [a])));
      return row;
    });
    downloads.replaceChildren(...rows);
    downloads.hidden = rows.length === 0;
  }

  async function readOne(user, name, tid, index) {
    const zone = zoneMode.value === 'device' ? await deviceZone(user, name) : browserZone;
    const s = {
      user, name, tid, color: COLORS[index % COLORS.length], zone: zone || browserZone,
      zoneKnown: Boolean(zone), detail: null,
    };
    const [first, last] = [from.value, to.value].sort();
    s.range = { from: zones.dayStart(first, s.zone), to: zones.dayStart(last, s.zone, 1) - 1 };
    const base = `/api/0/track?${query(s)}&every=${every.value}`;
    s.overview = await call(`${base}&zoom=${OVERVIEW_ZOOM}`);
    if (s.overview.points <= WHOLE_BELOW && s.overview.returned < s.overview.points) {
      s.overview = await call(base);
    }
    return s;
  }

  async function read() {
    const picked = [...device.selectedOptions].map((o) => JSON.parse(o.value));
    if (!picked.length) return;
    const turn = ++reading;
    summary.textContent = 'Reading…';
    delete summary.dataset.points;
    showButton.disabled = true;
    try {
      const answers = await Promise.all(picked.map(([u, n, t], i) => readOne(u, n, t, i)));
      if (turn !== reading) return;
      shown = answers;
      legendRows();
      noteZone();
      draw(true);
      links();
      player.load(shown.map((s) => ({ ...s, label: s.tid, points: s.overview.segments.flat() })));
    } catch (error) {
      if (turn !== reading) return;
      shown = [];
      layer.clearLayers();
      legend.replaceChildren();
      player.load([]);
      links();
      summary.textContent = `The track could not be read: ${error.message}`;
    } finally {
      showButton.disabled = false;
    }
  }

  /** Reads the visible part again for the map's zoom: simplified to it, or every point. */
  async function refine() {
    if (!shown.length) return;
    const zoom = map.getZoom();
    const box = visibleBox(map);
    holder.dataset.zoom = String(zoom);
    holder.dataset.bbox = box;
    const turn = reading;
    const wanted = shown.filter((s) => s.overview.returned < s.overview.points);
    const detail = zoom > OVERVIEW_ZOOM
      ? await Promise.all(wanted.map((s) => call(`/api/0/track?${query(s)}&bbox=${box}`
        + (zoom >= DETAIL_ZOOM ? '' : `&zoom=${zoom}`))))
      : wanted.map(() => null);
    if (turn !== reading || box !== holder.dataset.bbox) return;
    wanted.forEach((s, i) => { s.detail = detail[i]; });
    draw(false);
    holder.dataset.refined = box;
  }

  panel.addEventListener('submit', (event) => {
    event.preventDefault();
    read();
  });
  every.addEventListener('change', () => { if (shown.length) read(); });
  zoneMode.addEventListener('change', () => {
    noteZone();
    if (shown.length) read();
  });
  map.on('moveend', () => {
    clearTimeout(refineTimer);
    refineTimer = setTimeout(() => refine().catch(() => {}), 150);
  });

  noteZone();
  const unsubscribe = devices.subscribe(fillDevices);
  fillDevices();
  return () => {
    // A read still under way finds its turn gone and draws nothing on the removed map
    // (Leaflet throws on a map it no longer has).
    reading += 1;
    unsubscribe();
    clearTimeout(refineTimer);
    player.remove();
    basemap.discard(map);
  };
}

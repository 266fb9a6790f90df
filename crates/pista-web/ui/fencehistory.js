// The enter/leave history of the fences page: the newest PAGE alerts of the devices the user
// may see (/api/0/alerts?limit=PAGE), shown newest first, with the time in the browser's zone, the
// device, the event, the fence and the distance to its centre; filtered by fence and by device.
// The part opens its own /api/0/live?kinds=alert stream while shown; each alert reads only the
// alerts recorded after the newest shown (`after` its id) and adds them, and "Show older" reads
// the page before the oldest shown (`before` its id).

import { call } from './api.js';
import * as format from './format.js';

/** How many alerts a read asks for (the server gives at most 5000). */
export const PAGE = 500;

/** The history part; `names()` answers the fences' names by id (alerts of a removed fence
 * keep the name they were made with). Answers `{ box, fencesChanged(), showFence(id), stop() }`. */
export function make(names) {
  const box = format.el('section', 'fence-history');
  box.setAttribute('aria-label', 'Enter and leave history');
  const heading = format.el('h2', null, 'Enter and leave');
  const filters = format.el('div', 'history-filters');
  const fenceFilter = select('fence-filter', 'Show the events of this fence');
  const deviceFilter = select('device-filter', 'Show the events of this device');
  filters.append(fenceFilter, deviceFilter);
  const note = format.el('p', 'zone',
    `Newest first; times in ${Intl.DateTimeFormat().resolvedOptions().timeZone}.`);
  const table = format.el('table', 'devices alerts');
  table.append(format.el('thead'), format.el('tbody'));
  const head = format.el('tr');
  for (const name of ['Time', 'Device', 'Event', 'Fence', 'Distance']) {
    head.append(format.el('th', null, name));
  }
  table.tHead.append(head);
  const empty = format.el('p', 'empty', 'No enters or leaves yet.');
  const problem = format.el('p', 'problem');
  problem.setAttribute('role', 'alert');
  problem.hidden = true;
  const olderButton = format.el('button', 'older', 'Show older');
  olderButton.type = 'button';
  olderButton.hidden = true;
  box.append(heading, filters, note, table, olderButton, empty, problem);

  let alerts = [];
  let loaded = false; // "no events" only once they were read

  function fenceName(alert) {
    return names().get(alert.fence) ?? alert.alert?.wpname ?? `fence ${alert.fence}`;
  }

  function fillFilters() {
    const fences = new Map(names());
    for (const alert of alerts) {
      if (!fences.has(alert.fence)) fences.set(alert.fence, `${fenceName(alert)} (removed)`);
    }
    const fenceOptions = [...fences].sort((a, b) => a[1].localeCompare(b[1]))
      .map(([id, name]) => new Option(name, String(id)));
    keepChoice(fenceFilter, [new Option('All fences', ''), ...fenceOptions]);
    const devices = [...new Set(alerts.map(deviceOf))].sort();
    keepChoice(deviceFilter,
      [new Option('All devices', ''), ...devices.map((name) => new Option(name, name))]);
  }

  function render() {
    fillFilters();
    const rows = alerts
      .filter((a) => !fenceFilter.value || String(a.fence) === fenceFilter.value)
      .filter((a) => !deviceFilter.value || deviceOf(a) === deviceFilter.value)
      .sort((a, b) => b.tst - a.tst || b.id - a.id);
    table.tBodies[0].replaceChildren(...rows.map((alert) => {
      const tr = format.el('tr', alert.event);
      tr.dataset.id = alert.id;
      const tid = alert.alert?.tid ? `${alert.alert.tid} · ` : '';
      tr.append(format.el('td', null, format.dateTime(alert.tst)),
        format.el('td', null, `${tid}${deviceOf(alert)}`),
        format.el('td', 'event', alert.event),
        format.el('td', null, fenceName(alert)),
        format.el('td', 'numeric', `${Math.round(alert.meters)} m`));
      return tr;
    }));
    table.hidden = rows.length === 0;
    empty.hidden = !loaded || rows.length > 0;
  }

  /** Adds alerts not shown yet (by id); answers how many were new. */
  function merge(page) {
    const known = new Set(alerts.map((a) => a.id));
    const fresh = page.filter((a) => !known.has(a.id));
    alerts = alerts.concat(fresh);
    return fresh.length;
  }

  // One read at a time: an alert during a read asks for one more read after it.
  let loading = false;
  let again = false;
  async function load() {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    try {
      // The first read takes the newest page; later ones what was recorded after the newest
      // shown (ids grow as alerts are recorded).
      const newest = alerts.reduce((max, a) => Math.max(max, a.id), 0);
      const after = loaded && alerts.length ? `&after=${newest}` : '';
      const page = await call(`/api/0/alerts?limit=${PAGE}${after}`);
      // A full page after a pause may leave a gap before what was shown: start afresh then.
      if (after && page.length === PAGE) {
        alerts = [];
        olderButton.hidden = false;
      }
      merge(page);
      if (!loaded) olderButton.hidden = page.length < PAGE;
      loaded = true;
      problem.hidden = true;
    } catch (error) {
      problem.textContent = `The history could not be read: ${error.message}`;
      problem.hidden = false;
    } finally {
      loading = false;
    }
    render();
    if (again) {
      again = false;
      load();
    }
  }

  /** Reads the page of alerts before the oldest shown. */
  async function older() {
    const oldest = alerts.reduce((min, a) => Math.min(min, a.id), Infinity);
    olderButton.disabled = true;
    try {
      const page = await call(`/api/0/alerts?limit=${PAGE}&before=${oldest}`);
      merge(page);
      olderButton.hidden = page.length < PAGE;
      problem.hidden = true;
    } catch (error) {
      problem.textContent = `The history could not be read: ${error.message}`;
      problem.hidden = false;
    } finally {
      olderButton.disabled = false;
    }
    render();
  }

  olderButton.addEventListener('click', older);
  fenceFilter.addEventListener('change', render);
  deviceFilter.addEventListener('change', render);
  const stream = new EventSource('/api/0/live?kinds=alert');
  box.dataset.live = 'connecting';
  stream.addEventListener('alert', () => load());
  stream.addEventListener('lagged', () => load());
  stream.onopen = () => {
    // Read once the stream is open, so no alert falls between the two.
    box.dataset.live = 'open';
    load();
  };
  stream.onerror = () => {
    box.dataset.live = 'closed';
    if (stream.readyState === EventSource.CLOSED) call('/api/0/me').catch(() => {});
  };
  render();

  return {
    box,
    fencesChanged: render,
    showFence(id) {
      fenceFilter.value = String(id);
      render();
      box.scrollIntoView({ block: 'nearest' });
    },
    stop: () => stream.close(),
  };
}

function deviceOf(alert) {
  return `${alert.user}/${alert.device}`;
}

function select(className, label) {
  const element = format.el('select', className);
  element.setAttribute('aria-label', label);
  return element;
}

/** Replaces a select's options, keeping the choice while it is still offered. */
function keepChoice(element, options) {
  const chosen = element.value;
  element.replaceChildren(...options);
  element.value = options.some((o) => o.value === chosen) ? chosen : '';
}

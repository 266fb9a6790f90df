// The hardware page: the Greenwich inventory the user may see (/api/0/inventory: one row per
// IMEI, with its firmware version, start-up time, the newest battery and external voltages and
// the device's odometer base), as a table sorted by TID and as a bar chart of the voltages drawn
// in inline SVG. The owner of a device (or a superuser) edits its odometer base in place
// (PUT/DELETE /api/0/odometer/{user}/{device}); the Table adds the device's trip to it. The
// inventory is read when the page opens, after an edit and every 30 s; TIDs come from the
// devices module.

import { call } from './api.js';
import * as devices from './devices.js';
import * as format from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
const REFRESH_MS = 30000;

/** Volts as stored, with the unit; empty when unknown. */
export function volts(value) {
  return typeof value === 'number' ? `${value} V` : '';
}

/** An odometer base in km as shown; empty when none is set. */
export function km(value) {
  return typeof value === 'number' ? `${value} km` : '';
}

function tidOf(item) {
  const known = devices.all().find((d) => d.user === item.user && d.device === item.device);
  return (known && known.tid) || item.device.slice(-2).toUpperCase();
}

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** One group of two bars (battery, external) per row; the scale runs from 0 to the highest
 * voltage rounded up to whole 5 V (at least 5 V). */
function chart(rows) {
  const top = Math.max(5, Math.ceil(Math.max(0, ...rows.flatMap((r) => [r.vbatt || 0, r.vext || 0])) / 5) * 5);
  const bar = 22;
  const group = bar * 2 + 26;
  const height = 180;
  const left = 40;
  const bottom = 26;
  const width = left + Math.max(1, rows.length) * group + 10;
  const plot = height - bottom - 14;
  const y = (v) => height - bottom - (v / top) * plot;
  const box = svg('svg', {
    viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'volt-chart',
    'aria-label': 'Newest battery and external voltage per device',
  });
  for (let v = 0; v <= top; v += top / 5) {
    box.append(svg('line', { x1: left, x2: width - 6, y1: y(v), y2: y(v), class: 'grid' }));
    box.append(svg('text', { x: left - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, `${v}`));
  }
  rows.forEach((row, index) => {
    const x = left + index * group + 12;
    const g = svg('g', { class: 'device', 'data-imei': row.imei });
    for (const [offset, key, kind] of [[0, 'vbatt', 'batt'], [bar, 'vext', 'ext']]) {
      const value = row[key];
      if (typeof value !== 'number') continue;
      const rect = svg('rect', {
        x: x + offset, y: y(value), width: bar - 2, height: Math.max(0, y(0) - y(value)),
        class: `bar ${kind}`,
      });
      rect.append(svg('title', {}, `${row.tid} ${kind === 'batt' ? 'battery' : 'external'}: ${volts(value)}`));
      g.append(rect, svg('text', {
        x: x + offset + (bar - 2) / 2, y: y(value) - 3, class: `value ${kind}`, 'text-anchor': 'middle',
      }, String(value)));
    }
    g.append(svg('text', { x: x + bar, y: height - 8, class: 'label', 'text-anchor': 'middle' }, row.tid));
    box.append(g);
  });
  return box;
}

export function show(main, { me } = {}) {
  const page = format.el('div', 'hardware-page');
  const heading = format.el('h1', null, 'Greenwich devices');
  const table = format.el('table', 'devices inventory');
  const head = format.el('tr');
  for (const name of ['TID', 'Device', 'IMEI', 'Version', 'Started', 'Battery', 'External', 'Odometer',
    'Updated']) {
    head.append(format.el('th', null, name));
  }
  table.append(format.el('thead'), format.el('tbody'));
  table.tHead.append(head);
  const empty = format.el('p', 'empty', 'No Greenwich device has said it started yet.');
  const chartBox = format.el('figure', 'volt-box');
  const caption = format.el('figcaption', null,
    'Newest voltage each device reported: battery (left bar, blue) and external supply '
    + '(right bar, orange), in volts; a device that sent none has no bar.');
  const zone = format.el('p', 'zone',
    `Start-up times in ${Intl.DateTimeFormat().resolvedOptions().timeZone}.`);
  const problem = format.el('p', 'problem');
  problem.hidden = true;
  page.append(heading, table, empty, zone, chartBox, problem);
  main.replaceChildren(page);

  let items = [];
  // The odometer being edited (its row's IMEI and what is typed so far), kept over re-renders.
  let editing = null;

  const manages = (row) => Boolean(me && (me.superuser || me.user === row.user));

  async function saveOdo(row, value) {
    const route = `/api/0/odometer/${encodeURIComponent(row.user)}/${encodeURIComponent(row.device)}`;
    try {
      if (value.trim() === '') await call(route, { method: 'DELETE' });
      else await call(route, { method: 'PUT', body: { odo: Number(value) } });
      // The new value is read before the form closes: a render meanwhile (the device object
      // changed, so the devices module calls one) would show the old value.
      await load();
      editing = null;
      render();
    } catch (error) {
      editing.problem = error.message;
      render();
    }
  }

  /** The odometer cell: the value, and for those who may change it an edit button or the
   * form that sets it (empty clears it). */
  function odoCell(row) {
    const td = format.el('td', 'numeric odo');
    if (!editing || editing.imei !== row.imei) {
      td.append(format.el('span', 'odo-value', km(row.odo)));
      if (manages(row)) {
        const edit = format.el('button', 'edit-odo', 'Edit');
        edit.type = 'button';
        edit.setAttribute('aria-label', `Edit the odometer of ${row.tid}`);
        edit.addEventListener('click', () => {
          editing = { imei: row.imei, draft: typeof row.odo === 'number' ? String(row.odo) : '' };
          render();
          table.querySelector('form.odo-form input')?.focus();
        });
        td.append(' ', edit);
      }
      return td;
    }
    const form = format.el('form', 'odo-form');
    // The server's refusal names the bad value; the browser's own check would not.
    form.noValidate = true;
    const input = format.el('input');
    Object.assign(input, { type: 'number', min: '0', max: '10000000', step: 'any', name: 'odo' });
    input.value = editing.draft;
    input.setAttribute('aria-label', `Odometer of ${row.tid} in km (empty clears it)`);
    input.addEventListener('input', () => { editing.draft = input.value; });
    const save = format.el('button', 'save-odo', 'Save');
    save.type = 'submit';
    const cancel = format.el('button', 'cancel-odo', 'Cancel');
    cancel.type = 'button';
    cancel.addEventListener('click', () => { editing = null; render(); });
    form.append(input, ' km ', save, ' ', cancel);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      saveOdo(row, input.value);
    });
    if (editing.problem) form.append(format.el('p', 'problem odo-problem', editing.problem));
    td.append(form);
    return td;
  }

  function render() {
    const rows = items.map((item) => ({ ...item, tid: tidOf(item) }))
      .sort((a, b) => a.tid.localeCompare(b.tid) || a.imei.localeCompare(b.imei));
    table.tBodies[0].replaceChildren(...rows.map((row) => {
      const tr = format.el('tr');
      tr.dataset.imei = row.imei;
      for (const [value, numeric] of [[row.tid], [`${row.user}/${row.device}`], [row.imei],
        [row.version], [format.dateTime(row.startup)], [volts(row.vbatt), true],
        [volts(row.vext), true]]) {
        tr.append(format.el('td', numeric ? 'numeric' : null, value));
      }
      tr.append(odoCell(row));
      tr.append(format.el('td', null, row.updated ? format.dateTime(Date.parse(row.updated) / 1000) : ''));
      return tr;
    }));
    table.hidden = rows.length === 0;
    empty.hidden = rows.length > 0;
    chartBox.hidden = rows.length === 0;
    chartBox.replaceChildren(chart(rows), caption);
  }

  async function load() {
    try {
      items = await call('/api/0/inventory');
      if (editing && !items.some((item) => item.imei === editing.imei)) editing = null;
      problem.hidden = true;
    } catch (error) {
      problem.textContent = `The inventory could not be read: ${error.message}`;
      problem.hidden = false;
    }
    render();
  }

  const unsubscribe = devices.subscribe(() => render());
  const ticker = setInterval(load, REFRESH_MS);
  render();
  load();
  return () => {
    unsubscribe();
    clearInterval(ticker);
  };
}

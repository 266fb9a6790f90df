// The table page: a row per device, kept current by the live stream, sorted by a click on a
// column's header (a second click reverses). The columns are the original o2s table's: the
// running Activo job (its name, the number on hover) and the Greenwich trip in km, with the
// odometer reading (the base set on the Hardware page plus the trip) when the base is known,
// both from the device object (/api/0/map).

import * as devices from './devices.js';
import * as format from './format.js';

const STATE_ORDER = { online: 0, stale: 1, offline: 2 };

const COLUMNS = [
  {
    name: 'Status',
    key: (d) => STATE_ORDER[devices.state(d)],
    cell: (d) => {
      const state = devices.state(d);
      const dot = format.el('span', `dot ${state}`);
      dot.title = state;
      dot.setAttribute('aria-label', state);
      return dot;
    },
  },
  { name: 'TID', key: (d) => d.tid || '', cell: (d) => {
    const tid = format.el('span', 'tid', d.tid);
    tid.title = `${d.user || '?'}/${d.device || '?'}`;
    return tid;
  } },
  { name: 'Speed', key: (d) => d.vel ?? -1, cell: (d) => format.speed(d.vel), numeric: true },
  { name: 'Altitude', key: (d) => d.alt ?? -1e9, cell: (d) => format.altitude(d.alt), numeric: true },
  { name: 'Course', key: (d) => d.cog ?? -1, cell: (d) => format.compass(d.cog) },
  { name: 'Time', key: (d) => d.tst || 0, cell: (d) => {
    const time = format.el('time', null, format.shortTime(d.tst));
    if (d.tst) {
      time.dateTime = new Date(d.tst * 1000).toISOString();
      time.title = format.dateTime(d.tst);
    }
    return time;
  } },
  { name: 'Country', key: (d) => d.cc || '', cell: (d) => (d.cc && d.cc !== '??' ? d.cc : '') },
  { name: 'Trigger', key: (d) => d.t || '', cell: (d) => {
    const trigger = format.el('abbr', null, d.t && d.t !== '-' ? d.t : '');
    if (format.TRIGGERS[d.t]) trigger.title = format.TRIGGERS[d.t];
    return trigger;
  } },
  { name: 'Address', key: (d) => d.addr || '', cell: (d) => d.addr || '' },
  { name: 'Job', key: (d) => jobName(d), cell: (d) => {
    const job = format.el('span', 'job', jobName(d));
    if (jobName(d)) job.title = `job ${d.job}`;
    return job;
  } },
  { name: 'Trip/Odo', key: (d) => (hasTrip(d) ? d.trip : -1), numeric: true, cell: (d) => {
    if (!hasTrip(d)) return '';
    // `odo` is the odometer base set on the Hardware page (whole km in the device object);
    // with one, the cell reads trip / odometer reading, as the original's table added them.
    const km = (d.trip / 1000).toFixed(1);
    const known = typeof d.odo === 'number';
    const total = known ? d.odo + d.trip / 1000 : null;
    const text = known
      ? `${Math.round(d.trip / 1000)} km / ${Math.round(total)} km`
      : `${Math.round(d.trip / 1000)} km`;
    const trip = format.el('span', 'trip', text);
    trip.title = known
      ? `odometer ${d.odo} km + trip ${km} km = ${total.toFixed(1)} km`
      : `trip ${km} km since the device started; odometer unknown`;
    return trip;
  } },
];

/** The running Activo job's name (its number when it has none); '' without one. */
function jobName(device) {
  if (device.job === undefined || device.job === null || String(device.job) === '0') return '';
  return device.jobname || String(device.job);
}

/** Whether the device reports Greenwich trip metres (others have none, or the object's 0). */
function hasTrip(device) {
  return typeof device.trip === 'number' && (device.trip > 0 || typeof device.odo === 'number');
}

export function show(main) {
  const wrapper = format.el('div', 'table-page');
  const table = format.el('table', 'devices');
  const head = format.el('thead');
  const headRow = format.el('tr');
  const body = format.el('tbody');
  const empty = format.el('p', 'empty', 'No devices to show yet.');
  let sortBy = 1;
  let ascending = true;

  COLUMNS.forEach((column, index) => {
    const th = format.el('th');
    const button = format.el('button', null, column.name);
    button.type = 'button';
    button.addEventListener('click', () => {
      ascending = sortBy === index ? !ascending : true;
      sortBy = index;
      render();
    });
    th.append(button);
    if (column.numeric) th.classList.add('numeric');
    headRow.append(th);
  });
  head.append(headRow);
  table.append(head, body);
  wrapper.append(table, empty);
  main.replaceChildren(wrapper);

  const rows = new Map(); // topic → tr

  function row(device) {
    let tr = rows.get(device.topic);
    if (!tr) {
      tr = format.el('tr');
      tr.dataset.topic = device.topic;
      rows.set(device.topic, tr);
    }
    const cells = COLUMNS.map((column) => {
      const td = format.el('td');
      if (column.numeric) td.className = 'numeric';
      const value = column.cell(device);
      if (value instanceof Node) td.append(value);
      else td.textContent = value;
      return td;
    });
    tr.replaceChildren(...cells);
    return tr;
  }

  function render(changed) {
    const list = devices.all().filter((d) => typeof d.lat === 'number');
    const key = COLUMNS[sortBy].key;
    list.sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      const order = typeof x === 'number' && typeof y === 'number'
        ? x - y : String(x).localeCompare(String(y));
      return (ascending ? order : -order) || String(a.topic).localeCompare(String(b.topic));
    });
    body.replaceChildren(...list.map((device) => {
      const tr = !changed || changed.topic === device.topic || !rows.has(device.topic)
        ? row(device) : rows.get(device.topic);
      return tr;
    }));
    headRow.querySelectorAll('th').forEach((th, index) => {
      th.setAttribute('aria-sort', index !== sortBy ? 'none' : ascending ? 'ascending' : 'descending');
    });
    empty.hidden = list.length > 0;
    if (changed) {
      const tr = rows.get(changed.topic);
      if (tr) {
        tr.classList.remove('updated');
        void tr.offsetWidth; // restarts the highlight
        tr.classList.add('updated');
      }
    }
  }

  const unsubscribe = devices.subscribe((device) => render(device || undefined));
  const ticker = setInterval(() => render(), 30000);
  render();
  return () => {
    unsubscribe();
    clearInterval(ticker);
  };
}

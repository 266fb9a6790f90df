// How values read on the pages: units, compass points, local times, trigger names, and the
// details table of one device (the map's popup and the status page's card).

const POINTS = ['N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW'];

/** What each report trigger (`t`) means; some letters differ between the apps and
 * Greenwich devices, and both readings are given. */
export const TRIGGERS = {
  p: 'ping: the app reported on its own',
  c: 'region entered or left (app); started by the alarm clock (Greenwich)',
  b: 'beacon region entered or left',
  r: 'answer to a request for the location',
  u: 'requested by hand',
  t: 'timer while moving (app); device is moving (Greenwich)',
  v: 'frequent reports while moving (iOS); from park to move (Greenwich)',
  f: 'first report after a restart',
  a: 'alarm from the accelerometer',
  k: 'from move to park',
  L: 'last report before a clean shutdown',
  l: 'GPS signal lost',
  T: 'stationary, the longest interval has passed',
};

export function compass(cog) {
  if (cog === undefined || cog === null) return '';
  return POINTS[Math.round((((cog % 360) + 360) % 360) / 45) % 8];
}

export function speed(vel) {
  return vel === undefined || vel === null ? '' : `${Math.round(vel)} km/h`;
}

export function altitude(alt) {
  return alt === undefined || alt === null ? '' : `${Math.round(alt)} m`;
}

export function course(cog) {
  return cog === undefined || cog === null ? '' : `${Math.round(cog)}° ${compass(cog)}`;
}

export function battery(batt) {
  return batt === undefined || batt === null ? '' : `${batt} %`;
}

/** The full local date and time of epoch seconds. */
export function dateTime(tst) {
  if (!tst) return '';
  return new Date(tst * 1000).toLocaleString(undefined, { hour12: false });
}

/** The local time of epoch seconds, with the day in front when it is not today. */
export function shortTime(tst, now = new Date()) {
  if (!tst) return '';
  const when = new Date(tst * 1000);
  const time = when.toLocaleTimeString(undefined, { hour12: false });
  return when.toDateString() === now.toDateString()
    ? time
    : `${when.toLocaleDateString(undefined, { day: '2-digit', month: 'short' })} ${time}`;
}

/** How long ago, in the largest whole unit. */
export function age(tst, now = Date.now() / 1000) {
  if (!tst) return '';
  const seconds = Math.max(0, Math.round(now - tst));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** Makes an element with a class and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** The rows that describe a device's newest fix, as [name, value] pairs. */
export function detailRows(device) {
  return [
    ['Address', device.addr || ''],
    ['Speed', speed(device.vel)],
    ['Altitude', altitude(device.alt)],
    ['Course', course(device.cog)],
    ['Battery', battery(device.batt)],
    ['Accuracy', device.acc ? `${Math.round(device.acc)} m` : ''],
    ['Last seen', `${dateTime(device.tst)} (${age(device.tst)})`],
  ];
}

/** A heading and a table of a device's details. */
export function details(device) {
  const box = el('div', 'details');
  box.append(el('h2', null, `${device.tid} · ${device.user || '?'}/${device.device || '?'}`));
  const table = el('table');
  for (const [name, value] of detailRows(device)) {
    const row = el('tr');
    row.append(el('th', null, name), el('td', null, value));
    table.append(row);
  }
  box.append(table);
  return box;
}

// Days and times in a named time zone (an IANA name such as America/New_York), worked out with
// the browser's own time zone data (Intl), for the tracks page's "device's local time": the
// first second of a day there, and a time shown there as `YYYY-MM-DD HH:MM:SS`.

const formats = new Map(); // zone → Intl.DateTimeFormat

function formatter(zone) {
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formats.set(zone, format);
  }
  return format;
}

/** Whether the browser knows `zone`. */
export function known(zone) {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

function parts(tst, zone) {
  const out = {};
  for (const { type, value } of formatter(zone).formatToParts(new Date(tst * 1000))) {
    out[type] = Number(value);
  }
  return out;
}

/** How far `zone`'s clock is ahead of UTC at epoch second `tst`, in seconds. */
export function offset(tst, zone) {
  const p = parts(tst, zone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) / 1000 - tst;
}

/** Epoch seconds of the first second of day `YYYY-MM-DD` (plus `days`) in `zone`. */
export function dayStart(day, zone, days = 0) {
  const [year, month, date] = day.split('-').map(Number);
  const midnight = Date.UTC(year, month - 1, date + days) / 1000;
  // The offset at the guess, then again at the instant found (a change of offset near midnight).
  let tst = midnight - offset(midnight, zone);
  tst = midnight - offset(tst, zone);
  return tst;
}

/** `YYYY-MM-DD HH:MM:SS` of epoch seconds in `zone`. */
export function dateTime(tst, zone) {
  const p = parts(tst, zone);
  const two = (n) => String(n).padStart(2, '0');
  return `${p.year}-${two(p.month)}-${two(p.day)} ${two(p.hour)}:${two(p.minute)}:${two(p.second)}`;
}

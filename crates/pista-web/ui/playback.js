// Playback of the tracks page: a time slider over the shown range, play and pause, a speed,
// and a marker per device at its newest drawn point at or before the slider's time, with that
// point's time shown. The page hands it the devices' points ([tst, lat, lon, km]) and colours.

import * as format from './format.js';

const L = window.L;
/** Seconds of track per second of playback. */
const SPEEDS = [60, 600, 3600, 36000];
const TICK_MS = 100;

/** The index of the newest point at or before `tst` (-1 when all are later). */
export function pointAt(points, tst) {
  let [low, high] = [0, points.length - 1];
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (points[middle][0] <= tst) {
      found = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found;
}

/** Makes the controls in `holder`; `showTime(tst, track)` formats a time for a track. Answers
 * an object to load tracks into and to take down. */
export function make(holder, map, showTime) {
  const play = format.el('button', 'play', 'Play');
  play.type = 'button';
  const speed = format.el('select', 'speed');
  for (const value of SPEEDS) speed.append(new Option(`${value}×`, String(value)));
  speed.value = '600';
  speed.title = 'Seconds of track per second';
  const slider = format.el('input', 'scrub');
  slider.type = 'range';
  slider.setAttribute('aria-label', 'Time');
  const time = format.el('output', 'playback-time');
  const controls = format.el('div', 'playback');
  controls.append(play, speed, slider, time);
  controls.hidden = true;
  holder.append(controls);

  const layer = L.layerGroup().addTo(map);
  let tracks = []; // { label, color, points, marker, readout }
  let timer = null;

  function moveTo(tst) {
    slider.value = String(tst);
    let shown = null;
    for (const track of tracks) {
      const index = pointAt(track.points, tst);
      const point = track.points[Math.max(index, 0)];
      track.marker.setLatLng([point[1], point[2]]);
      track.readout.textContent = `${track.label}: ${showTime(point[0], track)} · `
        + `${point[1].toFixed(5)}, ${point[2].toFixed(5)} · ${point[3].toFixed(2)} km`;
      track.readout.dataset.tst = String(point[0]);
      if (index >= 0 && (!shown || point[0] > shown.point[0])) shown = { point, track };
    }
    time.textContent = shown ? showTime(shown.point[0], shown.track) : '';
  }

  function stop() {
    clearInterval(timer);
    timer = null;
    play.textContent = 'Play';
  }

  play.addEventListener('click', () => {
    if (timer) return stop();
    if (Number(slider.value) >= Number(slider.max)) moveTo(Number(slider.min));
    play.textContent = 'Pause';
    timer = setInterval(() => {
      const next = Math.min(Number(slider.max),
        Number(slider.value) + Number(speed.value) * TICK_MS / 1000);
      moveTo(next);
      if (next >= Number(slider.max)) stop();
    }, TICK_MS);
  });
  slider.addEventListener('input', () => moveTo(Number(slider.value)));

  return {
    /** Shows `list` ({ label, color, zone, points, readout }): `readout` is the element that
     * tells where the device's marker is. An empty list hides the controls. */
    load(list) {
      stop();
      layer.clearLayers();
      tracks = list.filter((t) => t.points.length).map((track) => ({
        ...track,
        marker: L.circleMarker([track.points[0][1], track.points[0][2]], {
          className: 'playhead', radius: 8, color: track.color, fillColor: '#fff', fillOpacity: 1,
        }).addTo(layer),
      }));
      controls.hidden = tracks.length === 0;
      if (!tracks.length) return;
      slider.min = String(Math.min(...tracks.map((t) => t.points[0][0])));
      slider.max = String(Math.max(...tracks.map((t) => t.points[t.points.length - 1][0])));
      slider.step = '1';
      moveTo(Number(slider.min));
    },
    remove() {
      stop();
      layer.remove();
    },
  };
}

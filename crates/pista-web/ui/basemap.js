// A Leaflet map on an element, with the server's tile source as its background, or a plain
// surface when there is none (then the map asks no other server for anything). The map, fences
// and tracks pages share it; the map and fences pages also share one remembered view.

const L = window.L;

/** Makes the map in `holder`; the caller sets its view. */
export function make(holder, settings) {
  const map = L.map(holder, { zoomControl: true, worldCopyJump: true });
  map.attributionControl.setPrefix(false);
  if (settings.tiles) {
    L.tileLayer(settings.tiles, { maxZoom: 19, attribution: settings.attribution || '' })
      .addTo(map);
  } else {
    holder.classList.add('no-tiles');
  }
  map.on('zoomanim', () => zooming.add(map));
  map.on('zoomend', () => zooming.delete(map));
  return map;
}

/** The maps in the middle of an animated zoom. */
const zooming = new WeakSet();

/** Removes the map when a page closes. Leaflet (1.9) ends an animated zoom with a timer that
 * `remove` does not cancel, and that timer then reads the panes `remove` took away (an
 * uncaught TypeError on `_leaflet_pos`); so a map caught zooming is removed once that zoom has
 * ended and every `moveend` listener has run. */
export function discard(map) {
  if (zooming.has(map)) map.once('moveend', () => setTimeout(() => map.remove()));
  else map.remove();
}

const VIEW_KEY = 'pista.map.view';

/** Shows the view last remembered (else the whole world) and remembers each new one; answers
 * whether a remembered view was shown. */
export function rememberView(map) {
  const saved = readView();
  if (saved) map.setView([saved.lat, saved.lon], saved.zoom);
  else map.setView([30, 0], 2);
  map.on('moveend', () => {
    const centre = map.getCenter();
    localStorage.setItem(VIEW_KEY, JSON.stringify({
      lat: centre.lat, lon: centre.lng, zoom: map.getZoom(),
    }));
  });
  return Boolean(saved);
}

function readView() {
  try {
    const view = JSON.parse(localStorage.getItem(VIEW_KEY) || 'null');
    if (view && [view.lat, view.lon, view.zoom].every(Number.isFinite)) return view;
  } catch {
    // A broken saved view is forgotten.
  }
  return null;
}

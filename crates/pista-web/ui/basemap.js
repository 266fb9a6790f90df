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
  return map;
}

/** Removes the map when a page closes, and leaves it inert. Leaflet (1.9.4, vendored) keeps
 * timers that `remove` does not cancel: the end of an animated zoom, the wheel's 40 ms wait,
 * the `moveend` 200 ms after a resize, a box zoom's mouse-up. Each of them still moves the
 * removed map, and moving it reads its map pane, which `remove` deleted (an uncaught TypeError
 * on `_leaflet_pos`). So the removed map loses the page's listeners (a late `moveend` of a map no
 * longer shown must not save its view; `remove` itself ends a pan under way with one, hence the
 * `moveend` listeners go before it) and gets a detached pane of its own to move. */
export function discard(map) {
  map.off('moveend');
  map.remove();
  map.off();
  map._mapPane = L.DomUtil.create('div');
  L.DomUtil.setPosition(map._mapPane, L.point(0, 0));
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

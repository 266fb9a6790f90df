// A Leaflet map on an element, with the server's tile source as its background, or a plain
// surface when there is none (then the map asks no other server for anything). The map and
// tracks pages share it.

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

// The map page: a marker per device labelled with its TID and coloured by the fix's age, the
// accuracy as a circle, a popup with the details, a device to follow, and the fences the user
// may see (from /api/0/fences, followed by fenceshapes.js). The view is remembered
// in localStorage. Tiles come from the server's setting; without tiles the markers are drawn
// on a blank background and the page asks no other server for anything.

import * as basemap from './basemap.js';
import * as devices from './devices.js';
import * as fenceShapes from './fenceshapes.js';
import * as format from './format.js';

const L = window.L;
const FOLLOW_KEY = 'pista.map.follow';

export function show(main, { settings }) {
  const page = format.el('div', 'map-page');
  const tools = format.el('div', 'map-tools');
  const followLabel = format.el('label', null, 'Follow ');
  const follow = format.el('select', 'follow');
  follow.setAttribute('aria-label', 'Follow a device');
  followLabel.append(follow);
  tools.append(followLabel);
  const holder = format.el('div', 'map');
  page.append(holder, tools);
  main.replaceChildren(page);

  const map = basemap.make(holder, settings);
  let fitted = basemap.rememberView(map); // one view for the map and fences pages

  const fences = L.layerGroup().addTo(map);
  const fenceFollower = fenceShapes.follow((list) => {
    drawFences(fences, list);
    page.dataset.fences = String(list.length);
  }, (error) => console.warn('fences', error.message));

  const shown = new Map(); // topic → { marker, circle, state }
  let following = localStorage.getItem(FOLLOW_KEY) || '';

  function draw(device) {
    if (typeof device.lat !== 'number' || typeof device.lon !== 'number') return;
    const at = [device.lat, device.lon];
    const state = devices.state(device);
    let item = shown.get(device.topic);
    if (!item) {
      const marker = L.marker(at, { icon: icon(device, state), title: device.tid, keyboard: true });
      const circle = L.circle(at, { radius: device.acc || 0, className: 'accuracy', interactive: false });
      marker.bindPopup(() => popup(devices.all().find((d) => d.topic === device.topic) || device));
      circle.addTo(map);
      marker.addTo(map);
      item = { marker, circle, state, tid: device.tid };
      shown.set(device.topic, item);
    } else {
      item.marker.setLatLng(at);
      item.circle.setLatLng(at);
      if (item.state !== state || item.tid !== device.tid) {
        item.marker.setIcon(icon(device, state));
        Object.assign(item, { state, tid: device.tid });
      }
      if (item.marker.isPopupOpen()) item.marker.setPopupContent(popup(device));
    }
    item.circle.setRadius(device.acc || 0);
    if (device.topic === following) map.panTo(at);
  }

  function drawAll() {
    for (const device of devices.all()) draw(device);
    fillFollow();
    if (!fitted && shown.size > 0) {
      fitted = true;
      const bounds = L.latLngBounds([...shown.values()].map((item) => item.marker.getLatLng()));
      map.fitBounds(bounds.pad(0.2), { maxZoom: 15 });
    }
  }

  function fillFollow() {
    const options = [new Option('nobody', '')];
    const list = devices.all().sort((a, b) => String(a.tid).localeCompare(String(b.tid)));
    for (const device of list) {
      options.push(new Option(`${device.tid} (${device.user || '?'}/${device.device || '?'})`,
        device.topic));
    }
    follow.replaceChildren(...options);
    follow.value = list.some((d) => d.topic === following) ? following : '';
  }

  follow.addEventListener('change', () => {
    following = follow.value;
    localStorage.setItem(FOLLOW_KEY, following);
    const item = shown.get(following);
    if (item) map.panTo(item.marker.getLatLng());
  });

  const unsubscribe = devices.subscribe((device) => {
    if (device) {
      const known = shown.has(device.topic);
      draw(device);
      if (!known) drawAll();
    } else {
      drawAll();
    }
  });
  // Ages move on without new data.
  const ticker = setInterval(drawAll, 30000);
  drawAll();

  return () => {
    unsubscribe();
    fenceFollower.stop();
    clearInterval(ticker);
    basemap.discard(map);
  };
}

function icon(device, state) {
  const label = format.el('span', 'tid', device.tid);
  return L.divIcon({
    className: `pista-marker ${state}`,
    html: label,
    iconSize: [38, 38],
    iconAnchor: [19, 19],
    popupAnchor: [0, -18],
  });
}

function popup(device) {
  const box = format.details(device);
  box.classList.add('popup');
  return box;
}

/** Draws every fence the user may see (again): a circle or a polygon, named in its tooltip. */
function drawFences(layer, list) {
  layer.clearLayers();
  for (const fence of list) {
    const shape = fenceShapes.shape(fence);
    // As an element, not HTML: a region's name comes from a device.
    shape.bindTooltip(format.el('span', null, fence.name || `fence ${fence.id}`));
    shape.addTo(layer);
  }
}

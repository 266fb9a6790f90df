// The fences page: the fences the user may see (/api/0/fences, followed by fenceshapes.js) on a
// map with the devices (devices.js) and in a list; clicks on the map place a new or changed
// fence's centre or corners for the form (fenceform.js), which is saved with POST or PUT; a
// delete asks first; below, the enter/leave history (fencehistory.js). The map's view is the
// map page's (localStorage). Fences from the apps' regions or the configuration file are listed
// read-only with the reason, as are fences the API would not let this user change; the API's
// refusals are shown as it words them.

import { call } from './api.js';
import * as basemap from './basemap.js';
import * as devices from './devices.js';
import * as fenceShapes from './fenceshapes.js';
import * as fenceHistory from './fencehistory.js';
import { makeForm } from './fenceform.js';
import * as format from './format.js';

const L = window.L;

/** Why this user may not change a fence here, or '' when they may (the API's own rules). */
export function lockedReason(fence, me) {
  if (fence.source === 'app') {
    const owner = fence.owner ? `${fence.owner.user}/${fence.owner.device}` : 'a device';
    return `Region of ${owner}: change it in the app.`;
  }
  if (fence.source === 'config') return 'From the configuration file: change it there.';
  if (me.superuser || (fence.user && fence.user === me.user)) return '';
  return fence.user ? `Only ${fence.user} or a superuser may change it.` : 'Only a superuser may change it.';
}

/** A coordinate rounded to 6 decimals (11 cm), as it is stored and shown. */
function round(value) {
  return Math.round(value * 1e6) / 1e6;
}

export function show(main, { settings, me }) {
  const page = format.el('div', 'fences-page');
  const side = format.el('div', 'fence-side');
  const holder = format.el('div', 'map');
  page.append(side, holder);
  main.replaceChildren(page);

  const map = basemap.make(holder, settings);
  let fitted = basemap.rememberView(map); // one view for the map and fences pages
  const fenceLayer = L.layerGroup().addTo(map);
  const deviceLayer = L.layerGroup().addTo(map);
  const draftLayer = L.layerGroup().addTo(map);

  let fences = [];
  const names = () => new Map(fences.map((f) => [f.id, f.name]));
  const history = fenceHistory.make(names);
  const form = makeForm(me);
  const list = makeList();
  side.append(form.element, list.element, history.box);

  // What the form is making: a new fence (editing null) or a change of fence `editing`.
  let draft = newDraft();

  function newDraft() {
    return { editing: null, mode: 'circle', centre: null, corners: [] };
  }

  function drawFences() {
    fenceLayer.clearLayers();
    for (const fence of fences) {
      if (fence.id === draft.editing) continue;
      const shape = fenceShapes.shape(fence);
      // As an element, not HTML: a region's name comes from a device.
      shape.bindTooltip(format.el('span', null, fence.name));
      shape.addTo(fenceLayer);
    }
  }

  function drawDraft() {
    draftLayer.clearLayers();
    const style = { className: 'draft', interactive: false };
    if (draft.mode === 'circle' && draft.centre) {
      L.circle(draft.centre, { ...style, radius: form.radius() || 0 }).addTo(draftLayer);
      L.circleMarker(draft.centre, { ...style, className: 'corner', radius: 4 }).addTo(draftLayer);
    } else if (draft.mode === 'polygon' && draft.corners.length) {
      const outline = draft.corners.length > 2 ? L.polygon : L.polyline;
      outline(draft.corners, style).addTo(draftLayer);
      for (const corner of draft.corners) {
        L.circleMarker(corner, { ...style, className: 'corner', radius: 4 }).addTo(draftLayer);
      }
    }
    form.describe(draft);
  }

  function startDraft(next) {
    draft = next;
    form.fill(draft, fences.find((f) => f.id === draft.editing));
    drawFences();
    drawDraft();
  }

  function edit(fence) {
    const polygon = Array.isArray(fence.polygon);
    startDraft({
      editing: fence.id,
      mode: polygon ? 'polygon' : 'circle',
      centre: polygon ? null : [fence.lat, fence.lon],
      corners: polygon ? fence.polygon.map((c) => [...c]) : [],
    });
    map.fitBounds(fenceShapes.bounds(fence).pad(0.3), { animate: false });
  }

  async function remove(fence) {
    if (!window.confirm(`Delete the fence "${fence.name}"? Its history stays.`)) return;
    try {
      await call(`/api/0/fences/${fence.id}`, { method: 'DELETE' });
    } catch (error) {
      form.problem(error.message);
      return;
    }
    if (draft.editing === fence.id) startDraft(newDraft());
    form.done(`Deleted the fence "${fence.name}".`);
    changed();
  }

  function changed() {
    fenceShapes.announce();
    follower.reload();
  }

  async function save() {
    const body = form.body(draft);
    if (typeof body === 'string') {
      form.problem(body);
      return;
    }
    const editing = draft.editing;
    try {
      if (editing === null) await call('/api/0/fences', { method: 'POST', body });
      else await call(`/api/0/fences/${editing}`, { method: 'PUT', body });
    } catch (error) {
      form.problem(error.message);
      return;
    }
    startDraft(newDraft());
    form.done(editing === null ? `Saved the fence "${body.name}".` : `Changed the fence "${body.name}".`);
    changed();
  }

  map.on('click', (event) => {
    const at = event.latlng.wrap();
    const point = [round(at.lat), round(at.lng)];
    if (draft.mode === 'circle') draft.centre = point;
    else draft.corners.push(point);
    drawDraft();
  });
  form.on({
    save,
    redraw: drawDraft,
    mode(mode) {
      draft.mode = mode;
      drawDraft();
    },
    undo() {
      draft.corners.pop();
      drawDraft();
    },
    cancel: () => startDraft(newDraft()),
  });

  function showList(next) {
    fences = next;
    if (draft.editing !== null && !fences.some((f) => f.id === draft.editing)) {
      startDraft(newDraft());
      form.problem('The fence being changed was deleted.');
    }
    list.render(fences, me, { edit, remove, history: history.showFence, zoom });
    drawFences();
    history.fencesChanged();
    if (!fitted && fences.length) {
      fitted = true;
      const all = fences.map(fenceShapes.bounds);
      map.fitBounds(all.reduce((sum, one) => sum.extend(one)).pad(0.2),
        { maxZoom: 16, animate: false });
    }
  }

  function zoom(fence) {
    map.fitBounds(fenceShapes.bounds(fence).pad(0.3), { animate: false });
  }

  // The devices as dots labelled with their TID, to see which side of a fence they are on; they
  // take no clicks, so a click on one places a centre or a corner.
  const dots = new Map(); // topic → circle marker
  function drawDevices() {
    for (const device of devices.all()) {
      if (typeof device.lat !== 'number' || typeof device.lon !== 'number') continue;
      const className = `device-dot ${devices.state(device)}`;
      let dot = dots.get(device.topic);
      if (!dot) {
        dot = L.circleMarker([device.lat, device.lon], { className, radius: 6, interactive: false })
          .bindTooltip('', { permanent: true, direction: 'right', className: 'device-label' })
          .addTo(deviceLayer);
        dots.set(device.topic, dot);
      }
      dot.setLatLng([device.lat, device.lon]);
      dot.setTooltipContent(format.el('span', null, device.tid));
      dot.getElement()?.setAttribute('class', className);
    }
  }
  const unsubscribe = devices.subscribe(drawDevices);
  drawDevices();

  const follower = fenceShapes.follow(showList,
    (error) => list.problem(`The fences could not be read: ${error.message}`));
  startDraft(newDraft());

  return () => {
    follower.stop();
    unsubscribe();
    history.stop();
    basemap.discard(map);
  };
}

/** The list of fences, with what may be done to each. */
function makeList() {
  const element = format.el('section', 'fence-list');
  element.setAttribute('aria-label', 'Fences');
  const table = format.el('table', 'devices fences');
  table.append(format.el('thead'), format.el('tbody'));
  const head = format.el('tr');
  for (const name of ['Name', 'Shape', 'Size', 'For', 'Source', '']) {
    head.append(format.el('th', null, name));
  }
  table.tHead.append(head);
  const empty = format.el('p', 'empty', 'No fences yet: click the map to make one.');
  empty.hidden = true; // until the list is read
  const trouble = format.el('p', 'problem');
  trouble.hidden = true;
  element.append(format.el('h2', null, 'Fences'), table, empty, trouble);

  function row(fence, me, actions) {
    const tr = format.el('tr');
    tr.dataset.id = fence.id;
    const name = button('name', fence.name);
    name.title = 'Show it on the map';
    name.addEventListener('click', () => actions.zoom(fence));
    const nameCell = format.el('td');
    nameCell.append(name);
    const polygon = Array.isArray(fence.polygon);
    const whose = fence.owner ? `${fence.owner.user}/${fence.owner.device}` : fence.user || 'everyone';
    const source = { app: 'app region', config: 'config file', api: 'API' }[fence.source] || fence.source;
    const tools = format.el('td', 'actions');
    const locked = lockedReason(fence, me);
    if (locked) {
      tools.append(format.el('span', 'locked', locked));
    } else {
      const change = button('edit', 'Edit');
      change.addEventListener('click', () => actions.edit(fence));
      const drop = button('delete', 'Delete');
      drop.addEventListener('click', () => actions.remove(fence));
      tools.append(change, drop);
    }
    const past = button('history', 'History');
    past.addEventListener('click', () => actions.history(fence.id));
    tools.append(past);
    tr.append(nameCell, format.el('td', null, polygon ? 'polygon' : 'circle'),
      format.el('td', 'numeric', polygon ? `${fence.polygon.length} corners` : `${fence.radius} m`),
      format.el('td', null, whose), format.el('td', null, source), tools);
    return tr;
  }

  return {
    element,
    render(fences, me, actions) {
      const sorted = [...fences].sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
      table.tBodies[0].replaceChildren(...sorted.map((fence) => row(fence, me, actions)));
      table.hidden = sorted.length === 0;
      empty.hidden = sorted.length > 0;
      trouble.hidden = true;
    },
    problem(text) {
      trouble.textContent = text;
      trouble.hidden = false;
    },
  };
}

function button(className, text) {
  const element = format.el('button', className, text);
  element.type = 'button';
  return element;
}


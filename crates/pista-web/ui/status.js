// The status page: a tile per device the user may see, labelled with its TID and coloured by
// state and the fix's age (the map's rules: devices.state). Hovering or focusing a tile shows
// its details in the card beside the grid; a click (a tap on a phone) pins them there. Tiles
// follow the live stream, and ages move on without new data.

import * as devices from './devices.js';
import * as format from './format.js';

const STATE_TEXT = {
  online: 'under 15 minutes old',
  stale: 'under 6 hours old',
  offline: 'older, or the device went offline',
};

export function show(main) {
  const page = format.el('div', 'status-page');
  const grid = format.el('div', 'tiles');
  grid.setAttribute('role', 'list');
  grid.setAttribute('aria-label', 'Devices');
  const card = format.el('aside', 'tile-card');
  card.setAttribute('aria-live', 'polite');
  const legend = format.el('ul', 'legend');
  for (const [state, text] of Object.entries(STATE_TEXT)) {
    const item = format.el('li');
    item.append(format.el('span', `dot ${state}`), ` ${state}: ${text}`);
    legend.append(item);
  }
  const empty = format.el('p', 'empty', 'No devices to show yet.');
  page.append(grid, card, legend, empty);
  main.replaceChildren(page);

  const tiles = new Map(); // topic → button
  let pinned = '';
  let hovered = '';

  function tile(device) {
    let button = tiles.get(device.topic);
    if (!button) {
      button = format.el('button', 'tile');
      button.type = 'button';
      button.setAttribute('role', 'listitem');
      button.dataset.topic = device.topic;
      const topic = device.topic;
      button.addEventListener('mouseenter', () => { hovered = topic; fillCard(); });
      button.addEventListener('mouseleave', () => { hovered = ''; fillCard(); });
      button.addEventListener('focus', () => { hovered = topic; fillCard(); });
      button.addEventListener('blur', () => { hovered = ''; fillCard(); });
      button.addEventListener('click', () => {
        pinned = pinned === topic ? '' : topic;
        render();
      });
      tiles.set(device.topic, button);
    }
    const state = devices.state(device);
    button.className = `tile ${state}`;
    button.textContent = device.tid;
    button.title = `${device.user || '?'}/${device.device || '?'}: ${state}`;
    button.setAttribute('aria-pressed', String(pinned === device.topic));
    return button;
  }

  function fillCard() {
    const topic = hovered || pinned;
    const device = devices.all().find((d) => d.topic === topic);
    card.hidden = !device;
    card.replaceChildren(...(device ? [format.details(device)] : []));
    card.dataset.topic = device ? device.topic : '';
  }

  function render() {
    const list = devices.all()
      .filter((d) => typeof d.lat === 'number')
      .sort((a, b) => String(a.tid).localeCompare(String(b.tid))
        || String(a.topic).localeCompare(String(b.topic)));
    grid.replaceChildren(...list.map(tile));
    empty.hidden = list.length > 0;
    fillCard();
  }

  const unsubscribe = devices.subscribe(() => render());
  const ticker = setInterval(render, 30000);
  render();
  return () => {
    unsubscribe();
    clearInterval(ticker);
  };
}

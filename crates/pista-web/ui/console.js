// The console page: the watcher lines (`_look`) of the devices the user may see, as they come
// from the server's live stream (/api/0/live?kinds=look), newest on top. A filter hides the
// lines without its text; while paused, lines wait (the newest MAX_LINES) and come in on
// resume; clear empties the list. The page keeps at most MAX_LINES lines, dropping the oldest.

import { call } from './api.js';
import * as format from './format.js';

/** The most lines the page holds (and the most that wait while paused). */
export const MAX_LINES = 500;

export function show(main) {
  const page = format.el('div', 'console-page');
  const tools = format.el('form', 'console-tools');
  tools.setAttribute('role', 'search');
  const filter = format.el('input', 'filter');
  filter.type = 'search';
  filter.placeholder = 'Filter';
  filter.setAttribute('aria-label', 'Show only lines with this text');
  const pause = format.el('button', 'pause', 'Pause');
  pause.type = 'button';
  pause.setAttribute('aria-pressed', 'false');
  const clear = format.el('button', 'clear', 'Clear');
  clear.type = 'button';
  const status = format.el('span', 'console-status');
  status.setAttribute('aria-live', 'polite');
  tools.append(filter, pause, clear, status);
  const list = format.el('ol', 'console-lines');
  list.setAttribute('aria-label', 'Watcher lines, newest first');
  page.append(tools, list);
  main.replaceChildren(page);

  let paused = false;
  let waiting = [];

  function matches(li) {
    const text = filter.value.trim().toLowerCase();
    return !text || li.textContent.toLowerCase().includes(text);
  }

  function showStatus() {
    const shown = [...list.children].filter((li) => !li.hidden).length;
    let text = `${list.children.length} lines`;
    if (shown !== list.children.length) text += `, ${shown} shown`;
    if (paused) text += `; paused, ${waiting.length} waiting`;
    status.textContent = text;
  }

  function line(text, kind) {
    const li = format.el('li', kind, text);
    li.hidden = !matches(li);
    return li;
  }

  function add(items) {
    list.prepend(...items.reverse());
    while (list.children.length > MAX_LINES) list.lastElementChild.remove();
    showStatus();
  }

  function receive(li) {
    if (!paused) {
      add([li]);
      return;
    }
    waiting.push(li);
    if (waiting.length > MAX_LINES) waiting.shift();
    showStatus();
  }

  filter.addEventListener('input', () => {
    for (const li of list.children) li.hidden = !matches(li);
    showStatus();
  });
  tools.addEventListener('submit', (event) => event.preventDefault());
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(paused));
    if (!paused && waiting.length) {
      const items = waiting;
      waiting = [];
      add(items);
    }
    showStatus();
  });
  clear.addEventListener('click', () => {
    list.replaceChildren();
    waiting = [];
    showStatus();
  });

  const stream = new EventSource('/api/0/live?kinds=look');
  page.dataset.live = 'connecting';
  stream.addEventListener('look', (event) => receive(line(event.data, 'look')));
  stream.addEventListener('lagged', (event) => {
    receive(line(`(${event.data} lines were missed: the page fell behind)`, 'note'));
  });
  stream.onopen = () => {
    page.dataset.live = 'open';
  };
  stream.onerror = () => {
    page.dataset.live = 'closed';
    // A refused stream (the session ended) is not retried by the browser: /api/0/me tells
    // the app so, and it shows the login.
    if (stream.readyState === EventSource.CLOSED) call('/api/0/me').catch(() => {});
  };
  showStatus();
  filter.focus();

  return () => stream.close();
}

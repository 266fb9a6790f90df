// The web UI's entry: asks who is logged in, shows the login page or the page the address
// names (#/map, #/table, #/status, #/tracks, #/console, #/hardware, #/jobs, #/fences,
// #/account, #/admin), and keeps the nav bar (the admin link for superusers only). Each page
// module has `show(main, context)`, which draws the page and answers a function that takes
// it down.

import { call, setCsrf } from './api.js';
import * as accountPage from './account.js';
import * as adminPage from './admin.js';
import * as devices from './devices.js';
import * as consolePage from './console.js';
import * as fencesPage from './fences.js';
import * as hardwarePage from './hardware.js';
import * as jobsPage from './jobs.js';
import * as login from './login.js';
import * as mapPage from './map.js';
import * as statusPage from './status.js';
import * as tablePage from './table.js';
import * as tracksPage from './tracks.js';

const PAGES = {
  map: mapPage, table: tablePage, status: statusPage, tracks: tracksPage, console: consolePage,
  hardware: hardwarePage, jobs: jobsPage, fences: fencesPage, account: accountPage,
  admin: adminPage,
};
const DEFAULT_PAGE = 'map';

const main = document.getElementById('page');
const bar = document.querySelector('header.bar');
let me = null;
let settings = { tiles: null, attribution: '' };
let takeDown = () => {};

function pageName() {
  const name = location.hash.replace(/^#\/?/, '');
  return name === 'login' || PAGES[name] ? name : DEFAULT_PAGE;
}

function route() {
  takeDown();
  takeDown = () => {};
  const name = pageName();
  if (!me) {
    bar.hidden = true;
    document.title = 'Log in · Pista';
    takeDown = login.show(main, { onLogin: loggedIn });
    return;
  }
  if (name === 'login') {
    location.replace('#/' + DEFAULT_PAGE);
    return;
  }
  bar.hidden = false;
  bar.querySelector('.who').textContent = me.user;
  bar.querySelector('.pages a[data-page=admin]').hidden = !me.superuser;
  for (const link of bar.querySelectorAll('.pages a')) {
    if (link.dataset.page === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${name[0].toUpperCase()}${name.slice(1)} · Pista`;
  document.body.dataset.page = name;
  takeDown = PAGES[name].show(main, { settings, me });
  devices.start().catch((error) => console.warn('devices', error.message));
}

function loggedIn(answer) {
  me = answer;
  if (pageName() === 'login') location.replace('#/' + DEFAULT_PAGE);
  route();
}

function loggedOut() {
  me = null;
  setCsrf('');
  devices.stop();
  document.body.dataset.page = 'login';
  route();
}

bar.querySelector('.logout').addEventListener('click', async () => {
  try {
    await call('/api/0/logout', { method: 'POST' });
  } finally {
    loggedOut();
  }
});

window.addEventListener('pista:logged-out', () => {
  if (me) loggedOut();
});
window.addEventListener('hashchange', route);

async function boot() {
  settings = await call('settings.json');
  try {
    me = await call('/api/0/me');
    if (me.csrf) setCsrf(me.csrf);
  } catch {
    me = null;
  }
  route();
}

boot().catch((error) => {
  main.textContent = `The UI could not start: ${error.message}`;
});

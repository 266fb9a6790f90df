// Browser end-to-end tests of Pista's web UI: the real binary (built beforehand; this script
// builds nothing) on loopback with a temporary data directory and the embedded broker,
// Debian's chromium driven by playwright-core, locations published with mosquitto_pub.
//
//   PISTA_BIN   the server binary (default ../target/debug/pista, or $CARGO_TARGET_DIR/debug/pista)
//   CHROMIUM    the browser (default /usr/bin/chromium)

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
const PISTA_BIN = path.resolve(root, process.env.PISTA_BIN || path.join(targetDir, 'debug/pista'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOTS = path.join(root, 'docs/screenshots');
const ADMIN_PASSWORD = 'admin-e2e-password';
const LAUNCH_FLAGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let server;
let serverLog = '';
let dataDir;
let base;
let brokerPort;
let browser;
let context;
const users = {};
const outside = []; // every request the pages made to anything but the server
const pageErrors = [];

async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function waitFor(check, what, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${serverLog}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function admin(method, route, body) {
  const response = await fetch(base + route, {
    method,
    headers: {
      Authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64'),
      'Content-Type': 'application/json',
    },
    body: body && JSON.stringify(body),
  });
  const text = await response.text();
  assert.equal(response.status < 300, true, `${method} ${route}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Publishes one location as `user` over MQTT with QoS 1: done once the broker acknowledged,
 * which Pista does after the location is stored. */
async function publish(user, device, fields) {
  const payload = JSON.stringify({ _type: 'location', tst: Math.floor(Date.now() / 1000), ...fields });
  await run('mosquitto_pub', [
    '-h', '127.0.0.1', '-p', String(brokerPort), '-q', '1', '-i', `e2e-${user}-${device}`,
    '-u', user, '-P', users[user], '-t', `owntracks/${user}/${device}`, '-m', payload,
  ]);
}

async function newPage() {
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  return page;
}

async function logIn(page, user) {
  await page.goto(base + '/ui/');
  await page.locator('form.login input[name=user]').fill(user);
  await page.locator('form.login input[name=password]').fill(users[user]);
  await page.locator('form.login button[type=submit]').click();
  await page.locator('header.bar .who', { hasText: user }).waitFor({ timeout: 5000 });
}

before(async () => {
  const [httpPort, mqttPort] = [await freePort(), await freePort()];
  brokerPort = mqttPort;
  base = `http://127.0.0.1:${httpPort}`;
  dataDir = await mkdtemp(path.join(tmpdir(), 'pista-e2e-'));
  server = spawn(PISTA_BIN, [
    'serve', '--data-dir', dataDir, '--http', `127.0.0.1:${httpPort}`,
    '--broker', `127.0.0.1:${mqttPort}`,
  ], {
    env: { ...process.env, PISTA_ADMIN_PASSWORD: ADMIN_PASSWORD, PISTA_UI_TILES: 'none', RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.on('data', (chunk) => { serverLog += chunk; });
  server.stderr.on('data', (chunk) => { serverLog += chunk; });
  await waitFor(async () => (await fetch(base + '/api/0/version')).ok, 'the server');
  users.admin = ADMIN_PASSWORD;
  for (const name of ['jane', 'bob']) {
    const made = await admin('POST', '/api/0/users', { name, password: `${name}-e2e-secret` });
    assert.equal(made.name ?? name, name);
    users[name] = `${name}-e2e-secret`;
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_FLAGS });
  context = await browser.newContext({ viewport: { width: 1200, height: 760 } });
  // The guard: anything not addressed to the server is recorded and refused.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base + '/')) return route.continue();
    outside.push(url);
    return route.abort();
  });
  await mkdir(SCREENSHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test('a page without a session shows the login, and a wrong password is refused', async () => {
  const page = await newPage();
  await page.goto(base + '/');
  assert.equal(page.url(), base + '/ui/');
  await page.goto(base + '/ui/#/table');
  await page.locator('form.login').waitFor();
  assert.equal(await page.locator('header.bar').isHidden(), true);
  await page.locator('input[name=user]').fill('jane');
  await page.locator('input[name=password]').fill('not-her-password');
  await page.locator('button[type=submit]').click();
  await page.locator('.problem', { hasText: 'Wrong user name or password.' }).waitFor({ timeout: 5000 });
  await page.locator('input[name=password]').fill('');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'login.png') });
  await page.close();
});

test('jane logs in, sees her location live on the map and the table, never bob\'s', async (t) => {
  // Bob's device exists before jane looks.
  await publish('bob', 'tablet', { tid: 'BT', lat: 48.85, lon: 2.35, acc: 20 });
  await publish('jane', 'car', { tid: 'JC', lat: 48.86, lon: 2.29, acc: 400, vel: 43, alt: 35, cog: 270, batt: 64, t: 't' });

  const map = await newPage();
  await logIn(map, 'jane');
  assert.equal(await map.locator('header.bar .pages a[aria-current=page]').textContent(), 'Map');
  await map.locator('.pista-marker', { hasText: 'JC' }).waitFor({ timeout: 5000 });
  const table = await newPage();
  await table.goto(base + '/ui/#/table');
  await table.locator('table.devices tbody tr', { hasText: 'JC' }).waitFor({ timeout: 5000 });
  for (const page of [map, table]) {
    await page.locator('.live[data-live=open]').waitFor({ timeout: 5000 });
  }

  // A new device of jane's, published over MQTT, shows within a second on both pages; bob's
  // update, published before it through the same server, must not show at all.
  await publish('bob', 'tablet', { tid: 'BT', lat: 48.851, lon: 2.351, acc: 20 });
  await publish('jane', 'phone', { tid: 'JP', lat: 48.8584, lon: 2.2945, acc: 8, vel: 4, alt: 41, cog: 90, batt: 87, t: 'u' });
  const published = Date.now();
  await Promise.all([
    map.locator('.pista-marker', { hasText: 'JP' }).waitFor({ timeout: 1000 }),
    table.locator('table.devices tbody tr', { hasText: 'JP' }).waitFor({ timeout: 1000 }),
  ]);
  const took = Date.now() - published;
  assert.ok(took < 1000, `took ${took} ms`);
  t.diagnostic(`shown on the map and the table ${took} ms after the broker's acknowledgement`);

  assert.deepEqual(
    (await map.locator('.pista-marker').allTextContents()).sort(), ['JC', 'JP'],
  );
  assert.deepEqual(
    (await table.locator('table.devices tbody tr td:nth-child(2)').allTextContents()).sort(),
    ['JC', 'JP'],
  );
  assert.equal(await map.locator('select.follow option', { hasText: 'BT' }).count(), 0);
  assert.equal(await table.locator('text=tablet').count(), 0);

  // The popup, the trigger's meaning and sorting.
  await map.bringToFront();
  await map.locator('.pista-marker', { hasText: 'JC' }).click();
  const popup = map.locator('.leaflet-popup .popup');
  await popup.waitFor();
  assert.equal(await popup.locator('h2').textContent(), 'JC · jane/car');
  assert.equal(await popup.locator('tr', { hasText: 'Speed' }).locator('td').textContent(), '43 km/h');
  assert.equal(await popup.locator('tr', { hasText: 'Battery' }).locator('td').textContent(), '64 %');
  assert.equal(await popup.locator('tr', { hasText: 'Course' }).locator('td').textContent(), '270° W');
  await map.screenshot({ path: path.join(SCREENSHOTS, 'map.png'), animations: 'disabled' });

  // Following a device and the view are remembered in the browser.
  await map.locator('select.follow').selectOption({ label: 'JP (jane/phone)' });
  assert.equal(await map.evaluate(() => localStorage.getItem('pista.map.follow')), 'owntracks/jane/phone');
  const view = JSON.parse(await map.evaluate(() => localStorage.getItem('pista.map.view')));
  assert.deepEqual(Object.keys(view), ['lat', 'lon', 'zoom']);

  const trigger = table.locator('tr', { hasText: 'JC' }).locator('abbr');
  assert.equal(await trigger.getAttribute('title'), 'timer while moving (app); device is moving (Greenwich)');
  await table.locator('th button', { hasText: 'Speed' }).click();
  assert.deepEqual(await table.locator('tbody td:nth-child(2)').allTextContents(), ['JP', 'JC']);
  await table.locator('th button', { hasText: 'Speed' }).click();
  assert.deepEqual(await table.locator('tbody td:nth-child(2)').allTextContents(), ['JC', 'JP']);
  assert.equal(await table.locator('th', { hasText: 'Speed' }).getAttribute('aria-sort'), 'descending');
  await table.bringToFront();
  await table.screenshot({ path: path.join(SCREENSHOTS, 'table.png'), animations: 'disabled' });
  await table.setViewportSize({ width: 390, height: 700 });
  await table.screenshot({ path: path.join(SCREENSHOTS, 'table-phone.png'), animations: 'disabled' });

  // Logging out ends the session for every page of the browser.
  await table.locator('button.logout').click();
  await table.locator('form.login').waitFor({ timeout: 5000 });
  const me = await map.evaluate(async () => (await fetch('/api/0/me', { headers: { 'X-Requested-With': 'x' } })).status);
  assert.equal(me, 401);
  await map.close();
  await table.close();
});

test('the pages asked nothing of any other server and raised no errors', () => {
  assert.deepEqual(outside, []);
  assert.deepEqual(pageErrors, []);
});

// The browser tests' shared world: the real binary (built beforehand; nothing here builds it) on
// loopback with a temporary data directory and the embedded broker, Debian's chromium driven by
// playwright-core, users made through the admin API, locations published with mosquitto_pub.
// Every test file calls `setUp` before its tests and `tearDown` after them, so each file gets a
// server, a data directory and a browser of its own.
//
//   PISTA_BIN   the server binary (default ../target/debug/pista, or $CARGO_TARGET_DIR/debug/pista)
//   CHROMIUM    the browser (default /usr/bin/chromium)

import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

export const run = promisify(execFile);
export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');
export const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
export const PISTA_BIN = path.resolve(root, process.env.PISTA_BIN || path.join(targetDir, 'debug/pista'));
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOTS = path.join(root, 'docs/screenshots');
export const ADMIN_PASSWORD = 'admin-e2e-password';
export const LAUNCH_FLAGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export let server;
export let serverLog = '';
export let dataDir;
export let base;
export let brokerPort;
export let browser;
export let context;
export const users = {};
export const outside = []; // every request the pages made to anything but the server
export const pageErrors = [];

export async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

export async function waitFor(check, what, ms = 20000) {
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

export function basic(user) {
  return 'Basic ' + Buffer.from(`${user}:${users[user]}`).toString('base64');
}

export async function admin(method, route, body) {
  const response = await fetch(base + route, {
    method,
    headers: { Authorization: basic('admin'), 'Content-Type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  const text = await response.text();
  assert.equal(response.status < 300, true, `${method} ${route}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Publishes one location as `user` over MQTT with QoS 1: done once the broker acknowledged,
 * which Pista does after the location is stored. */
export async function publish(user, device, fields) {
  const payload = JSON.stringify({ _type: 'location', tst: Math.floor(Date.now() / 1000), ...fields });
  await run('mosquitto_pub', [
    '-h', '127.0.0.1', '-p', String(brokerPort), '-q', '1', '-i', `e2e-${user}-${device}`,
    '-u', user, '-P', users[user], '-t', `owntracks/${user}/${device}`, '-m', payload,
  ]);
}

/** Publishes one text message as `user` on `owntracks/<user>/<device>/<subtopic>` (Greenwich
 * subtopics, Activo job-box messages) with QoS 1. */
export async function publishText(user, device, subtopic, text, retain = false) {
  await run('mosquitto_pub', [
    '-h', '127.0.0.1', '-p', String(brokerPort), '-q', '1', '-i', `e2e-${user}-${device}`,
    '-u', user, '-P', users[user], '-t', `owntracks/${user}/${device}/${subtopic}`, '-m', text,
    ...(retain ? ['-r'] : []),
  ]);
}

/** Posts one location over HTTP mode as `user` (for points with times of the past). */
export async function post(user, device, fields) {
  const response = await fetch(`${base}/pub?u=${user}&d=${device}`, {
    method: 'POST',
    headers: { Authorization: basic(user), 'Content-Type': 'application/json' },
    body: JSON.stringify({ _type: 'location', ...fields }),
  });
  assert.equal(response.status, 200, await response.text());
}

/** Reads /api/0/live?kinds=look as `user` beside the browser: the lines the console must show. */
export async function watchLook(user) {
  const stop = new AbortController();
  const response = await fetch(base + '/api/0/live?kinds=look', {
    headers: { Authorization: basic(user) }, signal: stop.signal,
  });
  assert.equal(response.status, 200);
  const lines = [];
  const decoder = new TextDecoder();
  let buffer = '';
  (async () => {
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end).split('\n');
        buffer = buffer.slice(end + 2);
        if (block.includes('event: look')) {
          lines.push(block.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n'));
        }
      }
    }
  })().catch(() => {});
  return { lines, close: () => stop.abort() };
}

export async function newPage() {
  const page = await context.newPage();
  page.setDefaultTimeout(5000);
  page.on('pageerror', (error) => pageErrors.push(error.message));
  return page;
}

export async function logIn(page, user) {
  await context.clearCookies(); // each test logs in afresh
  await page.goto(base + '/ui/');
  await page.locator('form.login input[name=user]').fill(user);
  await page.locator('form.login input[name=password]').fill(users[user]);
  await page.locator('form.login button[type=submit]').click();
  await page.locator('header.bar .who', { hasText: user }).waitFor({ timeout: 5000 });
}

export async function setUp() {
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
  // A zone away from UTC, so the tracks page's days are seen to be the browser's.
  context = await browser.newContext({
    viewport: { width: 1200, height: 760 }, timezoneId: 'Europe/Berlin',
  });
  // The guard: anything not addressed to the server is recorded and refused.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base + '/')) return route.continue();
    outside.push(url);
    return route.abort();
  });
  await mkdir(SCREENSHOTS, { recursive: true });
}

export async function tearDown() {
  await browser?.close();
  server?.kill('SIGTERM');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}

// Browser end-to-end tests of Pista's web UI: login, map, table, console, tracks, status,
// hardware and jobs (the world they run in: harness.mjs).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  run, root, SCREENSHOTS, server, base, browser, outside, pageErrors, waitFor, basic, admin,
  publish, publishText, post, watchLook, newPage, logIn, setUp, tearDown,
} from './harness.mjs';

before(setUp);
after(tearDown);

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
  // A fence for each; jane's map shows hers only.
  await admin('POST', '/api/0/fences', { name: 'Home', lat: 48.8595, lon: 2.2925, radius: 250, user: 'jane' });
  await admin('POST', '/api/0/fences', { name: 'Bob\'s', lat: 48.85, lon: 2.35, radius: 100, user: 'bob' });
  // Bob's device exists before jane looks.
  await publish('bob', 'tablet', { tid: 'BT', lat: 48.85, lon: 2.35, acc: 20 });
  await publish('jane', 'car', { tid: 'JC', lat: 48.86, lon: 2.29, acc: 400, vel: 43, alt: 35, cog: 270, batt: 64, t: 't' });

  const map = await newPage();
  await logIn(map, 'jane');
  assert.equal(await map.locator('header.bar .pages a[aria-current=page]').textContent(), 'Map');
  await map.locator('.pista-marker', { hasText: 'JC' }).waitFor({ timeout: 5000 });
  await map.locator('path.fence').waitFor({ timeout: 5000 });
  assert.equal(await map.locator('path.fence').count(), 1);
  await map.locator('path.fence').dispatchEvent('mouseover');
  assert.equal(await map.locator('.leaflet-tooltip').textContent(), 'Home');
  await map.locator('path.fence').dispatchEvent('mouseout');
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

test("the console shows jane's watcher lines live, newest first, with filter, pause and clear", async () => {
  const page = await newPage();
  await logIn(page, 'jane');
  await page.locator('.pages a', { hasText: 'Console' }).click();
  await page.locator('.console-page[data-live=open]').waitFor({ timeout: 5000 });
  const watched = await watchLook('jane');
  const lines = page.locator('.console-lines li');
  const shown = page.locator('.console-lines li:not([hidden])');
  const status = page.locator('.console-status');
  try {
    assert.equal(await lines.count(), 0);
    await publish('bob', 'tablet', { tid: 'BT', lat: 48.852, lon: 2.352 });
    await publish('jane', 'phone', { tid: 'JP', lat: 48.8584, lon: 2.2945, acc: 8, vel: 5, alt: 41, cog: 90, batt: 86, t: 'u' });
    await waitFor(() => watched.lines.length === 1, 'the phone line on the stream', 3000);
    await page.locator('.console-lines li', { hasText: 'owntracks/jane/phone' }).waitFor({ timeout: 1000 });
    assert.deepEqual(await lines.allTextContents(), watched.lines);
    assert.match(watched.lines[0], /owntracks\/jane\/phone +t=u tid=JP /);

    await publish('jane', 'car', { tid: 'JC', lat: 48.861, lon: 2.291, acc: 30, vel: 51, alt: 36, cog: 180, batt: 63, t: 't' });
    // The page's stream and the test's own are two: each may see the line first.
    await waitFor(async () => (await lines.count()) === 2 && watched.lines.length === 2,
      'the car line on the page and on the stream');
    assert.deepEqual(await lines.allTextContents(), [watched.lines[1], watched.lines[0]]);
    assert.equal(await status.textContent(), '2 lines');

    await page.locator('input.filter').fill('JANE/PHONE');
    assert.deepEqual(await shown.allTextContents(), [watched.lines[0]]);
    assert.equal(await status.textContent(), '2 lines, 1 shown');
    await page.locator('input.filter').fill('');
    assert.equal(await shown.count(), 2);

    await page.locator('button.pause').click();
    assert.equal(await page.locator('button.pause').getAttribute('aria-pressed'), 'true');
    // A second later than the first (two fixes of one second: the first stays the newest).
    const later = Math.floor(Date.now() / 1000) + 1;
    await publish('jane', 'phone', { tid: 'JP', lat: 48.8586, lon: 2.2947, acc: 8, vel: 6, alt: 42, cog: 95, batt: 85, t: 'u', tst: later });
    await waitFor(() => watched.lines.length === 3, 'the third line on the stream', 3000);
    await page.locator('.console-status', { hasText: 'paused, 1 waiting' }).waitFor({ timeout: 1000 });
    assert.equal(await lines.count(), 2);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'console.png'), animations: 'disabled' });
    await page.locator('button.pause', { hasText: 'Resume' }).click();
    assert.deepEqual(await lines.allTextContents(), [...watched.lines].reverse());
    assert.equal(await status.textContent(), '3 lines');

    await page.locator('button.clear').click();
    assert.equal(await lines.count(), 0);
    assert.equal(await status.textContent(), '0 lines');

    // A device entering jane's fence: its alert line comes too.
    await publish('jane', 'dog', { tid: 'JD', lat: 48.87, lon: 2.29, tst: later - 60 });
    await publish('jane', 'dog', { tid: 'JD', lat: 48.8595, lon: 2.2925, tst: later });
    await waitFor(() => watched.lines.some((l) => l.includes('ALERT: JD: enters Home at ')),
      'the alert on the stream', 3000);
    await page.locator('.console-lines li', { hasText: 'ALERT: JD: enters Home at ' }).waitFor({ timeout: 1000 });
    assert.deepEqual(await lines.allTextContents(), watched.lines.slice(3).reverse());
    assert.equal(watched.lines.length, 6);
    assert.equal(watched.lines.filter((l) => l.includes('bob')).length, 0);
  } finally {
    watched.close();
    await page.close();
  }
});

test('a track for a range of days in the browser\'s zone is drawn, measured and downloaded', async () => {
  // Twelve points 0.01° of latitude apart (1.112 km), from 00:05 to 01:55 on 10 March 2026 in
  // Berlin (UTC+1), and one point on each side of that day there (both on 9 or 10 March in UTC).
  const start = Date.UTC(2026, 2, 9, 23, 5) / 1000;
  await post('jane', 'bike', { tid: 'JB', lat: 49.5, lon: 2.3, tst: Date.UTC(2026, 2, 9, 22, 55) / 1000 });
  for (let i = 0; i < 12; i += 1) {
    await post('jane', 'bike', { tid: 'JB', lat: Number((48.8 + i * 0.01).toFixed(2)), lon: 2.3, tst: start + i * 600, vel: 20 });
  }
  await post('jane', 'bike', { tid: 'JB', lat: 49.6, lon: 2.3, tst: Date.UTC(2026, 2, 10, 23, 30) / 1000 });

  const page = await newPage();
  await logIn(page, 'jane');
  await page.locator('.pages a', { hasText: 'Tracks' }).click();
  await page.locator('select.device option', { hasText: 'JB (jane/bike)' }).waitFor({ state: 'attached', timeout: 5000 });
  assert.deepEqual(await page.locator('select.device option').allTextContents(),
    ['JB (jane/bike)', 'JC (jane/car)', 'JD (jane/dog)', 'JP (jane/phone)']);
  assert.equal(await page.locator('.zone').textContent(),
    'Days run from midnight to midnight in Europe/Berlin, the time zone of this browser.');
  await page.locator('select.device').selectOption({ label: 'JB (jane/bike)' });
  await page.locator('input.from').fill('2026-03-10');
  await page.locator('input.to').fill('2026-03-10');
  await page.locator('select.mark-every').selectOption('2');
  await page.locator('button.show').click();
  await page.locator('.track-summary[data-points]').waitFor({ timeout: 5000 });
  assert.equal(await page.locator('.track-summary').textContent(), '12 points · 12.23 km');
  assert.equal(await page.locator('path.track').count(), 1);
  // Marks at 0 km and at the first point past 2, 4, 6, 8, 10 and 12 km.
  assert.equal(await page.locator('path.mark').count(), 7);
  // The marks are the server's, read again for another spacing.
  await page.locator('select.mark-every').selectOption('5');
  await waitFor(async () => (await page.locator('path.mark').count()) === 3, 'marks every 5 km', 5000);
  await page.locator('select.mark-every').selectOption('2');
  await waitFor(async () => (await page.locator('path.mark').count()) === 7, 'marks every 2 km', 5000);

  const from = Date.UTC(2026, 2, 9, 23, 0) / 1000;
  const to = Date.UTC(2026, 2, 10, 23, 0) / 1000 - 1;
  const links = page.locator('.downloads a');
  assert.deepEqual(await links.allTextContents(), ['GPX', 'GeoJSON', 'CSV', 'KML', 'REC', 'TXT']);
  assert.deepEqual(await links.evaluateAll((all) => all.map((a) => a.getAttribute('href'))),
    ['gpx', 'geojson', 'csv', 'kml', 'rec', 'txt&tz=Europe%2FBerlin'].map((f) => `/api/0/export?user=jane&device=bike&from=${from}&to=${to}&format=${f}`));
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('.downloads a', { hasText: 'GPX' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'jane-bike.gpx');
  const gpx = await readFile(await download.path(), 'utf8');
  const parsed = await page.evaluate((text) => {
    const doc = new DOMParser().parseFromString(text, 'application/xml');
    return {
      errors: doc.getElementsByTagName('parsererror').length,
      root: doc.documentElement.localName,
      points: doc.getElementsByTagName('trkpt').length,
      first: doc.getElementsByTagName('trkpt')[0]?.getAttribute('lat'),
    };
  }, gpx);
  assert.deepEqual(parsed, { errors: 0, root: 'gpx', points: 12, first: '48.8' });
  // tracks.png is made by tracks.test.mjs, with two devices and playback.
  await page.setViewportSize({ width: 390, height: 700 });
  await page.screenshot({ path: path.join(SCREENSHOTS, 'tracks-phone.png'), animations: 'disabled' });
  await page.close();
});

test("status tiles show jane's devices only, coloured by age, with details on hover and tap", async () => {
  await publish('jane', 'walk', { tid: 'JW', lat: 48.857, lon: 2.296, tst: Math.floor(Date.now() / 1000) - 2 * 3600, batt: 40 });
  const page = await newPage();
  await logIn(page, 'jane');
  await page.locator('.pages a', { hasText: 'Status' }).click();
  await page.locator('.tile', { hasText: 'JW' }).waitFor({ timeout: 5000 });
  const tiles = page.locator('.tiles .tile');
  assert.deepEqual(await tiles.allTextContents(), ['JB', 'JC', 'JD', 'JP', 'JW']);
  assert.deepEqual(await tiles.evaluateAll((all) => all.map((t) => t.className)),
    ['tile offline', 'tile online', 'tile online', 'tile online', 'tile stale']);
  assert.equal(await page.locator('.tile', { hasText: 'BT' }).count(), 0);
  assert.equal(await page.locator('.tile-card').isHidden(), true);

  await page.locator('.tile', { hasText: 'JP' }).hover();
  const card = page.locator('.tile-card');
  assert.equal(await card.locator('h2').textContent(), 'JP · jane/phone');
  assert.equal(await card.locator('tr', { hasText: 'Speed' }).locator('td').textContent(), '6 km/h');
  assert.equal(await card.locator('tr', { hasText: 'Course' }).locator('td').textContent(), '95° E');
  await page.locator('.tile', { hasText: 'JC' }).click();
  await page.mouse.move(5, 700);
  assert.equal(await card.locator('h2').textContent(), 'JC · jane/car');
  assert.equal(await page.locator('.tile', { hasText: 'JC' }).getAttribute('aria-pressed'), 'true');

  // Live: a new fix of the walk turns its tile green.
  await publish('jane', 'walk', { tid: 'JW', lat: 48.8571, lon: 2.2961, batt: 39 });
  await page.locator('.tile.online', { hasText: 'JW' }).waitFor({ timeout: 1000 });
  await page.screenshot({ path: path.join(SCREENSHOTS, 'status.png'), animations: 'disabled' });
  await page.setViewportSize({ width: 390, height: 700 });
  await page.screenshot({ path: path.join(SCREENSHOTS, 'status-phone.png'), animations: 'disabled' });
  await page.close();
});

test("the hardware page shows jane's Greenwich inventory and voltages, never bob's", async () => {
  await publish('jane', 'van', { tid: 'JV', lat: 48.85, lon: 2.35 });
  await publishText('jane', 'van', 'start', '356173060000001 0.10.97 20140930T085913Z');
  await publishText('jane', 'van', 'voltage/batt', '4.1');
  await publishText('jane', 'van', 'voltage/ext', '12.8');
  await publishText('bob', 'bvan', 'start', '356173060000999 0.9.1 20140930T085913Z');
  await publishText('bob', 'bvan', 'voltage/batt', '3.7');
  // The API filters: bob's row is in the inventory, but only for bob.
  const asBob = await (await fetch(base + '/api/0/inventory', { headers: { Authorization: basic('bob') } })).json();
  assert.deepEqual(asBob.map((i) => i.imei), ['356173060000999']);

  const page = await newPage();
  await logIn(page, 'jane');
  await page.locator('.pages a', { hasText: 'Hardware' }).click();
  const row = page.locator('table.inventory tbody tr');
  await row.first().waitFor({ timeout: 5000 });
  assert.equal(await row.count(), 1);
  const startup = await page.evaluate(() => new Date(1412067553 * 1000).toLocaleString(undefined, { hour12: false }));
  assert.match(startup, /10:59:13/); // 08:59:13 UTC in Europe/Berlin (summer time)
  assert.deepEqual((await row.locator('td').allTextContents()).slice(0, 7),
    ['JV', 'jane/van', '356173060000001', '0.10.97', startup, '4.1 V', '12.8 V']);
  const bars = page.locator('svg.volt-chart g.device');
  assert.equal(await bars.count(), 1);
  assert.equal(await bars.getAttribute('data-imei'), '356173060000001');
  assert.equal(await bars.locator('text.value.batt').textContent(), '4.1');
  assert.equal(await bars.locator('text.value.ext').textContent(), '12.8');
  assert.equal(await bars.locator('text.label').textContent(), 'JV');
  assert.equal(await page.getByText('356173060000999').count(), 0);
  assert.match(await page.locator('.volt-box figcaption').textContent(), /battery.*external/);
  await page.close();
});

test("jane sets her van's odometer on the hardware page and the table adds the trip", async () => {
  await publish('jane', 'van', { tid: 'JV', lat: 48.85, lon: 2.35, trip: 8000 });
  const page = await newPage();
  await logIn(page, 'jane');
  await page.locator('.pages a', { hasText: 'Hardware' }).click();
  const row = page.locator('table.inventory tbody tr[data-imei="356173060000001"]');
  assert.equal(await row.locator('td.odo .odo-value').textContent(), '');
  await row.locator('button.edit-odo').click();
  const input = row.locator('form.odo-form input[name=odo]');
  // A refusal names the value, and the form stays open with it.
  await input.fill('-3');
  await row.locator('button.save-odo').click();
  await row.locator('.odo-problem').waitFor();
  assert.equal(await row.locator('.odo-problem').textContent(), 'odo -3 is negative');
  await input.fill('123456.7');
  await row.locator('button.save-odo').click();
  await row.locator('td.odo .odo-value', { hasText: '123456.7 km' }).waitFor();
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[7], '123456.7 km Edit');
  // Set through the API, it is in the device object (the outputs stage takes it next, so
  // within a second): the table shows the reading.
  const vanOdo = async () => (await (await fetch(base + '/api/0/map?user=jane&device=van',
    { headers: { Authorization: basic('jane') } })).json())[0].odo;
  await waitFor(async () => (await vanOdo()) === 123456, 'the odometer in the device object', 1000);
  // bob has no say over jane's van.
  const refused = await fetch(base + '/api/0/odometer/jane/van', {
    method: 'PUT', headers: { Authorization: basic('bob'), 'Content-Type': 'application/json' },
    body: JSON.stringify({ odo: 1 }),
  });
  assert.equal(refused.status, 403);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'hardware.png'), animations: 'disabled' });

  await page.locator('.pages a', { hasText: 'Table' }).click();
  const trip = page.locator('table.devices tbody tr[data-topic="owntracks/jane/van"] .trip');
  await waitFor(async () => (await trip.textContent()) === '8 km / 123464 km', 'the trip and odometer', 5000);
  assert.equal(await trip.getAttribute('title'), 'odometer 123456 km + trip 8.0 km = 123464.0 km');

  // Emptied and saved, the base is cleared.
  await page.locator('.pages a', { hasText: 'Hardware' }).click();
  await row.locator('button.edit-odo').click();
  await input.fill('');
  await row.locator('button.save-odo').click();
  await row.locator('button.edit-odo').waitFor();
  assert.equal(await row.locator('td.odo .odo-value').textContent(), '');
  await waitFor(async () => (await vanOdo()) === undefined, 'the odometer cleared', 1000);
  await page.close();
});

test("the jobs page lists jane's Activo jobs, a started one live with its dot, never bob's", async (t) => {
  // An ended job of the past (the README's example) ...
  await publishText('jane', 'van', 'proxy/jobs/job/3', 'Gravel run', true);
  await publishText('jane', 'van', 'proxy/jobs/job/3/2', 'Unload', true);
  await publishText('jane', 'van', 'proxy/jobs/currentjob/1430726400', '3 2 1 4');
  await publishText('jane', 'van', 'proxy/jobs/currentjob/1430727000', '0 0 0 0');
  const page = await newPage();
  await logIn(page, 'jane');
  await page.locator('.pages a', { hasText: 'Jobs' }).click();
  const rows = page.locator('table.jobs tbody tr');
  await rows.first().waitFor({ timeout: 5000 });
  await page.locator('.jobs-page[data-live=open]').waitFor({ timeout: 5000 });
  const [start, end] = await page.evaluate(() => [1430726400, 1430727000]
    .map((t) => new Date(t * 1000).toLocaleString(undefined, { hour12: false })));
  assert.match(start, /10:00:00/);
  assert.deepEqual(await rows.first().locator('td').allTextContents(),
    ['', 'JV', 'jane/van', 'Gravel run Unload', start, end, '10m 0s']);
  assert.equal(await page.locator('table.jobs .dot').count(), 0);

  // ... then bob starts one, and jane starts one while she looks: hers comes live, running.
  await publishText('bob', 'bvan', 'proxy/jobs/job/5', 'Bob secret job', true);
  await publishText('bob', 'bvan', 'proxy/jobs/active', '5');
  await publishText('jane', 'van', 'proxy/jobs/job/7', 'Sand delivery', true);
  const sent = Date.now();
  await publishText('jane', 'van', 'proxy/jobs/active', '7');
  const running = page.locator('table.jobs tbody tr.running');
  await running.waitFor({ timeout: 1000 });
  t.diagnostic(`the started job was shown ${Date.now() - sent} ms after the broker's acknowledgement`);
  const cells = await running.locator('td').allTextContents();
  assert.deepEqual(cells.slice(1, 4), ['JV', 'jane/van', 'Sand delivery']);
  assert.equal(cells[5], '');
  assert.match(cells[6], /^\d+s$/);
  assert.equal(await running.locator('.dot.online').count(), 1);
  assert.equal(await rows.count(), 2);
  assert.equal(await page.getByText('Bob secret job').count(), 0);
  const asBob = await (await fetch(base + '/api/0/jobs', { headers: { Authorization: basic('bob') } })).json();
  assert.deepEqual(asBob.map((j) => j.jobname), ['Bob secret job']);
  await page.setViewportSize({ width: 390, height: 700 });
  assert.equal(await page.locator('.pages a', { hasText: 'Jobs' }).isVisible(), true);
  await page.close();
});

test("jane ends, starts and renames her van's jobs on the jobs page; bob's box is not there", async () => {
  const page = await newPage();
  await logIn(page, 'jane');
  await page.locator('.pages a', { hasText: 'Jobs' }).click();
  const box = page.locator('section.job-box[data-device="jane/van"]');
  await box.waitFor({ timeout: 5000 });
  assert.equal(await page.locator('section.job-box').count(), 1);
  assert.equal(await box.locator('.job-now').textContent(), 'Running: Sand delivery (job 7)');
  assert.deepEqual(await box.locator('select.job-pick option').allTextContents(),
    ['3 · Gravel run', '7 · Sand delivery']);

  await box.locator('button.job-end').click();
  await page.locator('section.job-box .job-now', { hasText: 'No job running.' }).waitFor({ timeout: 5000 });
  assert.equal(await page.locator('section.job-box .job-status').textContent(), 'End job: sent to the box.');
  assert.equal(await page.locator('table.jobs tbody tr.running').count(), 0);

  await page.locator('section.job-box select.job-pick').selectOption('3');
  await page.locator('section.job-box button.job-start').click();
  const running = page.locator('table.jobs tbody tr.running');
  await running.waitFor({ timeout: 5000 });
  assert.equal(await running.locator('td.jobname').textContent(), 'Gravel run');
  await page.locator('section.job-box .job-now', { hasText: 'Running: Gravel run (job 3)' }).waitFor();

  // A refused rename names the value; a good one comes back as the job's name.
  await page.locator('section.job-box select.job-pick').selectOption('3');
  await page.locator('section.job-box button.job-rename-save').click();
  await page.locator('section.job-box .job-status', { hasText: 'refused' }).waitFor();
  assert.equal(await page.locator('section.job-box .job-status').textContent(),
    'Rename job 3 refused: name "" must be 1 to 40 characters on one line');
  await page.locator('section.job-box input.job-rename').fill('Gravel haul');
  await page.locator('section.job-box button.job-rename-save').click();
  await page.locator('section.job-box option', { hasText: '3 · Gravel haul' }).waitFor({ state: 'attached', timeout: 5000 });
  // What went to the device: the commands, with jane's API view.
  const commands = await (await fetch(base + '/api/0/cmd?user=jane&device=van',
    { headers: { Authorization: basic('jane') } })).json();
  assert.deepEqual(commands.map((c) => c.action), ['jobs/active', 'jobs/active', 'jobs/name']);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'jobs.png'), animations: 'disabled' });
  await page.close();
});

test('the pages asked nothing of any other server and raised no errors', () => {
  assert.deepEqual(outside, []);
  assert.deepEqual(pageErrors, []);
});

// Browser end-to-end tests of the fences page: a fence made by clicking on the map, its enter
// and leave alerts in the console and in its history, a change and a delete seen on the map
// page without a reload, read-only regions, and bob seeing none of jane's (the world they run
// in: harness.mjs).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  SCREENSHOTS, base, outside, pageErrors, waitFor, basic, admin, publish, publishText, newPage,
  logIn, setUp, tearDown,
} from './harness.mjs';

before(setUp);
after(tearDown);

/** Where the fences page's map is centred (the view the map pages remember) and its zoom. */
const VIEW = { lat: 48.8566, lon: 2.3522, zoom: 17 };
/** Where jane clicks to place the fence's centre, and later to move it. */
const CLICK = { lat: 48.8570, lon: 2.3530 };
const MOVED = { lat: 48.8562, lon: 2.3512 };
/** At zoom 17 a CSS pixel is 0.79 m on the ground here (1.2 m at most over the map), so a
 * click lands within a pixel or two of the aimed point: 5e-5° is 5.6 m of latitude and 3.7 m
 * of longitude, several pixels, and far below the fence's size. */
const CLICK_TOLERANCE = 5e-5;
/** The fence pages hear of every fence change on the live stream (and of one made in another
 * tab of the browser from that tab), and read the list again at once: a second is plenty. Before
 * the stream they polled every 5 s, which these waits would not reach. */
const LIVE_MS = 1000;

let fencesPage;
let mapPage;
let fenceId;
/** The times of jane's fixes: a minute apart, in the past, so "newest" is plain. */
const T0 = Math.floor(Date.now() / 1000) - 3600;

async function api(user, route) {
  const response = await fetch(base + route, { headers: { Authorization: basic(user) } });
  assert.equal(response.status, 200, `${route} as ${user}`);
  return response.json();
}

/** Web Mercator: the pixel of a point at a zoom (what Leaflet's default projection does). */
function worldPixel({ lat, lon }, zoom) {
  const size = 256 * 2 ** zoom;
  const sin = Math.sin((lat * Math.PI) / 180);
  return {
    x: ((lon + 180) / 360) * size,
    y: (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * size,
  };
}

/** Clicks the fences page's map at a point: the page remembers its view (centre and zoom) as
 * the map page does, so the pixel follows from Web Mercator. */
async function clickMap(page, point) {
  const holder = page.locator('.fences-page .map');
  const box = await holder.boundingBox();
  const view = await page.evaluate(() => JSON.parse(localStorage.getItem('pista.map.view')));
  const centre = worldPixel(view, view.zoom);
  const target = worldPixel(point, view.zoom);
  const position = { x: box.width / 2 + target.x - centre.x, y: box.height / 2 + target.y - centre.y };
  assert.ok(position.x > 60 && position.x < box.width && position.y > 0 && position.y < box.height,
    `${JSON.stringify(point)} is on the map, away from its zoom buttons: ${JSON.stringify(position)}`);
  await holder.click({ position });
}

/** The centre the form shows, as numbers. */
async function shownCentre(page) {
  const text = await page.locator('.fence-form .where').textContent();
  const match = /^Centre (-?\d+\.\d{6}), (-?\d+\.\d{6})$/.exec(text);
  assert.ok(match, `the form shows ${text}`);
  return { lat: Number(match[1]), lon: Number(match[2]) };
}

function near(actual, expected, what) {
  assert.ok(Math.abs(actual - expected) <= CLICK_TOLERANCE, `${what}: ${actual} vs ${expected}`);
}

/** The hours, minutes and seconds of epoch seconds in the browser's zone. */
function berlinTime(tst) {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  }).format(new Date(tst * 1000));
}

async function historyRows(page) {
  return page.locator('table.alerts tbody tr').evaluateAll((rows) =>
    rows.map((row) => [...row.cells].map((cell) => cell.textContent)));
}

test('jane makes a fence by clicking on the map, and the map page shows it at once', async () => {
  fencesPage = await newPage();
  await logIn(fencesPage, 'jane');
  await fencesPage.evaluate((view) => localStorage.setItem('pista.map.view', JSON.stringify(view)),
    VIEW);
  mapPage = await newPage();
  await mapPage.goto(base + '/ui/#/map');
  await mapPage.locator('.map-page[data-fences="0"]').waitFor();
  assert.equal(await mapPage.locator('path.fence').count(), 0);

  await fencesPage.locator('.pages a', { hasText: 'Fences' }).click();
  await fencesPage.locator('.pages a[aria-current=page]', { hasText: 'Fences' }).waitFor();
  await fencesPage.locator('.fence-list .empty', { hasText: 'No fences yet' }).waitFor();
  assert.equal(await fencesPage.locator('.fence-form h2').textContent(), 'New fence');
  assert.equal(await fencesPage.locator('.fence-form input[name=radius]').inputValue(), '100');
  // Only a superuser names whose devices a fence is for.
  assert.equal(await fencesPage.locator('.fence-form input[name=user]').count(), 0);

  // Saving without a centre is stopped in the page; without a name the API's reason is shown.
  await fencesPage.locator('.fence-form button.save').click();
  assert.equal(await fencesPage.locator('.fence-form .problem').textContent(),
    'Click the map to place the centre first.');
  await clickMap(fencesPage, CLICK);
  const clicked = await shownCentre(fencesPage);
  near(clicked.lat, CLICK.lat, 'clicked latitude');
  near(clicked.lon, CLICK.lon, 'clicked longitude');
  assert.equal(await fencesPage.locator('path.draft').count(), 1);
  await fencesPage.locator('.fence-form button.save').click();
  await fencesPage.locator('.fence-form .problem',
    { hasText: 'fence name is required (a non-empty string)' }).waitFor();
  await fencesPage.locator('.fence-form input[name=radius]').fill('0');
  await fencesPage.locator('.fence-form input[name=name]').fill('Office');
  await fencesPage.locator('.fence-form button.save').click();
  await fencesPage.locator('.fence-form .problem', { hasText: 'fence radius 0' }).waitFor();

  // The live circle follows the radius field.
  await fencesPage.locator('.fence-form input[name=radius]').fill('150');
  const drawn = await fencesPage.locator('path.draft').boundingBox();
  const metresPerPixel = (156543.03392 * Math.cos((VIEW.lat * Math.PI) / 180)) / 2 ** VIEW.zoom;
  // 300 m across, plus its 3 px outline (1.5 px each side), to a pixel.
  assert.ok(Math.abs(drawn.width - (300 / metresPerPixel + 3)) <= 1.5,
    `the draft circle is ${drawn.width} px wide`);
  await fencesPage.locator('.fence-form button.save').click();
  await fencesPage.locator('.fence-form .done', { hasText: 'Saved the fence "Office".' }).waitFor();
  const shown = Date.now();

  const [fence] = await api('jane', '/api/0/fences');
  fenceId = fence.id;
  assert.deepEqual(
    { name: fence.name, user: fence.user, source: fence.source, radius: fence.radius },
    { name: 'Office', user: 'jane', source: 'api', radius: 150 });
  assert.deepEqual({ lat: fence.lat, lon: fence.lon }, clicked);
  const row = fencesPage.locator(`.fence-list tr[data-id="${fenceId}"]`);
  await row.waitFor();
  assert.deepEqual((await row.locator('td').allTextContents()).slice(0, 5),
    ['Office', 'circle', '150 m', 'jane', 'API']);
  assert.equal(await row.locator('button.edit').count(), 1);
  assert.equal(await fencesPage.locator('path.fence').count(), 1);

  // The map page in the other tab hears of it at once.
  await mapPage.locator('path.fence').waitFor({ timeout: LIVE_MS });
  assert.ok(Date.now() - shown < LIVE_MS);
  await mapPage.locator('path.fence').dispatchEvent('mouseover');
  assert.equal(await mapPage.locator('.leaflet-tooltip').textContent(), 'Office');
  await mapPage.locator('path.fence').dispatchEvent('mouseout');
});

test('a fix inside makes an enter alert in the console and the history, one outside a leave',
  async () => {
    const consolePage = await newPage();
    await consolePage.goto(base + '/ui/#/console');
    await consolePage.locator('.console-page[data-live=open]').waitFor();
    await fencesPage.locator('.fence-history[data-live=open]').waitFor();
    assert.equal(await fencesPage.locator('.fence-history .empty').textContent(),
      'No enters or leaves yet.');
    const lines = consolePage.locator('.console-lines li');

    // The first fix after the fence exists only records the device's side (outside).
    await publish('jane', 'phone', { tid: 'JP', lat: 48.8620, lon: 2.3530, tst: T0 });
    await consolePage.locator('.console-lines li', { hasText: 'owntracks/jane/phone' }).waitFor();
    await publish('jane', 'phone', { tid: 'JP', lat: 48.8575, lon: 2.3530, tst: T0 + 60 });
    await lines.filter({ hasText: 'ALERT: JP: enters Office at ' }).waitFor({ timeout: 3000 });
    await waitFor(async () => (await historyRows(fencesPage)).length === 1, 'the enter in the history', 3000);
    const [enter] = await api('jane', '/api/0/alerts');
    assert.deepEqual([enter.fence, enter.user, enter.device, enter.event, enter.tst],
      [fenceId, 'jane', 'phone', 'enter', T0 + 60]);
    const [enterRow] = await historyRows(fencesPage);
    assert.match(enterRow[0], new RegExp(berlinTime(T0 + 60)));
    assert.deepEqual(enterRow.slice(1),
      ['JP · jane/phone', 'enter', 'Office', `${Math.round(enter.meters)} m`]);

    await publish('jane', 'phone', { tid: 'JP', lat: 48.8620, lon: 2.3530, tst: T0 + 120 });
    await lines.filter({ hasText: 'ALERT: JP: leaves Office at ' }).waitFor({ timeout: 3000 });
    await waitFor(async () => (await historyRows(fencesPage)).length === 2, 'the leave in the history', 3000);
    const leave = (await api('jane', '/api/0/alerts'))[1];
    assert.deepEqual([leave.fence, leave.event, leave.tst], [fenceId, 'leave', T0 + 120]);
    const rows = await historyRows(fencesPage);
    assert.deepEqual(rows.map((r) => r.slice(1)), [
      ['JP · jane/phone', 'leave', 'Office', `${Math.round(leave.meters)} m`],
      ['JP · jane/phone', 'enter', 'Office', `${Math.round(enter.meters)} m`],
    ]);
    assert.match(rows[0][0], new RegExp(berlinTime(T0 + 120)));
    assert.equal(await lines.filter({ hasText: 'ALERT: ' }).count(), 2);
    // The fences page's map shows the device too.
    assert.deepEqual(await fencesPage.locator('.leaflet-tooltip.device-label').allTextContents(), ['JP']);

    // The fence's own history, and a device filter.
    await fencesPage.locator(`.fence-list tr[data-id="${fenceId}"] button.history`).click();
    assert.equal(await fencesPage.locator('select.fence-filter').inputValue(), String(fenceId));
    assert.equal((await historyRows(fencesPage)).length, 2);
    assert.deepEqual(await fencesPage.locator('select.device-filter option').allTextContents(),
      ['All devices', 'jane/phone']);
    await fencesPage.locator('select.device-filter').selectOption('jane/phone');
    assert.equal((await historyRows(fencesPage)).length, 2);
    await fencesPage.screenshot({ path: path.join(SCREENSHOTS, 'fences.png'), animations: 'disabled' });

    // On a phone the map comes first, then the form, the list and the history, each the
    // screen's width.
    await fencesPage.setViewportSize({ width: 390, height: 740 });
    const map = await fencesPage.locator('.fences-page .map').boundingBox();
    const form = await fencesPage.locator('.fence-form').boundingBox();
    assert.deepEqual([map.x, map.width], [0, 390]);
    assert.ok(form.width <= 390 && form.y >= map.y + map.height, JSON.stringify({ map, form }));
    await fencesPage.screenshot({ path: path.join(SCREENSHOTS, 'fences-phone.png'), animations: 'disabled' });
    await fencesPage.setViewportSize({ width: 1200, height: 760 });
    await consolePage.close();
  });

test('jane renames the fence, widens it and moves it; the API and the map page follow', async () => {
  await mapPage.bringToFront();
  const before = await mapPage.locator('path.fence').boundingBox();
  await fencesPage.bringToFront();
  await fencesPage.locator(`.fence-list tr[data-id="${fenceId}"] button.edit`).click();
  assert.equal(await fencesPage.locator('.fence-form h2').textContent(), 'Change “Office”');
  assert.equal(await fencesPage.locator('.fence-form input[name=name]').inputValue(), 'Office');
  assert.equal(await fencesPage.locator('.fence-form input[name=radius]').inputValue(), '150');
  await fencesPage.locator('.fence-form input[name=name]').fill('Head office');
  await fencesPage.locator('.fence-form input[name=radius]').fill('300');
  await clickMap(fencesPage, MOVED);
  const moved = await shownCentre(fencesPage);
  near(moved.lat, MOVED.lat, 'moved latitude');
  near(moved.lon, MOVED.lon, 'moved longitude');
  await fencesPage.locator('.fence-form button.save').click();
  await fencesPage.locator('.fence-form .done', { hasText: 'Changed the fence "Head office".' }).waitFor();
  const changed = Date.now();

  const [fence] = await api('jane', '/api/0/fences');
  assert.deepEqual(
    { id: fence.id, name: fence.name, radius: fence.radius, lat: fence.lat, lon: fence.lon },
    { id: fenceId, name: 'Head office', radius: 300, ...moved });
  await fencesPage.locator(`.fence-list tr[data-id="${fenceId}"]`, { hasText: 'Head office' }).waitFor();
  assert.deepEqual(
    (await fencesPage.locator(`.fence-list tr[data-id="${fenceId}"] td`).allTextContents()).slice(0, 3),
    ['Head office', 'circle', '300 m']);
  assert.equal(await fencesPage.locator('.fence-form h2').textContent(), 'New fence');

  await mapPage.bringToFront();
  await waitFor(async () => {
    await mapPage.locator('path.fence').dispatchEvent('mouseover');
    return (await mapPage.locator('.leaflet-tooltip').textContent()) === 'Head office';
  }, 'the new name on the map page', LIVE_MS);
  assert.ok(Date.now() - changed < LIVE_MS);
  await mapPage.locator('path.fence').dispatchEvent('mouseout');
  const after = await mapPage.locator('path.fence').boundingBox();
  // Twice as wide, not counting the 2 px outline, to a pixel either way.
  assert.ok(Math.abs((after.width - 2) - 2 * (before.width - 2)) <= 2,
    `twice the radius: ${after.width} px wide, was ${before.width}`);
});

test('regions from the app are listed read-only; a fence made through the API shows at once',
  async () => {
    await fencesPage.bringToFront();
    const waypoint = { _type: 'waypoint', desc: 'Gym', lat: 48.80, lon: 2.20, rad: 50, tst: T0 };
    await publishText('jane', 'phone', 'waypoint', JSON.stringify(waypoint));
    const gym = fencesPage.locator('.fence-list tr', { hasText: 'Gym' });
    await gym.waitFor({ timeout: LIVE_MS });
    assert.deepEqual(await gym.locator('td').allTextContents(), [
      'Gym', 'circle', '50 m', 'jane/phone', 'app region',
      'Region of jane/phone: change it in the app.History',
    ]);
    assert.equal(await gym.locator('button.edit, button.delete').count(), 0);

    // Its webhook (a loopback port nothing listens on) is never called: no device crosses it.
    await admin('POST', '/api/0/fences', {
      name: 'Depot', lat: 48.85, lon: 2.34, radius: 80, user: 'jane',
      webhook: 'http://pista:s3cret@127.0.0.1:9/hook',
    });
    const made = Date.now();
    await fencesPage.locator('.fence-list tr', { hasText: 'Depot' }).waitFor({ timeout: LIVE_MS });
    await waitFor(async () => (await mapPage.locator('path.fence').count()) === 3,
      'three fences on the map page', LIVE_MS);
    assert.ok(Date.now() - made < LIVE_MS, `the map page within ${LIVE_MS} ms`);

    // A webhook's password is shown masked; saving the mask back is stopped in the page.
    const depot = fencesPage.locator('.fence-list tr', { hasText: 'Depot' });
    await depot.locator('button.edit').click();
    assert.equal(await fencesPage.locator('.fence-form input[name=webhook]').inputValue(),
      'http://pista:***@127.0.0.1:9/hook');
    await fencesPage.locator('.fence-form button.save').click();
    assert.equal(await fencesPage.locator('.fence-form .problem').textContent(),
      'The webhook’s password is never shown: type the whole URL again.');
    await fencesPage.locator('.fence-form button.cancel').click();
    assert.equal(await fencesPage.locator('.fence-form h2').textContent(), 'New fence');
    assert.equal(await fencesPage.locator('.fence-form input[name=webhook]').inputValue(), '');
    const stored = (await api('admin', '/api/0/fences')).find((f) => f.name === 'Depot');
    assert.deepEqual([stored.radius, stored.webhook], [80, 'http://pista:***@127.0.0.1:9/hook']);
  });

test('jane deletes the fence after confirming; the list and the map page lose it', async () => {
  await fencesPage.bringToFront();
  const row = fencesPage.locator(`.fence-list tr[data-id="${fenceId}"]`);
  fencesPage.once('dialog', (dialog) => dialog.dismiss());
  await row.locator('button.delete').click();
  assert.equal(await row.count(), 1);
  let asked = '';
  fencesPage.once('dialog', (dialog) => {
    asked = dialog.message();
    dialog.accept();
  });
  await row.locator('button.delete').click();
  await fencesPage.locator('.fence-form .done', { hasText: 'Deleted the fence "Head office".' }).waitFor();
  assert.equal(asked, 'Delete the fence "Head office"? Its history stays.');
  await row.waitFor({ state: 'detached' });
  assert.deepEqual((await api('jane', '/api/0/fences')).map((f) => f.name).sort(), ['Depot', 'Gym']);
  await waitFor(async () => (await mapPage.locator('path.fence').count()) === 2,
    'the map page without it', LIVE_MS);
  // Its history stays, under the name it had when the events came.
  assert.deepEqual((await historyRows(fencesPage)).map((r) => r[3]), ['Office', 'Office']);

});

test('jane draws a polygon corner by corner, taking one back', async () => {
  const corners = [
    { lat: 48.8575, lon: 2.3515 }, { lat: 48.8576, lon: 2.3540 }, { lat: 48.8562, lon: 2.3528 },
  ];
  // Back to the view the corners are aimed at (editing Depot moved the map there).
  await fencesPage.evaluate((view) => localStorage.setItem('pista.map.view', JSON.stringify(view)),
    VIEW);
  await fencesPage.reload();
  await fencesPage.locator('.fence-list tr', { hasText: 'Depot' }).waitFor();
  await fencesPage.locator('.fence-form input[value=polygon]').check();
  assert.equal(await fencesPage.locator('.fence-form .where').textContent(), '0 corners');
  assert.equal(await fencesPage.locator('.fence-form label', { hasText: 'Radius' }).isVisible(), false);
  await clickMap(fencesPage, corners[0]);
  await clickMap(fencesPage, corners[1]);
  await clickMap(fencesPage, { lat: 48.8560, lon: 2.3545 });
  await fencesPage.locator('.fence-form button.undo').click();
  await clickMap(fencesPage, corners[2]);
  assert.equal(await fencesPage.locator('.fence-form .where').textContent(), '3 corners');
  assert.equal(await fencesPage.locator('path.corner').count(), 3);
  await fencesPage.locator('.fence-form input[name=name]').fill('Yard');
  await fencesPage.locator('.fence-form button.save').click();
  await fencesPage.locator('.fence-form .done', { hasText: 'Saved the fence "Yard".' }).waitFor();

  const yard = (await api('jane', '/api/0/fences')).find((f) => f.name === 'Yard');
  assert.deepEqual([yard.source, yard.user, yard.radius, yard.polygon.length], ['api', 'jane', undefined, 3]);
  yard.polygon.forEach(([lat, lon], i) => {
    near(lat, corners[i].lat, `corner ${i} latitude`);
    near(lon, corners[i].lon, `corner ${i} longitude`);
  });
  const row = fencesPage.locator(`.fence-list tr[data-id="${yard.id}"]`);
  await row.waitFor();
  assert.deepEqual((await row.locator('td').allTextContents()).slice(0, 5),
    ['Yard', 'polygon', '3 corners', 'jane', 'API']);
  await waitFor(async () => (await mapPage.locator('path.fence').count()) === 3,
    'the polygon on the map page', LIVE_MS);
});

test('bob sees none of jane\'s fences or alerts', async () => {
  // Jane's tabs go first: the log-in below replaces the browser's session.
  await fencesPage.close();
  await mapPage.close();
  const page = await newPage();
  await logIn(page, 'bob');
  await page.goto(base + '/ui/#/fences');
  await page.locator('.fence-history[data-live=open]').waitFor();
  await page.locator('.fence-list .empty', { hasText: 'No fences yet' }).waitFor();
  await page.locator('.fence-history .empty', { hasText: 'No enters or leaves yet.' }).waitFor();
  assert.equal(await page.locator('path.fence').count(), 0);
  assert.deepEqual(await page.locator('select.fence-filter option').allTextContents(), ['All fences']);
  assert.deepEqual(await api('bob', '/api/0/fences'), []);
  assert.deepEqual(await api('bob', '/api/0/alerts'), []);
  await page.goto(base + '/ui/#/map');
  await page.locator('.map-page').waitFor();
  await page.locator('.map-page[data-fences="0"]').waitFor();
  assert.equal(await page.locator('path.fence').count(), 0);
  await page.close();
});

test('a superuser sees every fence and makes one for everyone\'s devices', async () => {
  const page = await newPage();
  await logIn(page, 'admin');
  // Without a remembered view the page fits the map to the fences.
  await page.evaluate(() => localStorage.removeItem('pista.map.view'));
  await page.goto(base + '/ui/#/fences');
  await page.locator('.fence-list tr', { hasText: 'Yard' }).waitFor();
  assert.deepEqual(
    (await page.locator('.fence-list tbody td:first-child').allTextContents()).sort(),
    ['Depot', 'Gym', 'Yard']);
  const box = await page.locator('.fences-page .map').boundingBox();
  for (const shape of await page.locator('path.fence').all()) {
    const drawn = await shape.boundingBox();
    assert.ok(drawn.x >= box.x && drawn.y >= box.y && drawn.x + drawn.width <= box.x + box.width
      && drawn.y + drawn.height <= box.y + box.height, `${JSON.stringify(drawn)} in ${JSON.stringify(box)}`);
  }
  assert.equal(await page.locator('.fence-list tr', { hasText: 'Yard' }).locator('button.edit').count(), 1);
  await clickMap(page, CLICK);
  // A name that looks like HTML stays text, in the list and in the map's tooltips.
  const name = 'Square <b>1</b>';
  await page.locator('.fence-form input[name=name]').fill(name);
  assert.equal(await page.locator('.fence-form input[name=user]').inputValue(), '');
  await page.locator('.fence-form button.save').click();
  await page.locator('.fence-form .done', { hasText: `Saved the fence "${name}".` }).waitFor();
  const square = (await api('admin', '/api/0/fences')).find((f) => f.name === name);
  assert.deepEqual([square.user, square.radius], [null, 100]);
  const row = page.locator(`.fence-list tr[data-id="${square.id}"]`);
  await row.waitFor();
  assert.deepEqual((await row.locator('td').allTextContents()).slice(0, 5),
    [name, 'circle', '100 m', 'everyone', 'API']);
  const tips = [];
  for (const shape of await page.locator('path.fence').all()) {
    await shape.dispatchEvent('mouseover');
    tips.push(await page.locator('.leaflet-tooltip:not(.device-label)').last().textContent());
    await shape.dispatchEvent('mouseout');
  }
  assert.deepEqual(tips.sort(), ['Depot', 'Gym', name, 'Yard'].sort());
  // Jane does not see a fence for everyone's devices (the API shows her only hers).
  assert.deepEqual((await api('jane', '/api/0/fences')).map((f) => f.name).sort(), ['Depot', 'Gym', 'Yard']);
  await page.close();
});

test('the pages asked nothing of any other server and raised no errors', () => {
  assert.deepEqual(outside, []);
  assert.deepEqual(pageErrors, []);
});

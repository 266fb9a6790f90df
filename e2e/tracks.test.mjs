// Browser end-to-end tests of the tracks page's server-simplified lines, TXT download,
// playback, several devices and device-local days, and of the table's Job and Trip/Odo
// columns (the world they run in: harness.mjs). Points are posted in mid-ocean, where the
// offline geocoder finds no address, so the files' contents are exact.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  SCREENSHOTS, base, outside, pageErrors, waitFor, basic, publish, publishText, post, newPage,
  logIn, setUp, tearDown,
} from './harness.mjs';

before(setUp);
after(tearDown);

const utc = (...parts) => Date.UTC(...parts) / 1000;

/** The long track: 2500 points 0.0005° of longitude apart eastwards from 30° W on 10° N, with
 * a zigzag of 0.0002° of latitude (22 m), every 20 s from 08:00 UTC on 1 April 2026. */
const LONG = Array.from({ length: 2500 }, (_, i) => ({
  lat: i % 2 ? 10.0002 : 10, lon: Number((-30 + i * 0.0005).toFixed(4)), tst: utc(2026, 3, 1, 8) + 20 * i,
}));

async function openTracks(page) {
  await logIn(page, 'jane');
  await page.locator('.pages a', { hasText: 'Tracks' }).click();
  await page.locator('select.device option').first().waitFor({ state: 'attached', timeout: 5000 });
}

async function showDays(page, labels, first, last = first) {
  await page.locator('select.device').selectOption(labels.map((label) => ({ label })));
  await page.locator('input.from').fill(first);
  await page.locator('input.to').fill(last);
  await page.locator('button.show').click();
  await page.locator('.track-summary[data-points]').waitFor({ timeout: 10000 });
}

async function setSlider(page, tst) {
  await page.locator('input.scrub').evaluate((slider, value) => {
    slider.value = String(value);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
  }, tst);
}

test('a long range comes back simplified, and the visible part whole when zoomed in', async () => {
  for (let i = 0; i < LONG.length; i += 50) {
    await Promise.all(LONG.slice(i, i + 50).map((p) => post('jane', 'long', { tid: 'JL', ...p })));
  }
  const page = await newPage();
  await openTracks(page);
  await showDays(page, ['JL (jane/long)'], '2026-04-01');
  const summary = page.locator('.track-summary');
  assert.equal(await summary.getAttribute('data-points'), '2500');
  assert.equal(await summary.getAttribute('data-detail'), 'simplified');
  const drawn = Number(await summary.getAttribute('data-drawn'));
  // The zigzag is below half a pixel at zoom 10: the line is its ends and its windows' ends.
  assert.equal(drawn, 3);
  const length = await summary.textContent();
  assert.match(length, /^2500 points · \d+\.\d\d km$/);
  const asJane = await (await fetch(`${base}/api/0/track?user=jane&device=long&from=${LONG[0].tst}`
    + `&to=${LONG[2499].tst}&zoom=10`, { headers: { Authorization: basic('jane') } })).json();
  assert.deepEqual([asJane.points, asJane.returned], [2500, 3]);
  assert.equal(length, `2500 points · ${asJane.km.toFixed(2)} km`);
  assert.equal(await page.locator('path.track').count(), 1);

  // Zoomed in around the middle, every point of the visible part is drawn, with the one just
  // outside it on each side.
  const holder = page.locator('.tracks-page .map');
  // The first read of the visible part (after fitting the map to the track) comes first.
  await waitFor(async () => (await holder.getAttribute('data-refined')) !== null, 'the first refinement', 5000);
  for (let zoom = Number(await holder.getAttribute('data-zoom')); zoom < 15;) {
    await page.locator('.leaflet-control-zoom-in').click();
    await waitFor(async () => Number(await holder.getAttribute('data-zoom')) > zoom, 'a zoom level', 5000);
    zoom = Number(await holder.getAttribute('data-zoom'));
  }
  await waitFor(async () => (await holder.getAttribute('data-refined'))
    === (await holder.getAttribute('data-bbox')), 'the visible part', 5000);
  assert.equal(await summary.getAttribute('data-detail'), 'full');
  const [west, south, east, north] = (await holder.getAttribute('data-bbox')).split(',').map(Number);
  const inside = LONG.map((p, i) => (p.lon >= west && p.lon <= east && p.lat >= south && p.lat <= north ? i : -1))
    .filter((i) => i >= 0);
  assert.ok(inside.length > 20 && inside.length < 200, `${inside.length} points in view`);
  const expected = inside.length + (inside[0] > 0 ? 1 : 0) + (inside.at(-1) < 2499 ? 1 : 0);
  assert.equal(Number(await summary.getAttribute('data-drawn')), expected);
  assert.equal(await summary.textContent(), length);
  await page.close();
});

const OCEAN = [
  { lat: 20.5, lon: -40.25, tst: utc(2026, 4, 2, 6, 0), vel: 12 },
  { lat: 20.51, lon: -40.25, tst: utc(2026, 4, 2, 6, 10), vel: 15.7 },
  { lat: 20.52, lon: -40.24, tst: utc(2026, 4, 2, 6, 20) },
];
const SEA = [
  { lat: 21, lon: -41, tst: utc(2026, 4, 2, 7, 0) },
  { lat: 21, lon: -40.9, tst: utc(2026, 4, 2, 7, 30) },
];

test('leaving a page while its map still moves raises no error and saves no view', async () => {
  const before = pageErrors.length;
  const page = await newPage();
  await openTracks(page);
  // Each page is left from inside it, with no wait of Playwright's before the click (the UI is
  // one document, so this stays defined from page to page).
  await page.evaluate(() => {
    window.leaveForTable = () => {
      [...document.querySelectorAll('.pages a')].find((a) => a.textContent === 'Table').click();
    };
  });
  const holder = page.locator('.leaflet-container');
  const openMap = async () => {
    await page.locator('.pages a', { hasText: 'Map' }).click();
    await holder.waitFor();
    await page.waitForTimeout(600); // the map's fit to its markers has ended
  };

  // Tracks: the page is left in the middle of an animated zoom (a quarter of a second).
  await showDays(page, ['JL (jane/long)'], '2026-04-01');
  await page.waitForTimeout(300); // the fit to the track has ended
  const zooming = await page.evaluate(async () => {
    const pane = document.querySelector('.tracks-page .leaflet-map-pane');
    document.querySelector('.tracks-page .leaflet-control-zoom-in').click();
    for (let i = 0; i < 30 && !pane.classList.contains('leaflet-zoom-anim'); i += 1) {
      await new Promise((resolve) => requestAnimationFrame(resolve));
    }
    const animating = pane.classList.contains('leaflet-zoom-anim');
    window.leaveForTable();
    return animating;
  });
  assert.equal(zooming, true);
  await page.locator('table.devices').waitFor();

  // Map: a turn of the wheel zooms 40 ms later; the page is left before that.
  await openMap();
  const view = await page.evaluate(() => localStorage.getItem('pista.map.view'));
  assert.notEqual(view, null);
  await page.evaluate(() => {
    const map = document.querySelector('.leaflet-container');
    const box = map.getBoundingClientRect();
    map.dispatchEvent(new WheelEvent('wheel', {
      deltaY: -120, clientX: box.left + 100, clientY: box.top + 100, bubbles: true, cancelable: true,
    }));
    window.leaveForTable();
  });
  await page.locator('table.devices').waitFor();

  // Map: a resize moves the map 200 ms later, and a zoom is under way when the page is left.
  await openMap();
  await page.setViewportSize({ width: 1000, height: 700 });
  await page.evaluate(() => new Promise((resolve) => { // the resize reaches the map
    requestAnimationFrame(() => requestAnimationFrame(resolve));
  }));
  await page.evaluate(() => {
    document.querySelector('.leaflet-control-zoom-in').click();
    return new Promise((resolve) => setTimeout(() => {
      window.leaveForTable();
      resolve();
    }, 60));
  });
  await page.locator('table.devices').waitFor();

  // Map: a box zoom (shift and drag) is let go of after the page was left.
  await openMap();
  const box = await holder.boundingBox();
  await page.keyboard.down('Shift');
  await page.mouse.move(box.x + 100, box.y + 100);
  await page.mouse.down();
  await page.mouse.move(box.x + 200, box.y + 200, { steps: 3 });
  await page.evaluate(() => window.leaveForTable());
  await page.mouse.move(box.x + 250, box.y + 250, { steps: 3 });
  await page.mouse.up();
  await page.keyboard.up('Shift');
  await page.locator('table.devices').waitFor();

  // Map: the page is left while the arrow key's pan glides (Leaflet ends it when the map goes).
  await openMap();
  await holder.focus();
  await page.keyboard.press('ArrowRight');
  await page.evaluate(() => window.leaveForTable());
  await page.locator('table.devices').waitFor();

  await page.waitForTimeout(700); // every timer Leaflet had left has run
  assert.deepEqual(pageErrors.slice(before), []);
  // None of the maps left moved the view the map page remembers.
  assert.equal(await page.evaluate(() => localStorage.getItem('pista.map.view')), view);
  await page.close();
});

test("the TXT download is the original's layout in the browser's zone", async () => {
  for (const p of OCEAN) await post('jane', 'ocean', { tid: 'JO', ...p });
  const page = await newPage();
  await openTracks(page);
  await showDays(page, ['JO (jane/ocean)'], '2026-05-02');
  assert.equal(await page.locator('.track-summary').textContent(), '3 points · 2.64 km');
  const links = page.locator('.downloads a');
  assert.deepEqual(await links.allTextContents(), ['GPX', 'GeoJSON', 'CSV', 'KML', 'REC', 'TXT']);
  const [from, to] = [utc(2026, 4, 1, 22), utc(2026, 4, 2, 22) - 1];
  assert.equal(await page.locator('.downloads a[data-format=txt]').getAttribute('href'),
    `/api/0/export?user=jane&device=ocean&from=${from}&to=${to}&format=txt&tz=Europe%2FBerlin`);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('.downloads a', { hasText: 'TXT' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'jane-ocean.txt');
  assert.equal(await readFile(await download.path(), 'utf8'), [
    'Latitude   Longitude  Timestamp(Europe/Berlin) Speed Location',
    '20.5       -40.25     2026-05-02 08:00:00        12             ',
    '20.51      -40.25     2026-05-02 08:10:00        15             ',
    '20.52      -40.24     2026-05-02 08:20:00         0             ',
    '',
    'Trip: 2.64 kilometers',
    '',
  ].join('\n'));
  await page.close();
});

test('playback moves the marker to the point of the time chosen, and plays to the end', async () => {
  const page = await newPage();
  await openTracks(page);
  await showDays(page, ['JO (jane/ocean)'], '2026-05-02');
  const readout = page.locator('.track-legend .readout');
  const time = page.locator('.playback-time');
  assert.equal(await time.textContent(), '2026-05-02 08:00:00');
  assert.equal(await readout.textContent(), 'JO: 2026-05-02 08:00:00 · 20.50000, -40.25000 · 0.00 km');

  // Five minutes past the second point: still the second point.
  await setSlider(page, OCEAN[1].tst + 300);
  assert.equal(await time.textContent(), '2026-05-02 08:10:00');
  assert.equal(await readout.textContent(), 'JO: 2026-05-02 08:10:00 · 20.51000, -40.25000 · 1.11 km');
  const marker = page.locator('path.playhead');
  assert.equal(await marker.count(), 1);
  const before = await marker.getAttribute('d');

  await page.locator('select.speed').selectOption('60');
  await page.locator('button.play').click();
  assert.equal(await page.locator('button.play').textContent(), 'Pause');
  await waitFor(async () => (await readout.getAttribute('data-tst')) === String(OCEAN[2].tst), 'the last point', 15000);
  await page.locator('button.play', { hasText: 'Play' }).waitFor({ timeout: 2000 });
  assert.equal(await readout.textContent(), 'JO: 2026-05-02 08:20:00 · 20.52000, -40.24000 · 2.64 km');
  assert.notEqual(await marker.getAttribute('d'), before);
  await page.close();
});

test('two devices are drawn in their colours, each with its points and length', async () => {
  for (const p of SEA) await post('jane', 'sea', { tid: 'JS', ...p });
  const page = await newPage();
  await openTracks(page);
  await showDays(page, ['JO (jane/ocean)', 'JS (jane/sea)'], '2026-05-02');
  assert.equal(await page.locator('.track-summary').textContent(), '2 devices · 5 points · 13.02 km');
  assert.deepEqual(await page.locator('.track-legend .figures').allTextContents(), [
    ' JO (jane/ocean) · 3 points, 3 drawn · 2.64 km',
    ' JS (jane/sea) · 2 points, 2 drawn · 10.38 km',
  ]);
  const colours = await page.locator('path.track').evaluateAll((paths) => paths.map((p) => p.getAttribute('stroke')));
  assert.deepEqual(colours, ['#c0392b', '#2471a3']);
  assert.deepEqual(await page.locator('.downloads p').allTextContents(), [
    'JO: GPX GeoJSON CSV KML REC TXT', 'JS: GPX GeoJSON CSV KML REC TXT',
  ]);
  // Playback moves both: at 07:15 UTC jane/ocean is at its last point, jane/sea at its first.
  await setSlider(page, utc(2026, 4, 2, 7, 15));
  assert.deepEqual(await page.locator('.track-legend .readout').allTextContents(), [
    'JO: 2026-05-02 08:20:00 · 20.52000, -40.24000 · 2.64 km',
    'JS: 2026-05-02 09:00:00 · 21.00000, -41.00000 · 0.00 km',
  ]);
  assert.equal(await page.locator('.playback-time').textContent(), '2026-05-02 09:00:00');
  await page.screenshot({ path: path.join(SCREENSHOTS, 'tracks.png'), animations: 'disabled' });
  await page.close();
});

test("a device's local time: its messages' zone, or else that of its position", async () => {
  // 23:30 on 1 May in New York (03:30 UTC on the 2nd) is outside its 2 May; 01:00 is inside.
  // Its messages name the zone; their position, mid-ocean, would give Etc/GMT+3.
  const zone = { tid: 'JN', tzname: 'America/New_York' };
  await post('jane', 'nyc', { ...zone, lat: 30.5, lon: -50.5, tst: utc(2026, 4, 2, 3, 30) });
  await post('jane', 'nyc', { ...zone, lat: 30.6, lon: -50.5, tst: utc(2026, 4, 2, 5, 0) });
  // Kolkata's messages name no zone: the server finds Asia/Kolkata (+05:30) from the position.
  // 23:45 there on 1 May (18:15 UTC) is outside its 2 May; 00:15 (18:45 UTC) is inside.
  const kolkata = { tid: 'JK', lat: 22.5726, lon: 88.3639 };
  await post('jane', 'kolkata', { ...kolkata, tst: utc(2026, 4, 1, 18, 15) });
  await post('jane', 'kolkata', { ...kolkata, tst: utc(2026, 4, 1, 18, 45) });
  const page = await newPage();
  await openTracks(page);
  await page.locator('select.zone-mode').selectOption('device');
  await showDays(page, ['JK (jane/kolkata)', 'JN (jane/nyc)', 'JO (jane/ocean)'], '2026-05-02');
  // jane/ocean's messages name no zone either: mid-Atlantic, nautical time (UTC-3).
  assert.equal(await page.locator('.zone').textContent(), 'Days run from midnight to midnight in '
    + "each device's time zone: JK Asia/Kolkata, JN America/New_York, JO Etc/GMT+3.");
  assert.deepEqual(await page.locator('.track-legend .figures').allTextContents(), [
    ' JK (jane/kolkata) · 1 point, 1 drawn · 0.00 km',
    ' JN (jane/nyc) · 1 point, 1 drawn · 0.00 km',
    ' JO (jane/ocean) · 3 points, 3 drawn · 2.64 km',
  ]);
  const hrefs = await page.locator('.downloads a[data-format=txt]').evaluateAll(
    (links) => links.map((a) => a.getAttribute('href')));
  const [kFrom, kTo] = [utc(2026, 4, 1, 18, 30), utc(2026, 4, 2, 18, 30) - 1];
  const [nFrom, nTo] = [utc(2026, 4, 2, 4), utc(2026, 4, 3, 4) - 1];
  assert.deepEqual(hrefs.slice(0, 2), [
    `/api/0/export?user=jane&device=kolkata&from=${kFrom}&to=${kTo}&format=txt&tz=Asia%2FKolkata`,
    `/api/0/export?user=jane&device=nyc&from=${nFrom}&to=${nTo}&format=txt&tz=America%2FNew_York`,
  ]);
  assert.deepEqual((await page.locator('.track-legend .readout').allTextContents()).slice(0, 2), [
    'JK: 2026-05-02 00:15:00 · 22.57260, 88.36390 · 0.00 km',
    'JN: 2026-05-02 01:00:00 · 30.60000, -50.50000 · 0.00 km',
  ]);
  await page.close();
});

test("the table shows a Greenwich device's trip and its running Activo job", async () => {
  await publish('jane', 'truck', { tid: 'JT', lat: 10.5, lon: -35.5, trip: 12345, dist: 5 });
  await publishText('jane', 'truck', 'proxy/jobs/job/4', 'Gravel run', true);
  await publishText('jane', 'truck', 'proxy/jobs/active', '4');
  const page = await newPage();
  await logIn(page, 'jane');
  await page.locator('.pages a', { hasText: 'Table' }).click();
  const headers = await page.locator('table.devices th').allTextContents();
  assert.deepEqual(headers.slice(-3), ['Address', 'Job', 'Trip/Odo']);
  const row = page.locator('table.devices tbody tr[data-topic="owntracks/jane/truck"]');
  await waitFor(async () => (await row.locator('.job').textContent()) === 'Gravel run', 'the job', 5000);
  const cells = await row.locator('td').allTextContents();
  assert.deepEqual(cells.slice(-2), ['Gravel run', '12 km']);
  assert.equal(await row.locator('.job').getAttribute('title'), 'job 4');
  assert.equal(await row.locator('.trip').getAttribute('title'),
    'trip 12.3 km since the device started; odometer unknown');
  // A device without Greenwich fields or a job has both cells empty.
  const other = page.locator('table.devices tbody tr[data-topic="owntracks/jane/ocean"] td');
  assert.deepEqual((await other.allTextContents()).slice(-2), ['', '']);
  await page.close();
});

test('the pages asked nothing of any other server and raised no errors', () => {
  assert.deepEqual(outside, []);
  assert.deepEqual(pageErrors, []);
});

// Browser end-to-end tests of the admin and account pages: users, shares and device secrets
// made by a superuser; a user's own password, tokens and deletion; the admin page refused to
// others (the world they run in: harness.mjs).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  run, SCREENSHOTS, base, brokerPort, users, outside, pageErrors, basic, admin, publish, newPage,
  logIn, post, setUp, tearDown, waitFor,
} from './harness.mjs';

before(setUp);
after(tearDown);

/** The section of a page with this heading. */
function part(page, title) {
  return page.locator('section.panel').filter({
    has: page.getByRole('heading', { name: title, exact: true, level: 2 }),
  });
}

/** A screenshot of the page's top at a size (the pages scroll inside), then the size before. */
async function shot(page, name, size, check) {
  const before = page.viewportSize();
  await page.setViewportSize(size);
  await page.locator('.panels').evaluate((node) => { node.scrollTop = 0; });
  if (check) await check();
  await page.screenshot({ path: path.join(SCREENSHOTS, name) });
  await page.setViewportSize(before);
}

async function as(user, route) {
  const response = await fetch(base + route, { headers: { Authorization: basic(user) } });
  return { status: response.status, body: await response.json() };
}

// An envelope the apps would send: GENERATED_PLAIN of pista-core's crypto tests, sealed with
// the secret "mysecreTpass01" and the nonce 0, 1, ..., 23.
const SECRET = 'mysecreTpass01';
const ENVELOPE = JSON.stringify({
  _type: 'encrypted',
  data: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXKHD1/5A/vBXDlcPCCNXSddv2hFEi673vdntViQ9cMNc1'
    + '+D0+oyr0ujPh1H9CxQ22znRarkYCzufJxOjjuoFiNfESWuLcCZgUTF1ceaGqvUTx3+MYDdTY4+A2'
    + 'tZDK6gljhckjUN5M2JAZ12Chl8uQ',
});
const SEALED_TST = 1441984413;

test('admin adds carol and shares jane\'s phone with her; carol sees it and not bob\'s', async () => {
  await publish('jane', 'phone', { tid: 'JP', lat: 48.8584, lon: 2.2945, acc: 8 });
  await publish('bob', 'tablet', { tid: 'BT', lat: 48.85, lon: 2.35, acc: 20 });

  const page = await newPage();
  await logIn(page, 'admin');
  assert.equal(await page.locator('header.bar .pages a[data-page=admin]').isVisible(), true);
  await page.locator('header.bar .pages a[data-page=admin]').click();
  const people = part(page, 'Users');
  await people.locator('table.users').waitFor();
  // The form checks before sending: no name, no request.
  await people.getByRole('button', { name: 'Add user' }).click();
  assert.equal(await people.locator('input[name=name]').evaluate((input) => input.validity.valueMissing), true);
  await people.locator('input[name=name]').fill('carol');
  await people.locator('input[name=password]').fill('carol-e2e-secret');
  await people.getByRole('button', { name: 'Add user' }).click();
  await people.locator('.note', { hasText: 'User carol added.' }).waitFor();
  users.carol = 'carol-e2e-secret';
  assert.deepEqual(
    await people.locator('table.users tbody tr td:first-child').allTextContents(),
    ['admin', 'bob', 'carol', 'jane'],
  );
  // The same name again: the server's reason, as it wrote it.
  await people.locator('input[name=name]').fill('carol');
  await people.getByRole('button', { name: 'Add user' }).click();
  await people.locator('.problem', { hasText: 'user carol exists' }).waitFor();

  const shares = part(page, 'Shares');
  await shares.locator('input[name=owner]').fill('jane');
  await shares.locator('input[name=device]').fill('phone');
  await shares.locator('select[name=kind]').selectOption('user');
  await shares.locator('input[name=to]').fill('carol');
  await shares.getByRole('button', { name: 'Share' }).click();
  await shares.locator('.note', { hasText: /^Share \d+ made\.$/ }).waitFor();
  assert.deepEqual(
    await shares.locator('table.shares tbody tr td').allTextContents(),
    ['1', 'jane', 'phone', 'user carol', 'no end', 'Remove'],
  );
  assert.deepEqual(
    (await admin('GET', '/api/0/shares')).map((s) => [s.owner, s.device, s.user, s.until]),
    [['jane', 'phone', 'carol', null]],
  );
  await shot(page, 'admin.png', { width: 1200, height: 1500 });

  await logIn(page, 'carol');
  assert.equal(await page.locator('header.bar .pages a[data-page=admin]').isHidden(), true);
  await page.goto(base + '/ui/#/table');
  await page.locator('table.devices tbody tr', { hasText: 'JP' }).waitFor();
  assert.deepEqual(await page.locator('table.devices tbody tr td:nth-child(2)').allTextContents(), ['JP']);
  assert.equal(await page.locator('text=tablet').count(), 0);
  await page.close();
});

test('jane has no admin link, and the admin page refuses her', async () => {
  const page = await newPage();
  await logIn(page, 'jane');
  assert.equal(await page.locator('header.bar .pages a[data-page=admin]').isHidden(), true);
  await page.goto(base + '/ui/#/admin');
  await page.locator('.refusal').waitFor();
  assert.equal(
    await page.locator('.refusal').textContent(),
    'The admin page is for superusers; jane is not one.',
  );
  assert.equal(await page.locator('section.panel').count(), 0);
  assert.deepEqual(await as('jane', '/api/0/users'), {
    status: 403, body: { error: 'user jane may not list users', status: 403 },
  });
  await page.close();
});

test('jane changes her password: the old one stops working, the new one works', async () => {
  const page = await newPage();
  await logIn(page, 'jane');
  await page.goto(base + '/ui/#/account');
  const box = part(page, 'Password');
  const old = users.jane;
  // Two new passwords that differ are caught before anything is sent.
  await box.locator('input[name=current]').fill(old);
  await box.locator('input[name=password]').fill('jane-new-password');
  await box.locator('input[name=again]').fill('jane-new-passwort');
  await box.getByRole('button', { name: 'Change password' }).click();
  await box.locator('.problem', { hasText: 'The new passwords differ.' }).waitFor();
  // A wrong current password: the server's reason.
  await box.locator('input[name=current]').fill('not-it');
  await box.locator('input[name=again]').fill('jane-new-password');
  await box.getByRole('button', { name: 'Change password' }).click();
  await box.locator('.problem', { hasText: 'current password: the user name or password is wrong' }).waitFor();
  await box.locator('input[name=current]').fill(old);
  await box.getByRole('button', { name: 'Change password' }).click();
  await box.locator('.note', { hasText: 'Password changed.' }).waitFor();

  assert.equal((await as('jane', '/api/0/me')).status, 401);
  users.jane = 'jane-new-password';
  assert.deepEqual(await as('jane', '/api/0/me'), { status: 200, body: { user: 'jane', superuser: false } });
  await logIn(page, 'jane');
  await page.close();
});

test('jane makes a token, it answers for her until she revokes it', async () => {
  const page = await newPage();
  await logIn(page, 'jane');
  await page.goto(base + '/ui/#/account');
  const box = part(page, 'API tokens');
  await box.locator('.empty', { hasText: 'No tokens.' }).waitFor();
  await box.locator('input[name=label]').fill('script');
  await box.locator('input[name=days]').fill('30');
  await box.getByRole('button', { name: 'Make token' }).click();
  await box.locator('output.token').waitFor();
  const token = await box.locator('output.token').textContent();
  assert.match(token, /^pista_/);
  const warning = await box.locator('.warning').textContent();
  const [, id] = warning.match(/^Token (\d+) \(script\): copy it now\. It is not shown again\.$/);
  const cells = await box.locator('table.tokens tbody tr td').allTextContents();
  assert.deepEqual([cells[0], cells[1], cells[4]], [id, 'script', 'Revoke']);
  // Made for 30 days: the expiry is 30 days after the making, to the second.
  const [listed] = (await as('jane', '/api/0/tokens')).body;
  assert.deepEqual([String(listed.id), listed.expires_at - listed.created_at], [id, 30 * 86400]);
  const list = () => fetch(base + '/api/0/list', { headers: { Authorization: `Bearer ${token}` } });
  const answer = await list();
  assert.deepEqual([answer.status, await answer.json()], [200, { results: ['jane'] }]);
  await shot(page, 'account.png', { width: 1200, height: 1500 });
  // On a phone the forms stack and nothing is wider than the screen.
  await shot(page, 'account-phone.png', { width: 390, height: 844 }, async () => {
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390);
  });

  await box.getByRole('button', { name: 'Revoke' }).click();
  const dialog = page.locator('dialog.confirm');
  await dialog.getByRole('button', { name: 'Revoke' }).click();
  await box.locator('.note', { hasText: /^Token \d+ revoked\.$/ }).waitFor();
  await box.locator('.empty', { hasText: 'No tokens.' }).waitFor();
  assert.equal(await box.locator('output.token').count(), 0);
  assert.equal((await list()).status, 401);
  await page.close();
});

test('admin sets a secret for jane\'s phone; the list never shows it; an envelope opens', async () => {
  const page = await newPage();
  await logIn(page, 'admin');
  await page.goto(base + '/ui/#/admin');
  const box = part(page, 'Device secrets');
  await box.locator('.empty', { hasText: 'No device has a secret.' }).waitFor();
  assert.equal(await box.locator('input[name=secret]').getAttribute('type'), 'password');
  await box.locator('input[name=owner]').fill('jane');
  await box.locator('input[name=device]').fill('phone');
  await box.locator('input[name=secret]').fill(SECRET);
  await box.getByRole('button', { name: 'Set secret' }).click();
  await box.locator('.note', { hasText: 'Secret set for jane/phone.' }).waitFor();
  assert.deepEqual(await box.locator('table.secrets tbody tr td').allTextContents(), ['jane', 'phone', 'Remove']);
  assert.equal(await box.locator('input[name=secret]').inputValue(), '');
  assert.equal((await page.content()).includes(SECRET), false);
  assert.deepEqual(await admin('GET', '/api/0/secrets'), [{ user: 'jane', device: 'phone' }]);
  // An unknown user is refused by name.
  await box.locator('input[name=owner]').fill('nobody');
  await box.locator('input[name=secret]').fill('x');
  await box.getByRole('button', { name: 'Set secret' }).click();
  await box.locator('.problem', { hasText: 'no user nobody' }).waitFor();

  await run('mosquitto_pub', [
    '-h', '127.0.0.1', '-p', String(brokerPort), '-q', '1', '-i', 'e2e-jane-sealed',
    '-u', 'jane', '-P', users.jane, '-t', 'owntracks/jane/phone', '-m', ENVELOPE,
  ]);
  const range = `user=jane&device=phone&from=${SEALED_TST}&to=${SEALED_TST}`;
  let found;
  await waitFor(async () => {
    found = await as('jane', `/api/0/locations?${range}`);
    return found.body.count === 1;
  }, 'the opened envelope');
  const [point] = found.body.data;
  assert.deepEqual(
    [point.tid, point.lat, point.lon, point.tst, point._decrypted],
    ['JJ', 48.85833, 2.29513, SEALED_TST, true],
  );
  await page.close();
});

test('jane exports her phone\'s history as GPX from the account page', async () => {
  // A device that goes while the page is open: its export is refused with the server's reason.
  await post('jane', 'watch', { tid: 'jw', lat: 48.8, lon: 2.3, tst: 1700000000 });
  const page = await newPage();
  await logIn(page, 'jane');
  await page.goto(base + '/ui/#/account');
  const box = part(page, 'Export');
  await box.locator('select[name=device] option[value=phone]').waitFor({ state: 'attached' });
  await box.locator('select[name=device] option[value=watch]').waitFor({ state: 'attached' });
  const gone = await fetch(`${base}/api/0/locations?user=jane&device=watch&all=true`, {
    method: 'DELETE', headers: { Authorization: basic('jane') },
  });
  assert.equal(gone.status, 200, await gone.text());
  await box.locator('select[name=device]').selectOption('watch');
  await box.locator('select[name=format]').selectOption('gpx');
  await box.getByRole('button', { name: 'Prepare download' }).click();
  await box.locator('.problem', { hasText: 'unknown device "watch" of user "jane"' }).waitFor();
  assert.equal(await box.locator('a.download').isHidden(), true);
  await box.locator('select[name=device]').selectOption('');
  await box.locator('select[name=format]').selectOption('rec');
  await box.getByRole('button', { name: 'Prepare download' }).click();
  await box.locator('.problem', { hasText: 'A .rec file holds one device: choose one.' }).waitFor();
  await box.locator('select[name=device]').selectOption('phone');
  await box.locator('select[name=format]').selectOption('gpx');
  await box.getByRole('button', { name: 'Prepare download' }).click();
  await box.locator('.note', { hasText: 'Ready: the link downloads the file (the server names it).' }).waitFor();
  assert.equal(await box.locator('a.download').getAttribute('href'), '/api/0/export?user=jane&device=phone&format=gpx');
  const [download] = await Promise.all([page.waitForEvent('download'), box.locator('a.download').click()]);
  assert.equal(download.suggestedFilename(), 'jane-phone.gpx');
  const gpx = await readFile(await download.path(), 'utf8');
  // Both of the phone's points: the sealed one of 2015 first, then today's.
  assert.deepEqual(
    [...gpx.matchAll(/<trkpt lat="([^"]+)" lon="([^"]+)"/g)].map((m) => [m[1], m[2]]),
    [['48.85833', '2.29513'], ['48.8584', '2.2945']],
  );
  await page.close();
});

test('jane deletes her phone\'s history, typing its name to confirm', async () => {
  const page = await newPage();
  await logIn(page, 'jane');
  await page.goto(base + '/ui/#/account');
  const box = part(page, 'Delete your data');
  await box.locator('select[name=device] option[value=phone]').waitFor({ state: 'attached' });
  await box.locator('select[name=device]').selectOption('phone');
  await box.locator('select[name=what]').selectOption('range');
  // Neither day: refused before anything is asked.
  await box.getByRole('button', { name: 'Delete…' }).click();
  await box.locator('.problem', { hasText: 'Give a first day, a last day or both.' }).waitFor();
  await box.locator('input[name=from]').fill('2015-01-01');
  await box.locator('input[name=to]').fill(new Date(Date.now() + 86400000).toISOString().slice(0, 10));
  await box.getByRole('button', { name: 'Delete…' }).click();
  const dialog = page.locator('dialog.confirm');
  const confirm = dialog.getByRole('button', { name: 'Delete' });
  assert.equal(await confirm.isDisabled(), true);
  await dialog.locator('input[name=confirm]').fill('jane/phon');
  assert.equal(await confirm.isDisabled(), true);
  await dialog.locator('input[name=confirm]').fill('jane/phone');
  await confirm.click();
  await box.locator('.note', { hasText: 'Deleted 2 rows (locations 2).' }).waitFor();

  const left = await as('jane', `/api/0/locations?user=jane&device=phone&from=2015-01-01&to=${Math.floor(Date.now() / 1000) + 86400}`);
  assert.deepEqual([left.status, left.body.count, left.body.data], [200, 0, []]);
  const log = part(page, 'Deletion log');
  // Newest first: this deletion (2), then the export test's removed watch (1).
  const rows = log.locator('table.deletions tbody tr');
  await rows.nth(1).waitFor();
  assert.equal(await rows.count(), 2);
  assert.deepEqual(
    (await rows.first().locator('td').allTextContents()).filter((_, i) => i !== 1 && i !== 3),
    ['2', 'api', '2', ''],
  );
  await page.close();
});

test('admin sets bob\'s password, adds and deletes a rule, a group member, a retention rule and a user', async () => {
  const page = await newPage();
  await logIn(page, 'admin');
  await page.goto(base + '/ui/#/admin');
  const people = part(page, 'Users');
  const bob = people.locator('table.users tbody tr', { hasText: 'bob' }).first();
  await bob.getByRole('button', { name: 'Set password' }).click();
  await people.locator('tr.inline input[type=password]').fill('bob-new-secret');
  await people.locator('tr.inline').getByRole('button', { name: 'Save' }).click();
  await people.locator('.note', { hasText: 'Password of bob changed.' }).waitFor();
  users.bob = 'bob-new-secret';
  assert.equal((await as('bob', '/api/0/me')).status, 200);

  const rules = part(page, 'Rules (ACL entries)');
  await rules.locator('input[name=user]').fill('carol');
  await rules.locator('input[name=topic]').fill('owntracks/#/x');
  await rules.getByRole('button', { name: 'Add rule' }).click();
  await rules.locator('.problem', { hasText: '"#" must be the whole last level: owntracks/#/x' }).waitFor();
  await rules.locator('input[name=topic]').fill('owntracks/bob/+');
  await rules.locator('select[name=access]').selectOption('readwrite');
  await rules.getByRole('button', { name: 'Add rule' }).click();
  await rules.locator('.note', { hasText: 'Rule added for carol.' }).waitFor();
  assert.deepEqual(await rules.locator('table.acls tbody td').allTextContents(),
    ['carol', 'owntracks/bob/+', 'read and write', 'Delete']);
  assert.deepEqual(await admin('GET', '/api/0/acls'), [{ user: 'carol', topic: 'owntracks/bob/+', write: true }]);
  await rules.getByRole('button', { name: 'Delete' }).click();
  await page.locator('dialog.confirm').getByRole('button', { name: 'Delete' }).click();
  await rules.locator('.empty', { hasText: 'No rules.' }).waitFor();
  assert.deepEqual(await admin('GET', '/api/0/acls'), []);

  const groups = part(page, 'Groups');
  for (const member of ['carol', 'bob']) {
    await groups.locator('input[name=group]').fill('family');
    await groups.locator('input[name=user]').fill(member);
    await groups.getByRole('button', { name: 'Add member' }).click();
    await groups.locator('.note', { hasText: `${member} added to family.` }).waitFor();
  }
  assert.deepEqual(await admin('GET', '/api/0/groups'), { family: ['bob', 'carol'] });
  await groups.getByRole('button', { name: 'bob ×' }).click();
  await page.locator('dialog.confirm').getByRole('button', { name: 'Remove' }).click();
  await groups.locator('.note', { hasText: 'bob taken out of family.' }).waitFor();
  assert.deepEqual(await admin('GET', '/api/0/groups'), { family: ['carol'] });

  const retention = part(page, 'Retention');
  await retention.locator('input[name=owner]').fill('jane');
  await retention.locator('input[name=days]').fill('30');
  await retention.getByRole('button', { name: 'Set rule' }).click();
  await retention.locator('.note', { hasText: 'Rule set: jane keeps 30 days.' }).waitFor();
  assert.deepEqual(
    (await admin('GET', '/api/0/retention')).rules.map((r) => [r.user, r.device, r.days]),
    [['jane', undefined, 30]],
  );
  await retention.locator('table.rules').getByRole('button', { name: 'Remove' }).click();
  await page.locator('dialog.confirm').getByRole('button', { name: 'Remove' }).click();
  await retention.locator('.note', { hasText: 'Rule of jane removed.' }).waitFor();
  assert.deepEqual((await admin('GET', '/api/0/retention')).rules, []);

  // Deleting a user asks for the name typed; cancelling deletes nothing.
  const carol = people.locator('table.users tbody tr', { hasText: 'carol' });
  await carol.getByRole('button', { name: 'Delete' }).click();
  await page.locator('dialog.confirm').getByRole('button', { name: 'Cancel' }).click();
  await page.locator('dialog.confirm').waitFor({ state: 'detached' });
  assert.equal(await people.locator('.note').textContent(), 'Password of bob changed.');
  assert.equal((await admin('GET', '/api/0/users')).some((u) => u.name === 'carol'), true);
  await carol.getByRole('button', { name: 'Delete' }).click();
  await page.locator('dialog.confirm input[name=confirm]').fill('carol');
  await page.locator('dialog.confirm').getByRole('button', { name: 'Delete' }).click();
  await people.locator('.note', { hasText: 'User carol deleted.' }).waitFor();
  assert.deepEqual((await admin('GET', '/api/0/users')).map((u) => u.name), ['admin', 'bob', 'jane']);
  await page.close();
});

test('the pages asked nothing outside the server and threw nothing', () => {
  assert.deepEqual(outside, []);
  assert.deepEqual(pageErrors, []);
});

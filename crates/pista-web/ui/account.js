// The account page, for every user: their own password, API tokens (the new token shown once),
// the shares and encryption secrets of their devices, an export of their history, deleting
// their own data (with the device's name typed to confirm), their retention rules and the
// deletion log of their data. Everything goes through the API as the logged-in user.

import { call, checkDownload } from './api.js';
import { el } from './format.js';
import * as panel from './panel.js';
import * as sections from './sections.js';

const FORMATS = [
  ['gpx', 'GPX'], ['geojson', 'GeoJSON'], ['csv', 'CSV'], ['kml', 'KML'], ['json', 'JSON'],
  ['rec', '.rec (one device)'],
];

export function show(main, context) {
  const page = el('div', 'account-page panels');
  page.append(el('h1', null, `Account of ${context.me.user}`));
  const log = sections.deletionLog(context, false);
  const deviceChoice = panel.select('Device', [['', 'all devices']], 'device');
  const eraseChoice = panel.select('Device', [['', 'all devices']], 'device');
  page.append(
    password(context), tokens(),
    sections.shares(context, false), sections.secrets(context, false),
    exportSection(context, deviceChoice), deletion(context, eraseChoice, log),
    sections.retention(context, false), log,
  );
  main.replaceChildren(page);
  sections.knownDevices(context, false).then((pairs) => {
    const choices = [['', 'all devices'], ...pairs.map((pair) => [pair.device, pair.device])];
    panel.setChoices(deviceChoice.field, choices);
    panel.setChoices(eraseChoice.field, choices);
  }).catch(() => {});
  return () => {};
}

function password(context) {
  const part = panel.section('Password', 'Your current password is asked first, so that an open '
    + 'session alone cannot take the account over.');
  const current = panel.input('Current password', { name: 'current', type: 'password', required: true, autocomplete: 'current-password' });
  const fresh = panel.input('New password', { name: 'password', type: 'password', required: true, autocomplete: 'new-password' });
  const again = panel.input('New password again', { name: 'again', type: 'password', required: true, autocomplete: 'new-password' });
  part.body.append(panel.form('password-form', [current.wrapper, fresh.wrapper, again.wrapper],
    'Change password', (submit) => panel.attempt(part, async () => {
      if (fresh.field.value !== again.field.value) throw new Error('The new passwords differ.');
      const path = `/api/0/users/${encodeURIComponent(context.me.user)}/password`;
      await call(path, { method: 'PUT', body: { current: current.field.value, password: fresh.field.value } });
      for (const field of [current, fresh, again]) field.field.value = '';
      part.say('Password changed.');
    }, submit)));
  return part.box;
}

function tokens() {
  const part = panel.section('API tokens', 'A token stands in for your password in scripts and '
    + 'apps (Authorization: Bearer ..., or as the Basic password). Pista keeps only a digest: '
    + 'a token is shown once, when it is made.');
  const label = panel.input('Label', { name: 'label', required: true, autocomplete: 'off', maxLength: 200 });
  const days = panel.input('Days valid (empty: no end)', { name: 'days', type: 'number', min: 1, max: 3650, step: 1 });
  const list = el('div');
  const made = el('div', 'token-made');
  made.hidden = true;
  part.body.append(list, panel.form('token-form', [label.wrapper, days.wrapper], 'Make token',
    (submit) => panel.attempt(part, async () => {
      const body = { label: label.field.value.trim() };
      if (days.field.value) body.days = Number(days.field.value);
      const answer = await call('/api/0/tokens', { method: 'POST', body });
      label.field.value = '';
      days.field.value = '';
      await load();
      showToken(made, answer);
    }, submit)), made);

  async function load() {
    const items = await call('/api/0/tokens');
    list.replaceChildren(panel.table('tokens', ['#', 'Label', 'Made', 'Expires', ''], items.map((token) => [
      String(token.id), token.label, panel.when(token.created_at),
      token.expires_at ? panel.when(token.expires_at) : 'never',
      panel.button('Revoke', (control) => revoke(token, control), 'danger'),
    ]), 'No tokens.'));
  }

  async function revoke(token, control) {
    const text = `Revoke token ${token.id} (${token.label})? Whatever uses it is refused from then on.`;
    if (!await panel.confirmAction({ title: 'Revoke token', text, confirmText: 'Revoke' })) return;
    await panel.attempt(part, async () => {
      await call(`/api/0/tokens/${token.id}`, { method: 'DELETE' });
      made.hidden = true;
      made.replaceChildren();
      await load();
      part.say(`Token ${token.id} revoked.`);
    }, control);
  }

  panel.attempt(part, load);
  return part.box;
}

function showToken(box, answer) {
  const value = el('output', 'token');
  value.textContent = answer.token;
  const copied = el('span', 'copied');
  const copy = panel.button('Copy', async () => {
    try {
      await navigator.clipboard.writeText(answer.token);
      copied.textContent = 'Copied.';
    } catch {
      getSelection().selectAllChildren(value);
      copied.textContent = 'Selected: copy it with the keyboard.';
    }
  });
  box.replaceChildren(
    el('p', 'warning', `Token ${answer.id} (${answer.label}): copy it now. It is not shown again.`),
    value, copy, copied,
  );
  box.hidden = false;
}

function exportSection(context, device) {
  const part = panel.section('Export', `Your history as a file. Days run in ${panel.ZONE}; `
    + 'without days, everything.');
  const format = panel.select('Format', FORMATS, 'format');
  const from = panel.input('First day', { name: 'from', type: 'date' });
  const to = panel.input('Last day', { name: 'to', type: 'date' });
  const link = el('a', 'download', 'Download');
  link.hidden = true;
  part.body.append(panel.form('export-form', [device.wrapper, format.wrapper, from.wrapper, to.wrapper],
    'Prepare download', (submit) => panel.attempt(part, async () => {
      link.hidden = true;
      if (format.field.value === 'rec' && !device.field.value) {
        throw new Error('A .rec file holds one device: choose one.');
      }
      if (from.field.value && to.field.value && from.field.value > to.field.value) {
        throw new Error('The first day is after the last.');
      }
      const params = {
        user: context.me.user, device: device.field.value, format: format.field.value,
        from: from.field.value ? panel.dayStart(from.field.value) : '',
        to: to.field.value ? panel.dayEnd(to.field.value) : '',
      };
      const url = `/api/0/export?${sections.query(params)}`;
      await checkDownload(url); // a refusal is shown here, as the server words it
      link.href = url;
      link.download = '';
      link.hidden = false;
      part.say('Ready: the link downloads the file (the server names it).');
    }, submit)), link);
  return part.box;
}

function deletion(context, device, log) {
  const part = panel.section('Delete your data', 'Deletes the history of a device, or of all '
    + `your devices, in a range of days (${panel.ZONE}) or all of it. "Everything" also removes `
    + 'the devices themselves: their regions, secrets, shares and rules. This cannot be undone.');
  const what = panel.select('What', [['range', 'points in a range of days'], ['all', 'everything']], 'what');
  const from = panel.input('First day', { name: 'from', type: 'date' });
  const to = panel.input('Last day', { name: 'to', type: 'date' });
  what.field.addEventListener('change', () => {
    from.wrapper.hidden = what.field.value === 'all';
    to.wrapper.hidden = what.field.value === 'all';
  });
  part.body.append(panel.form('delete-form', [device.wrapper, what.wrapper, from.wrapper, to.wrapper],
    'Delete…', (submit) => panel.attempt(part, async () => {
      const user = context.me.user;
      const params = { user, device: device.field.value };
      const target = device.field.value ? `${user}/${device.field.value}` : user;
      let text;
      if (what.field.value === 'all') {
        params.all = 'true';
        text = `Delete everything of ${target}?`;
      } else {
        if (!from.field.value && !to.field.value) throw new Error('Give a first day, a last day or both.');
        if (from.field.value && to.field.value && from.field.value > to.field.value) {
          throw new Error('The first day is after the last.');
        }
        if (from.field.value) params.from = panel.dayStart(from.field.value);
        if (to.field.value) params.to = panel.dayEnd(to.field.value);
        text = `Delete the history of ${target} from ${from.field.value || 'the start'} to ${to.field.value || 'now'}?`;
      }
      if (!await panel.confirmAction({ title: 'Delete data', text, typed: target })) return;
      const answer = await call(`/api/0/locations?${sections.query(params)}`, { method: 'DELETE' });
      const counts = Object.entries(answer.deleted).filter(([, n]) => n > 0).map(([table, n]) => `${table} ${n}`);
      part.say(`Deleted ${answer.total} rows${counts.length ? ` (${counts.join(', ')})` : ''}.`);
      log.reload();
    }, submit)));
  return part.box;
}

// The sections the account and admin pages share: shares, device secrets, retention rules and
// the deletion log. On the account page (`everyone` false) each shows and changes the logged-in
// user's own things; on the admin page everyone's, with the owner as a field. The API decides
// what the caller may do; these only ask it.

import { call } from './api.js';
import { el } from './format.js';
import * as panel from './panel.js';

const query = (params) => new URLSearchParams(
  Object.entries(params).filter(([, value]) => value !== undefined && value !== null && value !== ''),
).toString();

/** An owner field on the admin page; the logged-in user elsewhere. */
function ownerField(context, everyone, label = 'Owner') {
  if (!everyone) return { wrapper: null, value: () => context.me.user };
  const owner = panel.input(label, { name: 'owner', required: true, list: 'pista-users', autocomplete: 'off' });
  return { wrapper: owner.wrapper, value: () => owner.field.value.trim() };
}

/** A device field: a text suggesting known devices. */
function deviceField(label, required, placeholder) {
  return panel.input(label, {
    name: 'device', required, list: 'pista-devices', autocomplete: 'off', placeholder: placeholder || '',
  });
}

export function shares(context, everyone) {
  const part = panel.section(
    everyone ? 'Shares' : 'Shares of your devices',
    'A share shows one device, or all of them (also those added later), to a user or to every '
      + 'member of a group, optionally until a time.',
  );
  const owner = ownerField(context, everyone);
  const device = deviceField('Device (empty: all)', false, 'all devices');
  const kind = panel.select('Share with', [['user', 'user'], ['group', 'group']], 'kind');
  const name = panel.input('Name', { name: 'to', required: true, autocomplete: 'off' });
  const until = panel.input('Until (optional)', { name: 'until', type: 'datetime-local' });
  const list = el('div');
  const add = panel.form('share-form', [owner.wrapper, device.wrapper, kind.wrapper, name.wrapper,
    until.wrapper].filter(Boolean), 'Share', (submit) => panel.attempt(part, async () => {
    const body = { [kind.field.value]: name.field.value.trim() };
    if (everyone) body.owner = owner.value();
    if (device.field.value.trim()) body.device = device.field.value.trim();
    if (until.field.value) {
      const end = Math.floor(new Date(until.field.value).getTime() / 1000);
      if (!(end > Date.now() / 1000)) throw new Error('"Until" must be in the future.');
      body.until = end;
    }
    const made = await call('/api/0/shares', { method: 'POST', body });
    name.field.value = '';
    await load();
    part.say(`Share ${made.id} made.`);
  }, submit));
  part.body.append(list, add);

  async function load() {
    let items = await call('/api/0/shares');
    if (!everyone) items = items.filter((share) => share.owner === context.me.user);
    list.replaceChildren(panel.table('shares', ['#', 'Owner', 'Device', 'Shared with', 'Until', ''],
      items.map((share) => [
        String(share.id), share.owner, share.device ?? 'all devices',
        share.user ? `user ${share.user}` : `group ${share.group}`,
        share.until ? panel.when(share.until) : 'no end',
        panel.button('Remove', (control) => remove(share, control), 'danger'),
      ]), 'No shares.'));
  }

  async function remove(share, control) {
    const what = `${share.owner}/${share.device ?? '(all devices)'} to ${share.user ? `user ${share.user}` : `group ${share.group}`}`;
    if (!await panel.confirmAction({ title: 'Remove share', text: `Stop sharing ${what}?`, confirmText: 'Remove' })) return;
    await panel.attempt(part, async () => {
      await call(`/api/0/shares/${share.id}`, { method: 'DELETE' });
      await load();
      part.say(`Share ${share.id} removed.`);
    }, control);
  }

  panel.attempt(part, load);
  return part.box;
}

export function secrets(context, everyone) {
  const part = panel.section(
    everyone ? 'Device secrets' : 'Encryption secrets of your devices',
    'The key an OwnTracks app encrypts its messages with (the app\'s encryption key setting). '
      + 'A secret is never shown again: set a new one to change it. Messages quarantined for '
      + 'want of it can then be replayed.',
  );
  const owner = ownerField(context, everyone, 'User');
  const device = deviceField('Device', true);
  const secret = panel.input('Secret', { name: 'secret', type: 'password', required: true, autocomplete: 'new-password' });
  const list = el('div');
  const add = panel.form('secret-form', [owner.wrapper, device.wrapper, secret.wrapper].filter(Boolean),
    'Set secret', (submit) => panel.attempt(part, async () => {
      const user = owner.value();
      const name = device.field.value.trim();
      if (!secret.field.value) throw new Error('Type the secret.');
      const path = `/api/0/secrets/${encodeURIComponent(user)}/${encodeURIComponent(name)}`;
      const answer = await call(path, { method: 'PUT', body: { secret: secret.field.value } });
      secret.field.value = '';
      await load();
      part.say(`Secret ${answer.replaced ? 'replaced' : 'set'} for ${answer.user}/${answer.device}.`);
    }, submit));
  part.body.append(list, add);

  async function load() {
    let items = await call('/api/0/secrets');
    if (!everyone) items = items.filter((item) => item.user === context.me.user);
    list.replaceChildren(panel.table('secrets', ['User', 'Device', ''], items.map((item) => [
      item.user, item.device, panel.button('Remove', (control) => remove(item, control), 'danger'),
    ]), 'No device has a secret.'));
  }

  async function remove(item, control) {
    const key = `${item.user}/${item.device}`;
    const text = `Remove the secret of ${key}? Its encrypted messages will be quarantined until a secret is set again.`;
    if (!await panel.confirmAction({ title: 'Remove secret', text, confirmText: 'Remove' })) return;
    await panel.attempt(part, async () => {
      await call(`/api/0/secrets/${encodeURIComponent(item.user)}/${encodeURIComponent(item.device)}`, { method: 'DELETE' });
      await load();
      part.say(`Secret removed for ${key}.`);
    }, control);
  }

  panel.attempt(part, load);
  return part.box;
}

export function retention(context, everyone) {
  const part = panel.section(
    everyone ? 'Retention' : 'Retention of your data',
    'History older than a rule\'s days is deleted (by fix time); 0 keeps everything. A device\'s '
      + 'rule comes before its user\'s, which comes before the default.',
  );
  const owner = ownerField(context, everyone, 'User');
  const device = deviceField('Device (empty: every device)', false, 'every device');
  const days = panel.input('Days', { name: 'days', type: 'number', min: 0, max: 36500, step: 1, required: true });
  const summary = el('p', 'intro');
  const rules = el('div');
  const devices = el('div');
  const set = panel.form('retention-form', [owner.wrapper, device.wrapper, days.wrapper].filter(Boolean),
    'Set rule', (submit) => panel.attempt(part, async () => {
      const body = { user: owner.value(), days: Number(days.field.value) };
      if (device.field.value.trim()) body.device = device.field.value.trim();
      await call('/api/0/retention', { method: 'PUT', body });
      await load();
      part.say(`Rule set: ${body.user}${body.device ? `/${body.device}` : ''} keeps ${body.days || 'everything'}${body.days ? ' days' : ''}.`);
    }, submit));
  part.body.append(summary, rules, set, el('h3', null, 'Each device'), devices);

  async function load() {
    const answer = await call('/api/0/retention');
    summary.textContent = `Default: ${answer.days ? `${answer.days} days` : 'keep everything'}.`;
    const mine = (user) => everyone || user === context.me.user;
    rules.replaceChildren(panel.table('rules', ['User', 'Device', 'Days', 'Updated', ''],
      answer.rules.filter((rule) => mine(rule.user)).map((rule) => [
        rule.user, rule.device ?? 'every device', String(rule.days), panel.when(rule.updated),
        panel.button('Remove', (control) => remove(rule, control), 'danger'),
      ]), 'No rules: the default holds.'));
    devices.replaceChildren(panel.table('kept', ['Device', 'Days kept'],
      answer.devices.filter((item) => mine(item.user)).map((item) => [
        `${item.user}/${item.device}`, item.days ? String(item.days) : 'everything',
      ]), 'No devices yet.'));
  }

  async function remove(rule, control) {
    const key = rule.device ? `${rule.user}/${rule.device}` : rule.user;
    if (!await panel.confirmAction({ title: 'Remove rule', text: `Remove the retention rule of ${key}?`, confirmText: 'Remove' })) return;
    await panel.attempt(part, async () => {
      await call(`/api/0/retention?${query({ user: rule.user, device: rule.device })}`, { method: 'DELETE' });
      await load();
      part.say(`Rule of ${key} removed.`);
    }, control);
  }

  panel.attempt(part, load);
  return part.box;
}

/** The deletion log (`/api/0/deletions`); `reload` reads it again. */
export function deletionLog(context, everyone) {
  const part = panel.section('Deletion log', 'Every deletion, by hand or by retention, newest first.');
  const list = el('div');
  part.body.append(list);
  async function load() {
    let entries = await call('/api/0/deletions?limit=50');
    if (!everyone) entries = entries.filter((entry) => entry.user === context.me.user);
    list.replaceChildren(panel.table('deletions', ['#', 'When', 'By', 'What', 'Rows', 'Error'],
      entries.map((entry) => [
        String(entry.id), panel.when(entry.at), entry.by, describe(entry), String(entry.total),
        entry.error ?? '',
      ]), 'Nothing deleted yet.'));
  }
  panel.attempt(part, load);
  part.box.reload = () => panel.attempt(part, load);
  return part.box;
}

function describe(entry) {
  const who = entry.device ? `${entry.user}/${entry.device}` : `${entry.user} (every device)`;
  if (entry.everything) return `${who}: everything`;
  return `${who}: ${entry.from ? panel.when(entry.from) : 'the start'} to ${entry.to ? panel.when(entry.to) : 'now'}`;
}

/** Reads the devices the caller may see into the `pista-devices` datalist (their names), and
 * answers them as `user/device` pairs. */
export async function knownDevices(context, everyone) {
  const last = await call('/api/0/last');
  const pairs = last.filter((item) => everyone || item.username === context.me.user)
    .map((item) => ({ user: item.username, device: item.device }));
  const names = [...new Set(pairs.map((pair) => pair.device))].sort();
  document.body.append(panel.datalist('pista-devices', names));
  return pairs;
}

export { query };

// The admin page, for superusers: users (add, set a password, delete), ACL rules, groups,
// everyone's shares, device secrets, retention rules and the deletion log. Others get a
// refusal and no request is made; the API refuses them anyway.

import { call } from './api.js';
import { el } from './format.js';
import * as panel from './panel.js';
import * as sections from './sections.js';

export function show(main, context) {
  const page = el('div', 'admin-page panels');
  page.append(el('h1', null, 'Administration'));
  if (!context.me.superuser) {
    const refusal = el('p', 'refusal', `The admin page is for superusers; ${context.me.user} is not one.`);
    refusal.setAttribute('role', 'alert');
    page.append(refusal);
    main.replaceChildren(page);
    return () => {};
  }
  const userList = panel.datalist('pista-users', []);
  document.body.append(userList);
  const refreshUsers = (names) => panel.datalist('pista-users', names);
  page.append(
    users(context, refreshUsers), acls(), groups(),
    sections.shares(context, true), sections.secrets(context, true),
    sections.retention(context, true), sections.deletionLog(context, true),
  );
  main.replaceChildren(page);
  sections.knownDevices(context, true).catch(() => {});
  return () => {};
}

function users(context, refreshUsers) {
  const part = panel.section('Users', 'A superuser sees and may change everything; a user sees '
    + 'their own devices, what is shared with them and what their rules allow.');
  const name = panel.input('Name', { name: 'name', required: true, autocomplete: 'off' });
  const password = panel.input('Password (empty: generated)', { name: 'password', type: 'password', autocomplete: 'new-password' });
  const superuser = el('label', 'check');
  const flag = el('input');
  flag.type = 'checkbox';
  flag.name = 'superuser';
  superuser.append(flag, ' superuser');
  const list = el('div');
  const generated = el('p', 'warning');
  generated.hidden = true;
  part.body.append(list, panel.form('user-form', [name.wrapper, password.wrapper, superuser], 'Add user',
    (submit) => panel.attempt(part, async () => {
      generated.hidden = true;
      const body = { name: name.field.value.trim(), superuser: flag.checked };
      if (password.field.value) body.password = password.field.value;
      const made = await call('/api/0/users', { method: 'POST', body });
      name.field.value = '';
      password.field.value = '';
      flag.checked = false;
      await load();
      part.say(`${made.superuser ? 'Superuser' : 'User'} ${made.name} added.`);
      if (made.password) {
        generated.textContent = `Password of ${made.name}: ${made.password} (shown only now).`;
        generated.hidden = false;
      }
    }, submit)), generated);

  async function load() {
    const items = await call('/api/0/users');
    refreshUsers(items.map((user) => user.name));
    list.replaceChildren(panel.table('users', ['Name', 'Role', 'Created', 'Password', ''], items.map((user) => {
      const actions = el('span', 'actions');
      actions.append(panel.button('Set password', (control) => setPassword(user, control)));
      if (user.name !== context.me.user) {
        actions.append(panel.button('Delete', (control) => remove(user, control), 'danger'));
      }
      return [user.name, user.superuser ? 'superuser' : 'user', panel.when(user.created_at),
        user.password_form ?? '', actions];
    }), 'No users.'));
  }

  async function setPassword(user, control) {
    const row = control.closest('tr');
    const box = panel.input(`New password of ${user.name}`, { type: 'password', required: true, autocomplete: 'new-password' });
    const save = panel.form('inline-password', [box.wrapper], 'Save', (submit) => panel.attempt(part, async () => {
      await call(`/api/0/users/${encodeURIComponent(user.name)}/password`, {
        method: 'PUT', body: { password: box.field.value },
      });
      await load();
      part.say(`Password of ${user.name} changed.`);
    }, submit));
    const cell = el('td');
    cell.colSpan = row.cells.length;
    cell.append(save);
    const extra = el('tr', 'inline');
    extra.append(cell);
    row.after(extra);
    box.field.focus();
  }

  async function remove(user, control) {
    const text = `Delete the account ${user.name}, with its rules, group memberships, tokens and `
      + 'shares? Its history stays.';
    if (!await panel.confirmAction({ title: 'Delete user', text, typed: user.name })) return;
    await panel.attempt(part, async () => {
      await call(`/api/0/users/${encodeURIComponent(user.name)}`, { method: 'DELETE' });
      await load();
      part.say(`User ${user.name} deleted.`);
    }, control);
  }

  panel.attempt(part, load);
  return part.box;
}

/** Whether an MQTT topic filter has its wildcards in place (`+` a whole level, `#` the whole
 * last one); the server checks again and names the problem. */
function filterProblem(topic) {
  if (!topic) return 'Give a topic filter.';
  const levels = topic.split('/');
  for (const [index, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || index !== levels.length - 1)) {
      return `"#" must be the whole last level: ${topic}`;
    }
    if (level.includes('+') && level !== '+') return `"+" must be a whole level: ${topic}`;
  }
  return null;
}

function acls() {
  const part = panel.section('Rules (ACL entries)', 'MQTT topic filters a user may read, or read '
    + 'and write. A whole level %u stands for the user\'s name, %c for the MQTT client id (it '
    + 'matches nothing over HTTP). + is one level, # the rest. Writing to another user\'s topics '
    + 'is limited to their devices\' cmd topic.');
  const user = panel.input('User', { name: 'user', required: true, list: 'pista-users', autocomplete: 'off' });
  const topic = panel.input('Topic filter', { name: 'topic', required: true, placeholder: 'owntracks/%u/#', autocomplete: 'off' });
  const access = panel.select('Access', [['read', 'read'], ['readwrite', 'read and write']], 'access');
  const list = el('div');
  part.body.append(list, panel.form('acl-form', [user.wrapper, topic.wrapper, access.wrapper], 'Add rule',
    (submit) => panel.attempt(part, async () => {
      const problem = filterProblem(topic.field.value.trim());
      if (problem) throw new Error(problem);
      const body = { user: user.field.value.trim(), topic: topic.field.value.trim(), write: access.field.value === 'readwrite' };
      await call('/api/0/acls', { method: 'POST', body });
      topic.field.value = '';
      await load();
      part.say(`Rule added for ${body.user}.`);
    }, submit)));

  async function load() {
    const items = await call('/api/0/acls');
    list.replaceChildren(panel.table('acls', ['User', 'Topic filter', 'Access', ''], items.map((acl) => [
      acl.user, acl.topic, acl.write ? 'read and write' : 'read',
      panel.button('Delete', (control) => remove(acl, control), 'danger'),
    ]), 'No rules.'));
  }

  async function remove(acl, control) {
    const text = `Delete the rule ${acl.topic} of ${acl.user}?`;
    if (!await panel.confirmAction({ title: 'Delete rule', text })) return;
    await panel.attempt(part, async () => {
      await call(`/api/0/acls?${sections.query({ user: acl.user, topic: acl.topic })}`, { method: 'DELETE' });
      await load();
      part.say(`Rule ${acl.topic} of ${acl.user} deleted.`);
    }, control);
  }

  panel.attempt(part, load);
  return part.box;
}

function groups() {
  const part = panel.section('Groups', 'A group exists while it has members; shares to a group '
    + 'reach every member.');
  const group = panel.input('Group', { name: 'group', required: true, autocomplete: 'off' });
  const user = panel.input('User', { name: 'user', required: true, list: 'pista-users', autocomplete: 'off' });
  const list = el('div');
  part.body.append(list, panel.form('group-form', [group.wrapper, user.wrapper], 'Add member',
    (submit) => panel.attempt(part, async () => {
      const body = { group: group.field.value.trim(), user: user.field.value.trim() };
      await call('/api/0/groups', { method: 'POST', body });
      user.field.value = '';
      await load();
      part.say(`${body.user} added to ${body.group}.`);
    }, submit)));

  async function load() {
    const items = await call('/api/0/groups');
    list.replaceChildren(panel.table('groups', ['Group', 'Members', ''], Object.entries(items).map(([name, members]) => {
      const chips = el('span', 'members');
      for (const member of members) {
        chips.append(panel.button(`${member} ×`, (control) => remove(name, member, control), 'chip'));
      }
      return [name, chips, panel.button('Delete group', (control) => remove(name, null, control), 'danger')];
    }), 'No groups.'));
  }

  async function remove(name, member, control) {
    const text = member ? `Take ${member} out of ${name}?` : `Delete the group ${name} (every member)?`;
    if (!await panel.confirmAction({ title: member ? 'Remove member' : 'Delete group', text, confirmText: 'Remove' })) return;
    await panel.attempt(part, async () => {
      await call(`/api/0/groups?${sections.query({ group: name, user: member })}`, { method: 'DELETE' });
      await load();
      part.say(member ? `${member} taken out of ${name}.` : `Group ${name} deleted.`);
    }, control);
  }

  panel.attempt(part, load);
  return part.box;
}

// The jobs page: the Activo job history of the devices the user may see (/api/0/jobs), newest
// start first, with a green dot while a job has no end. The page opens its own
// /api/0/live?kinds=job stream while shown; each job event (a start or an end) reads the
// history again, and running jobs' durations move on every second. Above the history, the job
// editor (the original's Jobedit): for each Activo box of a device the user manages (owner or
// superuser; /api/0/jobs/names), its job names, Start for the picked job, End for the running
// one (PUT /api/0/jobs/{user}/{device}/active) and Rename (PUT .../names/{job}). The history
// shows a started job once ingest sees it, as for a job the driver picks on the box.

import { call } from './api.js';
import * as format from './format.js';

/** A duration in seconds as `Ns`, `Nm Ns` or `Nh Nm`. */
export function duration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '';
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** The editor of one Activo box: its job names, start, end and rename. */
function editor(box, running, statuses, sent, report) {
  const section = format.el('section', 'job-box');
  section.dataset.device = `${box.user}/${box.device}`;
  const route = `/api/0/jobs/${encodeURIComponent(box.user)}/${encodeURIComponent(box.device)}`;
  const title = format.el('h2', null, `${box.user}/${box.device}`);
  const now = format.el('p', 'job-now', running ? `Running: ${running.jobname} (job ${running.job})` : 'No job running.');
  const pick = format.el('select', 'job-pick');
  pick.setAttribute('aria-label', `Job of ${box.user}/${box.device}`);
  for (const name of box.names) {
    const option = format.el('option', null, `${name.job} · ${name.name}`);
    option.value = String(name.job);
    pick.append(option);
  }
  // The picked job outlives the editor being rebuilt (a job event, new names).
  const picked = statuses.get(`pick ${section.dataset.device}`);
  if (picked && box.names.some((name) => String(name.job) === picked)) pick.value = picked;
  pick.addEventListener('change', () => statuses.set(`pick ${section.dataset.device}`, pick.value));
  const start = format.el('button', 'job-start', 'Start');
  const end = format.el('button', 'job-end', 'End job');
  end.disabled = !running;
  const newName = format.el('input', 'job-rename');
  Object.assign(newName, { type: 'text', maxLength: 40, placeholder: 'New name' });
  newName.setAttribute('aria-label', 'New name of the picked job');
  const rename = format.el('button', 'job-rename-save', 'Rename');
  for (const button of [start, end, rename]) button.type = 'button';
  const status = format.el('p', 'job-status', statuses.get(section.dataset.device) || '');

  async function send(what, path, body) {
    let text;
    try {
      const answer = await call(route + path, { method: 'PUT', body });
      text = answer.mqtt === 'published' ? `${what}: sent to the box.` : `${what}: ${answer.mqtt}`;
    } catch (error) {
      text = `${what} refused: ${error.message}`;
    }
    // The job event may have rebuilt the editor meanwhile: the report finds the one shown.
    report(section.dataset.device, text);
    sent();
  }
  start.addEventListener('click', () => send(`Start job ${pick.value}`, '/active', { job: Number(pick.value) }));
  end.addEventListener('click', () => send('End job', '/active', { job: 0 }));
  rename.addEventListener('click', () => send(`Rename job ${pick.value}`, `/names/${pick.value}`, { name: newName.value }));
  const controls = format.el('div', 'job-controls');
  controls.append(pick, ' ', start, ' ', end, ' ', newName, ' ', rename);
  section.append(title, now, controls, status);
  return section;
}

export function show(main, { me } = {}) {
  const page = format.el('div', 'jobs-page');
  const heading = format.el('h1', null, 'Activo jobs');
  const note = format.el('p', 'zone',
    `Times in ${Intl.DateTimeFormat().resolvedOptions().timeZone}; a green dot marks a job `
    + 'still running (its duration so far).');
  const table = format.el('table', 'devices jobs');
  table.append(format.el('thead'), format.el('tbody'));
  const head = format.el('tr');
  for (const name of ['Active', 'TID', 'Device', 'Job', 'Start', 'End', 'Duration']) {
    head.append(format.el('th', null, name));
  }
  table.tHead.append(head);
  const empty = format.el('p', 'empty', 'No jobs yet.');
  const problem = format.el('p', 'problem');
  problem.hidden = true;
  const boxes = format.el('div', 'job-boxes');
  page.append(heading, boxes, note, table, empty, problem);
  main.replaceChildren(page);

  let jobs = [];
  let names = [];
  const manages = (user) => Boolean(me && (me.superuser || me.user === user));
  // Editors are built again only when names or running jobs change, so a half-typed name stays.
  let shownBoxes = '';
  // user/device → the last command's outcome; `pick user/device` → the job picked there.
  const statuses = new Map();
  const report = (device, text) => {
    statuses.set(device, text);
    for (const section of boxes.querySelectorAll('section.job-box')) {
      if (section.dataset.device === device) section.querySelector('.job-status').textContent = text;
    }
  };
  // A rename makes no job event: names are read again now and once ingest has had a moment.
  const reread = () => {
    load();
    setTimeout(load, 1000);
  };

  function renderBoxes() {
    const byDevice = new Map();
    for (const name of names.filter((n) => manages(n.user))) {
      const id = `${name.user}/${name.device}`;
      if (!byDevice.has(id)) byDevice.set(id, { user: name.user, device: name.device, names: [] });
      byDevice.get(id).names.push(name);
    }
    const runningOf = (box) => jobs.find((j) => j.user === box.user && j.device === box.device
      && (j.end === null || j.end === undefined));
    const shape = JSON.stringify([...byDevice.values()].map((box) => [box, runningOf(box)?.id]));
    if (shape === shownBoxes) return;
    shownBoxes = shape;
    boxes.replaceChildren(...[...byDevice.values()].map((box) => editor(box, runningOf(box), statuses, reread, report)));
  }

  const durations = new Map(); // td → start of a running job

  function render() {
    durations.clear();
    const rows = [...jobs].sort((a, b) => b.start - a.start || b.id - a.id);
    table.tBodies[0].replaceChildren(...rows.map((job) => {
      const running = job.end === null || job.end === undefined;
      const tr = format.el('tr', running ? 'running' : null);
      tr.dataset.id = job.id;
      const active = format.el('td');
      if (running) {
        const dot = format.el('span', 'dot online');
        dot.title = 'running';
        dot.setAttribute('aria-label', 'running');
        active.append(dot);
      }
      const took = format.el('td', 'numeric',
        duration(running ? Date.now() / 1000 - job.start : job.duration ?? job.end - job.start));
      if (running) durations.set(took, job.start);
      tr.append(active, format.el('td', null, job.tid), format.el('td', null, `${job.user}/${job.device}`),
        format.el('td', 'jobname', job.jobname), format.el('td', null, format.dateTime(job.start)),
        format.el('td', null, running ? '' : format.dateTime(job.end)), took);
      return tr;
    }));
    table.hidden = rows.length === 0;
    empty.hidden = rows.length > 0;
  }

  let loading = null;
  let again = false;
  async function load() {
    if (loading) {
      again = true;
      return;
    }
    loading = Promise.all([call('/api/0/jobs'), call('/api/0/jobs/names')]);
    try {
      [jobs, names] = await loading;
      problem.hidden = true;
    } catch (error) {
      problem.textContent = `The jobs could not be read: ${error.message}`;
      problem.hidden = false;
    } finally {
      loading = null;
    }
    render();
    renderBoxes();
    if (again) {
      again = false;
      load();
    }
  }

  const stream = new EventSource('/api/0/live?kinds=job');
  page.dataset.live = 'connecting';
  stream.addEventListener('job', () => load());
  stream.addEventListener('lagged', () => load());
  stream.onopen = () => {
    // The history is read once the stream is open, so no event falls between the two.
    page.dataset.live = 'open';
    load();
  };
  stream.onerror = () => {
    page.dataset.live = 'closed';
    if (stream.readyState === EventSource.CLOSED) call('/api/0/me').catch(() => {});
  };
  const ticker = setInterval(() => {
    for (const [td, start] of durations) td.textContent = duration(Date.now() / 1000 - start);
  }, 1000);
  render();

  return () => {
    stream.close();
    clearInterval(ticker);
  };
}

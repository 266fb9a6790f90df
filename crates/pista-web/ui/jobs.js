// The jobs page: the Activo job history of the devices the user may see (/api/0/jobs), newest
// start first, with a green dot while a job has no end. The page opens its own
// /api/0/live?kinds=job stream while shown; each job event (a start or an end) reads the
// history again, and running jobs' durations move on every second.
// FIXME(#8): no job editor yet (the original's Jobedit: a box's job names, start or end a job by
// publishing `<device topic>/proxy/jobs/active` retained with QoS 2, rename a job); the page
// only reads. Pista's own ingest subscribes to that topic too, so the command and the box's
// echo must be told apart before one is built.

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

export function show(main) {
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
  page.append(heading, note, table, empty, problem);
  main.replaceChildren(page);

  let jobs = [];
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
    loading = call('/api/0/jobs');
    try {
      jobs = await loading;
      problem.hidden = true;
    } catch (error) {
      problem.textContent = `The jobs could not be read: ${error.message}`;
      problem.hidden = false;
    } finally {
      loading = null;
    }
    render();
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

// The building blocks of the account and admin pages: a titled section with its own problem
// line (an API error is shown as the server wrote it) and note line, labelled fields, small
// tables, and a confirmation dialog that can ask for a typed word before a destructive action.

import { el } from './format.js';

/** A titled card; `fail(error)` shows an error verbatim, `say(text)` a note. */
export function section(title, intro) {
  const box = el('section', 'panel');
  box.append(el('h2', null, title));
  if (intro) box.append(el('p', 'intro', intro));
  const body = el('div', 'panel-body');
  const problem = el('p', 'problem');
  problem.setAttribute('role', 'alert');
  const note = el('p', 'note');
  note.setAttribute('role', 'status');
  box.append(body, problem, note);
  return {
    box,
    body,
    problem,
    note,
    say(text) {
      problem.textContent = '';
      note.textContent = text;
    },
    fail(error) {
      note.textContent = '';
      problem.textContent = error instanceof Error ? error.message : String(error);
    },
    clear() {
      problem.textContent = '';
      note.textContent = '';
    },
  };
}

/** Runs an action for a section: clears its lines, shows a thrown error verbatim. */
export async function attempt(part, action, control) {
  part.clear();
  if (control) control.disabled = true;
  try {
    await action();
  } catch (error) {
    part.fail(error);
  } finally {
    if (control) control.disabled = false;
  }
}

/** A labelled input; `options` are its attributes (`type`, `name`, `required`, ...). */
export function input(label, options = {}) {
  const wrapper = el('label', null, label);
  const field = el('input');
  const { list, ...properties } = options;
  Object.assign(field, { type: 'text', ...properties });
  if (list) field.setAttribute('list', list);
  wrapper.append(field);
  return { wrapper, field };
}

/** A labelled select of [value, text] pairs. */
export function select(label, choices, name) {
  const wrapper = el('label', null, label);
  const field = el('select');
  if (name) field.name = name;
  setChoices(field, choices);
  wrapper.append(field);
  return { wrapper, field };
}

/** Replaces a select's choices, keeping the chosen value when it is still there. */
export function setChoices(field, choices) {
  const chosen = field.value;
  field.replaceChildren(...choices.map(([value, text]) => {
    const option = el('option', null, text);
    option.value = value;
    return option;
  }));
  if (choices.some(([value]) => value === chosen)) field.value = chosen;
}

/** A datalist of values for text inputs to suggest. */
export function datalist(id, values) {
  const list = document.getElementById(id) || el('datalist');
  list.id = id;
  list.replaceChildren(...values.map((value) => {
    const option = el('option');
    option.value = value;
    return option;
  }));
  return list;
}

/** A form with its fields in a row and a submit button; `onSubmit` runs after the browser's
 * own checks of `required`, `min` and friends. */
export function form(className, parts, submitText, onSubmit) {
  const node = el('form', `panel-form ${className || ''}`.trim());
  const submit = el('button', null, submitText);
  submit.type = 'submit';
  node.append(...parts, submit);
  node.addEventListener('submit', (event) => {
    event.preventDefault();
    onSubmit(submit);
  });
  return node;
}

export function button(text, onClick, className) {
  const node = el('button', className, text);
  node.type = 'button';
  node.addEventListener('click', () => onClick(node));
  return node;
}

/** A table with a header row; a cell is text or a node. Empty: a line saying `empty`. */
export function table(className, headers, rows, empty) {
  if (rows.length === 0) return el('p', 'empty', empty);
  const node = el('table', `devices ${className}`);
  const head = el('tr');
  for (const name of headers) head.append(el('th', null, name));
  node.append(el('thead'), el('tbody'));
  node.tHead.append(head);
  for (const cells of rows) {
    const tr = el('tr');
    for (const cell of cells) {
      const td = el('td');
      if (cell instanceof Node) td.append(cell);
      else td.textContent = cell ?? '';
      tr.append(td);
    }
    node.tBodies[0].append(tr);
  }
  const scroll = el('div', 'scroll');
  scroll.append(node);
  return scroll;
}

/** Asks before a destructive action. With `typed`, the confirm button waits until exactly
 * that text is typed. Answers whether the user confirmed. */
export function confirmAction({ title, text, typed, confirmText = 'Delete' }) {
  return new Promise((resolve) => {
    const dialog = el('dialog', 'confirm');
    const box = el('form');
    box.method = 'dialog';
    box.append(el('h2', null, title), el('p', null, text));
    let word = null;
    const yes = el('button', 'danger', confirmText);
    yes.value = 'yes';
    if (typed) {
      word = input(`Type ${typed} to confirm`, { name: 'confirm', autocomplete: 'off' });
      yes.disabled = true;
      word.field.addEventListener('input', () => {
        yes.disabled = word.field.value !== typed;
      });
      box.append(word.wrapper);
    }
    const no = el('button', null, 'Cancel');
    no.value = 'no';
    const buttons = el('div', 'buttons');
    buttons.append(no, yes);
    box.append(buttons);
    dialog.append(box);
    document.body.append(dialog);
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'yes' && (!typed || word.field.value === typed));
    });
    dialog.showModal();
    (word ? word.field : no).focus();
  });
}

/** Epoch seconds of the start of a local day (`YYYY-MM-DD` from a date input). */
export function dayStart(day) {
  const [y, m, d] = day.split('-').map(Number);
  return Math.floor(new Date(y, m - 1, d).getTime() / 1000);
}

/** Epoch seconds of the last second of a local day. */
export function dayEnd(day) {
  const [y, m, d] = day.split('-').map(Number);
  return Math.floor(new Date(y, m - 1, d + 1).getTime() / 1000) - 1;
}

/** An ISO time as the browser's local date and time; empty for none. */
export function when(value) {
  if (value === null || value === undefined || value === '') return '';
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString(undefined, { hour12: false });
}

export const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

// The fences page's form: a new fence or a change of one, as a circle (centre from a click on
// the map, radius) or a polygon (corners from clicks), with a name, for a superuser the user
// whose devices it is for, and a webhook. It builds the API's body and shows the outcome; the
// page does the clicks and the calls.

import * as format from './format.js';

/** The radius a new circle starts with, in metres. */
export const DEFAULT_RADIUS = 100;

/** The form that makes or changes a fence. */
export function makeForm(me) {
  const element = format.el('form', 'fence-form');
  element.setAttribute('aria-label', 'Fence');
  // The API checks every field and words the refusal; the browser's own checks would hide it.
  element.noValidate = true;
  const heading = format.el('h2');
  const hint = format.el('p', 'hint');
  const modes = format.el('fieldset', 'modes');
  modes.append(format.el('legend', null, 'Shape'));
  const radios = {};
  for (const mode of ['circle', 'polygon']) {
    const label = format.el('label');
    const radio = format.el('input');
    Object.assign(radio, { type: 'radio', name: 'shape', value: mode });
    radios[mode] = radio;
    label.append(radio, ` ${mode}`);
    modes.append(label);
  }
  const name = field('text', 'name');
  const radius = field('number', 'radius');
  Object.assign(radius, { min: '1', max: '1000000', step: '1' });
  const user = field('text', 'user');
  user.placeholder = 'everyone’s devices';
  const webhook = field('text', 'webhook');
  webhook.placeholder = 'none';
  const where = format.el('p', 'where');
  where.setAttribute('aria-live', 'polite');
  const saveButton = format.el('button', 'save', 'Save');
  saveButton.type = 'submit';
  const undo = button('undo', 'Undo corner');
  const cancel = button('cancel', 'Cancel');
  const buttons = format.el('div', 'buttons');
  buttons.append(saveButton, undo, cancel);
  const message = format.el('p', 'problem');
  message.setAttribute('role', 'alert');
  const radiusLabel = labelled('Radius (m)', radius);
  element.append(heading, hint, modes, labelled('Name', name), radiusLabel);
  // Only a superuser may make a fence for someone else's devices or for everyone's.
  if (me.superuser) element.append(labelled('For the devices of (user)', user));
  element.append(labelled('Webhook (optional)', webhook), where, buttons, message);

  function describe(draft) {
    const circle = draft.mode === 'circle';
    radiusLabel.hidden = !circle;
    undo.hidden = circle || draft.corners.length === 0;
    hint.textContent = circle
      ? 'Click the map to place the centre; click again to move it.'
      : 'Click the map at each corner, in order (at least 3).';
    if (circle) {
      where.textContent = draft.centre
        ? `Centre ${draft.centre[0].toFixed(6)}, ${draft.centre[1].toFixed(6)}`
        : 'No centre yet.';
    } else {
      where.textContent = `${draft.corners.length} corners`;
    }
  }

  return {
    element,
    radius: () => Number(radius.value),
    describe,
    fill(draft, fence) {
      heading.textContent = fence ? `Change “${fence.name}”` : 'New fence';
      cancel.hidden = !fence;
      radios[draft.mode].checked = true;
      name.value = fence ? fence.name : '';
      radius.value = String(fence?.radius ?? DEFAULT_RADIUS);
      user.value = fence ? fence.user || '' : '';
      webhook.value = fence?.webhook || '';
      message.textContent = '';
      message.className = 'problem';
    },
    body(draft) {
      const body = { name: name.value };
      if (draft.mode === 'circle') {
        if (!draft.centre) return 'Click the map to place the centre first.';
        [body.lat, body.lon] = draft.centre;
        body.radius = radius.value === '' ? radius.value : Number(radius.value);
      } else {
        body.polygon = draft.corners;
      }
      body.user = me.superuser ? user.value.trim() || null : me.user;
      body.webhook = webhook.value.trim() || null;
      if (body.webhook?.includes('***')) {
        return 'The webhook’s password is never shown: type the whole URL again.';
      }
      return body;
    },
    problem(text) {
      message.className = 'problem';
      message.textContent = text;
    },
    done(text) {
      message.className = 'done';
      message.textContent = text;
    },
    on(handlers) {
      element.addEventListener('submit', (event) => {
        event.preventDefault();
        handlers.save();
      });
      radius.addEventListener('input', handlers.redraw);
      for (const radio of Object.values(radios)) {
        radio.addEventListener('change', () => handlers.mode(radio.value));
      }
      undo.addEventListener('click', handlers.undo);
      cancel.addEventListener('click', handlers.cancel);
    },
  };
}

function field(type, name) {
  const input = format.el('input');
  Object.assign(input, { type, name });
  return input;
}

function labelled(text, input) {
  const label = format.el('label', null, text);
  label.append(input);
  return label;
}

function button(className, text) {
  const element = format.el('button', className, text);
  element.type = 'button';
  return element;
}

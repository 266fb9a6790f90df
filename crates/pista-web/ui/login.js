// The login page: the session-cookie login of /api/0/login. The cookie is HttpOnly; the page
// keeps only the session's CSRF value, which every change must carry.

import { call, setCsrf } from './api.js';
import { el } from './format.js';

export function show(main, { onLogin }) {
  const form = el('form', 'login');
  form.append(el('h1', null, 'Log in to Pista'));
  const user = field(form, 'User name', 'text', 'username');
  const password = field(form, 'Password', 'password', 'current-password');
  const problem = el('p', 'problem');
  problem.setAttribute('role', 'alert');
  const button = el('button', null, 'Log in');
  button.type = 'submit';
  form.append(problem, button);
  main.replaceChildren(form);
  user.focus();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    problem.textContent = '';
    button.disabled = true;
    try {
      const answer = await call('/api/0/login', {
        method: 'POST',
        body: { user: user.value, password: password.value },
      });
      setCsrf(answer.csrf);
      onLogin(answer);
    } catch (error) {
      problem.textContent = error.status === 401 ? 'Wrong user name or password.' : error.message;
      password.select();
    } finally {
      button.disabled = false;
    }
  });
  return () => {};
}

function field(form, label, type, autocomplete) {
  const wrapper = el('label', null, label);
  const input = el('input');
  input.type = type;
  input.name = autocomplete === 'username' ? 'user' : 'password';
  input.required = true;
  input.autocomplete = autocomplete;
  wrapper.append(input);
  form.append(wrapper);
  return input;
}

// Log in / register. Two tabs (arrow keys move between them, as for any tablist);
// errors are announced by role="alert" paragraphs under each form.

import { login, register } from './api.js';
import { $ } from './dom.js';

export class AuthView {
  constructor({ onLoggedIn }) {
    this.onLoggedIn = onLoggedIn;
    const tabs = [$('tab-login'), $('tab-register')];
    tabs.forEach((tab, i) => {
      tab.addEventListener('click', () => this.select(tab.id === 'tab-login' ? 'login' : 'register'));
      tab.addEventListener('keydown', (event) => {
        if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
        const other = tabs[(i + 1) % 2];
        this.select(other.id === 'tab-login' ? 'login' : 'register');
        other.focus();
      });
    });
    $('login-form').addEventListener('submit', (event) => this.submitLogin(event));
    $('register-form').addEventListener('submit', (event) => this.submitRegister(event));
  }

  select(which) {
    const loginSelected = which === 'login';
    $('tab-login').setAttribute('aria-selected', String(loginSelected));
    $('tab-register').setAttribute('aria-selected', String(!loginSelected));
    $('tab-login').tabIndex = loginSelected ? 0 : -1;
    $('tab-register').tabIndex = loginSelected ? -1 : 0;
    $('login-form').hidden = !loginSelected;
    $('register-form').hidden = loginSelected;
  }

  show(message = '') {
    $('auth-view').hidden = false;
    this.select('login');
    $('login-error').textContent = message;
    $('login-password').value = '';
    $('login-email').focus();
  }

  hide() {
    $('auth-view').hidden = true;
  }

  async submitLogin(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const email = $('login-email').value.trim();
    const password = $('login-password').value;
    if (!email || !password) {
      $('login-error').textContent = 'Enter your email and password.';
      return;
    }
    await this.busy(form, async () => {
      const answer = await login(email, password);
      $('login-password').value = '';
      $('login-error').textContent = '';
      this.onLoggedIn(answer.user);
    }, $('login-error'));
  }

  async submitRegister(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const name = $('register-name').value.trim();
    const email = $('register-email').value.trim();
    const password = $('register-password').value;
    if (!name || !email || password.length < 10) {
      $('register-error').textContent = 'Enter your name, your email and a password of at least 10 characters.';
      return;
    }
    await this.busy(form, async () => {
      await register(email, password, name);
      const answer = await login(email, password);
      $('register-password').value = '';
      $('register-error').textContent = '';
      this.onLoggedIn(answer.user);
    }, $('register-error'));
  }

  async busy(form, work, errorNode) {
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    form.setAttribute('aria-busy', 'true');
    errorNode.textContent = '';
    try {
      await work();
    } catch (error) {
      errorNode.textContent = messageFor(error);
    } finally {
      button.disabled = false;
      form.setAttribute('aria-busy', 'false');
    }
  }
}

function messageFor(error) {
  switch (error.code) {
    case 'INVALID_CREDENTIALS': return 'Wrong email or password.';
    case 'EMAIL_TAKEN': return 'An account with this email exists: log in instead.';
    case 'WEAK_PASSWORD': return 'Choose a password of 10 to 1024 characters.';
    case 'RATE_LIMITED': return 'Too many attempts. Wait a minute and try again.';
    case 'NETWORK': return 'The shop cannot be reached. Check your connection and try again.';
    default: return error.message ? `${error.message[0].toUpperCase()}${error.message.slice(1)}.` : 'Something went wrong.';
  }
}

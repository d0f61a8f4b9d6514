// The tab's one socket to the hub (web-client-protocol.md §1, §6, §8).
//
// States: 'connecting' → 'live' (after hello) → 'offline' (closed; a reconnect is
// scheduled with exponential backoff and jitter) or 'reauth' (close 4001, or a
// handshake that failed while the session needed a refresh: POST /api/auth/refresh,
// then reconnect) or 'ended' (close 4003, a failed refresh, or stop()).
//
// Messages go to handlers by type (`on('hello', fn)`, `on('reply', fn)`,
// `on('cart.updated', fn)`; later features such as orders add their own types).

import { refreshSession } from './api.js';

const PROTOCOL = 'carthub.v1';
const CLOSE_TOKEN_EXPIRED = 4001;
const CLOSE_SESSION_ENDED = 4003;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30000;

export class Connection {
  constructor({ url = Connection.defaultURL(), onState = () => {}, onEnded = () => {} } = {}) {
    this.url = url;
    this.onState = onState;
    this.onEnded = onEnded;
    this.handlers = new Map();
    this.socket = null;
    this.state = 'idle';
    this.attempt = 0;
    this.retryTimer = null;
    this.retryAt = 0;
    this.connectionId = null;
    this.stopped = true;
    this.onOnline = () => { if (this.state === 'offline') this.connectNow(); };
  }

  static defaultURL() {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  }

  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(handler);
  }

  get isLive() { return this.state === 'live'; }

  start() {
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    this.open();
  }

  /** Closes for good (logout, or leaving the shop view). */
  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000, 'bye');
    this.setState('ended');
  }

  /** Sends a command if the socket is live; false otherwise (the caller uses REST). */
  send(command) {
    if (!this.isLive || !this.socket) return false;
    try {
      this.socket.send(JSON.stringify(command));
      return true;
    } catch {
      return false;
    }
  }

  /** Skips the remaining backoff (the user asked, or the network came back). */
  connectNow() {
    if (this.stopped || this.state === 'live' || this.state === 'connecting') return;
    clearTimeout(this.retryTimer);
    this.open();
  }

  setState(state, detail = {}) {
    this.state = state;
    this.onState(state, detail);
  }

  open() {
    if (this.stopped) return;
    this.setState('connecting', { attempt: this.attempt });
    let socket;
    try {
      socket = new WebSocket(this.url, PROTOCOL);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    let greeted = false;
    socket.addEventListener('message', (event) => {
      if (this.socket !== socket) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === 'hello') {
        greeted = true;
        this.attempt = 0;
        this.connectionId = message.connectionId;
        this.setState('live');
      }
      for (const handler of this.handlers.get(message.type) || []) handler(message);
    });
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.connectionId = null;
      if (this.stopped) return;
      this.closed(event.code, greeted);
    });
    // 'error' is always followed by 'close'.
  }

  async closed(code, greeted) {
    for (const handler of this.handlers.get('down') || []) handler();
    if (code === CLOSE_SESSION_ENDED) return this.end('You were logged out (on this or another device).');
    // A handshake the hub refused (401 among others) looks like 1006 before any hello:
    // refreshSession() asks /api/me first and refreshes only when the session needs it.
    if (code === CLOSE_TOKEN_EXPIRED || !greeted) {
      if (code === CLOSE_TOKEN_EXPIRED) this.setState('reauth');
      let ok;
      try {
        ok = await refreshSession(() => this.setState('reauth'));
      } catch {
        return this.scheduleRetry(); // the hub is unreachable: back off
      }
      if (this.stopped) return;
      if (!ok) return this.end('Your session has expired. Please log in again.');
      if (code === CLOSE_TOKEN_EXPIRED || this.state === 'reauth') return this.open();
    }
    this.scheduleRetry();
  }

  end(message) {
    this.stop();
    this.onEnded(message);
  }

  /** 0.5 s doubling to 30 s, each delay ±50 % at random. */
  scheduleRetry() {
    if (this.stopped) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.5 + Math.random()));
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), delay);
    this.setState('offline', { retryAt: this.retryAt });
  }
}

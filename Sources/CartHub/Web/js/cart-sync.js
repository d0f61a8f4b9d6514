// Keeps the CartModel in step with the hub: commands go over the socket when it is
// live and over REST otherwise (the requestId doubles as the Idempotency-Key, so a
// command sent both ways is still applied once); socket commands left without a reply
// when the socket drops are sent again over REST; commands that could not reach the
// hub at all wait and go again when the socket is back.

import { cartCommand } from './api.js';
import { newRequestId } from './dom.js';

const RETRYABLE = new Set(['UNAVAILABLE', 'RATE_LIMITED', 'SHUTTING_DOWN']);
const MAX_TRIES = 4;
/** While the socket is down the page asks for the cart itself this often. */
const POLL_MS = 4000;

export class CartSync {
  constructor({ connection, model, onError = () => {}, onCatalogChange = () => {}, onTransport = () => {} }) {
    this.connection = connection;
    this.model = model;
    this.onError = onError;
    this.onCatalogChange = onCatalogChange;
    this.onTransport = onTransport;

    this.pollTimer = null;
    connection.on('hello', (message) => {
      clearTimeout(this.pollTimer);
      this.pollTimer = null;
      model.takeSnapshot(message.cart, 'hello');
      this.flushQueued();
    });
    connection.on('reply', (message) => this.reply(message));
    connection.on('cart.updated', (message) => this.updated(message));
    connection.on('down', () => this.socketDown());
  }

  /** A user action: type is a socket command type; hint = {title, priceCents} for an add. */
  command(type, fields = {}, hint = null) {
    const requestId = newRequestId();
    const command = { type, requestId, ...fields };
    this.model.add(requestId, command, hint, 'ws');
    this.dispatch(requestId);
    return requestId;
  }

  dispatch(requestId) {
    const entry = this.model.pending.get(requestId);
    if (!entry) return;
    entry.tries += 1;
    if (this.connection.send(entry.command)) {
      entry.state = 'ws';
      return;
    }
    this.viaREST(requestId, entry);
  }

  async viaREST(requestId, entry) {
    entry.state = 'rest';
    try {
      const cart = await cartCommand(entry.command);
      this.model.takeIfNewer(cart, 'rest');
      this.model.settle(requestId);
      this.flushQueued(); // the hub answers again: what waited goes now
    } catch (error) {
      if (error.code === 'NETWORK') {
        // Nothing is known: keep the change shown and send it again once the hub answers.
        entry.state = 'queued';
        this.onTransport();
        return;
      }
      this.failed(requestId, entry, error.code, error.message);
    }
    this.onTransport();
  }

  /** Without a socket no event arrives: read the cart over REST now and then. */
  poll() {
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
    if (this.connection.isLive || this.connection.stopped) return;
    cartCommand({ type: 'cart.get' })
      .then((cart) => {
        if (!this.connection.isLive) this.model.takeIfNewer(cart, 'poll');
        this.flushQueued();
      })
      .catch(() => {})
      .finally(() => {
        if (!this.connection.isLive && !this.connection.stopped && !this.pollTimer) this.pollTimer = setTimeout(() => this.poll(), POLL_MS);
      });
  }

  stop() {
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }

  /** Commands that could not reach the hub yet. */
  get queued() {
    return [...this.model.pending.values()].some((entry) => entry.state === 'queued');
  }

  failed(requestId, entry, code, message) {
    if (RETRYABLE.has(code) && entry.tries < MAX_TRIES) {
      setTimeout(() => this.dispatch(requestId), 500 * entry.tries);
      return;
    }
    this.model.settle(requestId); // the rollback
    this.onError(code, message, entry.command);
  }

  reply(message) {
    const entry = this.model.pending.get(message.requestId);
    if (message.ok) {
      if (message.data?.cart) this.model.takeIfNewer(message.data.cart, 'reply');
      if (entry) this.model.settle(message.requestId);
      return;
    }
    if (!entry) return;
    this.failed(message.requestId, entry, message.error?.code, message.error?.message || 'the change was refused');
  }

  updated(message) {
    const { cart, origin = {} } = message;
    const before = this.model.confirmed;
    const resync = origin.via === 'resync';
    if (resync) {
      if (this.model.takeIfNewer(cart, 'resync') === false && !before) this.model.takeSnapshot(cart, 'resync');
    } else if (!this.model.takeIfNewer(cart, origin.via === 'catalog' ? 'catalog' : 'event')) {
      return; // older than (or the same as) what is shown
    }
    if (origin.requestId && this.model.pending.has(origin.requestId)) this.model.settle(origin.requestId);
    if (origin.via === 'catalog') this.onCatalogChange(origin, before, cart);
  }

  /** The socket closed: its unanswered commands go over REST now. */
  socketDown() {
    for (const [requestId, entry] of this.model.pending) {
      if (entry.state === 'ws') this.viaREST(requestId, entry);
    }
    this.poll();
  }

  flushQueued() {
    for (const [requestId, entry] of this.model.pending) {
      if (entry.state === 'queued') this.dispatch(requestId);
    }
    this.onTransport();
  }

  /** Anything not yet confirmed? */
  get busy() { return this.model.pending.size > 0; }
}

// The user's orders as the hub last told them (web-client-protocol.md §12), kept in
// step by `order.updated` from every device and cause (a socket, REST, the payment
// webhook, the expiry, an admin), and read again with `order.list` on every (re)connect
// because pub/sub may have dropped events meanwhile. Order commands go over the socket
// when it is live and over REST otherwise; a command left without a reply when the
// socket drops goes again over REST. A checkout keeps its idempotency key until the
// attempt resolves, so a retry (after a dropped socket, a timeout, a reload of the
// list) can only ever return the same order.

import { ApiError, demoPay, orderCommand } from './api.js';
import { newRequestId } from './dom.js';

const RETRYABLE = new Set(['UNAVAILABLE', 'RATE_LIMITED', 'SHUTTING_DOWN', 'NETWORK']);
const MAX_TRIES = 4;
const PAGE_SIZE = 10;
/** While the socket is down the page reads the orders itself this often. */
const POLL_MS = 4000;
/** Later statuses of one order rank higher (for two copies with the same updatedAt). */
const RANK = { PAYMENT_PENDING: 0, CONFIRMED: 1, CANCELLED: 1, EXPIRED: 1, SHIPPED: 2, DELIVERED: 3 };

/** True when `a` is a later state of the order than `b`. */
export function isNewerOrder(a, b) {
  if (!b) return true;
  if (a.updatedAt !== b.updatedAt) return a.updatedAt > b.updatedAt; // RFC 3339 UTC with ms: ordered as text
  return (RANK[a.status] ?? 0) > (RANK[b.status] ?? 0);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class OrderSync {
  constructor({ connection }) {
    this.connection = connection;
    this.orders = new Map(); // id → ORDER
    this.nextCursor = null;
    this.pages = 0; // pages of order.list taken (older pages stay when the first is read again)
    this.waiting = new Map(); // requestId → {command, resolve, reject} sent on the socket
    this.listeners = [];
    /** The idempotency key of the checkout in progress (or unresolved): reused by every retry. */
    this.checkoutKey = null;
    this.pollTimer = null;
    this.stopped = false;

    connection.on('hello', () => {
      clearTimeout(this.pollTimer);
      this.pollTimer = null;
      this.refresh();
    });
    connection.on('reply', (message) => this.reply(message));
    connection.on('order.updated', (message) => this.take(message.order, 'event'));
    connection.on('down', () => this.socketDown());
  }

  onChange(listener) { this.listeners.push(listener); }

  stop() {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    for (const entry of this.waiting.values()) entry.reject(new ApiError(0, 'NETWORK', 'signed out'));
    this.waiting.clear();
  }

  /** Orders newest first. */
  list() {
    return [...this.orders.values()].sort((a, b) => (a.createdAt !== b.createdAt ? (a.createdAt < b.createdAt ? 1 : -1) : (a.id < b.id ? 1 : -1)));
  }

  /** Keeps `order` if it is newer than the copy shown; tells the listeners what changed. */
  take(order, reason) {
    if (!order?.id) return false;
    const previous = this.orders.get(order.id) || null;
    if (previous && !isNewerOrder(order, previous)) return false;
    this.orders.set(order.id, order);
    for (const listener of this.listeners) listener({ order, previous, reason });
    return true;
  }

  // ---- user actions ----

  /** Checks the cart out; resolves to the ORDER or rejects with the hub's error (ApiError-like: code, message, details). */
  async checkout() {
    if (!this.checkoutKey) this.checkoutKey = newRequestId();
    const key = this.checkoutKey;
    try {
      const data = await this.perform('order.create', { idempotencyKey: key });
      this.take(data.order, 'created');
      if (this.checkoutKey === key) this.checkoutKey = null;
      return data.order;
    } catch (error) {
      // A refusal resolves the attempt (nothing was ordered). Unreachable or busy: the
      // outcome is unknown, so the next click sends the same key again.
      if (!RETRYABLE.has(error.code) && this.checkoutKey === key) this.checkoutKey = null;
      throw error;
    }
  }

  async cancel(orderId) {
    const data = await this.perform('order.cancel', { orderId });
    this.take(data.order, 'cancelled');
    return data.order;
  }

  /** Demo payments only: the hub drives its payment webhook for the order. */
  async pay(orderId) {
    const data = await this.retrying(() => demoPay(orderId));
    this.take(data.order, 'paid');
    return data.order;
  }

  /** The first page again (after a (re)connect, or while polling without a socket). */
  async refresh() {
    try {
      const data = await this.perform('order.list', { limit: PAGE_SIZE });
      if (this.pages <= 1) {
        this.nextCursor = data.nextCursor;
        this.pages = 1;
      }
      for (const order of data.orders) this.take(order, 'list');
      for (const listener of this.listeners) listener({ order: null, previous: null, reason: 'listed' });
    } catch {
      // The next (re)connect or poll reads it again.
    }
  }

  async loadMore() {
    if (!this.nextCursor) return;
    const data = await this.perform('order.list', { limit: PAGE_SIZE, cursor: this.nextCursor });
    this.nextCursor = data.nextCursor;
    this.pages += 1;
    for (const order of data.orders) this.take(order, 'list');
    for (const listener of this.listeners) listener({ order: null, previous: null, reason: 'listed' });
  }

  /** One order again (when its expiry passed and no event said so yet). */
  async reload(orderId) {
    try {
      const data = await this.perform('order.get', { orderId });
      this.take(data.order, 'reloaded');
    } catch {
      // The next event or list brings it.
    }
  }

  // ---- transport ----

  /** A command with retries of the transient errors; resolves to the reply's data. */
  perform(type, fields) {
    return this.retrying(() => this.request({ type, requestId: newRequestId(), ...fields }));
  }

  async retrying(attempt) {
    for (let tries = 1; ; tries += 1) {
      try {
        return await attempt();
      } catch (error) {
        if (!RETRYABLE.has(error.code) || tries >= MAX_TRIES || this.stopped) throw error;
        await sleep(500 * tries);
      }
    }
  }

  request(command) {
    return new Promise((resolve, reject) => {
      const entry = { command, resolve, reject };
      if (this.connection.send(command)) this.waiting.set(command.requestId, entry);
      else this.viaREST(entry);
    });
  }

  async viaREST(entry) {
    try {
      entry.resolve(await orderCommand(entry.command));
    } catch (error) {
      entry.reject(error);
    }
  }

  reply(message) {
    const entry = this.waiting.get(message.requestId);
    if (!entry) return; // not an order command of ours (the cart's replies share the socket)
    this.waiting.delete(message.requestId);
    if (message.ok) entry.resolve(message.data);
    else entry.reject(new ApiError(0, message.error?.code, message.error?.message || 'refused', message.error?.details ?? null));
  }

  /** The socket closed: unanswered commands go over REST now (a checkout with its same key), and the list is polled. */
  socketDown() {
    const left = [...this.waiting.values()];
    this.waiting.clear();
    for (const entry of left) this.viaREST(entry);
    this.poll();
  }

  poll() {
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
    if (this.stopped || this.connection.isLive || this.connection.stopped) return;
    this.refresh().finally(() => {
      if (!this.stopped && !this.connection.isLive && !this.connection.stopped && !this.pollTimer) this.pollTimer = setTimeout(() => this.poll(), POLL_MS);
    });
  }
}

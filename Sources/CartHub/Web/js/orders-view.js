// Checkout and orders: the cart panel's "Check out" button and its errors, the order
// view (lines, total, status, a countdown to the reservation's expiry, Pay (demo) and
// Cancel) and the orders list with live statuses. Everything shown comes from the
// OrderSync, which every device's changes reach, so the views never guess a status.
//
// Accessibility: the countdown is a role="timer" (not announced every second); status
// changes, whoever caused them, are announced once in a polite live region; refusals
// use role="alert".

import { $, el, syncList } from './dom.js';
import { formatCents, formatClock, formatCount, formatDateTime, formatDuration, itemsLabel } from './format.js';

export const STATUS_TEXT = {
  PAYMENT_PENDING: 'Awaiting payment',
  CONFIRMED: 'Confirmed',
  CANCELLED: 'Cancelled',
  EXPIRED: 'Expired',
  SHIPPED: 'Shipped',
  DELIVERED: 'Delivered',
};
const statusText = (status) => STATUS_TEXT[status] || status;
/** What a status means for the reader, under the order's status. */
const STATUS_NOTE = {
  CONFIRMED: 'Paid: the books are yours and left your cart.',
  CANCELLED: 'Cancelled: nothing was charged and the books were released.',
  EXPIRED: 'Not paid in time: the reservation ended and the books were released. They are still in your cart if you want to check out again.',
  SHIPPED: 'On its way.',
  DELIVERED: 'Delivered.',
};
/** After the countdown ran out, the page asks for the order itself if no event came within this. */
const EXPIRY_GRACE_MS = 3000;

export class OrdersView {
  /**
   * sync() is the signed-in session's OrderSync (or null); cart() the cart shown now;
   * bookTitle(id) a title the page knows from the catalog.
   */
  constructor({ sync, cart, bookTitle }) {
    this.sync = sync;
    this.cart = cart;
    this.bookTitle = bookTitle;
    this.demoPayments = false;
    this.selected = null; // order id shown in the order view
    this.rows = new Map(); // order id → {node, parts}
    this.checkingOut = false;
    this.acting = false; // a pay or cancel in flight
    this.timer = null;
    this.reloadAsked = null; // order id whose expiry we already asked about
    this.skewMs = null; // this device's clock minus the hub's (at most), from fresh events

    $('checkout').addEventListener('click', () => this.checkout());
    $('order-pay').addEventListener('click', () => this.act('pay'));
    $('order-cancel').addEventListener('click', () => this.act('cancel'));
    $('orders-more').addEventListener('click', async () => {
      $('orders-more').disabled = true;
      try {
        await this.sync()?.loadMore();
      } catch (error) {
        $('orders-status').textContent = `Could not load older orders: ${error.message}.`;
      } finally {
        $('orders-more').disabled = false;
      }
    });
    $('checkout-error-dismiss').addEventListener('click', () => { $('checkout-error').hidden = true; });
  }

  setDemoPayments(on) {
    this.demoPayments = !!on;
    this.renderDetail();
  }

  /** Signed out: nothing shown. */
  reset() {
    this.selected = null;
    this.reloadAsked = null;
    for (const { node } of this.rows.values()) node.remove();
    this.rows.clear();
    $('checkout-error').hidden = true;
    $('order-error').hidden = true;
    $('order-live').textContent = '';
    $('orders-status').textContent = '';
    this.render();
  }

  // ---- the cart panel ----

  renderCart(cart) {
    const button = $('checkout');
    const empty = !cart || cart.items.length === 0;
    button.disabled = empty || this.checkingOut;
    button.setAttribute('aria-busy', this.checkingOut ? 'true' : 'false');
    button.textContent = this.checkingOut ? 'Checking out…' : 'Check out';
  }

  async checkout() {
    const sync = this.sync();
    if (!sync || this.checkingOut) return;
    const before = this.cart(); // to name the books the error is about, even those that left the cart
    this.checkingOut = true;
    this.renderCart(this.cart());
    $('checkout-error').hidden = true;
    try {
      const order = await sync.checkout();
      this.select(order.id, { focus: true });
    } catch (error) {
      this.showCheckoutError(error, before);
    } finally {
      this.checkingOut = false;
      this.renderCart(this.cart());
    }
  }

  title(bookId, cart) {
    return cart?.items.find((l) => l.bookId === bookId)?.title || this.cart()?.items.find((l) => l.bookId === bookId)?.title
      || this.bookTitle(bookId) || bookId;
  }

  showCheckoutError(error, before) {
    const box = $('checkout-error');
    const text = $('checkout-error-text');
    const list = $('checkout-error-list');
    const details = error.details || {};
    const items = [];
    let message;
    switch (error.code) {
      case 'CART_EMPTY':
        message = 'Your cart is empty: add books before checking out.';
        break;
      case 'CART_CHANGED':
        message = 'The catalog changed since these books went into your cart, so nothing was ordered. Your cart shows the change now; review it and check out again:';
        for (const change of details.changes || []) {
          const name = `“${this.title(change.bookId, before)}”`;
          if (change.change === 'REMOVED') items.push(`${name} is no longer sold and left your cart.`);
          else if (change.change === 'REPRICED') items.push(`${name} now costs ${formatCents(change.unitPriceCents)} (was ${formatCents(change.oldUnitPriceCents)}).`);
          else items.push(`${name} changed.`);
        }
        break;
      case 'INSUFFICIENT_STOCK': {
        const name = `“${this.title(details.bookId, before)}”`;
        const wanted = before?.items.find((l) => l.bookId === details.bookId)?.quantity;
        const have = Number.isInteger(wanted) ? ` (your cart has ${formatCount(wanted)})` : '';
        message = details.available === 0
          ? `${name} is sold out for now${have}: remove it from your cart to check out.`
          : Number.isInteger(details.available)
            ? `Only ${formatCount(details.available)} of ${name} available${have}: lower the quantity to check out.`
            : `Not enough of ${name} in stock: ${error.message}.`;
        break;
      }
      case 'NETWORK':
      case 'UNAVAILABLE':
      case 'SHUTTING_DOWN':
      case 'RATE_LIMITED':
        message = `The order could not be placed right now (${error.message}). Try again: it continues the same checkout, so it is never ordered twice.`;
        break;
      default:
        message = `The order was not placed: ${error.message || 'refused'}.`;
    }
    text.textContent = message;
    list.replaceChildren(...items.map((item) => el('li', {}, item)));
    list.hidden = items.length === 0;
    box.dataset.code = error.code || '';
    box.hidden = false;
  }

  // ---- changes from the OrderSync ----

  changed({ order, previous, reason }) {
    if (order && (reason === 'event' || reason === 'created') && order.updatedAt) {
      // A change arrives a little after the hub stamped it: the smallest gap seen is the best
      // guess of how far this device's clock is off, so the countdown matches the hub's expiry.
      const skew = Date.now() - Date.parse(order.updatedAt);
      if (Number.isFinite(skew) && (this.skewMs === null || skew < this.skewMs)) this.skewMs = skew;
    }
    if (order) {
      const fresh = !previous && order.status === 'PAYMENT_PENDING';
      // A checkout on this device, or a new one on another device, becomes the order shown.
      if (reason === 'created' || (fresh && reason === 'event')) this.selected = order.id;
      if (previous && previous.status !== order.status) {
        // A reservation ended: the stock a refused checkout named may be back.
        if (previous.status === 'PAYMENT_PENDING' && $('checkout-error').dataset.code === 'INSUFFICIENT_STOCK') $('checkout-error').hidden = true;
        this.announce(`Order ${order.id} is now ${statusText(order.status).toLowerCase()}.`);
      } else if (fresh && reason !== 'list') {
        this.announce(`Order ${order.id} placed: ${formatCents(order.totalCents)}, awaiting payment.`);
      }
    } else if (reason === 'listed' && !this.selected) {
      // After the first read, show the newest order still awaiting payment, if any.
      this.selected = this.sync()?.list().find((o) => o.status === 'PAYMENT_PENDING')?.id || null;
    }
    this.render();
  }

  announce(text) {
    // The same text twice in a row would not be read again: make it differ.
    const region = $('order-live');
    region.textContent = region.textContent === text ? `${text}\u00a0` : text;
  }

  select(id, { focus = false } = {}) {
    this.selected = id;
    $('order-error').hidden = true;
    this.render();
    if (focus) {
      const detail = $('order-detail');
      detail.focus({ preventScroll: true });
      detail.scrollIntoView({ block: 'nearest' });
    }
  }

  // ---- rendering ----

  render() {
    this.renderList();
    this.renderDetail();
  }

  renderList() {
    const sync = this.sync();
    const orders = sync ? sync.list() : [];
    if (syncList($('orders-list'), this.rows, orders, (order) => order.id, (order) => this.createRow(order), (row, order) => this.updateRow(row, order))) {
      $('orders').focus();
    }
    $('orders-empty').hidden = orders.length > 0;
    $('orders-more').hidden = !sync?.nextCursor;
  }

  createRow(order) {
    const open = el('button', { type: 'button', class: 'order-open button-quiet', onclick: () => this.select(order.id, { focus: true }) });
    const id = el('span', { class: 'order-row-id' });
    const when = el('span', { class: 'order-row-when muted' });
    const summary = el('span', { class: 'order-row-summary' });
    const status = el('span', { class: 'status-badge' });
    open.append(id, when, summary);
    const node = el('li', { class: 'order-row', 'data-order-id': order.id }, open, status);
    return { node, parts: { open, id, when, summary, status } };
  }

  updateRow({ node, parts }, order) {
    const count = order.items.reduce((n, line) => n + line.quantity, 0);
    parts.id.textContent = order.id;
    parts.when.textContent = formatDateTime(order.createdAt);
    parts.summary.textContent = `${itemsLabel(count)}, ${formatCents(order.totalCents)}`;
    parts.status.textContent = statusText(order.status);
    parts.status.dataset.status = order.status;
    parts.open.setAttribute('aria-label', `Order ${order.id}, ${formatDateTime(order.createdAt)}, ${itemsLabel(count)}, ${formatCents(order.totalCents)}: ${statusText(order.status)}. Show it.`);
    node.dataset.status = order.status;
    if (order.id === this.selected) node.setAttribute('aria-current', 'true');
    else node.removeAttribute('aria-current');
  }

  renderDetail() {
    const order = this.selected ? this.sync()?.orders.get(this.selected) : null;
    const detail = $('order-detail');
    if (!order) {
      detail.hidden = true;
      detail.dataset.orderId = '';
      detail.dataset.status = '';
      this.stopTimer();
      return;
    }
    detail.hidden = false;
    detail.dataset.orderId = order.id;
    detail.dataset.status = order.status;
    $('order-id').textContent = order.id;
    $('order-created').textContent = `Placed ${formatDateTime(order.createdAt)}`;
    const badge = $('order-status');
    badge.textContent = statusText(order.status);
    badge.dataset.status = order.status;
    $('order-lines').replaceChildren(...order.items.map((line) => el('li', { class: 'order-line', 'data-book-id': line.bookId, 'data-quantity': String(line.quantity) },
      el('span', { class: 'line-title' }, line.title),
      el('span', { class: 'order-line-qty muted' }, `${formatCount(line.quantity)} × ${formatCents(line.unitPriceCents)}`),
      el('span', { class: 'line-total' }, formatCents(line.lineTotalCents)))));
    $('order-total').textContent = formatCents(order.totalCents);
    $('order-total').dataset.cents = String(order.totalCents);
    $('order-note').textContent = [STATUS_NOTE[order.status], order.paymentRef ? `Payment reference ${order.paymentRef}.` : ''].filter(Boolean).join(' ');
    $('order-note').hidden = !$('order-note').textContent;

    const pending = order.status === 'PAYMENT_PENDING';
    const pay = $('order-pay');
    const cancel = $('order-cancel');
    const focused = document.activeElement;
    pay.hidden = !(pending && this.demoPayments);
    cancel.hidden = !pending;
    pay.disabled = this.acting;
    cancel.disabled = this.acting;
    $('order-actions').hidden = !pending;
    $('order-pay-note').hidden = pay.hidden;
    // A button that went away (the order was paid, cancelled or expired elsewhere) leaves focus on the order.
    if ((focused === pay || focused === cancel) && focused.hidden) detail.focus({ preventScroll: true });

    if (pending) this.startTimer();
    else this.stopTimer();
    this.tick();
  }

  startTimer() {
    if (!this.timer) this.timer = setInterval(() => this.tick(), 1000);
  }

  stopTimer() {
    clearInterval(this.timer);
    this.timer = null;
  }

  /** The countdown: visible text updated every second, never announced (role="timer"). */
  tick() {
    const node = $('order-countdown');
    const order = this.selected ? this.sync()?.orders.get(this.selected) : null;
    if (!order || order.status !== 'PAYMENT_PENDING' || !order.expiresAt) {
      node.hidden = true;
      node.textContent = '';
      delete node.dataset.seconds;
      return;
    }
    const left = Date.parse(order.expiresAt) - (Date.now() - (this.skewMs ?? 0));
    const seconds = Math.max(0, Math.ceil(left / 1000));
    node.hidden = false;
    node.dataset.seconds = String(seconds);
    node.textContent = seconds > 0
      ? `Books reserved for ${formatDuration(seconds)}: pay by ${formatClock(order.expiresAt)}.`
      : 'The reservation time is up; the shop is releasing the books…';
    if (left < -EXPIRY_GRACE_MS && this.reloadAsked !== order.id) {
      this.reloadAsked = order.id;
      this.sync()?.reload(order.id);
    }
  }

  async act(what) {
    const sync = this.sync();
    const id = this.selected;
    if (!sync || !id || this.acting) return;
    this.acting = true;
    $('order-error').hidden = true;
    this.renderDetail();
    try {
      if (what === 'pay') await sync.pay(id);
      else await sync.cancel(id);
    } catch (error) {
      const order = sync.orders.get(id);
      let message;
      switch (error.code) {
        case 'LATE_PAYMENT': message = 'Too late to pay: the order was already cancelled or expired, and its books released. Nothing was charged.'; break;
        case 'ILLEGAL_TRANSITION': message = `This order can no longer be ${what === 'pay' ? 'paid' : 'cancelled'}: it is ${statusText(error.details?.status || order?.status).toLowerCase()}.`; break;
        case 'ORDER_NOT_FOUND': message = 'This order no longer exists.'; break;
        default: message = `Could not ${what === 'pay' ? 'pay' : 'cancel'} the order: ${error.message}.`;
      }
      $('order-error').textContent = message;
      $('order-error').dataset.code = error.code || '';
      $('order-error').hidden = false;
      if (error.code === 'ILLEGAL_TRANSITION' || error.code === 'LATE_PAYMENT') sync.reload(id);
    } finally {
      this.acting = false;
      this.renderDetail();
    }
  }
}

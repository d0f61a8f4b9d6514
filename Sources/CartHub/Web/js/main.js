// The shop page: signed out it shows AuthView; signed in it opens the tab's one
// Connection and shows the catalog, the cart (CartModel + CartSync + CartView) and the
// orders (OrderSync + OrdersView: checkout, the order with its countdown, pay (demo)
// and cancel, the orders list). Each model is fed by `connection.on('<type>', …)`
// handlers and is created in enterShop() and dropped in leaveShop().

import * as api from './api.js';
import { AuthView } from './auth-view.js';
import { CartModel } from './cart-model.js';
import { CartSync } from './cart-sync.js';
import { CartView } from './cart-view.js';
import { CatalogView } from './catalog-view.js';
import { Connection } from './connection.js';
import { $, el } from './dom.js';
import { formatCents } from './format.js';
import { OrderSync } from './order-sync.js';
import { OrdersView } from './orders-view.js';

const STATE_TEXT = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  live: 'Live',
  offline: 'Offline, reconnecting…',
  reauth: 'Re-authenticating…',
  ended: 'Signed out',
};

let shop = null; // {connection, model, sync, orders} while signed in

const auth = new AuthView({ onLoggedIn: (user) => enterShop(user) });
const cartView = new CartView({ command: (...args) => shop?.sync.command(...args), view: () => shop?.model.view() ?? null });
const catalogView = new CatalogView({
  onAdd: (book) => shop?.sync.command('cart.add', { bookId: book.id, quantity: 1 }, { title: book.title, priceCents: book.priceCents }),
});
const ordersView = new OrdersView({
  sync: () => shop?.orders ?? null,
  cart: () => shop?.model.view() ?? null,
  bookTitle: (bookId) => catalogView.known.get(bookId)?.title,
});

$('logout').addEventListener('click', async () => {
  $('logout').disabled = true;
  try {
    await api.logout();
  } catch {
    // Already logged out, or unreachable: the page forgets the session either way.
  } finally {
    $('logout').disabled = false;
  }
  leaveShop('You are logged out.');
});

boot();

async function boot() {
  let user = null;
  try {
    user = await api.me();
  } catch (error) {
    if (error.status === 401) {
      try {
        if (await api.refreshSession()) user = await api.me();
      } catch {
        user = null;
      }
    } else {
      $('boot').textContent = 'The shop cannot be reached right now. Reload the page to try again.';
      return;
    }
  }
  $('boot').hidden = true;
  if (user) enterShop(user);
  else auth.show();
  // Whether the hub takes demo payments (the Pay button); without an answer, no Pay button.
  api.config().then((config) => ordersView.setDemoPayments(config?.demoPayments === true), () => ordersView.setDemoPayments(false));
}

function enterShop(user) {
  if (shop) leaveShop();
  auth.hide();
  $('boot').hidden = true;
  $('account-name').textContent = user.name || user.email;
  $('account').hidden = false;
  $('conn').hidden = false;
  $('shop-view').hidden = false;

  const connection = new Connection({ onState: showState, onEnded: (message) => leaveShop(message) });
  const model = new CartModel();
  const sync = new CartSync({ connection, model, onError: showError, onCatalogChange: showCatalogChange, onTransport: showTransport });
  const orders = new OrderSync({ connection });
  model.onChange((cart, reason) => {
    cartView.render(cart, reason);
    ordersView.renderCart(cart);
  });
  orders.onChange((change) => ordersView.changed(change));
  shop = { connection, model, sync, orders };
  cartView.render(null);
  ordersView.reset();
  connection.start();
  catalogView.search('');
  $('main').focus();
}

function leaveShop(message) {
  if (shop) {
    const { connection, model, sync, orders } = shop;
    shop = null;
    connection.stop();
    sync.stop();
    orders.stop();
    model.reset();
    cartView.render(null);
    ordersView.reset();
    ordersView.renderCart(null);
    $('notices').replaceChildren();
    $('cart-error').hidden = true;
  }
  $('shop-view').hidden = true;
  $('account').hidden = true;
  $('conn').hidden = true;
  $('transport-note').hidden = true;
  $('transport-note').dataset.mode = 'ws';
  if (message !== undefined) auth.show(message);
}

function showState(state) {
  const node = $('conn');
  node.dataset.state = state;
  $('conn-text').textContent = STATE_TEXT[state] || state;
  showTransport();
}

/** Says how changes travel while the socket is not live, or that they wait for the hub. */
function showTransport() {
  const note = $('transport-note');
  if (!shop) return;
  const queued = shop.sync.queued;
  const mode = queued ? 'queued' : shop.connection.isLive ? 'ws' : 'rest';
  if (note.dataset.mode === mode && !note.hidden === (mode !== 'ws')) return;
  note.dataset.mode = mode;
  note.hidden = mode === 'ws';
  if (mode === 'ws') return;
  note.replaceChildren(mode === 'queued'
    ? 'The shop cannot be reached. Your changes are kept and sent as soon as it answers again.'
    : 'Live updates are paused: your changes are sent directly over HTTP, and the cart and orders are refreshed every few seconds. ',
  shop.connection.isLive ? '' : el('button', { type: 'button', class: 'button-quiet', onclick: () => shop?.connection.connectNow() }, 'Reconnect now'));
}

let errorTimer = null;
function showError(code, message, command) {
  const node = $('cart-error');
  // The hub names books by id; the reader knows them by title.
  const title = command?.bookId && (shop?.model.view()?.items.find((l) => l.bookId === command.bookId)?.title || catalogView.known.get(command.bookId)?.title);
  if (message && title) message = message.split(command.bookId).join(`“${title}”`);
  const text = message ? `${message[0].toUpperCase()}${message.slice(1)}.` : 'That change was refused.';
  node.textContent = `Not changed: ${text}`;
  node.dataset.code = code || '';
  node.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { node.hidden = true; }, 8000);
}

function showCatalogChange(origin, before, after) {
  const line = after.items.find((l) => l.bookId === origin.bookId);
  const old = before?.items.find((l) => l.bookId === origin.bookId);
  const title = line?.title || old?.title || origin.bookId;
  let text;
  switch (origin.reason) {
    case 'BOOK_CHANGED':
      text = old && line && old.unitPriceCents !== line.unitPriceCents
        ? `The price of “${title}” changed from ${formatCents(old.unitPriceCents)} to ${formatCents(line.unitPriceCents)}.`
        : `“${title}” was updated in the catalog${old && line && old.title !== line.title ? ` (was “${old.title}”)` : ''}.`;
      break;
    case 'BOOK_DELETED':
      text = `“${title}” is no longer sold and left your cart.`;
      break;
    case 'STOCK_CHANGED':
      text = Number.isInteger(line?.available)
        ? `Only ${line.available} of “${title}” left in stock.`
        : `“${title}” is back in stock.`;
      break;
    default:
      text = `The catalog changed “${title}”.`;
  }
  catalogView.load({ quiet: true }); // the page of books shows the new price, title or stock too
  const notice = el('p', { class: 'notice', 'data-reason': origin.reason || '', 'data-book-id': origin.bookId || '' }, text);
  const dismiss = el('button', { type: 'button', class: 'button-quiet notice-dismiss', 'aria-label': 'Dismiss notice', onclick: () => notice.remove() }, '×');
  notice.append(dismiss);
  const list = $('notices');
  list.append(notice);
  while (list.children.length > 3) list.firstElementChild.remove();
  setTimeout(() => notice.remove(), 15000);
}

// The cart panel: one <li> per line, kept (not rebuilt) across renders so keyboard
// focus stays on the button being pressed; totals from integer cents; a polite live
// region announces every change, whichever device made it.

import { $, el, syncList } from './dom.js';
import { formatCents, formatCount, itemsLabel } from './format.js';

export class CartView {
  /** command(type, fields) sends a cart command; view() is the cart shown now. */
  constructor({ command, view }) {
    this.command = command;
    this.view = view;
    this.lines = new Map(); // bookId → {node, parts}
    this.list = $('cart-lines');
    this.lastAnnounced = '';
    $('cart-clear').addEventListener('click', () => {
      if (this.view()?.items.length) this.command('cart.clear');
    });
  }

  render(cart, reason) {
    const items = cart ? cart.items : [];
    const focusLost = syncList(this.list, this.lines, items, (line) => line.bookId, (line) => this.createLine(line), (entry, line) => this.updateLine(entry, line));
    if (focusLost) $('cart').focus();

    const count = cart ? cart.itemCount : 0;
    const total = cart ? formatCents(cart.totalCents) : '–';
    $('cart-empty').hidden = items.length > 0;
    $('cart-count').textContent = formatCount(count);
    $('cart-total').textContent = total;
    $('cart-total').dataset.cents = cart ? String(cart.totalCents) : '';
    $('cart-clear').disabled = items.length === 0;
    const panel = $('cart');
    panel.dataset.epoch = cart ? String(cart.epoch) : '';
    panel.dataset.version = cart ? String(cart.version) : '';
    panel.setAttribute('aria-busy', cart?.optimistic ? 'true' : 'false');
    $('cart-jump-summary').textContent = items.length ? `${itemsLabel(count)}, ${total}` : 'empty';

    // Announce confirmed changes only (an optimistic step is followed by its confirmation).
    if (cart && reason !== 'optimistic' && reason !== 'settled') {
      const text = items.length ? `Cart updated: ${itemsLabel(count)}, total ${total}.` : 'Cart is empty.';
      if (text !== this.lastAnnounced) {
        this.lastAnnounced = text;
        $('cart-live').textContent = text;
      }
    }
  }

  createLine(line) {
    const title = el('span', { class: 'line-title' });
    const unit = el('span', { class: 'line-unit muted' });
    const dec = el('button', { type: 'button', class: 'qty-dec', onclick: () => this.change(line.bookId, -1) }, '−');
    const value = el('output', { class: 'qty-value' });
    const inc = el('button', { type: 'button', class: 'qty-inc', onclick: () => this.change(line.bookId, +1) }, '+');
    const qty = el('div', { class: 'qty', role: 'group' }, dec, value, inc);
    const total = el('span', { class: 'line-total' });
    const remove = el('button', { type: 'button', class: 'line-remove button-quiet', onclick: () => this.command('cart.remove', { bookId: line.bookId }) }, 'Remove');
    const warning = el('p', { class: 'line-warning', hidden: true });
    const node = el('li', { class: 'line', 'data-book-id': line.bookId },
      el('div', { class: 'line-main' }, title, unit), qty, total, remove, warning);
    return { node, parts: { title, unit, dec, value, inc, qty, total, remove, warning } };
  }

  updateLine({ node, parts }, line) {
    const name = line.title;
    parts.title.textContent = name;
    parts.unit.textContent = `${formatCents(line.unitPriceCents)} each`;
    parts.value.textContent = formatCount(line.quantity);
    parts.total.textContent = formatCents(line.lineTotalCents);
    parts.qty.setAttribute('aria-label', `Quantity of ${name}`);
    parts.dec.setAttribute('aria-label', line.quantity > 1 ? `One fewer ${name}` : `Remove ${name}`);
    parts.inc.setAttribute('aria-label', `One more ${name}`);
    parts.remove.setAttribute('aria-label', `Remove ${name} from the cart`);
    node.dataset.quantity = String(line.quantity);
    node.dataset.pending = line.pending ? 'true' : 'false';
    const short = Number.isInteger(line.available);
    parts.inc.disabled = short;
    parts.warning.hidden = !short;
    node.classList.toggle('short', short);
    if (short) {
      parts.warning.textContent = line.available === 0
        ? 'Out of stock: remove it to check out.'
        : `Only ${formatCount(line.available)} in stock: lower the quantity to check out.`;
      node.dataset.available = String(line.available);
    } else {
      delete node.dataset.available;
    }
  }

  change(bookId, delta) {
    const line = this.view()?.items.find((l) => l.bookId === bookId);
    if (!line) return;
    if (delta > 0) this.command('cart.add', { bookId, quantity: 1 });
    else this.command('cart.setQuantity', { bookId, quantity: Math.max(0, line.quantity - 1) });
  }
}

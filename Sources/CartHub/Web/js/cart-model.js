// The cart as the page shows it: the newest cart the hub confirmed (compared by
// (epoch, version), web-client-protocol.md §5) with this tab's unconfirmed commands
// applied on top (optimistic). A command leaves the overlay when its reply, its
// cart.updated or its REST answer arrives; an error removes it, which is the rollback.

export function compareCarts(a, b) {
  if (!a) return b ? -1 : 0;
  if (!b) return 1;
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  if (a.version !== b.version) return a.version < b.version ? -1 : 1;
  return 0;
}

export class CartModel {
  constructor() {
    this.confirmed = null;
    /** requestId → {command, hint, state: 'ws'|'rest'|'queued', tries} in send order */
    this.pending = new Map();
    this.listeners = [];
  }

  onChange(listener) { this.listeners.push(listener); }

  changed(reason) {
    for (const listener of this.listeners) listener(this.view(), reason);
  }

  reset() {
    this.confirmed = null;
    this.pending.clear();
  }

  /** hello (and resync): the truth, whatever was shown. */
  takeSnapshot(cart, reason = 'snapshot') {
    this.confirmed = cart;
    this.changed(reason);
  }

  /** An event or answer: taken only when newer than what is shown. */
  takeIfNewer(cart, reason) {
    if (compareCarts(cart, this.confirmed) <= 0) return false;
    this.confirmed = cart;
    this.changed(reason);
    return true;
  }

  add(requestId, command, hint, state) {
    this.pending.set(requestId, { command, hint, state, tries: 0 });
    this.changed('optimistic');
  }

  /** The command is settled (done or failed): its overlay goes. */
  settle(requestId) {
    if (!this.pending.delete(requestId)) return false;
    this.changed('settled');
    return true;
  }

  /** The displayed cart: confirmed + overlay, with `pending` on the lines it touches. */
  view() {
    const base = this.confirmed;
    if (!base) return null;
    const lines = new Map(base.items.map((line) => [line.bookId, { ...line, pending: false }]));
    for (const { command, hint } of this.pending.values()) {
      const line = lines.get(command.bookId);
      switch (command.type) {
        case 'cart.add':
          if (line) {
            line.quantity += command.quantity;
            line.pending = true;
          } else if (hint) {
            lines.set(command.bookId, { bookId: command.bookId, title: hint.title, unitPriceCents: hint.priceCents, quantity: command.quantity, pending: true });
          }
          break;
        case 'cart.setQuantity':
          if (line && command.quantity === 0) lines.delete(command.bookId);
          else if (line) { line.quantity = command.quantity; line.pending = true; }
          break;
        case 'cart.remove':
          lines.delete(command.bookId);
          break;
        case 'cart.clear':
          lines.clear();
          break;
        default:
          break;
      }
    }
    const items = [...lines.values()].sort((a, b) => (a.bookId < b.bookId ? -1 : a.bookId > b.bookId ? 1 : 0));
    let totalCents = 0;
    let itemCount = 0;
    for (const line of items) {
      line.lineTotalCents = line.unitPriceCents * line.quantity;
      totalCents += line.lineTotalCents;
      itemCount += line.quantity;
    }
    return { ...base, items, totalCents, itemCount, optimistic: this.pending.size > 0 };
  }
}

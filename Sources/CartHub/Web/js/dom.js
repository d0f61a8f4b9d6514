// Tiny DOM helpers: elements are built with textContent only (never innerHTML), so
// titles and messages from the server can never become markup.

export const $ = (id) => document.getElementById(id);

/** el('li', {class: 'x', 'data-book-id': id}, child, 'text', …) */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function show(node, visible) {
  node.hidden = !visible;
}

/** A unique id for a command (also its Idempotency-Key over REST). */
export function newRequestId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Keeps `list`'s children in step with `items` by key, reusing each item's node (so
 * keyboard focus stays on a button being pressed): `rows` maps key → {node, …} made by
 * create(item) and refreshed by update(row, item). Returns true when a removed node
 * held the focus.
 */
export function syncList(list, rows, items, key, create, update) {
  const seen = new Set();
  items.forEach((item, index) => {
    const id = key(item);
    seen.add(id);
    let row = rows.get(id);
    if (!row) {
      row = create(item);
      rows.set(id, row);
    }
    update(row, item);
    if (list.children[index] !== row.node) list.insertBefore(row.node, list.children[index] || null);
  });
  let focusLost = false;
  for (const [id, row] of rows) {
    if (seen.has(id)) continue;
    if (row.node.contains(document.activeElement)) focusLost = true;
    row.node.remove();
    rows.delete(id);
  }
  return focusLost;
}

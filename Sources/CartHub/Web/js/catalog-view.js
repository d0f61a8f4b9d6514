// The catalog: search by title or author, cursor paging (web-client-protocol.md §10.2),
// an "Add to cart" button per book.

import { books } from './api.js';
import { $, el } from './dom.js';
import { formatCents, formatCount } from './format.js';

const PAGE_SIZE = 10;

export class CatalogView {
  constructor({ onAdd }) {
    this.onAdd = onAdd;
    this.query = '';
    this.cursors = [null]; // cursor of each page seen; the last is the current page's
    this.next = null;
    this.loading = 0;
    this.known = new Map(); // bookId → BOOK (titles and prices for optimistic lines)
    let debounce = null;
    $('search-form').addEventListener('submit', (event) => {
      event.preventDefault();
      clearTimeout(debounce);
      this.search($('search').value.trim());
    });
    $('search').addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.search($('search').value.trim()), 300);
    });
    $('page-next').addEventListener('click', () => {
      if (!this.next) return;
      this.cursors.push(this.next);
      this.load();
    });
    $('page-prev').addEventListener('click', () => {
      if (this.cursors.length < 2) return;
      this.cursors.pop();
      this.load();
    });
  }

  search(query) {
    this.query = query;
    this.cursors = [null];
    this.load();
  }

  /** The current page again; `quiet` (a refresh the reader did not ask for) says nothing while loading. */
  async load({ quiet = false } = {}) {
    const ticket = ++this.loading;
    const status = $('catalog-status');
    if (!quiet) status.textContent = 'Loading books…';
    $('books').setAttribute('aria-busy', 'true');
    try {
      const page = await books({ query: this.query, cursor: this.cursors[this.cursors.length - 1], limit: PAGE_SIZE });
      if (ticket !== this.loading) return;
      this.next = page.nextCursor;
      this.render(page.items);
      const pageNumber = this.cursors.length;
      status.textContent = page.items.length === 0
        ? (this.query ? `No books match “${this.query}”.` : 'The catalog is empty.')
        : `Page ${pageNumber}: ${page.items.length} ${page.items.length === 1 ? 'book' : 'books'}${this.query ? ` matching “${this.query}”` : ''}.`;
    } catch (error) {
      if (ticket !== this.loading) return;
      status.textContent = `Could not load books: ${error.message}.`;
    } finally {
      if (ticket === this.loading) $('books').setAttribute('aria-busy', 'false');
      $('page-prev').disabled = this.cursors.length < 2;
      $('page-next').disabled = !this.next;
      $('page-label').textContent = `Page ${this.cursors.length}`;
    }
  }

  render(items) {
    const list = $('books');
    list.replaceChildren(...items.map((book) => {
      this.known.set(book.id, book);
      const out = book.stock <= 0;
      return el('li', { class: 'book', 'data-book-id': book.id },
        el('div', { class: 'book-text' },
          el('span', { class: 'book-title' }, book.title),
          el('span', { class: 'book-author muted' }, book.author)),
        el('span', { class: 'book-price' }, formatCents(book.priceCents)),
        el('span', { class: `book-stock${out ? ' out' : ''}` }, out ? 'Out of stock' : `${formatCount(book.stock)} in stock`),
        el('button', {
          type: 'button', class: 'add button-primary', disabled: out,
          'aria-label': `Add ${book.title} to the cart`,
          onclick: () => this.onAdd(book),
        }, 'Add'));
    }));
  }
}

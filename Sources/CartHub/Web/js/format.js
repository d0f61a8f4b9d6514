// Money is integer cents everywhere; only this module turns it into text, in the
// reader's locale and the store's currency (<meta name="carthub-currency">).

const currency = document.querySelector('meta[name="carthub-currency"]')?.content || 'USD';
const locales = navigator.languages && navigator.languages.length ? navigator.languages : undefined;
const money = new Intl.NumberFormat(locales, { style: 'currency', currency });
const digits = money.resolvedOptions().maximumFractionDigits;
const count = new Intl.NumberFormat(locales);

/** "$12.99" (or "12,99 €"…) from 1299. Exact for any safe integer of cents. */
export function formatCents(cents) {
  if (!Number.isSafeInteger(cents)) return '–';
  // Scale the integer once; the formatter only rounds to the currency's digits.
  return money.format(digits === 0 ? Math.round(cents / 100) : cents / 100);
}

export function formatCount(n) {
  return count.format(n);
}

/** "3 items" */
export function itemsLabel(n) {
  return `${formatCount(n)} ${n === 1 ? 'item' : 'items'}`;
}

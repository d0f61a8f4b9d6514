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

const dateTime = new Intl.DateTimeFormat(locales, { dateStyle: 'medium', timeStyle: 'short' });
const clock = new Intl.DateTimeFormat(locales, { timeStyle: 'short' });

/** "Nov 27, 2026, 10:15 AM" from an RFC 3339 string. */
export function formatDateTime(text) {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? '' : dateTime.format(date);
}

/** "10:15 AM" from an RFC 3339 string. */
export function formatClock(text) {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? '' : clock.format(date);
}

/** "14:59" or "1:02:03" from whole seconds (never negative). */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n) => String(n).padStart(2, '0');
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return hours ? `${hours}:${two(minutes)}:${two(s % 60)}` : `${minutes}:${two(s % 60)}`;
}

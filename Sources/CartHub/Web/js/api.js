// REST calls to the hub that served this page (same origin: the HttpOnly cookies go
// along by themselves; the page never sees a token). Errors come back as ApiError
// with the hub's code, message and details (web-client-protocol.md §4), or code
// NETWORK when the hub could not be reached.

export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

async function call(method, path, { body, idempotencyKey } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiError(0, 'NETWORK', 'the shop cannot be reached');
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const code = data?.error?.code || `HTTP_${response.status}`;
    const message = data?.error?.message || `the shop answered ${response.status}`;
    throw new ApiError(response.status, code, message, data?.error?.details ?? null);
  }
  return data;
}

// ---- accounts (§11) ----

export const register = (email, password, name) => call('POST', '/api/auth/register', { body: { email, password, name } });
export const login = (email, password) => call('POST', '/api/auth/login', { body: { email, password } });
export const logout = () => call('POST', '/api/auth/logout');
export const me = () => call('GET', '/api/me');

/** The hub's settings for this page: {demoPayments} (§9). Public. */
export const config = () => call('GET', '/api/config');

let refreshing = null;

/**
 * New access (and refresh) cookies from the refresh cookie. Resolves true when the
 * session is good again, false when it is over (log in again). One refresh at a time
 * in this tab, and across tabs where the browser has Web Locks: refresh tokens rotate,
 * and a second tab presenting the token the first just retired would revoke the
 * session. Under the lock, a session another tab already refreshed is left alone.
 */
export function refreshSession(onRefreshing = () => {}) {
  if (!refreshing) {
    const run = async () => {
      try {
        await me();
        return true; // still valid, or another tab refreshed the shared cookies meanwhile
      } catch (error) {
        if (error.status !== 401) throw error; // unreachable, busy or draining: not a session problem
      }
      onRefreshing();
      try {
        await call('POST', '/api/auth/refresh');
        return true;
      } catch (error) {
        if (error.status === 401 || error.status === 403) return false;
        throw error;
      }
    };
    const locked = navigator.locks?.request ? navigator.locks.request('carthub-refresh', run) : run();
    refreshing = locked.finally(() => { refreshing = null; });
  }
  return refreshing;
}

// ---- catalog (§10.2) ----

export function books({ query = '', cursor = null, limit = 10 } = {}) {
  const params = new URLSearchParams();
  if (query) params.set('query', query);
  if (cursor) params.set('cursor', cursor);
  params.set('limit', String(limit));
  return call('GET', `/api/books?${params}`);
}

// ---- the cart over REST (§10.1): what the page uses while its socket is down ----

/** Sends one socket-shaped command over REST; resolves to the CART. */
export function cartCommand(command) {
  return withSession(() => {
    const key = command.requestId;
    switch (command.type) {
      case 'cart.get': return call('GET', '/api/cart');
      case 'cart.add': return call('POST', '/api/cart/items', { body: { bookId: command.bookId, quantity: command.quantity }, idempotencyKey: key });
      case 'cart.setQuantity': return call('PATCH', `/api/cart/items/${encodeURIComponent(command.bookId)}`, { body: { quantity: command.quantity }, idempotencyKey: key });
      case 'cart.remove': return call('DELETE', `/api/cart/items/${encodeURIComponent(command.bookId)}`, { idempotencyKey: key });
      case 'cart.clear': return call('DELETE', '/api/cart', { idempotencyKey: key });
      default: return Promise.reject(new ApiError(0, 'BAD_REQUEST', `unknown command ${command.type}`));
    }
  });
}

// ---- orders (§12): what the page uses while its socket is down ----

/** Sends one socket-shaped order command over REST; resolves to what its reply's `data` would be. */
export function orderCommand(command) {
  const order = (id) => `/api/orders/${encodeURIComponent(id)}`;
  return withSession(() => {
    switch (command.type) {
      // The same idempotencyKey as on the socket: a checkout sent both ways is one order.
      case 'order.create': return call('POST', '/api/orders', { idempotencyKey: command.idempotencyKey });
      case 'order.cancel': return call('POST', `${order(command.orderId)}/cancel`);
      case 'order.get': return call('GET', order(command.orderId));
      case 'order.list': {
        const params = new URLSearchParams({ limit: String(command.limit ?? 20) });
        if (command.cursor) params.set('cursor', command.cursor);
        return call('GET', `/api/orders?${params}`);
      }
      default: return Promise.reject(new ApiError(0, 'BAD_REQUEST', `unknown command ${command.type}`));
    }
  });
}

/** Demo only (CARTHUB_DEMO_PAYMENTS): the hub pays the order through its payment webhook; resolves to {order}. */
export const demoPay = (orderId) => withSession(() => call('POST', `/api/demo/pay/${encodeURIComponent(orderId)}`));

/** Runs `send`; after a 401 refreshes the session once and sends again (the same Idempotency-Key: applied at most once). */
async function withSession(send) {
  try {
    return await send();
  } catch (error) {
    if (error.status !== 401) throw error;
    if (!(await refreshSession())) throw error;
    return send();
  }
}

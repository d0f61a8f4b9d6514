-- Orders (issue #5). Stock truth: books.stock is the on-hand stock, decremented in
-- the transaction that confirms an order. Redis keeps the available counters and the
-- reservations of PAYMENT_PENDING orders (lua/stock.lua); for every book
-- books.stock = Redis available + the quantities reserved for it.

create table orders (
    -- `o-` and random base36.
    id              text primary key check (length(id) between 1 and 64),
    user_id         text not null check (length(user_id) between 1 and 64),
    -- The client's Idempotency-Key (REST) or idempotencyKey (socket): one order per key and user.
    idempotency_key text not null check (length(idempotency_key) between 1 and 64),
    status          text not null check (status in ('PAYMENT_PENDING', 'CONFIRMED', 'CANCELLED', 'EXPIRED', 'SHIPPED', 'DELIVERED')),
    total_cents     bigint not null check (total_cents >= 0),
    payment_ref     text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    -- When an unpaid order expires and its reservation is released.
    expires_at      timestamptz not null,
    unique (user_id, idempotency_key)
);

create index orders_user_created on orders (user_id, created_at desc, id desc);
create index orders_status_created on orders (status, created_at desc, id desc);
create index orders_created on orders (created_at desc, id desc);

create table order_items (
    order_id         text not null references orders (id) on delete cascade,
    book_id          text not null,
    -- Title and price as ordered.
    title            text not null,
    unit_price_cents bigint not null check (unit_price_cents >= 0),
    quantity         int not null check (quantity > 0),
    primary key (order_id, book_id)
);

-- Every admin or import change of books.stock (and a new book's whole stock), written
-- in the transaction that changes the stock; `carthub worker` applies them to the Redis
-- available counters exactly once (the cursor lives in Redis, see lua/stock.lua).
-- Catalog writers serialize on an advisory lock, so ids commit in order.
create table stock_adjustments (
    id         bigserial primary key,
    book_id    text not null,
    delta      bigint not null,
    created_at timestamptz not null default now()
);

-- A payment that succeeded for an order already EXPIRED or CANCELLED: to refund.
create table late_payments (
    id                bigserial primary key,
    order_id          text not null references orders (id),
    payment_ref       text not null,
    status_at_arrival text not null,
    received_at       timestamptz not null default now(),
    refunded_at       timestamptz,
    unique (order_id, payment_ref)
);

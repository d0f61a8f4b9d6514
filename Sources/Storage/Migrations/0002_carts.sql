-- Durable copies of carts (Redis is the primary store) and the stream entries
-- the persistence worker could not apply.

create table carts (
    user_id     text primary key,
    -- epoch/version mirror the Redis cart so a stale write can be recognized and dropped.
    epoch       bigint not null,
    version     bigint not null,
    total_cents bigint not null,
    updated_at  timestamptz not null
);

create table cart_items (
    user_id          text not null references carts (user_id) on delete cascade,
    book_id          text not null,
    quantity         int not null check (quantity > 0),
    -- Price and title as the user saw them when the item was added.
    unit_price_cents bigint not null,
    title            text not null,
    primary key (user_id, book_id)
);

create table dead_letters (
    id         bigserial primary key,
    stream     text not null,
    entry_id   text not null,
    payload    jsonb not null,
    error      text not null,
    attempts   int not null,
    first_seen timestamptz not null,
    last_seen  timestamptz not null,
    unique (stream, entry_id)
);

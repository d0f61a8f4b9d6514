-- The book catalog. Postgres is its source of truth; the hub caches it in Redis.
-- Migrations run inside a transaction the Migrator opens: no BEGIN/COMMIT here.
create table books (
    id          text primary key check (length(id) between 1 and 64),
    title       text not null,
    author      text not null default '',
    price_cents bigint not null check (price_cents >= 0),
    stock       bigint not null check (stock >= 0),
    created_at  timestamptz not null default now(),
    -- Only bumped when a field really changes (see CatalogStore.upsert).
    updated_at  timestamptz not null default now()
);

-- Every time Redis is (re)initialised it gets the next generation number. Carts
-- created or restored in that Redis take it as their epoch, so an epoch after a
-- data loss is always higher than any epoch a client saw before it.
create table redis_generations (
    id         bigserial primary key,
    -- true: Postgres held no cart (a new deployment); false: Redis lost its data.
    fresh      boolean not null,
    created_at timestamptz not null default now()
);

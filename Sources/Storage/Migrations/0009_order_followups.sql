-- The Redis side of each order status change (the reservation settled, `order.updated`
-- published, the order mail queued) is done after the commit, so it is recorded in the
-- change's own transaction: whoever made the change deletes the row once its follow-ups
-- are done, and the worker redoes those of rows left behind (the hub or worker died
-- right after the commit, or Redis refused them).
create table order_followups (
    order_id   text not null references orders (id) on delete cascade,
    status     text not null,
    created_at timestamptz not null default now(),
    primary key (order_id, status)
);

create index order_followups_created_at on order_followups (created_at);

-- Live catalog changes (issue #4, item 5). Every real change of a book takes the next
-- value of book_revision_seq; `carthub worker` walks the changes after its cursor into
-- every cart that holds the book. Writers serialize on an advisory lock (see
-- CatalogStore), so revisions become visible in the order they were taken and the
-- walker's cursor never passes a change still being committed.
create sequence book_revision_seq;

alter table books add column revision bigint;
update books set revision = nextval('book_revision_seq');
alter table books
    alter column revision set not null,
    alter column revision set default nextval('book_revision_seq');

-- Soft delete: order history will reference books. Deleted books leave the catalog
-- the hubs cache and every cart, but keep their row.
alter table books add column deleted_at timestamptz;

create index books_revision_idx on books (revision);

-- The catalog sync cursor: the highest revision already walked into Redis. One row.
-- Books that existed before this migration count as walked: their carts already
-- carry their prices.
create table catalog_sync (
    id       boolean primary key default true check (id),
    revision bigint not null
);
insert into catalog_sync (revision) select coalesce(max(revision), 0) from books;

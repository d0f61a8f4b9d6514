-- The persistence worker rewrites cart headers thousands of times a second. An update
-- that changes no indexed column and finds room on its page is HOT: no index entries
-- to add, and the old version is pruned on the page instead of waiting for vacuum.
--
-- carts_updated_at made every header update non-HOT (updated_at always changes). It
-- served only the hourly abandoned-cart scan, which pages through carts in user id
-- order on the primary key anyway; keeping it current on every cart change cost the
-- write path more than it saved that scan.
drop index if exists carts_updated_at;
alter table carts set (fillfactor = 80);

-- A scheduled occurrence that failed, or whose instance died while running it, is run
-- again within its period (Scheduler): how many times it was started, and when a
-- failed one may start again (null: not again; the next occurrence will run).
alter table schedule_runs
    add column attempts int not null default 1,
    add column retry_at timestamptz;

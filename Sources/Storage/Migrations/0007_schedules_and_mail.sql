-- The worker's scheduler, the mail queue's bookkeeping and the abandoned-cart reminders.
-- (Numbered 0007: 0006 is left to the orders issue being built in parallel.)

-- One row per occurrence of a named schedule. The primary key is the claim: the
-- instance whose insert succeeds runs that occurrence, nobody else does.
create table schedule_runs (
    schedule    text not null,
    -- The instant the occurrence is for (scheduled runs), or the instant a person
    -- asked for it (`carthub schedule run`, trigger 'manual').
    occurrence  timestamptz not null,
    trigger     text not null check (trigger in ('schedule', 'manual')),
    claimed_by  text not null,
    started_at  timestamptz not null default now(),
    finished_at timestamptz,
    status      text not null default 'running' check (status in ('running', 'ok', 'failed')),
    result      text,
    primary key (schedule, occurrence)
);

-- Every mail the queue tried to send, by Message-ID. `sending` is written before the
-- SMTP transaction and `sent` after the server took the message: a crash between the
-- two repeats at most that one mail, with the same Message-ID.
create table mail_sends (
    message_id  text primary key,
    kind        text not null,
    recipient   text not null,
    state       text not null check (state in ('sending', 'failed', 'sent', 'parked')),
    -- Tries, and failures that count towards parking (an unreachable server does not).
    attempts    int not null default 0,
    failures    int not null default 0,
    sending_by  text,
    sending_at  timestamptz,
    sent_at     timestamptz,
    last_error  text,
    created_at  timestamptz not null default now()
);

-- The mail queue's parking lot, shaped like dead_letters.
create table mail_dead_letters (
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

-- One reminder per abandonment: a cart at (epoch, version) is reminded at most once;
-- a change gives it a new version, which may be reminded once it is abandoned again.
create table cart_reminders (
    user_id    text not null,
    epoch      bigint not null,
    version    bigint not null,
    message_id text not null,
    created_at timestamptz not null default now(),
    primary key (user_id, epoch, version)
);

-- The reminder scan looks for carts idle since before a cutoff.
create index carts_updated_at on carts (updated_at);

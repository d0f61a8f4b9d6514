-- User accounts, their login sessions and the refresh tokens of each session.
-- Migrations run inside a transaction the Migrator opens: no BEGIN/COMMIT here.

create table users (
    -- The JWT `sub`: `u-` and random base36 (CartDomain.Identifier.isValidUserId).
    id               text primary key check (length(id) between 1 and 64),
    -- Stored as given; compared lower-cased (the unique index below).
    email            text not null check (length(email) between 3 and 254),
    name             text not null check (length(name) between 1 and 100),
    -- Self-describing: pbkdf2-sha256$ITERATIONS$SALT$HASH (base64).
    password_hash    text not null,
    role             text not null default 'customer' check (role in ('customer', 'admin')),
    marketing_emails boolean not null default true,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);

create unique index users_email_lower_key on users (lower(email));

-- One login: its id is the `sid` of every access token issued for it.
create table sessions (
    id                text primary key check (length(id) between 1 and 64),
    user_id           text not null references users (id) on delete cascade,
    created_at        timestamptz not null default now(),
    -- The latest `exp` of an access token issued for this session: a revoked
    -- session stays on the hubs' deny-list until then.
    access_expires_at timestamptz not null,
    revoked_at        timestamptz
);

create index sessions_user_id on sessions (user_id);

-- Only the SHA-256 of a refresh token is kept. Rotation marks the presented token
-- used and links its successor; presenting a used token again is reuse.
create table refresh_tokens (
    token_hash  text primary key,
    session_id  text not null references sessions (id) on delete cascade,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    used_at     timestamptz,
    replaced_by text references refresh_tokens (token_hash) on delete set null
);

create index refresh_tokens_session_id on refresh_tokens (session_id);

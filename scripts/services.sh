#!/usr/bin/env bash
# Project-local Redis + Postgres for carthub.
#
#   scripts/services.sh start|stop|status|env PROFILE     (PROFILE = dev | test | bench)
#
#   start   install missing apt packages, then start (if not running) a Redis and
#           a Postgres for PROFILE; ensure role/database "carthub" exist.
#   stop    stop both instances of PROFILE.
#   status  print whether each instance is running (exit 0 iff both are).
#   env     print `export REDIS_URL=...` / `export DATABASE_URL=...` for eval.
#
# Ports (127.0.0.1 only): dev Redis 6390 / Postgres 5440, test Redis 6391 /
# Postgres 5441, bench (scripts/bench.sh) Redis 6392 / Postgres 5442; override
# with CARTHUB_REDIS_PORT / CARTHUB_PG_PORT.
# Data lives in scripts/.data/PROFILE/ (git-ignored).  If the `postgres` system
# user cannot traverse that directory (e.g. the clone is under /root), the
# Postgres cluster goes to /var/tmp/carthub-pg-<hash>/PROFILE instead.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd -P)
PROG="services.sh"

APT_PACKAGES=(redis-server redis-tools postgresql postgresql-contrib libwebsockets-dev
    libhiredis-dev libuv1-dev libpq-dev libssl-dev libcurl4-openssl-dev pkg-config curl ca-certificates openssl python3 python3-venv valgrind
    chromium chromium-driver fonts-dejavu-core) # the browser test (Tests/IntegrationTests/BrowserTests.swift)

die() { echo "$PROG: error: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

usage() {
    echo "usage: scripts/services.sh start|stop|status|env dev|test|bench" >&2
    exit 2
}

[[ $# -eq 2 ]] || usage
ACTION=$1
PROFILE=$2
case "$ACTION" in start | stop | status | env) ;; *) usage ;; esac
case "$PROFILE" in
    dev)
        REDIS_PORT=${CARTHUB_REDIS_PORT:-6390}
        PG_PORT=${CARTHUB_PG_PORT:-5440}
        ;;
    test)
        REDIS_PORT=${CARTHUB_REDIS_PORT:-6391}
        PG_PORT=${CARTHUB_PG_PORT:-5441}
        ;;
    bench)
        REDIS_PORT=${CARTHUB_REDIS_PORT:-6392}
        PG_PORT=${CARTHUB_PG_PORT:-5442}
        ;;
    *) usage ;;
esac
[[ $REDIS_PORT =~ ^[0-9]+$ ]] || die "CARTHUB_REDIS_PORT must be a number (got '$REDIS_PORT')"
[[ $PG_PORT =~ ^[0-9]+$ ]] || die "CARTHUB_PG_PORT must be a number (got '$PG_PORT')"
[[ $REDIS_PORT != "$PG_PORT" ]] || die "Redis and Postgres ports must differ (both $PG_PORT)"

DATA="$ROOT/scripts/.data/$PROFILE"
REDIS_DIR="$DATA/redis"
REDIS_CONF="$REDIS_DIR/redis.conf"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"
PG_LOCATION_FILE="$DATA/pg.location" # records where the cluster lives

IS_ROOT=0
[[ $EUID -eq 0 ]] && IS_ROOT=1

# ---------------------------------------------------------------- helpers ---

random_hex() { # random_hex NBYTES -> 2*NBYTES hex chars
    od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

# Run a command as the Postgres server owner (from / so an unreadable cwd is harmless).
as_pg() {
    if ((IS_ROOT)); then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

pid_alive() { # alive and not a zombie (a killed daemon may linger unreaped)
    [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null || return 1
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

port_in_use() { # something accepts TCP connections on 127.0.0.1:$1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

proc_name() { cat "/proc/$1/comm" 2>/dev/null || true; }

pg_bin_dir() {
    if [[ -n ${PG_BINDIR:-} ]]; then
        echo "$PG_BINDIR"
    elif [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
        echo /usr/lib/postgresql/15/bin
    else
        # Any other installed major version (highest first).
        local d
        for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -rn); do
            [[ -x $d/initdb ]] && { echo "$d"; return; }
        done
        echo /usr/lib/postgresql/15/bin
    fi
}

password_for() { # password_for redis|pg  (creates it for dev if needed and $2 == create)
    local kind=$1 mode=${2:-read}
    if [[ $PROFILE == test ]]; then
        [[ $kind == redis ]] && echo "carthub-test-redis" || echo "carthub-test-pg"
        return
    fi
    local f="$DATA/$kind.password"
    if [[ ! -s $f ]]; then
        [[ $mode == create ]] || die "no $kind password for profile '$PROFILE' yet ($f missing); run: scripts/services.sh start $PROFILE"
        (umask 077 && random_hex 24 >"$f.tmp" && mv "$f.tmp" "$f")
    fi
    tr -d ' \n\r' <"$f"
}

# Where the Postgres cluster lives (PG_BASE): DATA/postgres if the postgres user
# can reach it, otherwise /var/tmp/carthub-pg-<sha1(ROOT)>/PROFILE.
resolve_pg_base() {
    local mode=${1:-read} local_base="$DATA/postgres" reason=""
    if [[ $mode == read ]]; then
        if [[ -s $PG_LOCATION_FILE ]]; then
            PG_BASE=$(<"$PG_LOCATION_FILE")
        else
            PG_BASE=$local_base
        fi
        return
    fi
    if ((IS_ROOT)) && ! (cd / && runuser -u postgres -- test -x "$DATA" 2>/dev/null); then
        reason="the postgres user cannot traverse $DATA"
    fi
    # Unix socket paths are limited to ~107 bytes.
    if [[ -z $reason ]] && ((${#local_base} + ${#PG_PORT} + 20 > 100)); then
        reason="the project path is too long for a Unix socket path"
    fi
    if [[ -n $reason ]]; then
        local hash
        hash=$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)
        PG_BASE="/var/tmp/carthub-pg-$hash/$PROFILE"
        note "note: $reason; using $PG_BASE for the Postgres cluster"
        mkdir -p "$(dirname "$PG_BASE")"
        chmod 755 "$(dirname "$PG_BASE")"
    else
        PG_BASE=$local_base
    fi
    printf '%s\n' "$PG_BASE" >"$PG_LOCATION_FILE"
}

set_pg_paths() {
    PGDATA_DIR="$PG_BASE/data"
    PG_SOCKDIR="$PG_BASE/pg-socket"
    PG_LOG="$PG_BASE/postgres.log"
    PG_BIN=$(pg_bin_dir)
}

# ------------------------------------------------------------ apt install ---

ensure_packages() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
            missing+=("$p")
        fi
    done
    ((${#missing[@]} == 0)) && return 0
    command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get; install them manually"
    local sudo=()
    if ((!IS_ROOT)); then
        command -v sudo >/dev/null || die "missing packages (${missing[*]}); run as root or install them"
        sudo=(sudo)
    fi
    note "installing missing packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get -q -y update >/dev/null || die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        install --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed"
}

# ------------------------------------------------------------------ Redis ---

redis_pid() { # prints pid of our running redis, or nothing
    [[ -s $REDIS_PIDFILE ]] || return 0
    local pid
    pid=$(tr -dc '0-9' <"$REDIS_PIDFILE")
    if pid_alive "$pid" && [[ $(proc_name "$pid") == redis-server* ]]; then
        echo "$pid"
    fi
}

redis_cli() { # redis_cli ARGS...  (password via env, not argv)
    REDISCLI_AUTH=$(password_for redis) redis-cli --no-auth-warning -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

redis_ping() { [[ $(redis_cli ping 2>/dev/null || true) == PONG ]]; }

redis_start() {
    local pass pid
    pass=$(password_for redis create)
    mkdir -p "$REDIS_DIR"
    pid=$(redis_pid)
    if [[ -n $pid ]]; then
        if redis_ping; then
            note "redis ($PROFILE) already running (pid $pid, 127.0.0.1:$REDIS_PORT)"
            return 0
        fi
        die "a redis-server (pid $pid) from $REDIS_PIDFILE is running but does not answer on 127.0.0.1:$REDIS_PORT; run: scripts/services.sh stop $PROFILE"
    fi
    if [[ -e $REDIS_PIDFILE ]]; then
        note "removing stale redis pidfile $REDIS_PIDFILE"
        rm -f "$REDIS_PIDFILE"
    fi
    port_in_use "$REDIS_PORT" &&
        die "127.0.0.1:$REDIS_PORT is already in use by another process (not this project's $PROFILE redis); set CARTHUB_REDIS_PORT to use another port"
    # Config file (mode 600) rather than argv, so the password is not visible in ps.
    (
        umask 077
        cat >"$REDIS_CONF" <<EOF
# generated by scripts/services.sh -- rewritten on every start
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
requirepass "$pass"
appendonly yes
appendfsync everysec
# A rewrite forks and snapshots the whole dataset. The base is a compact RDB, so the
# default rule (log grown by 100 % of it) fires every few seconds under write-heavy load.
auto-aof-rewrite-percentage 400
auto-aof-rewrite-min-size 256mb
save ""
dir "$REDIS_DIR"
daemonize yes
pidfile "$REDIS_PIDFILE"
logfile "$REDIS_LOG"
# A hub's subscriber carries every room event of its users; Redis's default 32 MB
# pub/sub cap cuts it off under load bursts, so allow more, briefly.
client-output-buffer-limit pubsub 256mb 128mb 30
EOF
    )
    redis-server "$REDIS_CONF" 9>&- || {
        tail -n 20 "$REDIS_LOG" >&2 2>/dev/null || true
        die "redis-server failed to start (log: $REDIS_LOG)"
    }
    local deadline=$((SECONDS + 10))
    # The pidfile is written only after the port is bound, so this cannot be
    # fooled by some other redis already listening on the port.
    until [[ -n $(redis_pid) ]] && redis_ping; do
        if ((SECONDS >= deadline)); then
            tail -n 20 "$REDIS_LOG" >&2 2>/dev/null || true
            die "redis ($PROFILE) did not answer PONG on 127.0.0.1:$REDIS_PORT within 10 s (log: $REDIS_LOG)"
        fi
        sleep 0.1
    done
    note "redis ($PROFILE) started (pid $(redis_pid), 127.0.0.1:$REDIS_PORT)"
}

redis_stop() {
    local pid
    pid=$(redis_pid)
    if [[ -z $pid ]]; then
        rm -f "$REDIS_PIDFILE"
        note "redis ($PROFILE) not running"
        return 0
    fi
    local cmd=(shutdown)
    [[ $PROFILE == test ]] && cmd=(shutdown nosave)
    redis_cli "${cmd[@]}" >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 10))
    while pid_alive "$pid"; do
        if ((SECONDS >= deadline)); then
            note "redis ($PROFILE) did not shut down via redis-cli; sending SIGTERM to $pid"
            kill -TERM "$pid" 2>/dev/null || true
            deadline=$((SECONDS + 10))
            while pid_alive "$pid"; do
                ((SECONDS < deadline)) || die "redis ($PROFILE) pid $pid did not exit"
                sleep 0.1
            done
            break
        fi
        sleep 0.1
    done
    rm -f "$REDIS_PIDFILE"
    note "redis ($PROFILE) stopped"
}

# --------------------------------------------------------------- Postgres ---

pg_postmaster_pid() { head -n1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null | tr -dc '0-9' || true; }

pg_running() {
    [[ -f $PGDATA_DIR/PG_VERSION ]] || return 1
    local pid
    pid=$(pg_postmaster_pid)
    # pg_ctl status alone would count a killed-but-unreaped (zombie) postmaster.
    pid_alive "$pid" && [[ $(proc_name "$pid") == postgres* ]] &&
        as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1
}

pg_conf_quote() { local s=${1//\'/\'\'}; printf "'%s'" "$s"; }

pg_write_conf() {
    local fsync_lines
    if [[ $PROFILE == test ]]; then
        fsync_lines=$'fsync = off\nsynchronous_commit = off\nfull_page_writes = off'
    else
        fsync_lines=$'fsync = on\nsynchronous_commit = on\nfull_page_writes = on'
    fi
    cat >"$PGDATA_DIR/carthub.conf" <<EOF
# generated by scripts/services.sh -- rewritten on every start
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = $(pg_conf_quote "$PG_SOCKDIR")
unix_socket_permissions = 0700
max_connections = 200
password_encryption = 'scram-sha-256'
$fsync_lines
EOF
    cat >"$PGDATA_DIR/pg_hba.conf" <<'EOF'
# generated by scripts/services.sh
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
EOF
    ((IS_ROOT)) && chown postgres:postgres "$PGDATA_DIR/carthub.conf" "$PGDATA_DIR/pg_hba.conf"
    chmod 600 "$PGDATA_DIR/carthub.conf" "$PGDATA_DIR/pg_hba.conf"
}

pg_initdb() {
    note "initializing Postgres cluster ($PROFILE) in $PGDATA_DIR"
    rm -rf "$PGDATA_DIR"
    mkdir -p "$PGDATA_DIR"
    ((IS_ROOT)) && chown postgres:postgres "$PGDATA_DIR"
    chmod 700 "$PGDATA_DIR"
    local out
    if ! out=$(as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" --username=postgres -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=reject 2>&1); then
        echo "$out" >&2
        rm -rf "$PGDATA_DIR"
        die "initdb failed"
    fi
    echo "include 'carthub.conf'" >>"$PGDATA_DIR/postgresql.conf"
}

pg_start() {
    local pass
    pass=$(password_for pg create)
    resolve_pg_base create
    set_pg_paths
    [[ -x $PG_BIN/initdb ]] || die "Postgres binaries not found in $PG_BIN"

    mkdir -p "$PG_BASE"
    ((IS_ROOT)) && chown postgres:postgres "$PG_BASE"
    chmod 700 "$PG_BASE"
    mkdir -p "$PG_SOCKDIR"
    ((IS_ROOT)) && chown postgres:postgres "$PG_SOCKDIR"
    chmod 700 "$PG_SOCKDIR"

    [[ -f $PGDATA_DIR/PG_VERSION ]] || pg_initdb

    if pg_running; then
        note "postgres ($PROFILE) already running ($PGDATA_DIR)"
    else
        # Stale lock files from a crashed/killed server (pid may have been reused).
        local pidf="$PGDATA_DIR/postmaster.pid"
        if [[ -f $pidf ]]; then
            local opid
            opid=$(pg_postmaster_pid)
            if ! pid_alive "$opid" || [[ $(proc_name "$opid") != postgres* ]]; then
                note "removing stale $pidf"
                rm -f "$pidf"
            else
                die "a postgres process (pid $opid) holds $PGDATA_DIR but pg_ctl says it is not running"
            fi
        fi
        port_in_use "$PG_PORT" &&
            die "127.0.0.1:$PG_PORT is already in use by another process (not this project's $PROFILE postgres); set CARTHUB_PG_PORT to use another port"
        rm -f "$PG_SOCKDIR"/.s.PGSQL.*
        pg_write_conf
        if ! as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PG_LOG" -w -t 60 start >/dev/null 2>&1 9>&-; then
            tail -n 30 "$PG_LOG" >&2 2>/dev/null || true
            die "postgres ($PROFILE) failed to start on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
        fi
        note "postgres ($PROFILE) started (127.0.0.1:$PG_PORT, data $PGDATA_DIR)"
    fi

    # Role + database (idempotent). Password goes through stdin, not argv.
    local createdb=NOCREATEDB
    [[ $PROFILE == test ]] && createdb=CREATEDB
    local out
    if ! out=$(as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres -d postgres 2>&1 <<EOF
\\set pw '$pass'
SELECT 'CREATE ROLE carthub LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'carthub')\\gexec
ALTER ROLE carthub WITH LOGIN $createdb PASSWORD :'pw';
SELECT 'CREATE DATABASE carthub OWNER carthub' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'carthub')\\gexec
ALTER DATABASE carthub OWNER TO carthub;
EOF
    ); then
        echo "$out" >&2
        die "could not create role/database carthub in postgres ($PROFILE)"
    fi
}

pg_stop() {
    resolve_pg_base read
    set_pg_paths
    if pg_running; then
        as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 stop >/dev/null ||
            die "pg_ctl stop failed for $PGDATA_DIR (log: $PG_LOG)"
        note "postgres ($PROFILE) stopped"
    else
        note "postgres ($PROFILE) not running"
    fi
}

# ------------------------------------------------------------------- main ---

lock() {
    mkdir -p "$DATA"
    exec 9>"$DATA/.lock"
    flock -w 300 9 || die "timed out waiting for lock $DATA/.lock"
}

case "$ACTION" in
    start)
        ensure_packages
        mkdir -p "$ROOT/scripts/.data" "$DATA"
        chmod 755 "$ROOT/scripts/.data" "$DATA" # postgres user must be able to traverse
        lock
        redis_start
        pg_start
        ;;
    stop)
        [[ -d $DATA ]] || { note "nothing to stop for profile '$PROFILE'"; exit 0; }
        lock
        rc=0
        (redis_stop) || rc=1
        (pg_stop) || rc=1
        exit $rc
        ;;
    status)
        rc=0
        pid=$(redis_pid)
        if [[ -n $pid ]]; then
            echo "redis    ($PROFILE): running (pid $pid, 127.0.0.1:$REDIS_PORT)"
        else
            echo "redis    ($PROFILE): stopped"
            rc=3
        fi
        resolve_pg_base read
        set_pg_paths
        if [[ -d $DATA ]] && pg_running; then
            pgpid=$(pg_postmaster_pid)
            echo "postgres ($PROFILE): running (pid $pgpid, 127.0.0.1:$PG_PORT, data $PGDATA_DIR)"
        else
            echo "postgres ($PROFILE): stopped"
            rc=3
        fi
        exit $rc
        ;;
    env)
        rpass=$(password_for redis)
        ppass=$(password_for pg)
        echo "export REDIS_URL='redis://:$rpass@127.0.0.1:$REDIS_PORT/0'"
        echo "export DATABASE_URL='postgres://carthub:$ppass@127.0.0.1:$PG_PORT/carthub'"
        ;;
esac

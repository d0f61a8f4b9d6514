#!/usr/bin/env bash
# One-command demo: dev Redis/Postgres, release build, migrate, import the demo
# catalog, start the worker (if the binary has one) and serve on CARTHUB_PORT
# (default 8080).  Stop the services afterwards with: scripts/services.sh stop dev
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICES="$ROOT/scripts/services.sh"
bash "$SERVICES" start dev
eval "$(bash "$SERVICES" env dev)"
export REDIS_URL DATABASE_URL

swift build -c release

# A random secret kept in scripts/.data/dev/NAME (made once), for the variable the
# caller did not set.
dev_secret() {
    local file="$ROOT/scripts/.data/dev/$1"
    if [[ ! -s $file ]]; then
        (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$file.tmp" &&
            mv "$file.tmp" "$file")
    fi
    tr -d ' \n\r' <"$file"
}
[[ -n ${JWT_SECRET:-} ]] || JWT_SECRET=$(dev_secret jwt.secret)
export JWT_SECRET
# The browser client's Pay button: demo payments, signed with a demo webhook secret
# unless PAYMENT_WEBHOOK_SECRET is already set.
[[ -n ${PAYMENT_WEBHOOK_SECRET:-} ]] || PAYMENT_WEBHOOK_SECRET=$(dev_secret webhook.secret)
export PAYMENT_WEBHOOK_SECRET
export CARTHUB_DEMO_PAYMENTS=${CARTHUB_DEMO_PAYMENTS:-1}
export CARTHUB_PORT=${CARTHUB_PORT:-8080}
export CARTHUB_LUA_DIR=${CARTHUB_LUA_DIR:-$ROOT/lua}

BIN=.build/release/carthub
[[ -x $BIN ]] || { echo "run.sh: error: $BIN not found after build" >&2; exit 1; }

"$BIN" migrate
"$BIN" catalog import scripts/demo-catalog.json

worker_pid=""
if "$BIN" worker --help >/dev/null 2>&1; then
    "$BIN" worker &
    worker_pid=$!
fi

token=$("$BIN" token --user demo-user --ttl 86400)

cat <<INFO

==================== carthub demo ====================
  Browser:     http://127.0.0.1:$CARTHUB_PORT/   (register, then open it in a second profile or private window)
  Socket:      ws://127.0.0.1:$CARTHUB_PORT/ws   (health: http://127.0.0.1:$CARTHUB_PORT/healthz)
  Payments:    the orders' Pay button is a demo (CARTHUB_DEMO_PAYMENTS=$CARTHUB_DEMO_PAYMENTS; 0 hides it)
  Demo token:  $token   (user demo-user, valid 24 h)
  CLI client:  $BIN client --url ws://127.0.0.1:$CARTHUB_PORT/ws --token $token
  Stop the demo services later with: scripts/services.sh stop dev
======================================================

INFO

if [[ -z $worker_pid ]]; then
    exec "$BIN" serve
fi

# A worker is running in the background: keep this shell around so the worker
# is stopped when serve exits (an exec'd serve could not run the trap).
stop_worker() {
    if kill -0 "$worker_pid" 2>/dev/null; then
        kill -TERM "$worker_pid" 2>/dev/null || true
        wait "$worker_pid" 2>/dev/null || true
    fi
}
trap stop_worker EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
rc=0
"$BIN" serve || rc=$?
exit "$rc"

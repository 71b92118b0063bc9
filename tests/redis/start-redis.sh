#!/usr/bin/env bash
# Starts a local redis-server for the Redis backplane tests (and for running instances with
# `RedisConfig::default()`), then waits until it answers PING on 127.0.0.1:6379.
#
#   bash tests/redis/start-redis.sh          # Debian/Ubuntu; run as root (or with sudo)
#
# - Installs Debian's `redis-server` when `redis-server` is not on PATH (set
#   REDIS_NO_INSTALL=1 to refuse instead).
# - Starts it in the background (daemonized, no persistence: the backplane keeps nothing in
#   Redis) unless something already answers PING on the port; its log goes to $REDIS_LOG
#   (default /tmp/redis.log).
# - Waits at most $REDIS_WAIT_SECS (default 30) for PING; exits 1 loudly, with the end of
#   the log, if it never answers.
#
# The restart test (tests/tests/redis_restart.rs) stops it with `redis-cli shutdown nosave`
# and starts it again with this script.
set -euo pipefail

PORT="${REDIS_PORT:-6379}"
WAIT_SECS="${REDIS_WAIT_SECS:-30}"
LOG="${REDIS_LOG:-/tmp/redis.log}"

say() { echo "start-redis: $*"; }
fail() {
    local banner
    banner="$(printf '!%.0s' {1..78})"
    {
        echo "$banner"
        echo "start-redis: FAILED: $*"
        if [[ -f "$LOG" ]]; then
            echo "---- last lines of $LOG ----"
            tail -n 40 "$LOG" || true
        fi
        echo "$banner"
    } >&2
    exit 1
}

# Root for apt-get; sudo when available otherwise.
SUDO=()
if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        say "not root and no sudo: installing redis-server may fail"
    fi
fi

answers_ping() {
    [[ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" == PONG ]]
}

if ! command -v redis-server >/dev/null 2>&1; then
    if [[ "${REDIS_NO_INSTALL:-}" == 1 ]]; then
        fail "redis-server is not installed (apt-get install -y redis-server)"
    fi
    say "installing Debian's redis-server"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

if answers_ping; then
    say "redis-server is already running on 127.0.0.1:$PORT"
    exit 0
fi

say "starting redis-server in the background (log: $LOG)"
# No systemd here: daemonize it ourselves. No RDB or AOF: pub/sub keeps nothing on disk.
redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no \
    --logfile "$LOG" || fail "redis-server did not start"

say "waiting (at most ${WAIT_SECS} s) for PING on 127.0.0.1:$PORT"
deadline=$((SECONDS + WAIT_SECS))
until answers_ping; do
    if ((SECONDS >= deadline)); then
        fail "redis-server does not answer PING on 127.0.0.1:$PORT after ${WAIT_SECS} s"
    fi
    sleep 0.2
done
say "redis-server is up on 127.0.0.1:$PORT"

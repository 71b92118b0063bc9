#!/usr/bin/env bash
# Starts a local RabbitMQ with its STOMP plugin for the broker-relay tests and the demo's
# `--relay` mode, then waits until STOMP (127.0.0.1:61613) accepts connections.
#
#   bash tests/relay/start-rabbitmq.sh          # Debian/Ubuntu; run as root (or with sudo)
#
# - Installs Debian's `rabbitmq-server` when `rabbitmq-server` is not on PATH (set
#   RABBITMQ_NO_INSTALL=1 to refuse instead).
# - Enables `rabbitmq_stomp` (STOMP over TCP, port 61613, what the relay speaks) and
#   `rabbitmq_web_stomp` (STOMP over WebSocket, port 15674, for comparisons).
# - Starts the node in the background unless `rabbitmqctl status` says it already runs;
#   its output goes to $RABBITMQ_LOG (default /tmp/rabbitmq.log).
# - Waits at most $RABBITMQ_WAIT_SECS (default 60) for 127.0.0.1:61613; exits 1 loudly,
#   with the end of the log, if it never answers.
#
# The default `guest`/`guest` account (loopback only) is what `RelayConfig::default()` uses.
set -euo pipefail

PORT="${RABBITMQ_STOMP_PORT:-61613}"
WAIT_SECS="${RABBITMQ_WAIT_SECS:-60}"
LOG="${RABBITMQ_LOG:-/tmp/rabbitmq.log}"

say() { echo "start-rabbitmq: $*"; }
fail() {
    local banner
    banner="$(printf '!%.0s' {1..78})"
    {
        echo "$banner"
        echo "start-rabbitmq: FAILED: $*"
        if [[ -f "$LOG" ]]; then
            echo "---- last lines of $LOG ----"
            tail -n 40 "$LOG" || true
        fi
        echo "$banner"
    } >&2
    exit 1
}

# Root for apt-get and for starting the node; sudo when available otherwise.
SUDO=()
if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        say "not root and no sudo: installing or starting RabbitMQ may fail"
    fi
fi

stomp_port_open() {
    # bash's /dev/tcp: no netcat needed.
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

if ! command -v rabbitmq-server >/dev/null 2>&1 && [[ ! -x /usr/sbin/rabbitmq-server ]]; then
    if [[ "${RABBITMQ_NO_INSTALL:-}" == 1 ]]; then
        fail "rabbitmq-server is not installed (apt-get install -y rabbitmq-server)"
    fi
    say "installing Debian's rabbitmq-server"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
fi
export PATH="$PATH:/usr/sbin:/usr/lib/rabbitmq/bin"

say "enabling rabbitmq_stomp and rabbitmq_web_stomp"
"${SUDO[@]}" rabbitmq-plugins enable --offline rabbitmq_stomp rabbitmq_web_stomp >/dev/null

if "${SUDO[@]}" rabbitmqctl status >/dev/null 2>&1; then
    say "RabbitMQ is already running"
    # A node started before the plugins were enabled needs them switched on live.
    if ! stomp_port_open; then
        "${SUDO[@]}" rabbitmq-plugins enable rabbitmq_stomp rabbitmq_web_stomp >/dev/null 2>&1 || true
    fi
else
    say "starting RabbitMQ in the background (log: $LOG)"
    # Not `-detached`: the node's own output then goes to the log, which `fail` shows.
    ("${SUDO[@]}" rabbitmq-server >"$LOG" 2>&1 &)
fi

say "waiting (at most ${WAIT_SECS} s) for STOMP on 127.0.0.1:$PORT"
deadline=$((SECONDS + WAIT_SECS))
until stomp_port_open; do
    if ((SECONDS >= deadline)); then
        fail "nothing accepts connections on 127.0.0.1:$PORT after ${WAIT_SECS} s"
    fi
    sleep 1
done
say "RabbitMQ STOMP is up on 127.0.0.1:$PORT"

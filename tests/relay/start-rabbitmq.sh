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
# - Makes a test CA and a server certificate for `localhost`/127.0.0.1 (openssl CLI) in
#   $RABBITMQ_TLS_DIR (default /tmp/stomp-rabbitmq-tls: ca.pem, server.pem, server.key,
#   world-readable so that the `rabbitmq` user reads them; remade when missing or expiring)
#   and writes a TLS STOMP listener on 61614 (`stomp.listeners.ssl.default`, the relay's
#   TLS test) into /etc/rabbitmq/rabbitmq.conf, between marker lines it owns. A running node
#   without that listener is restarted once to pick it up.
# - Waits at most $RABBITMQ_WAIT_SECS (default 60) for 127.0.0.1:61613 and 61614; exits 1
#   loudly, with the end of the log, if either never answers.
#
# The default `guest`/`guest` account (loopback only) is what `RelayConfig::default()` uses.
set -euo pipefail

PORT="${RABBITMQ_STOMP_PORT:-61613}"
TLS_PORT="${RABBITMQ_STOMP_TLS_PORT:-61614}"
TLS_DIR="${RABBITMQ_TLS_DIR:-/tmp/stomp-rabbitmq-tls}"
CONF="${RABBITMQ_CONF:-/etc/rabbitmq/rabbitmq.conf}"
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

port_open() {
    # bash's /dev/tcp: no netcat needed.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
stomp_port_open() { port_open "$PORT"; }

install_package() {
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The test CA and the server certificate it signs (EC P-256, SAN localhost and 127.0.0.1),
# unless both are there and valid for at least another day.
make_tls_files() {
    if [[ -f "$TLS_DIR/ca.pem" && -f "$TLS_DIR/server.key" && -f "$TLS_DIR/server.pem" ]] &&
        openssl x509 -checkend 86400 -noout -in "$TLS_DIR/server.pem" >/dev/null 2>&1; then
        return
    fi
    say "making a test CA and server certificate in $TLS_DIR"
    mkdir -p "$TLS_DIR"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -days 3650 -subj "/CN=stomp-rs RabbitMQ test CA" \
        -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        2>/dev/null
    openssl req "${ec[@]}" -subj "/CN=localhost" -keyout "$TLS_DIR/server.key" \
        -out "$TLS_DIR/server.csr" 2>/dev/null
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$TLS_DIR/server.ext"
    openssl x509 -req -days 825 -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.pem" \
        -CAkey "$TLS_DIR/ca.key" -CAcreateserial -extfile "$TLS_DIR/server.ext" \
        -out "$TLS_DIR/server.pem" 2>/dev/null
    # The node runs as `rabbitmq`: it must read them (they are test files, not secrets).
    chmod 755 "$TLS_DIR"
    chmod 644 "$TLS_DIR"/*
}

# Our block of rabbitmq.conf, between marker lines (replaced, never duplicated).
write_tls_listener() {
    local begin="# BEGIN stomp-rs test TLS listener (tests/relay/start-rabbitmq.sh)"
    local end="# END stomp-rs test TLS listener"
    local block
    block="$(printf '%s\n' "$begin" \
        "stomp.listeners.tcp.1 = $PORT" \
        "stomp.listeners.ssl.default = $TLS_PORT" \
        "ssl_options.cacertfile = $TLS_DIR/ca.pem" \
        "ssl_options.certfile = $TLS_DIR/server.pem" \
        "ssl_options.keyfile = $TLS_DIR/server.key" \
        "ssl_options.verify = verify_none" \
        "ssl_options.fail_if_no_peer_cert = false" \
        "$end")"
    local current=""
    [[ -f "$CONF" ]] && current="$(cat "$CONF")"
    if [[ "$current" == *"$block"* ]]; then
        return
    fi
    say "writing the TLS STOMP listener (port $TLS_PORT) into $CONF"
    local kept
    kept="$(printf '%s\n' "$current" |
        awk -v b="$begin" -v e="$end" '$0 == b { skip = 1 } !skip { print } $0 == e { skip = 0 }')"
    "${SUDO[@]}" mkdir -p "$(dirname "$CONF")"
    printf '%s\n%s\n' "$kept" "$block" | sed '/./,$!d' | "${SUDO[@]}" tee "$CONF" >/dev/null
    "${SUDO[@]}" chmod 644 "$CONF"
}

if ! command -v rabbitmq-server >/dev/null 2>&1 && [[ ! -x /usr/sbin/rabbitmq-server ]]; then
    if [[ "${RABBITMQ_NO_INSTALL:-}" == 1 ]]; then
        fail "rabbitmq-server is not installed (apt-get install -y rabbitmq-server)"
    fi
    say "installing Debian's rabbitmq-server"
    install_package rabbitmq-server
fi
if ! command -v openssl >/dev/null 2>&1; then
    say "installing openssl (the TLS listener's test certificate)"
    install_package openssl
fi
export PATH="$PATH:/usr/sbin:/usr/lib/rabbitmq/bin"

say "enabling rabbitmq_stomp and rabbitmq_web_stomp"
"${SUDO[@]}" rabbitmq-plugins enable --offline rabbitmq_stomp rabbitmq_web_stomp >/dev/null

make_tls_files
write_tls_listener

if "${SUDO[@]}" rabbitmqctl status >/dev/null 2>&1 && ! port_open "$TLS_PORT"; then
    # The configuration is read at boot: a node without the TLS listener (one started before
    # it was written, or by the package's own service) is restarted once.
    say "restarting RabbitMQ to open its TLS STOMP listener on $TLS_PORT"
    "${SUDO[@]}" rabbitmqctl stop >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do
        "${SUDO[@]}" rabbitmqctl status >/dev/null 2>&1 || break
        sleep 1
    done
fi

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
until port_open "$TLS_PORT"; do
    if ((SECONDS >= deadline)); then
        fail "nothing accepts connections on 127.0.0.1:$TLS_PORT (STOMP over TLS) after ${WAIT_SECS} s"
    fi
    sleep 1
done
say "RabbitMQ STOMP over TLS is up on 127.0.0.1:$TLS_PORT (CA: $TLS_DIR/ca.pem)"

#!/usr/bin/env bash
# Scale-out through the RabbitMQ relay against one instance on the embedded broker, in the
# same run (ratios, not remembered figures). Two loads, each repeated --rounds times with the
# setups interleaved:
#
#   fanout  (a) of bench/run.sh: 1 publisher -> 100 subscribers on one topic, 64-byte bodies,
#           window 1000, through tests' interop_server (clients SEND to /topic directly):
#             embedded      one instance, simple broker
#             relay-one     one instance relaying (publisher and subscribers on it)
#             relay-two     two instances, subscribers on A, publisher on B: every message
#                           crosses RabbitMQ
#             relay-two-b64 the same with RelayConfig::publish_batch 64
#             redis-two     two instances on the Redis backplane (subscribers on A,
#                           publisher on B), when redis-server runs
#             rabbitmq      RabbitMQ's own Web-STOMP (ws://127.0.0.1:15674/ws), no server
#   chat    (b): 10 publishers -> 10 subscribers through the demo's /app/chat/<room> handler,
#           256-byte JSON, window 200, demo-chat:
#             embedded      one instance
#             relay-two     two instances, subscribers on A, publishers on B, no batch
#             relay-two-b64 the same with the demo's default publish batch (64)
#             redis-two     two instances on the Redis backplane (demo-chat --redis), when
#                           redis-server runs
#
#   bench/relay.sh [--rounds N] [--duration SECS] [--only fanout,chat]
#
# Writes one JSON line per run to bench/last-run/relay.jsonl (with the servers' CPU seconds,
# RabbitMQ's included when it took part). Needs RabbitMQ with its STOMP and Web-STOMP
# plugins (bash tests/relay/start-rabbitmq.sh) and release builds
# (cargo build --release -p tests -p demo-chat). Bounded: --duration seconds per run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release}
DURATION=${DURATION:-10}
ROUNDS=1
ONLY=fanout,chat
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    *) echo "relay.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-$ROOT/bench/out/relay}
mkdir -p "$OUT" "$ROOT/bench/last-run"
RESULTS="$ROOT/bench/last-run/relay.jsonl"
: > "$RESULTS"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wants() { [[ ",$ONLY," == *",$1,"* ]]; }

start_demo() { # name [relay|redis]
  local log="$OUT/demo-$1.log"
  case "${2:-}" in
    relay) "$BIN/demo-chat" --addr 127.0.0.1:0 --relay 127.0.0.1:61613 > "$log" 2>&1 & ;;
    redis) "$BIN/demo-chat" --addr 127.0.0.1:0 --redis redis://127.0.0.1:6379 > "$log" 2>&1 & ;;
    *) "$BIN/demo-chat" --addr 127.0.0.1:0 > "$log" 2>&1 & ;;
  esac
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  for _ in $(seq 100); do grep -q "STOMP at ws://" "$log" && break; sleep 0.1; done
  LAST_URL=$(grep -o 'ws://127.0.0.1:[0-9]*/ws' "$log" | head -1)
}

start_interop() { # name [interop_server args...]
  local name=$1; shift
  local log="$OUT/interop-$name.log"
  # interop_server stops when its stdin ends: a sleep holds it open (and ends with it).
  "$BIN/interop_server" --addr 127.0.0.1:0 "$@" < <(sleep "$((DURATION * 4 + 60))") > "$log" 2> "$log.err" &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  for _ in $(seq 100); do grep -q LISTENING "$log" && break; sleep 0.1; done
  LAST_URL="ws://127.0.0.1:$(awk '/LISTENING/ {print $2}' "$log")/ws"
}

stop() { for p in "$@"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

rabbit_pid() { pgrep -f 'beam.smp' | head -1 || true; }

redis_pid() { pgrep -x redis-server | head -1 || true; }

# load label round "stomp-load args" pids...
load() {
  local label=$1 round=$2 args=$3; shift 3
  local before=() after=() i
  for p in "$@"; do before+=("$(cpu_ticks "$p")"); done
  local line
  # shellcheck disable=SC2086
  line=$("$BIN/stomp-load" fanout $args --duration "$DURATION" --quiet --label "$label")
  for p in "$@"; do after+=("$(cpu_ticks "$p")"); done
  local ticks=0
  for i in "${!before[@]}"; do ticks=$((ticks + after[i] - before[i])); done
  local hz; hz=$(getconf CLK_TCK)
  echo "$line" | python3 -c "import json,sys; d=json.load(sys.stdin); d['servers_cpu_s']=round($ticks/$hz,2); d['setup']='$label'; d['round']=$round; print(json.dumps(d))" >> "$RESULTS"
  echo "== round $round: $label: $(echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["delivered_per_s"], "delivered/s, lost", d["lost"], "duplicated", d["duplicated"], "out of order", d["out_of_order"])')"
}

fanout_args() { # url publish_url dest [extra]
  echo "--url $1 --publish-url $2 --sub-dest $3 --subscribers 100 --publishers 1 --rate 0 --window 1000 --body-size 64 ${4:-}"
}

fanout_round() {
  local round=$1 dest
  dest=/topic/bench.a$round
  start_interop one; local url=$LAST_URL pid=$LAST_PID
  load "fanout embedded" "$round" "$(fanout_args "$url" "$url" "$dest")" "$pid"
  stop "$pid"

  local rabbit; rabbit=$(rabbit_pid)
  start_interop ra --relay 127.0.0.1:61613; local a=$LAST_URL pa=$LAST_PID
  sleep 1
  load "fanout relay-one" "$round" "$(fanout_args "$a" "$a" "$dest.one")" "$pa" ${rabbit:+"$rabbit"}
  start_interop rb --relay 127.0.0.1:61613; local b=$LAST_URL pb=$LAST_PID
  sleep 1
  load "fanout relay-two" "$round" "$(fanout_args "$a" "$b" "$dest.two")" "$pa" "$pb" ${rabbit:+"$rabbit"}
  stop "$pa" "$pb"

  start_interop ra --relay 127.0.0.1:61613 --relay-batch 64; a=$LAST_URL; pa=$LAST_PID
  start_interop rb --relay 127.0.0.1:61613 --relay-batch 64; b=$LAST_URL; pb=$LAST_PID
  sleep 1
  load "fanout relay-two-b64" "$round" "$(fanout_args "$a" "$b" "$dest.b64")" "$pa" "$pb" ${rabbit:+"$rabbit"}
  stop "$pa" "$pb"

  if [ -n "$(redis_pid)" ]; then
    STOMP_REDIS_URL=redis://127.0.0.1:6379 start_interop ra; a=$LAST_URL; pa=$LAST_PID
    STOMP_REDIS_URL=redis://127.0.0.1:6379 start_interop rb; b=$LAST_URL; pb=$LAST_PID
    sleep 1
    load "fanout redis-two" "$round" "$(fanout_args "$a" "$b" "$dest.redis")" "$pa" "$pb" "$(redis_pid)"
    stop "$pa" "$pb"
  fi

  if [ -n "$rabbit" ]; then
    load "fanout rabbitmq" "$round" \
      "$(fanout_args ws://127.0.0.1:15674/ws ws://127.0.0.1:15674/ws "$dest.rabbit" "--login guest --passcode guest --host / --heartbeat 0,0")" "$rabbit"
  fi
}

chat_args() { # url publish_url
  echo "--url $1 --publish-url $2 --login bench --passcode bench --send-dest /app/chat/bench --sub-dest /topic/chat/bench --subscribers 10 --publishers 10 --rate 0 --window 200 --body json --body-size 256"
}

chat_round() {
  local round=$1 rabbit
  rabbit=$(rabbit_pid)
  start_demo one; local url=$LAST_URL pid=$LAST_PID
  load "chat embedded" "$round" "$(chat_args "$url" "$url")" "$pid"
  stop "$pid"
  for batch in 1 64; do
    DEMO_RELAY_BATCH=$batch start_demo a relay; local a=$LAST_URL pa=$LAST_PID
    DEMO_RELAY_BATCH=$batch start_demo b relay; local b=$LAST_URL pb=$LAST_PID
    sleep 1
    local label="chat relay-two"; [ "$batch" = 64 ] && label="chat relay-two-b64"
    load "$label" "$round" "$(chat_args "$a" "$b")" "$pa" "$pb" ${rabbit:+"$rabbit"}
    stop "$pa" "$pb"
  done
  if [ -n "$(redis_pid)" ] && "$BIN/demo-chat" --help 2>&1 | grep -q -- --redis; then
    start_demo a redis; a=$LAST_URL; pa=$LAST_PID
    start_demo b redis; b=$LAST_URL; pb=$LAST_PID
    sleep 1
    load "chat redis-two" "$round" "$(chat_args "$a" "$b")" "$pa" "$pb" "$(redis_pid)"
    stop "$pa" "$pb"
  fi
}

for round in $(seq "$ROUNDS"); do
  if wants fanout; then fanout_round "$round"; fi
  if wants chat; then chat_round "$round"; fi
done
echo "results: $RESULTS"

#!/usr/bin/env bash
# One instance on the embedded broker against two instances relaying to RabbitMQ, same load:
# the chat scenario (b) of bench/run.sh, 10 publishers -> 10 subscribers through the demo's
# `/app/chat/<room>` handler, 256-byte JSON. With the relay, subscribers connect to instance A
# and publishers to instance B, so every message crosses RabbitMQ.
# Writes one JSON line per setup to bench/last-run/relay.jsonl. Needs RabbitMQ with its STOMP
# plugin on 127.0.0.1:61613 (bash tests/relay/start-rabbitmq.sh) and release builds
# (cargo build --release -p tests -p demo-chat). Bounded: --duration seconds per setup.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release}
DURATION=${DURATION:-12}
OUT=${OUT:-$ROOT/bench/out/relay}
mkdir -p "$OUT" "$ROOT/bench/last-run"
RESULTS="$ROOT/bench/last-run/relay.jsonl"
: > "$RESULTS"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start_demo() { # name [relay]
  local log="$OUT/demo-$1.log"
  if [ "${2:-}" = relay ]; then
    "$BIN/demo-chat" --addr 127.0.0.1:0 --relay 127.0.0.1:61613 > "$log" 2>&1 &
  else
    "$BIN/demo-chat" --addr 127.0.0.1:0 > "$log" 2>&1 &
  fi
  PIDS+=($!)
  LAST_PID=$!
  for _ in $(seq 100); do grep -q "STOMP at ws://" "$log" && break; sleep 0.1; done
  LAST_URL=$(grep -o 'ws://127.0.0.1:[0-9]*/ws' "$log" | head -1)
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

load() { # label url publish_url pids...
  local label=$1 url=$2 publish=$3; shift 3
  local before=() after=() i
  for p in "$@"; do before+=("$(cpu_ticks "$p")"); done
  local line
  line=$("$BIN/stomp-load" fanout --url "$url" --publish-url "$publish" --login bench --passcode bench \
    --send-dest /app/chat/bench --sub-dest /topic/chat/bench --subscribers 10 --publishers 10 \
    --rate 0 --window 200 --body json --body-size 256 --duration "$DURATION" --quiet --label "$label")
  for p in "$@"; do after+=("$(cpu_ticks "$p")"); done
  local ticks=0
  for i in "${!before[@]}"; do ticks=$((ticks + after[i] - before[i])); done
  local hz; hz=$(getconf CLK_TCK)
  echo "$line" | python3 -c "import json,sys; d=json.load(sys.stdin); d['servers_cpu_s']=round($ticks/$hz,2); d['setup']='$label'; print(json.dumps(d))" >> "$RESULTS"
  echo "== $label done"
}

start_demo one
load "one instance, embedded broker" "$LAST_URL" "$LAST_URL" "$LAST_PID"
kill "$LAST_PID"; wait "$LAST_PID" 2>/dev/null || true

start_demo a relay; A_URL=$LAST_URL; A_PID=$LAST_PID
start_demo b relay; B_URL=$LAST_URL; B_PID=$LAST_PID
sleep 1
RABBIT_PID=$(pgrep -f 'beam.smp' | head -1 || true)
load "two instances on the RabbitMQ relay" "$A_URL" "$B_URL" "$A_PID" "$B_PID" ${RABBIT_PID:+"$RABBIT_PID"}
echo "results: $RESULTS"

#!/usr/bin/env bash
# One instance on the embedded broker against two instances on the Redis backplane, same
# load: 1 publisher -> SUBSCRIBERS (100) subscribers of one topic, 64-byte bodies, as fast
# as the window allows. On the backplane the subscribers connect to instance A and the
# publisher to instance B, so every message crosses Redis.
# Writes one JSON line per setup to bench/last-run/redis.jsonl. Needs redis-server on
# 127.0.0.1:6379 (bash tests/redis/start-redis.sh) and release builds
# (cargo build --release -p tests --bin interop_server --bin stomp-load).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release}
DURATION=${DURATION:-10}
SUBSCRIBERS=${SUBSCRIBERS:-100}
OUT=${OUT:-$ROOT/bench/out/redis}
mkdir -p "$OUT" "$ROOT/bench/last-run"
RESULTS="$ROOT/bench/last-run/redis.jsonl"
: > "$RESULTS"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start_server() { # name [redis]
  local log="$OUT/server-$1.log"
  # The interop server serves until its stdin ends: keep it open.
  if [ "${2:-}" = redis ]; then
    STOMP_REDIS_URL=redis://127.0.0.1:6379 "$BIN/interop_server" > "$log" 2>"$log.err" < <(sleep 100000) &
  else
    "$BIN/interop_server" > "$log" 2>"$log.err" < <(sleep 100000) &
  fi
  PIDS+=($!)
  LAST_PID=$!
  for _ in $(seq 100); do grep -q "LISTENING" "$log" && break; sleep 0.1; done
  LAST_URL="ws://127.0.0.1:$(awk '/LISTENING/ {print $2; exit}' "$log")/ws"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

load() { # label url publish_url pids...
  local label=$1 url=$2 publish=$3; shift 3
  local before=() after=() i
  for p in "$@"; do before+=("$(cpu_ticks "$p")"); done
  local line
  line=$("$BIN/stomp-load" fanout --url "$url" --publish-url "$publish" \
    --sub-dest /topic/bench/redis --subscribers "$SUBSCRIBERS" --publishers 1 \
    --rate 0 --body-size 64 --duration "$DURATION" --quiet --label "$label")
  for p in "$@"; do after+=("$(cpu_ticks "$p")"); done
  local ticks=0
  for i in "${!before[@]}"; do ticks=$((ticks + after[i] - before[i])); done
  local hz; hz=$(getconf CLK_TCK)
  echo "$line" | python3 -c "import json,sys; d=json.load(sys.stdin); d['servers_cpu_s']=round($ticks/$hz,2); d['setup']='$label'; print(json.dumps(d))" >> "$RESULTS"
  echo "== $label done"
}

start_server one
load "one instance, embedded broker" "$LAST_URL" "$LAST_URL" "$LAST_PID"
kill "$LAST_PID"; wait "$LAST_PID" 2>/dev/null || true

start_server a redis; A_URL=$LAST_URL; A_PID=$LAST_PID
start_server b redis; B_URL=$LAST_URL; B_PID=$LAST_PID
sleep 1
REDIS_PID=$(pgrep -x redis-server | head -1 || true)
load "two instances on the Redis backplane" "$A_URL" "$B_URL" "$A_PID" "$B_PID" ${REDIS_PID:+"$REDIS_PID"}
echo "results: $RESULTS"

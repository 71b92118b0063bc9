#!/usr/bin/env bash
# Side-by-side benchmark: the framework, a bare tokio-tungstenite broadcaster, RabbitMQ
# Web-STOMP and the Spring reference app, same scenarios, same load tool (stomp-load), one run. Writes one JSON line per
# (scenario, server) to $OUT/results.jsonl (default bench/out, with the servers' logs),
# copies it to bench/last-run/, then bench/chart.py turns it into bench/results.svg and the
# generated section of BENCHMARKS.md. Run it as root (RabbitMQ is started as its own user).
#
#   bench/run.sh [--only a,b,c,d,e,f,churn] [--servers fw,bare,rabbit,spring] [--duration SECS]
#                [--rounds N] [--pin] [--no-build] [--no-report] [--out DIR]
#
# Servers (all on 127.0.0.1, all release builds):
#   fw      the framework: tests' interop_server (embedded simple broker, heart-beats 10 s,
#           default limits; lets clients SEND to /topic) for a, c, d, e, f, churn, and the
#           demo chat (demo-chat, `/app/chat/<room>` handler → `/topic/chat/<room>`) for b.
#   bare    tests' bare_broadcaster: tokio-tungstenite only, the ceiling of this stack.
#   rabbit  RabbitMQ Web-STOMP (Debian rabbitmq-server, plugins rabbitmq_stomp and
#           rabbitmq_web_stomp), ws://127.0.0.1:15674/ws, guest/guest. Clients ask for no
#           heart-beats there: RabbitMQ 3.10's heart-beat process crashes on the flow-control
#           `resume` message under load and takes the connection with it.
#   spring  the Spring Boot reference app (tests/spring: simple broker with a heart-beat
#           scheduler; `/app/chat/{room}` → `/topic/chat/{room}` for b), on a JVM warmed up
#           by one unrecorded run of the scenario before each measured one. Needs Java 17+
#           and Maven (bash tests/spring/install.sh).
# FW_VARIANTS="name:/path/to/target/release ..." adds framework builds to compare (for
# example a patched copy), run exactly like fw.
#
# Every run is bounded (--duration per scenario, default 12 s; a, b and d run --rounds
# times, default 5) and targets 127.0.0.1 only.
set -euo pipefail

ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
# BIN=DIR runs binaries built elsewhere (with --no-build).
BIN=${BIN:-$ROOT/target/release}
OUT="$ROOT/bench/out"
ONLY="a,b,c,d,e,f,churn"
SERVERS="fw,bare,rabbit,spring"
DURATION=12
ROUNDS=5
# --pin: the server on core 0, the load tool on core 1 (RabbitMQ is not pinned). Without it
# both share both cores, as the targets are stated, and whole runs land in a faster or a
# slower mode; pinned runs are steady, which is what comparing two builds needs.
PIN_SERVER=""
PIN_LOAD=""
BUILD=1
REPORT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --pin) PIN_SERVER="taskset -c 0"; PIN_LOAD="taskset -c 1"; shift ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-report) REPORT=0; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
LOG="$OUT/run.log"
: > "$LOG"

say() { echo "== $*" | tee -a "$LOG" >&2; }
wants() { [[ ",$ONLY," == *",$1,"* ]]; }

if [ "$BUILD" = 1 ]; then
  say "building (release)"
  (cd "$ROOT" && cargo build --release -p tests -p demo-chat 2>&1 | tail -1)
fi
LOAD="$BIN/stomp-load"
if [[ ",$SERVERS," == *",spring,"* ]]; then
  if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then
    say "building the Spring reference app"
    (cd "$ROOT/tests/spring" && mvn -q -B -DskipClientTests=true package >&2)
  else
    say "Java or Maven is missing (bash tests/spring/install.sh): running without Spring"
    SERVERS=$(echo ",$SERVERS," | sed 's/,spring,/,/; s/^,//; s/,$//')
  fi
fi
if [[ ",$SERVERS," == *",rabbit,"* ]] && ! command -v rabbitmqctl >/dev/null 2>&1; then
  say "RabbitMQ is not installed (apt-get install rabbitmq-server): running without it"
  SERVERS=$(echo ",$SERVERS," | sed 's/,rabbit,/,/; s/^,//; s/,$//')
fi

# 100,000 sessions need 100,000 descriptors in the server; take whatever the hard limit allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
say "open files limit: $NOFILE"

# --- machine ---------------------------------------------------------------------------
{
  echo "{\"machine\": {"
  echo "  \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\","
  echo "  \"cores\": $(nproc),"
  echo "  \"mem_gib\": $(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo),"
  echo "  \"kernel\": \"$(uname -r)\","
  echo "  \"os\": \"$(. /etc/os-release && echo "$PRETTY_NAME")\","
  echo "  \"rustc\": \"$(rustc --version)\","
  echo "  \"rabbitmq\": \"$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo none)\","
  echo "  \"nofile\": $NOFILE,"
  echo "  \"commit\": \"$(git -C "$BIN" rev-parse --short HEAD 2>/dev/null || echo unknown)\","
  echo "  \"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\""
  echo "}}"
} | tr -d '\n' > "$OUT/machine.json"
echo >> "$OUT/machine.json"

# --- servers ---------------------------------------------------------------------------
SERVER_PID=""
SERVER_URL=""
STARTED_RABBIT=0
STDIN_FIFO="$OUT/.stdin"

# interop_server stops when its stdin ends: give it a FIFO that this script holds open.
rm -f "$STDIN_FIFO"; mkfifo "$STDIN_FIFO"; exec 9<>"$STDIN_FIFO"

wait_line() { # file pattern [tenths of a second, default 100]
  for _ in $(seq "${3:-100}"); do
    if grep -q "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "run.sh: no '$2' in $1" >&2; return 1
}

# Debian's `rabbitmq-server` switches to the rabbitmq user through `su`, whose PAM limits
# bring the open-files limit back to 1024 (about 900 connections). Start the node as that
# user with setpriv instead, which keeps this shell's limit.
start_rabbit() {
  rabbitmq-plugins enable --offline rabbitmq_stomp rabbitmq_web_stomp >/dev/null
  (cd /var/lib/rabbitmq && HOME=/var/lib/rabbitmq setsid setpriv --reuid=rabbitmq \
    --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server \
    > "$OUT/rabbitmq.log" 2>&1 < /dev/null &)
  STARTED_RABBIT=1
  for _ in $(seq 120); do
    if (exec 3<>/dev/tcp/127.0.0.1/15674) 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "run.sh: RabbitMQ Web-STOMP did not open 127.0.0.1:15674; see $OUT/rabbitmq.log" >&2
  return 1
}

start_server() { # kind bin_dir scenario
  local kind=$1 dir=$2 scenario=$3 log="$OUT/server-$1-$3.log"
  case "$kind" in
    fw:demo)
      $PIN_SERVER "$dir/demo-chat" --addr 127.0.0.1:0 > "$log" 2>&1 &
      SERVER_PID=$!
      wait_line "$log" "STOMP at ws://"
      SERVER_URL=$(grep -o 'ws://127.0.0.1:[0-9]*/ws' "$log" | head -1) ;;
    fw)
      $PIN_SERVER "$dir/interop_server" --addr 127.0.0.1:0 <&9 > "$log" 2>"$log.err" &
      SERVER_PID=$!
      wait_line "$log" LISTENING
      SERVER_URL="ws://127.0.0.1:$(awk '/LISTENING/ {print $2}' "$log")/ws" ;;
    bare)
      $PIN_SERVER "$BIN/bare_broadcaster" --addr 127.0.0.1:0 > "$log" 2>&1 &
      SERVER_PID=$!
      wait_line "$log" LISTENING
      SERVER_URL="ws://127.0.0.1:$(awk '/LISTENING/ {print $2}' "$log")/ws" ;;
    spring)
      local port
      port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      # run.sh execs the JVM: its pid is the server's.
      SPRING_JAVA_OPTS="-Xss512k" $PIN_SERVER bash "$ROOT/tests/spring/run.sh" "$port" > "$log" 2>&1 &
      SERVER_PID=$!
      wait_line "$log" "Started ReferenceApplication" 1200
      SERVER_URL="ws://127.0.0.1:$port/ws" ;;
    rabbit)
      if rabbitmqctl -q status >/dev/null 2>&1; then
        SERVER_PID=$(rabbitmqctl -q eval 'list_to_integer(os:getpid()).')
        local soft
        soft=$(awk '/Max open files/ {print $4}' "/proc/$SERVER_PID/limits")
        if [ "$soft" -lt 12000 ]; then
          say "RabbitMQ runs with $soft open files at most: restarting it with $NOFILE"
          rabbitmqctl -q stop >/dev/null 2>&1 || true
          start_rabbit
        fi
      else
        start_rabbit
      fi
      SERVER_PID=$(rabbitmqctl -q eval 'list_to_integer(os:getpid()).')
      SERVER_URL="ws://127.0.0.1:15674/ws" ;;
  esac
  sleep 0.5
}

stop_server() { # kind
  if [ "$1" != rabbit ] && [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

cleanup() {
  stop_server fw
  if [ "$STARTED_RABBIT" = 1 ]; then rabbitmqctl -q stop >/dev/null 2>&1 || true; fi
  exec 9>&- || true
  rm -f "$STDIN_FIFO"
}
trap cleanup EXIT

# The flags that differ per server: credentials, virtual host, heart-beats, destination.
server_flags() { # kind
  case "$1" in
    rabbit) echo "--login guest --passcode guest --host / --heartbeat 0,0" ;;
    # Spring's simple broker sends no RECEIPT for SUBSCRIBE.
    spring) echo "--login bench --passcode bench --no-subscribe-receipts" ;;
    *) echo "--login bench --passcode bench" ;;
  esac
}

run_load() { # scenario server mode flags...
  local scenario=$1 server=$2; shift 2
  say "$scenario / $server: stomp-load $*"
  local line
  if line=$($PIN_LOAD "$LOAD" "$@" --server-pid "$SERVER_PID" --label "$scenario/$server" 2>>"$LOG"); then
    echo "$line" | python3 -c "
import json, sys
d = json.load(sys.stdin)
d['scenario'] = '$scenario'; d['server_kind'] = '$server'; d['round'] = $ROUND
print(json.dumps(d))" >> "$RESULTS"
    echo "$line" | cut -c1-400 >> "$LOG"
  else
    echo "{\"scenario\": \"$scenario\", \"server_kind\": \"$server\", \"round\": $ROUND, \"failed\": true}" >> "$RESULTS"
    say "$scenario / $server: stomp-load failed"
  fi
}

# Each scenario runs against each server, a fresh server process each time (RabbitMQ is
# started once and kept: it takes ~10 s to boot).
for_each_server() { # scenario function
  local scenario=$1 fn=$2 entry name dir
  local list=()
  IFS=',' read -r -a kinds <<< "$SERVERS"
  for kind in "${kinds[@]}"; do
    case "$kind" in
      fw) list+=("fw:$BIN")
          for entry in ${FW_VARIANTS:-}; do list+=("${entry%%:*}:${entry#*:}"); done ;;
      *) list+=("$kind:") ;;
    esac
  done
  for entry in "${list[@]}"; do
    name=${entry%%:*}; dir=${entry#*:}
    "$fn" "$scenario" "$name" "$dir"
  done
}

# The framework's kind for start_server: fw and every variant run the same binaries.
fw_kind() { case "$1" in bare|rabbit|spring) echo "$1" ;; *) echo fw ;; esac; }

# The JVM compiles its hot paths as it runs: Spring gets one unrecorded run of the same load
# before the measured one.
warm_up() { # kind stomp-load args...
  local kind=$1; shift
  if [ "$kind" = spring ]; then
    say "warming up the JVM"
    $PIN_LOAD "$LOAD" "$@" --server-pid "$SERVER_PID" --label warm-up > /dev/null 2>>"$LOG" || true
  fi
}

scenario_fanout() { # scenario name dir: a, c, d
  local scenario=$1 name=$2 dir=$3 kind; kind=$(fw_kind "$2")
  local dest=/topic/bench.$scenario
  local args
  case "$scenario" in
    a) args="--subscribers 100 --publishers 1 --rate 0 --window 1000 --body-size 64" ;;
    c) args="--subscribers 1000 --publishers 1 --rate 1000 --window 1000 --body-size 64 --connect-concurrency 32" ;;
    d) args="--subscribers 10 --publishers 1 --rate 2000 --window 1000 --body-size 64" ;;
  esac
  start_server "$kind" "$dir" "$scenario"
  # shellcheck disable=SC2046,SC2086
  warm_up "$kind" fanout --url "$SERVER_URL" $(server_flags "$kind") \
    --sub-dest "$dest" --duration "$DURATION" --quiet $args
  # shellcheck disable=SC2046,SC2086
  run_load "$scenario" "$name" fanout --url "$SERVER_URL" $(server_flags "$kind") \
    --sub-dest "$dest" --duration "$DURATION" --quiet $args
  stop_server "$kind"
}

scenario_chat() { # b: 10 publishers -> 10 subscribers, 256-byte JSON
  local scenario=$1 name=$2 dir=$3 kind; kind=$(fw_kind "$2")
  local dests
  if [ "$kind" = fw ]; then
    start_server fw:demo "$dir" "$scenario"
    dests="--send-dest /app/chat/bench --sub-dest /topic/chat/bench"
  elif [ "$kind" = spring ]; then
    start_server spring "$dir" "$scenario"
    dests="--send-dest /app/chat/bench --sub-dest /topic/chat/bench"
  else
    start_server "$kind" "$dir" "$scenario"
    dests="--sub-dest /topic/chat.bench"
  fi
  # shellcheck disable=SC2046,SC2086
  warm_up "$kind" fanout --url "$SERVER_URL" $(server_flags "$kind") $dests \
    --subscribers 10 --publishers 10 --rate 0 --window 200 --body json --body-size 256 \
    --duration "$DURATION" --quiet
  # shellcheck disable=SC2046,SC2086
  run_load "$scenario" "$name" fanout --url "$SERVER_URL" $(server_flags "$kind") $dests \
    --subscribers 10 --publishers 10 --rate 0 --window 200 --body json --body-size 256 \
    --duration "$DURATION" --quiet
  stop_server "$kind"
}

scenario_idle() { # e: 10,000 idle sessions
  local scenario=$1 name=$2 dir=$3 kind; kind=$(fw_kind "$2")
  start_server "$kind" "$dir" "$scenario"
  # shellcheck disable=SC2046
  warm_up "$kind" conns --url "$SERVER_URL" $(server_flags "$kind") \
    --sub-dest /topic/idle.w --count 2000 --hold 2 --connect-concurrency 64 --quiet
  # shellcheck disable=SC2046
  run_load "$scenario" "$name" conns --url "$SERVER_URL" $(server_flags "$kind") \
    --sub-dest /topic/idle.e --count 10000 --hold 10 --connect-concurrency 64 --quiet
  stop_server "$kind"
}

# Throughput, CPU per delivery and latency move with how the server and the load tool share
# the two cores (whole runs land in a faster or a slower mode): a, b and d run $ROUNDS
# rounds, servers taking turns. The report compares each round's servers with each other
# and gives the median of those ratios, and lists every round.
# Each result line carries its round, so that the report pairs the servers of one round even
# when a run failed.
ROUND=1
if wants a; then for ROUND in $(seq "$ROUNDS"); do for_each_server a scenario_fanout; done; fi
if wants b; then for ROUND in $(seq "$ROUNDS"); do for_each_server b scenario_chat; done; fi
ROUND=1
if wants c; then for_each_server c scenario_fanout; fi
if wants d; then for ROUND in $(seq "$ROUNDS"); do for_each_server d scenario_fanout; done; fi
ROUND=1
if wants e; then for_each_server e scenario_idle; fi

# (f) framework only: 100,000 idle sessions, or as many as the descriptor limit allows
# (the server and the load tool each need one descriptor per session).
if wants f; then
  SERVERS_F=$(echo "$SERVERS" | tr ',' '\n' | grep -x fw || true)
  if [ -n "$SERVERS_F" ]; then
    COUNT=100000
    if [ "$NOFILE" -lt $((COUNT + 200)) ]; then COUNT=$((NOFILE - 200)); fi
    say "f: $COUNT sessions (open files limit $NOFILE)"
    start_server fw "$BIN" f
    run_load f fw conns --url "$SERVER_URL" --login bench --passcode bench \
      --sub-dest /topic/idle.f --count "$COUNT" --per-ip 5000 --hold 10 \
      --connect-concurrency 128 --probe-timeout 60 --quiet
    stop_server fw
    # The same 100,000 sessions with the descriptors out of the way: server and clients in
    # one process over in-memory pipes (the memory then includes the clients and the pipes).
    say "f-mem: 100000 sessions in one process, in-memory pipes"
    if line=$("$BIN/sessions_in_memory" --count 100000 --hold 10 2>>"$LOG"); then
      echo "$line" | python3 -c "
import json, sys
d = json.loads(sys.stdin.read()); d['scenario'] = 'f-mem'; d['server_kind'] = 'fw'
print(json.dumps(d))" >> "$RESULTS"
    else
      echo '{"scenario": "f-mem", "server_kind": "fw", "failed": true}' >> "$RESULTS"
      say "f-mem: sessions_in_memory failed"
    fi
  fi
fi

# Churn, framework only: sessions come and go; memory must return to its baseline.
if wants churn && [[ ",$SERVERS," == *",fw,"* ]]; then
  start_server fw "$BIN" churn
  run_load churn fw churn --url "$SERVER_URL" --login bench --passcode bench \
    --workers 50 --duration "$DURATION" --warmup 3 --settle 3 --quiet
  stop_server fw
fi

say "results: $RESULTS"
if [ "$REPORT" = 1 ]; then
  # The committed copy of the last run, from which the chart and the tables are made.
  mkdir -p "$ROOT/bench/last-run"
  cp "$RESULTS" "$OUT/machine.json" "$ROOT/bench/last-run/"
  python3 "$ROOT/bench/chart.py" "$ROOT/bench/last-run" --svg "$ROOT/bench/results.svg" \
    --markdown "$ROOT/BENCHMARKS.md"
fi

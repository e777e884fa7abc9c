#!/usr/bin/env bash
# The load benchmark: bare axum (the limit), this project, tower-sessions and express-session,
# each on the memory store and on Redis, driven by wrk on 127.0.0.1, with the same handlers
# (bench/src/apps.rs; bench/express/app.js for express-session).
#
#   bash bench/load.sh     # ~10 minutes; the report is printed and kept in target/load/report.md
#
# Settings (environment): ROUNDS (6), DURATION (s per wrk run, 3), WARMUP (s of unrecorded load
# per system and route, 1), COUNT_DURATION (s per byte-counting run, 2), CONNECTIONS (2),
# THREADS (wrk threads, 1), SESSIONS (cookies per session kind, 64), PORT (first of 10 ports,
# 8090), REDIS_PORT (6390: a private redis-server started and stopped here). For a quicker
# look at a few of them: SYSTEMS (bare ours-memory tower-memory ours-redis tower-redis
# express-memory express-redis), COUNTED (ours-memory-count tower-memory-count
# express-memory-count; may be empty) and ROUTES (none read incr large).
#
# express-session needs Node.js (18 or later): without `node` it is left out. Its packages are
# the versions bench/express/package-lock.json pins, installed by `npm ci` on the first run.
# Node runs JavaScript on one thread, so express-session uses one core where the Rust servers
# may use both; its CPU µs per request is the comparison that does not depend on that.
#
# All systems are served at once, one process each (`load serve`, `node`), idle unless measured.
# Each gets SESSIONS small and SESSIONS large sessions, created over HTTP with curl. Then ROUNDS
# rounds, each running wrk once per route and system, interleaved (and the system order rotated
# every round), so a change in background load hits every system alike; the report takes the median
# of the rounds, and each ratio is the median of the per-round ratios. Every request carries the
# next cookie of the pool (bench/cookies.lua), as requests from many visitors would.
#
# CPU per request: the user + system time (/proc/<pid>/stat) the server process, and on Redis the
# redis-server, used during each run, divided by its requests.
#
# Bytes written to the store per request: on Redis, Redis's own `total_net_input_bytes` before
# and after each run divided by its requests (everything the app sent to Redis, reads'
# commands included); on the memory stores, a separate COUNT_DURATION run per route against a
# server whose store is wrapped in a counting store (`--count-bytes`), so counting never slows
# the throughput runs.
#
# wrk and the servers share the machine's cores; nothing leaves the loopback interface.
set -euo pipefail

ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
COUNT_DURATION=${COUNT_DURATION:-2}
CONNECTIONS=${CONNECTIONS:-2}
THREADS=${THREADS:-1}
SESSIONS=${SESSIONS:-64}
PORT=${PORT:-8090}
REDIS_PORT=${REDIS_PORT:-6390}

cd "$(dirname "$0")/.."
OUT=target/load
mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
REDIS_URL=redis://127.0.0.1:$REDIS_PORT

for tool in wrk redis-server curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "installing $tool" >&2
    apt-get install -y "$tool" >/dev/null
  fi
done

cargo build --release -p session-bench --bin load
BIN=target/release/load

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  echo "port $REDIS_PORT already has a Redis; set REDIS_PORT to a free port" >&2
  exit 1
fi
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --logfile "$PWD/$OUT/redis.log" &
REDIS_PID=$!
PIDS+=($REDIS_PID)
for _ in $(seq 50); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$REDIS_PORT" ping >/dev/null

# name: system store [--count-bytes]
declare -A SERVE=(
  [bare]="bare -"
  [ours-memory]="ours memory"
  [tower-memory]="tower memory"
  [ours-redis]="ours redis"
  [tower-redis]="tower redis"
  [ours-memory-count]="ours memory --count-bytes"
  [tower-memory-count]="tower memory --count-bytes"
  [express-memory]="express memory"
  [express-redis]="express redis"
  [express-memory-count]="express memory --count-bytes"
)
DEFAULT_SYSTEMS="bare ours-memory tower-memory ours-redis tower-redis"
DEFAULT_COUNTED="ours-memory-count tower-memory-count"
if command -v node >/dev/null; then
  DEFAULT_SYSTEMS+=" express-memory express-redis"
  DEFAULT_COUNTED+=" express-memory-count"
else
  echo "node not found: express-session is left out (apt-get install nodejs npm to include it)" >&2
fi
read -r -a SYSTEMS <<<"${SYSTEMS:-$DEFAULT_SYSTEMS}"
read -r -a COUNTED <<<"${COUNTED-$DEFAULT_COUNTED}"
read -r -a ROUTES <<<"${ROUTES:-none read incr large}"
declare -A PORT_OF=() PID_OF=()

if [[ " ${SYSTEMS[*]} ${COUNTED[*]} " == *" express-"* && ! -d bench/express/node_modules ]]; then
  # The versions package-lock.json pins, from the npm registry.
  npm ci --prefix bench/express --no-audit --no-fund >&2
fi

start_servers() {
  local port=$PORT name system store flag
  for name in "${SYSTEMS[@]}" "${COUNTED[@]}"; do
    read -r system store flag <<<"${SERVE[$name]} "
    if [ "$system" = express ]; then
      # As Node apps run in production (Express skips its development-only work).
      NODE_ENV=production node bench/express/app.js --store "$store" --port "$port" --redis "$REDIS_URL" \
        --max-seconds 1200 ${flag:-} &
    else
      "$BIN" serve --system "$system" --store "$store" --port "$port" --redis "$REDIS_URL" \
        --max-seconds 1200 ${flag:-} &
    fi
    PIDS+=($!)
    PID_OF[$name]=$!
    PORT_OF[$name]=$port
    port=$((port + 1))
  done
  for name in "${SYSTEMS[@]}" "${COUNTED[@]}"; do
    for _ in $(seq 100); do
      curl -fs "http://127.0.0.1:${PORT_OF[$name]}/__stats" >/dev/null 2>&1 && continue 2
      sleep 0.1
    done
    echo "server $name did not start" >&2
    exit 1
  done
}

make_sessions() { # name path file
  local url="http://127.0.0.1:${PORT_OF[$1]}$2"
  : >"$3"
  for _ in $(seq "$SESSIONS"); do
    if [ "$1" = bare ]; then
      # No session layer: a cookie of the same shape, so wrk sends the same bytes.
      echo "connect.sid=s%3A$(head -c 24 /dev/urandom | base64 | tr '+/' '-_').$(head -c 32 /dev/urandom | base64 | tr -d '=')" >>"$3"
    else
      curl -fs -D - -o /dev/null "$url" | tr -d '\r' | grep -i '^set-cookie:' | head -n 1 |
        sed -e 's/^[^:]*: *//' -e 's/;.*//' >>"$3"
    fi
  done
  if [ "$(grep -c . "$3")" -ne "$SESSIONS" ]; then
    echo "could not create $SESSIONS sessions with $url" >&2
    exit 1
  fi
}

cookies_for() { # name route
  if [ "$2" = large ]; then echo "$OUT/$1.large.cookies"; else echo "$OUT/$1.small.cookies"; fi
}

# Runs wrk; sets REQUESTS, DURATION_US, P99_US, ERRORS.
run_wrk() { # name route seconds
  local line
  line=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$3"s -s bench/cookies.lua \
    "http://127.0.0.1:${PORT_OF[$1]}/$2" -- "$(cookies_for "$1" "$2")" | grep '^RESULT')
  REQUESTS=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
  DURATION_US=$(sed -E 's/.*duration_us=([0-9]+).*/\1/' <<<"$line")
  P99_US=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")
  ERRORS=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")
}

redis_in() {
  redis-cli -p "$REDIS_PORT" info stats | tr -d '\r' | sed -n 's/^total_net_input_bytes://p'
}

stored_bytes() { # name
  curl -fs "http://127.0.0.1:${PORT_OF[$1]}/__stats" | cut -d' ' -f1
}

per_request() { # before after requests
  awk -v b="$1" -v a="$2" -v n="$3" 'BEGIN { printf "%.1f", n ? (a - b) / n : 0 }'
}

TICKS=$(getconf CLK_TCK)
cpu_ticks() { # pid: user + system time so far, in clock ticks
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

cpu_us_per_request() { # before after requests
  awk -v b="$1" -v a="$2" -v n="$3" -v t="$TICKS" \
    'BEGIN { printf "%.1f", n ? (a - b) / t * 1e6 / n : 0 }'
}

record() { # name round bytes server-cpu redis-cpu
  local system store
  read -r system store _ <<<"${SERVE[$1]}"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$store" "$ROUTE" "$2" \
    "$REQUESTS" "$DURATION_US" "$P99_US" "$ERRORS" "$3" "$4" "$5" | tee -a "$RESULTS" >&2
}

{
  echo "# load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "# machine: $(nproc) cores ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), $(free -g | awk '/Mem:/ {print $2}') GiB; $(redis-server --version | cut -d' ' -f1-3)"
  echo "# wrk -t$THREADS -c$CONNECTIONS; $ROUNDS rounds of ${DURATION}s per system and route (median reported), ${WARMUP}s warm-up, ${COUNT_DURATION}s byte-counting runs; $SESSIONS sessions per kind"
  echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- session session-derive 2>/dev/null || echo ' + uncommitted changes in session/')"
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/header.txt" >&2

start_servers
for name in "${SYSTEMS[@]}" "${COUNTED[@]}"; do
  make_sessions "$name" /init "$(cookies_for "$name" read)"
  make_sessions "$name" /init-large "$(cookies_for "$name" large)"
done

echo "# system store route round requests duration_us p99_us errors store_bytes_per_request server_cpu_us_per_request redis_cpu_us_per_request" >"$RESULTS"
for ROUTE in "${ROUTES[@]}"; do
  for name in "${COUNTED[@]}"; do
    before=$(stored_bytes "$name")
    run_wrk "$name" "$ROUTE" "$COUNT_DURATION"
    after=$(stored_bytes "$name")
    record "$name" count "$(per_request "$before" "$after" "$REQUESTS")" - -
  done
  for name in "${SYSTEMS[@]}"; do
    run_wrk "$name" "$ROUTE" "$WARMUP"
  done
done

for round in $(seq "$ROUNDS"); do
  for ROUTE in "${ROUTES[@]}"; do
    count=${#SYSTEMS[@]}
    for i in $(seq 0 $((count - 1))); do
      name=${SYSTEMS[$(((i + round) % count))]}
      bytes=- redis_cpu=-
      [[ $name == *redis ]] && before=$(redis_in) && redis_before=$(cpu_ticks "$REDIS_PID")
      cpu_before=$(cpu_ticks "${PID_OF[$name]}")
      run_wrk "$name" "$ROUTE" "$DURATION"
      cpu=$(cpu_us_per_request "$cpu_before" "$(cpu_ticks "${PID_OF[$name]}")" "$REQUESTS")
      if [[ $name == *redis ]]; then
        bytes=$(per_request "$before" "$(redis_in)" "$REQUESTS")
        redis_cpu=$(cpu_us_per_request "$redis_before" "$(cpu_ticks "$REDIS_PID")" "$REQUESTS")
      fi
      record "$name" "$round" "$bytes" "$cpu" "$redis_cpu"
    done
  done
done

{
  cat "$OUT/header.txt"
  echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  "$BIN" report "$RESULTS"
  echo
  echo "req/s and p99: median over the rounds, from wrk; ratios: median of the per-round ratios."
  echo "CPU µs/req: user + system time the server process (and redis-server) used during a run,"
  echo "divided by its requests (median over the rounds); less sensitive to scheduling noise than req/s."
  echo "wrk and the servers share the $(nproc) cores."
  echo "store bytes/req: Redis = total_net_input_bytes delta / requests (every command the app"
  echo "sent, reads included); memory = what a counting store wrapper was asked to write (this"
  echo "project: cookie state + name and bytes of each written field; tower-sessions: MessagePack"
  echo "size of each saved record; express-session: the JSON its MemoryStore keeps on each set"
  echo "and touch), from separate ${COUNT_DURATION}s runs."
} | tee "$OUT/report.md"

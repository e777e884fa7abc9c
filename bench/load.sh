#!/usr/bin/env bash
# The load benchmark: this project's session layer, tower-sessions and express-session, each on
# the memory store and on Redis, beside the bare frameworks they run on (bare axum, bare
# Express), driven by wrk on 127.0.0.1 with the same handlers (bench/src/apps.rs;
# bench/express/app.js for Express).
#
#   bash bench/load.sh     # ~20 minutes; the report is printed and kept in target/load/report.md
#
# Systems (SYSTEMS): bare (axum, no session layer: the limit), express-bare (Express, no session
# middleware: what express-session's cost is measured against), ours-memory / ours-redis (this
# project, configured like tower-sessions' defaults: lazy_load), ours-default-memory /
# ours-default-redis (this project with only the secret and the store set), ours-cookie (this
# project on its CookieStore: the session sealed in the cookie, no server-side state; it has no
# large sessions, 16 KiB being over a cookie's 4 KiB, so large and large-read skip it),
# ours-turns-redis (ours-redis with store_turns: same-session requests take turns across
# processes through a lease in Redis), ours-cached-redis (ours-redis on
# RedisStore::open_cached: loads served from a client-side cache that Redis invalidates),
# tower-memory / tower-redis, express-memory / express-redis. Not in the default list, for a
# look at express's `rolling: true`: ours-rolling-memory, ours-rolling-redis and
# ours-rolling-cached-redis (ours-memory / ours-redis / ours-cached-redis with rolling and a
# max age: every response that loaded the session resends its cookie and touches it).
#
# Routes (ROUTES), each measured on every system: none (no session access, cookie sent), read
# (reads the small session's counter), incr (increments it), large (increments the counter of
# the session with a 16 KiB cart), large-read (reads that cart, answers its length), init (a
# new visitor: no cookie, a small session is created and its cookie set).
#
# Settings (environment): ROUNDS (6), DURATION (s per wrk run, 3), WARMUP (s of unrecorded
# load per system and route, 1; 0 for none), COUNT_DURATION (s per byte-counting run, 2),
# CONNECTIONS (2), THREADS (wrk threads, 1), SESSIONS (small sessions per system, 64),
# LARGE_SESSIONS (large sessions per system, SESSIONS up to 1000), PORT (first of up to 16
# ports, 8090), REDIS_PORT (6390: a private redis-server started and stopped here),
# MAX_SECONDS (every server stops by itself after this, 3600), CARGO_TARGET_DIR (where cargo
# builds `load`, target). For a quicker look at a few of them: SYSTEMS (above; default all),
# COUNTED (ours-memory-count ours-default-memory-count tower-memory-count express-memory-count;
# may be empty) and ROUTES (none read incr large large-read init).
#
# A pool of 100,000 sessions: SESSIONS=100000 (about 4 s per Rust server and 45 s per Express
# server to create here). The large sessions stay at 1000 unless LARGE_SESSIONS says otherwise:
# tower-sessions' memory store holds one in about 800 KB (its record keeps the cart as JSON
# values), so 100,000 of them would take some 80 GB.
#
# express-session needs Node.js (18 or later): without `node` both Express systems are left
# out. Its packages are the versions bench/express/package-lock.json pins, installed by
# `npm ci` on the first run. Node runs with NODE_ENV=production, as Node apps are deployed, and
# JavaScript on one thread, so Express uses one core where the Rust servers may use both; its
# CPU µs per request is the comparison that does not depend on that.
#
# All systems are served at once, one process each (`load serve`, `node`), idle unless measured.
# Each gets SESSIONS small and LARGE_SESSIONS large sessions, created over HTTP by wrk
# (bench/pool.lua: requests without a cookie to /init and /init-large, every Set-Cookie kept);
# the bare frameworks, which set no cookie, get random cookies of the same shape. Then ROUNDS
# rounds, each running wrk once per route and system, interleaved (and the system order
# rotated every round), so a change in background load hits every system alike; the report
# takes the median of the rounds, and each ratio is the median of the per-round ratios. Every
# request carries the next cookie of the pool (bench/cookies.lua), as requests from many
# visitors would, but init, which sends none.
#
# Every answer is checked (bench/cookies.lua): a status other than 200 or a body other than the
# route's answer (`ok`, the cart's length, a counter of at least what the pool's sessions hold,
# so a request that lost its session is caught) is an error. The report marks the runs that had
# any, and the script then ends with status 1.
#
# The sessions init creates stay in the memory stores until the end (this project's is bounded
# at 1,000,000 sessions and then evicts first visits first; tower-sessions' and
# express-session's are not bounded), so the memory stores grow over the rounds. On Redis they
# are deleted after every init run: every key that was not there once the pools were made goes.
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
# wrk and the servers share the machine's cores (wrk also parses every answer, to check it);
# nothing leaves the loopback interface.
set -euo pipefail

ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
COUNT_DURATION=${COUNT_DURATION:-2}
CONNECTIONS=${CONNECTIONS:-2}
THREADS=${THREADS:-1}
SESSIONS=${SESSIONS:-64}
LARGE_SESSIONS=${LARGE_SESSIONS:-$((SESSIONS < 1000 ? SESSIONS : 1000))}
PORT=${PORT:-8090}
REDIS_PORT=${REDIS_PORT:-6390}
MAX_SECONDS=${MAX_SECONDS:-3600}
# A relative CARGO_TARGET_DIR is taken from where the script was started, as cargo would.
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  CARGO_TARGET_DIR=$(realpath -m "$CARGO_TARGET_DIR")
  export CARGO_TARGET_DIR
fi

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
BIN=${CARGO_TARGET_DIR:-target}/release/load
# BASE_BIN: a `load` binary built from another commit (say, the one before a change). Each
# system named base-<system> (base-ours-memory, ...) is <system> served by it, measured in the
# same rounds as the rest; its rows are recorded as base-<system>.
BASE_BIN=${BASE_BIN:-}

serve_of() { # name: its line of SERVE, for base-<system> too
  echo "${SERVE[${1#base-}]}"
}

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
  [ours-default-memory]="ours-default memory"
  [tower-memory]="tower memory"
  [ours-redis]="ours redis"
  [ours-cookie]="ours cookie"
  [ours-turns-redis]="ours-turns redis"
  [ours-cached-redis]="ours-cached redis"
  [ours-rolling-memory]="ours-rolling memory"
  [ours-rolling-redis]="ours-rolling redis"
  [ours-rolling-cached-redis]="ours-rolling-cached redis"
  [ours-default-redis]="ours-default redis"
  [tower-redis]="tower redis"
  [ours-memory-count]="ours memory --count-bytes"
  [ours-default-memory-count]="ours-default memory --count-bytes"
  [tower-memory-count]="tower memory --count-bytes"
  [express-bare]="express-bare -"
  [express-memory]="express memory"
  [express-redis]="express redis"
  [express-memory-count]="express memory --count-bytes"
)
DEFAULT_SYSTEMS="bare ours-memory ours-default-memory tower-memory"
DEFAULT_SYSTEMS+=" ours-redis ours-default-redis ours-turns-redis ours-cached-redis tower-redis"
DEFAULT_SYSTEMS+=" ours-cookie"
DEFAULT_COUNTED="ours-memory-count ours-default-memory-count tower-memory-count"
if command -v node >/dev/null; then
  DEFAULT_SYSTEMS+=" express-bare express-memory express-redis"
  DEFAULT_COUNTED+=" express-memory-count"
else
  echo "node not found: Express is left out (apt-get install nodejs npm to include it)" >&2
fi
read -r -a SYSTEMS <<<"${SYSTEMS:-$DEFAULT_SYSTEMS}"
read -r -a COUNTED <<<"${COUNTED-$DEFAULT_COUNTED}"
read -r -a ROUTES <<<"${ROUTES:-none read incr large large-read init}"
declare -A PORT_OF=() PID_OF=()

if [[ " ${SYSTEMS[*]} ${COUNTED[*]} " == *" express-"* && ! -d bench/express/node_modules ]]; then
  # The versions package-lock.json pins, from the npm registry.
  npm ci --prefix bench/express --no-audit --no-fund >&2
fi

start_servers() {
  local port=$PORT name system store flag bin
  for name in "${SYSTEMS[@]}" "${COUNTED[@]}"; do
    read -r system store flag <<<"$(serve_of "$name") "
    if [[ $system == express* ]]; then
      # As Node apps run in production (Express skips its development-only work); bare Express
      # is app.js without a store.
      [ "$system" = express-bare ] && store=none
      NODE_ENV=production node bench/express/app.js --store "$store" --port "$port" --redis "$REDIS_URL" \
        --max-seconds "$MAX_SECONDS" ${flag:-} &
    else
      bin=$BIN
      if [[ $name == base-* ]]; then bin=${BASE_BIN:?base-* systems need BASE_BIN}; fi
      "$bin" serve --system "$system" --store "$store" --port "$port" --redis "$REDIS_URL" \
        --max-seconds "$MAX_SECONDS" ${flag:-} &
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

make_sessions() { # name path file count
  local url="http://127.0.0.1:${PORT_OF[$1]}$2" start=$EPOCHREALTIME store
  read -r _ store _ <<<"$(serve_of "$1")"
  if [ "$store" = - ]; then
    # No session layer: random cookies of the same shape, so wrk sends the same bytes
    # (57 random bytes are 76 characters of base64: a 32-character id, a 43-character MAC).
    head -c $(($4 * 57)) /dev/urandom | base64 -w 76 | tr '+/' '-_' |
      awk '{ print "connect.sid=s%3A" substr($0, 1, 32) "." substr($0, 33, 43) }' >"$3"
  elif ! wrk -t1 -c4 -d600s -s bench/pool.lua "$url" -- "$3" "$4" >/dev/null; then
    echo "could not create sessions with $url" >&2
    exit 1
  fi
  if [ "$(grep -c . "$3")" -ne "$4" ]; then
    echo "could not create $4 sessions with $url" >&2
    exit 1
  fi
  awk -v n="$4" -v s="$start" -v e="$EPOCHREALTIME" -v what="$1 $2" \
    'BEGIN { printf "%s: %d sessions in %.1f s\n", what, n, e - s }' >&2
}

skips() { # name route: whether the system has no sessions for the route (the cookie store
  # holds no large session)
  [[ $(serve_of "$1") == *" cookie"* && ($2 == large || $2 == large-read || $2 == /init-large) ]]
}

cookies_for() { # name route: the pool the route's requests carry; none for a new visitor
  case $2 in
    init) echo "" ;;
    large | large-read) echo "$OUT/$1.large.cookies" ;;
    *) echo "$OUT/$1.small.cookies" ;;
  esac
}

expected_body() { # route: what cookies.lua checks each answer against
  case $1 in
    none | init) echo "=ok" ;;
    large-read) echo "=1024" ;; # the cart's length
    read) echo ">=1" ;;         # the pool's sessions start at 1; a lost session reads 0
    incr | large) echo ">=2" ;;
  esac
}

# Runs wrk; sets REQUESTS, DURATION_US, P50_US, P99_US, ERRORS, BAD_BODY.
run_wrk() { # name route seconds
  local line
  if ! line=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$3"s -s bench/cookies.lua \
    "http://127.0.0.1:${PORT_OF[$1]}/$2" -- "$(cookies_for "$1" "$2")" "$(expected_body "$2")" |
    grep '^RESULT'); then
    echo "wrk gave no result for $1 /$2" >&2
    exit 1
  fi
  REQUESTS=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
  DURATION_US=$(sed -E 's/.*duration_us=([0-9]+).*/\1/' <<<"$line")
  P50_US=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line")
  P99_US=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")
  ERRORS=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")
  BAD_BODY=$(sed -E 's/.*bad_body=([0-9]+).*/\1/' <<<"$line")
  if [ $((ERRORS + BAD_BODY)) -gt 0 ]; then
    echo "WARNING: $1 /$2: $ERRORS failed or non-200 answers, $BAD_BODY wrong bodies" >&2
  fi
}

redis_keys() {
  redis-cli -p "$REDIS_PORT" --scan | LC_ALL=C sort
}

# Deletes the sessions new visitors created on Redis: every key not there once the pools were
# made (kept in $OUT/redis.pool.keys).
forget_new_sessions() {
  redis_keys | LC_ALL=C comm -13 "$OUT/redis.pool.keys" - |
    xargs -r -n 1000 redis-cli -p "$REDIS_PORT" unlink >/dev/null
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
  read -r system store _ <<<"$(serve_of "$1")"
  if [[ $1 == base-* ]]; then system=base-$system; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$store" "$ROUTE" \
    "$2" "$REQUESTS" "$DURATION_US" "$P50_US" "$P99_US" "$ERRORS" "$BAD_BODY" "$3" "$4" "$5" |
    tee -a "$RESULTS" >&2
}

{
  echo "# load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "# machine: $(nproc) cores ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), $(free -g | awk '/Mem:/ {print $2}') GiB; $(redis-server --version | cut -d' ' -f1-3)"
  echo "# wrk -t$THREADS -c$CONNECTIONS; $ROUNDS rounds of ${DURATION}s per system and route (median reported), ${WARMUP}s warm-up, ${COUNT_DURATION}s byte-counting runs; $SESSIONS small and $LARGE_SESSIONS large sessions per system"
  echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- session session-derive 2>/dev/null || echo ' + uncommitted changes in session/')"
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/header.txt" >&2

start_servers
for name in "${SYSTEMS[@]}" "${COUNTED[@]}"; do
  make_sessions "$name" /init "$(cookies_for "$name" read)" "$SESSIONS"
  skips "$name" /init-large && continue
  make_sessions "$name" /init-large "$(cookies_for "$name" large)" "$LARGE_SESSIONS"
done
redis_keys >"$OUT/redis.pool.keys"

echo "# system store route round requests duration_us p50_us p99_us errors bad_body store_bytes_per_request server_cpu_us_per_request redis_cpu_us_per_request" >"$RESULTS"
for ROUTE in "${ROUTES[@]}"; do
  for name in "${COUNTED[@]}"; do
    before=$(stored_bytes "$name")
    run_wrk "$name" "$ROUTE" "$COUNT_DURATION"
    after=$(stored_bytes "$name")
    record "$name" count "$(per_request "$before" "$after" "$REQUESTS")" - -
  done
  # wrk takes no zero duration: WARMUP=0 skips the warm-up.
  for name in "${SYSTEMS[@]}"; do
    [ "$WARMUP" = 0 ] && break
    skips "$name" "$ROUTE" && continue
    run_wrk "$name" "$ROUTE" "$WARMUP"
    if [[ $ROUTE == init && $name == *redis ]]; then forget_new_sessions; fi
  done
done

for round in $(seq "$ROUNDS"); do
  for ROUTE in "${ROUTES[@]}"; do
    count=${#SYSTEMS[@]}
    for i in $(seq 0 $((count - 1))); do
      name=${SYSTEMS[$(((i + round) % count))]}
      skips "$name" "$ROUTE" && continue
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
      if [[ $ROUTE == init && $name == *redis ]]; then forget_new_sessions; fi
    done
  done
done

{
  cat "$OUT/header.txt"
  echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  "$BIN" report "$RESULTS"
  echo
  echo "req/s, p50 and p99: median over the rounds, from wrk; ratios: median of the per-round"
  echo "ratios. init: new visitors (no cookie; a session created per request); every other route"
  echo "carries a cookie of the pool. errors: failed requests and answers other than 200; bad"
  echo "bodies: 200 answers with another body than the route's (⚠ marks a run with either)."
  echo "CPU µs/req: user + system time the server process (and redis-server) used during a run,"
  echo "divided by its requests (median over the rounds); less sensitive to scheduling noise than req/s."
  echo "The third table subtracts the bare framework's CPU µs/req from each session system's: what"
  echo "the session layer adds to a request. wrk and the servers share the $(nproc) cores."
  echo "store bytes/req: Redis = total_net_input_bytes delta / requests (every command the app"
  echo "sent, reads included); memory = what a counting store wrapper was asked to write (this"
  echo "project: cookie state + name and bytes of each written field; tower-sessions: MessagePack"
  echo "size of each saved record; express-session: the JSON its MemoryStore keeps on each set"
  echo "and touch), from separate ${COUNT_DURATION}s runs."
} | tee "$OUT/report.md"

# Columns 9 and 10: errors, bad_body.
failed=$(awk -F'\t' '!/^#/ { n += $9 + $10 } END { print n + 0 }' "$RESULTS")
if [ "$failed" -gt 0 ]; then
  echo "FAILED: $failed requests failed or were answered wrongly; see $RESULTS" >&2
  exit 1
fi

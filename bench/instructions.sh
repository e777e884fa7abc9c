#!/usr/bin/env bash
# Instructions per request under callgrind, for this crate's layer, tower-sessions' and bare
# axum, on the memory store and (with REDIS_URL set) on Redis: the table every performance
# change quotes (bench/README.md, "Instruction counts"). Each figure is the difference of two
# runs of `oneshot` (2N and N requests) divided by N, so start-up does not count; counts repeat
# from run to run within about 1.5 % (random ids and hash seeds).
#
#   bash bench/instructions.sh                # memory store; ~3 min on 2 cores
#   REDIS_URL=redis://127.0.0.1:6379 bash bench/instructions.sh
#
# Needs valgrind (apt-get install valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }
cargo build --release -q -p session-bench --bin oneshot
BIN="${CARGO_TARGET_DIR:-target}/release/oneshot"

# collected ROUTE COUNT SYSTEM STORE: the instructions callgrind counted for one run.
collected() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$@" 2>&1 >/dev/null \
    | awk '/Collected/ { print $NF }'
}

# per_request ROUTE N SYSTEM STORE: instructions per request, from runs of 2N and N requests.
per_request() {
  local route=$1 n=$2 system=$3 store=$4 twice once
  twice=$(collected "$route" $((2 * n)) "$system" "$store")
  once=$(collected "$route" "$n" "$system" "$store")
  echo $(((twice - once) / n))
}

echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')"
echo
echo "Memory store, instructions per request (added = over bare axum):"
echo
echo "| route | bare axum | ours | tower-sessions | ours added | tower-sessions added | ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for route in none read incr init large-read; do
  n=3000
  [ "$route" = large-read ] && n=300
  bare=$(per_request "$route" $n bare memory)
  ours=$(per_request "$route" $n ours memory)
  tower=$(per_request "$route" $n tower memory)
  awk -v r="$route" -v b="$bare" -v o="$ours" -v t="$tower" 'BEGIN {
    printf "| `%s` | %d | %d | %d | %+d | %+d | %.2f |\n", r, b, o, t, o - b, t - b, (o - b) / (t - b) }'
done

echo
echo "On the layer's defaults (\`lazy_load\` off: every request that carries a cookie loads its"
echo "session, as express-session does), memory store:"
echo
echo "| route | ours | ours, defaults | defaults added |"
echo "|---|---:|---:|---:|"
for route in none read; do
  ours=$(per_request "$route" 3000 ours memory)
  default=$(per_request "$route" 3000 ours-default memory)
  awk -v r="$route" -v o="$ours" -v d="$default" 'BEGIN {
    printf "| `%s` | %d | %d | %+d |\n", r, o, d, d - o }'
done

if [ -n "${REDIS_URL:-}" ]; then
  echo
  echo "Redis at $REDIS_URL, instructions per whole request (client side):"
  echo
  echo "| route | ours | ours, client cache | tower-sessions | ours / tower-sessions |"
  echo "|---|---:|---:|---:|---:|"
  for route in read incr init; do
    ours=$(per_request "$route" 1000 ours "$REDIS_URL")
    cached=$(per_request "$route" 1000 ours-cached "$REDIS_URL")
    tower=$(per_request "$route" 1000 tower "$REDIS_URL")
    awk -v r="$route" -v o="$ours" -v c="$cached" -v t="$tower" 'BEGIN {
      printf "| `%s` | %d | %d | %d | %.2f |\n", r, o, c, t, o / t }'
  done
  echo
  echo "Redis, on the layer's defaults (\`lazy_load\` off), whole request:"
  echo
  echo "| route | ours | ours, defaults | tower-sessions |"
  echo "|---|---:|---:|---:|"
  for route in none read; do
    ours=$(per_request "$route" 1000 ours "$REDIS_URL")
    default=$(per_request "$route" 1000 ours-default "$REDIS_URL")
    tower=$(per_request "$route" 1000 tower "$REDIS_URL")
    echo "| \`$route\` | $ours | $default | $tower |"
  done
fi

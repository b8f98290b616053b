#!/usr/bin/env bash
# A/B of Redis-backed bench servers, counted per request rather than timed: the
# server's CPU (utime + stime from /proc), Redis's CPU (INFO cpu) and how many reads
# and writes Redis made on its sockets (INFO stats). On a noisy VM these move much
# less than requests per second do, so two builds can be told apart in a few rounds.
#
#   cp bench/target/release/hallpass-bench-server /tmp/before    # build A
#   (make the change; cd bench && cargo build --release)          # build B
#   bash bench/redis-ab.sh 3 5 "before=/tmp/before --store redis" \
#     "after=bench/target/release/hallpass-bench-server --store redis"
#
# Arguments: rounds, seconds per route, then name=command pairs (servers interleaved
# in each round). The server runs pinned to CPU 0 and wrk to CPU 1 as in run.sh, on
# Redis database 15 (flushed before each server starts). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:?rounds}; DURATION=${2:?seconds}; shift 2
[ $# -gt 0 ] || { echo "give one or more name=command pairs" >&2; exit 2; }
PORT=${PORT:-18080}
URL="http://127.0.0.1:$PORT"
TOOL=bench/target/release/bench-tool
[ -x "$TOOL" ] || (cd bench && cargo build --release --quiet)
WORK=$(mktemp -d)
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
tick=$(getconf CLK_TCK)
redis_cpu() { redis-cli INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.6f", s }'; }
redis_stat() { redis-cli INFO stats | tr -d '\r' | awk -F: -v k="$1" '$1 == k { print $2 }'; }
server_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }

printf '%-5s %-10s %-7s %8s %10s %9s %11s %12s\n' round server route req/s server_us redis_us redis_reads redis_writes
for round in $(seq 1 "$ROUNDS"); do
  for entry in "$@"; do
    name=${entry%%=*}; command=${entry#*=}
    redis-cli -n 15 FLUSHDB >/dev/null
    # shellcheck disable=SC2086
    PORT=$PORT REDIS_URL="redis://127.0.0.1:6379/15" taskset -c 0 $command >"$WORK/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do curl -s -o /dev/null "$URL/read" && break; sleep 0.1; done
    "$TOOL" cookies "$URL" 1000 "$WORK/cookies.txt"
    for route in /read /count /login; do
      s0=$(server_ticks); c0=$(redis_cpu); r0=$(redis_stat total_reads_processed); w0=$(redis_stat total_writes_processed)
      if [ "$route" = /login ]; then
        out=$(taskset -c 1 wrk -t1 -c32 -d"${DURATION}s" "$URL$route")
      else
        out=$(taskset -c 1 wrk -t1 -c32 -d"${DURATION}s" -s bench/cookies.lua "$URL$route" -- "$WORK/cookies.txt")
      fi
      s1=$(server_ticks); c1=$(redis_cpu); r1=$(redis_stat total_reads_processed); w1=$(redis_stat total_writes_processed)
      n=$(awk '/requests in/ { print $1 }' <<<"$out"); rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
      awk -v round="$round" -v name="$name" -v route="$route" -v n="$n" -v rps="$rps" -v s=$((s1 - s0)) -v t="$tick" \
          -v c0="$c0" -v c1="$c1" -v r=$((r1 - r0)) -v w=$((w1 - w0)) \
        'BEGIN { printf "%-5d %-10s %-7s %8.0f %10.1f %9.1f %11.3f %12.3f\n", round, name, route, rps, s * 1e6 / t / n, (c1 - c0) * 1e6 / n, r / n, w / n }'
    done
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  done
done

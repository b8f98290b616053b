#!/usr/bin/env bash
# The HTTP load benchmarks, in one run: hallpass on axum (memory, Redis, SQLite,
# PostgreSQL) beside tower-sessions (memory, Redis, and its sqlx store on SQLite and
# PostgreSQL) and bare axum; hallpass on actix-web (memory, Redis) beside actix-session
# (cookie, Redis) and bare actix-web; on GET /read, /count and /login. Writes
# docs/BENCHMARKS.md and docs/bench.svg.
#
#   bash bench/run.sh                  # the whole run (about 25 minutes on 2 cores)
#   ROUNDS=5 DURATION=15 bash bench/run.sh
#   SCALE=0 bash bench/run.sh          # skip the 1,000,000-session scale run
#   ONLY='bare|redis' OUT=/tmp/b SCALE=0 bash bench/run.sh   # some servers (a regex on
#                                      # their names; the bare servers are always kept), report in /tmp/b
#   EXTRA='old|/tmp/old-server --store redis' ONLY='bare|hallpass-redis|old' bash bench/run.sh
#                                      # A/B: more servers ("name|command", ';' between
#                                      # them), e.g. a copy of an earlier build
#
# The server runs pinned to CPU $SERVER_CPU and wrk (1 thread, 32 connections) to CPU
# $WRK_CPU; peers are interleaved within each round and every ratio is taken against
# the bare server of the same framework (axum or actix-web) in the same round (the
# report takes the median over rounds). Redis
# database 15 of the local server is flushed, and the bench tables in PostgreSQL's
# `test` database dropped, before each server starts. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/services.sh
. scripts/services.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
SCALE=${SCALE:-1000000}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
PORT=${PORT:-18080}
REDIS_DB=15
URL="http://127.0.0.1:$PORT"
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
ONLY=${ONLY:-.}
OUT=${OUT:-docs}

command -v wrk >/dev/null || apt_install wrk
command -v taskset >/dev/null || apt_install util-linux
ensure_redis
ensure_postgres

log "building the bench servers (release)"
(cd bench && cargo build --release --quiet)
# The hallpass axum server again with hallpass's metrics on (and a Prometheus
# recorder), to publish what the feature costs; its own target directory.
(cd bench && cargo build --release --quiet --features metrics --bin hallpass-bench-server --target-dir target/metrics)
(cd bench/peer-sqlx && cargo build --release --quiet)
BIN=bench/target/release
PEER=bench/peer-sqlx/target/release
WORK=$(mktemp -d)
trap 'stop_server; rm -rf "$WORK"' EXIT
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

SERVERS=(
  "bare-axum|$BIN/bare-axum-server"
  "hallpass-memory|$BIN/hallpass-bench-server --store memory"
  "hallpass-memory-metrics|bench/target/metrics/release/hallpass-bench-server --store memory"
  "hallpass-redis|$BIN/hallpass-bench-server --store redis"
  "hallpass-sqlite|$BIN/hallpass-bench-server --store sqlite://$WORK/bench.db"
  "hallpass-postgres|$BIN/hallpass-bench-server --store $PG_URL"
  "tower-sessions-memory|$BIN/tower-sessions-server --store memory"
  "tower-sessions-redis|$BIN/tower-sessions-server --store redis"
  "tower-sessions-sqlite|$PEER/tower-sessions-sqlx-server --store sqlite://$WORK/bench.db"
  "tower-sessions-postgres|$PEER/tower-sessions-sqlx-server --store $PG_URL"
  "actix-session-cookie|$BIN/actix-session-server --store cookie"
  "actix-session-redis|$BIN/actix-session-server --store redis"
  "bare-actix|$BIN/bare-actix-server"
  "hallpass-actix-memory|$BIN/hallpass-actix-bench-server --store memory"
  "hallpass-actix-redis|$BIN/hallpass-actix-bench-server --store redis"
)

if [ -n "${EXTRA:-}" ]; then
  IFS=';' read -ra extra <<<"$EXTRA"
  SERVERS+=("${extra[@]}")
fi

PID=""
start_server() { # start_server COMMAND...
  redis-cli -n "$REDIS_DB" FLUSHDB >/dev/null
  rm -f "$WORK"/bench.db*
  psql "$PG_URL" -qc "DROP TABLE IF EXISTS hallpass_bench_sessions, hallpass_bench_principals, hallpass_bench_schema_migrations; DROP SCHEMA IF EXISTS tower_sessions CASCADE" >/dev/null 2>&1
  # shellcheck disable=SC2086
  PORT=$PORT REDIS_URL="redis://127.0.0.1:6379/$REDIS_DB" taskset -c "$SERVER_CPU" $1 >"$WORK/server.log" 2>&1 &
  PID=$!
  wait_for 30 curl -s -o /dev/null "$URL/read" || { cat "$WORK/server.log" >&2; return 1; }
}
stop_server() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi
}
peak_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status"; }
redis_memory() { redis-cli INFO memory | awk -F: '/^used_memory:/ { print $2 }' | tr -d '\r'; }
# Redis's own CPU time so far (s): it runs unpinned beside the server and wrk on this
# 2-core machine, so its cost per request is reported from these deltas.
redis_cpu() { redis-cli INFO cpu | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.6f", s }'; }
record() { printf '%s\n' "$1" >> "$RESULTS"; }

run_wrk() { # run_wrk ROUTE -> requests per second (non-2xx counted as failures)
  local route=$1 out
  if [ "$route" = /login ]; then
    out=$(taskset -c "$WRK_CPU" wrk -t1 -c32 -d"${DURATION}s" "$URL$route")
  else
    out=$(taskset -c "$WRK_CPU" wrk -t1 -c32 -d"${DURATION}s" -s bench/cookies.lua "$URL$route" -- "$WORK/cookies.txt")
  fi
  if grep -q "Non-2xx" <<<"$out"; then log "non-2xx answers on $route: $(grep Non-2xx <<<"$out")"; fi
  awk '/^Requests\/sec:/ { print $2 }' <<<"$out"
}

for round in $(seq 1 "$ROUNDS"); do
  for entry in "${SERVERS[@]}"; do
    name=${entry%%|*}; command=${entry#*|}
    case $name in bare-*) ;; *) if ! grep -Eq "$ONLY" <<<"$name"; then continue; fi ;; esac
    log "round $round/$ROUNDS: $name"
    start_server "$command"
    $BIN/bench-tool cookies "$URL" 1000 "$WORK/cookies.txt"
    for route in /read /count /login; do
      cpu_before=$(redis_cpu)
      rps=$(run_wrk "$route")
      cpu_after=$(redis_cpu)
      record "{\"kind\":\"rps\",\"round\":$round,\"server\":\"$name\",\"route\":\"$route\",\"rps\":$rps}"
      case $name in *redis*)
        record "{\"kind\":\"redis_cpu\",\"round\":$round,\"server\":\"$name\",\"route\":\"$route\",\"us_per_request\":$(awk -v a="$cpu_before" -v b="$cpu_after" -v r="$rps" -v d="$DURATION" 'BEGIN { printf "%.3f", (b - a) * 1e6 / (r * d) }')}"
      esac
    done
    if [ "$round" = 1 ]; then
      record "{\"kind\":\"rss\",\"server\":\"$name\",\"kib\":$(peak_kib)}"
      if [ "${name#bare-}" = "$name" ]; then
        # Bounded: tower-sessions' PostgreSQL store once deadlocked its own pool here
        # (a connection idle in a transaction, the rest waiting on its lock).
        if lost=$(timeout 120 $BIN/bench-tool lost "$URL"); then
          record "{\"kind\":\"lost\",\"server\":\"$name\",$(sed 's/^{//' <<<"$lost")"
        else
          log "$name: the lost-increment run did not finish in 120 s"
          record "{\"kind\":\"lost\",\"server\":\"$name\",\"counted\":\"hung\",\"lost\":\"hung\"}"
          stop_server; start_server "$command"; $BIN/bench-tool cookies "$URL" 1000 "$WORK/cookies.txt"
        fi
      fi
      case $name in *redis*)
        for route in /read /count /login; do
          # MONITOR shows what clients send ("[15 127.0.0.1:port]") apart from what
          # scripts run inside Redis ("[15 lua]").
          redis-cli MONITOR > "$WORK/monitor.txt" &
          monitor=$!
          sleep 0.3
          $BIN/bench-tool sequential "$URL" "$route" "$WORK/cookies.txt" 1000
          sleep 0.3
          kill "$monitor"; wait "$monitor" 2>/dev/null || true
          sent=$(grep -c "\[$REDIS_DB 127.0.0.1:" "$WORK/monitor.txt" || true)
          scripted=$(grep -c "\[$REDIS_DB lua\]" "$WORK/monitor.txt" || true)
          record "{\"kind\":\"commands\",\"server\":\"$name\",\"route\":\"$route\",\"per_request\":$(awk -v n="$sent" 'BEGIN { printf "%.3f", n / 1000 }'),\"in_scripts\":$(awk -v n="$scripted" 'BEGIN { printf "%.3f", n / 1000 }')}"
        done
      esac
    fi
    stop_server
  done
done

if [ "$SCALE" -gt 1000 ]; then
  for entry in "hallpass-memory|$BIN/hallpass-bench-server --store memory" "hallpass-redis|$BIN/hallpass-bench-server --store redis"; do
    name=${entry%%|*}; command=${entry#*|}
    if ! grep -Eq "$ONLY" <<<"$name"; then continue; fi
    log "scale: $name, 1,000 then $SCALE sessions"
    start_server "$command"
    $BIN/bench-tool cookies "$URL" 1000 "$WORK/cookies.txt"
    sleep 1
    rss_small=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"); mem_small=$(redis_memory)
    rps_small=$(run_wrk /read)
    $BIN/bench-tool fill "$URL" $((SCALE - 1000))
    sleep 1
    rss_large=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"); mem_large=$(redis_memory)
    rps_large=$(run_wrk /read)
    if [ "$name" = hallpass-memory ]; then grown=$(( (rss_large - rss_small) * 1024 )); else grown=$((mem_large - mem_small)); fi
    per=$(awk -v g="$grown" -v n="$((SCALE - 1000))" 'BEGIN { printf "%.1f", g / n }')
    record "{\"kind\":\"scale\",\"server\":\"$name\",\"sessions\":1000,\"read_rps\":$rps_small}"
    record "{\"kind\":\"scale\",\"server\":\"$name\",\"sessions\":$SCALE,\"read_rps\":$rps_large,\"bytes_per_session\":$per}"
    stop_server
  done
fi

meta() { record "{\"kind\":\"meta\",\"key\":\"$1\",\"value\":\"$2\"}"; }
version_of() { awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' bench/Cargo.lock; }
meta date "$(date -u +%Y-%m-%d)"
meta machine "$(nproc) CPUs ($(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')), $(free -g | awk '/^Mem:/ { print $2 }') GiB, Linux $(uname -r)"
meta server_cpu "$SERVER_CPU"
meta wrk_cpu "$WRK_CPU"
meta duration "$DURATION"
meta rustc "$(rustc --version)"
meta wrk "$(wrk --version 2>&1 | head -n 1 | cut -c1-40)"
meta redis "$(redis-server --version | awk '{ print $3 }' | tr -d 'v=')"
for crate in axum tower-sessions tower-sessions-redis-store actix-web actix-session; do meta "$crate" "$(version_of "$crate")"; done
meta tower-sessions-sqlx-store "$(awk '$0 == "name = \"tower-sessions-sqlx-store\"" { getline; gsub(/version = |"/, ""); print; exit }' bench/peer-sqlx/Cargo.lock)"
meta postgres "$(psql "$PG_URL" -tAc 'SHOW server_version' | awk '{ print $1 }')"
meta hallpass "$(version_of hallpass) (this tree, $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
meta command "bash bench/run.sh (ROUNDS=$ROUNDS DURATION=$DURATION SCALE=$SCALE)"

mkdir -p "$OUT"
cp "$RESULTS" "$OUT/bench-results.jsonl"
$BIN/bench-tool report "$RESULTS" "$OUT/BENCHMARKS.md" "$OUT/bench.svg"
log "wrote $OUT/BENCHMARKS.md, $OUT/bench.svg and $OUT/bench-results.jsonl"

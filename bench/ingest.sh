#!/bin/sh
# bench/ingest.sh - ingestion throughput: events/s of POST /api/v1/events with 1,000-event
# batches from 4 concurrent clients, beside the raw SQLite ceiling measured in the same run
# (the same rows inserted by a C loop into a table with the events table's schema and
# indexes: prepared statement, 10,000-row transactions, WAL, synchronous=FULL).
#
# Compiles bench/ingest.c into a temp dir, starts the bunsen daemon (BUNSEN_BIN, default
# build/bunsen; temp data dir; --log-level warn) with one running 2-variant experiment
# and 2 metrics (binomial on "purchase", count on "click"), exposes BENCH_USERS users, then
# runs the HTTP clients and the ceiling, and prints both, their ratio and the goal
# (HTTP >= 60% of the ceiling, issue 17). Writes nothing outside its temp dir.
#
# Knobs (environment):
#   BENCH_CLIENTS=4  BENCH_BATCHES=50 (per client)  BENCH_BATCH=1000  BENCH_USERS=20000
#   BUNSEN_THREADS   HTTP worker threads for the daemon (default: its own)
#   BENCH_NO_METRICS=1  the experiment uses no metric (isolates the cost of attribution)
#   BENCH_CEILING_TX=10000  rows per transaction of the ceiling (1000 = one request's worth)
#   BENCH_PERF=1     also `perf record -g` the daemon during the HTTP run and print the
#                    top of `perf report` (BENCH_PERF_ARGS replaces -g, e.g. "--call-graph
#                    dwarf"; with BENCH_KEEP=1 the perf.data stays for a closer look)
#   BENCH_STRICT=1   exit 1 when the goal is missed
# Usage: make && sh bench/ingest.sh
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
CLIENTS=${BENCH_CLIENTS:-4}
BATCHES=${BENCH_BATCHES:-50}
BATCH=${BENCH_BATCH:-1000}
USERS=${BENCH_USERS:-20000}

die() {
    echo "bench: $*" >&2
    exit 1
}

command -v curl >/dev/null 2>&1 || die "curl is required"
command -v pkg-config >/dev/null 2>&1 || die "pkg-config is required"
bin=${BUNSEN_BIN:-build/bunsen}
case $bin in
/*) ;;
*) if [ -x "$bin" ]; then bin=$(pwd)/$bin; else bin=$root/$bin; fi ;;
esac
[ -x "$bin" ] || die "no bunsen binary at $bin (run make, or set BUNSEN_BIN)"

tmp=$(mktemp -d /tmp/bunsen-bench-XXXXXX) || die "mktemp failed"
bpid=""
stop_pid() { # pid: TERM, wait up to 5 s, then KILL
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
cleanup() {
    stop_pid "$bpid"
    if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$tmp"; else echo "bench: kept $tmp" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the driver ---------------------------------------------------------------------------
# shellcheck disable=SC2046
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
    -o "$tmp/ingest" "$here/ingest.c" $(pkg-config --cflags --libs sqlite3) -lpthread ||
    die "could not compile bench/ingest.c"

# ---- bunsen -------------------------------------------------------------------------------
mkdir -p "$tmp/data"
set -- serve --listen 127.0.0.1 --port 0 --data-dir "$tmp/data" --log-level warn
[ -n "${BUNSEN_THREADS:-}" ] && set -- "$@" --threads "$BUNSEN_THREADS"
"$bin" "$@" >"$tmp/bunsen.out" 2>"$tmp/bunsen.err" &
bpid=$!
bport=""
i=0
while [ $i -lt 150 ] && [ -z "$bport" ]; do
    line=$(head -n 1 "$tmp/bunsen.out" 2>/dev/null)
    case $line in
    *"listening on http://"*/) bport=$(printf '%s\n' "$line" | sed 's|.*:\([0-9][0-9]*\)/$|\1|') ;;
    *) kill -0 "$bpid" 2>/dev/null || break; sleep 0.1 ;;
    esac
    i=$((i + 1))
done
[ -n "$bport" ] || { cat "$tmp/bunsen.err" >&2; die "bunsen did not start"; }
admin=$(cat "$tmp/data/admin.key")
B="http://127.0.0.1:$bport"

api() { # method path key [json]: prints the body; fails unless 2xx
    if [ $# -ge 4 ]; then
        curl -sS -f -X "$1" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
            --data-binary "$4" "$B$2"
    else
        curl -sS -f -X "$1" -H "Authorization: Bearer $3" "$B$2"
    fi
}
EXP=bench-ingest
api POST /api/v1/metrics "$admin" '{"key":"bench-conv","event":"purchase","type":"binomial","window_hours":72}' >/dev/null ||
    die "could not create a metric"
api POST /api/v1/metrics "$admin" '{"key":"bench-clicks","event":"click","type":"count"}' >/dev/null ||
    die "could not create a metric"
mlist='"bench-conv","bench-clicks"'
mdesc="2 metrics"
[ -n "${BENCH_NO_METRICS:-}" ] && mlist="" && mdesc="no metrics"
api POST /api/v1/experiments "$admin" '{"key":"'$EXP'","name":"Bench","variants":[{"key":"control"},{"key":"treatment"}],"metrics":['"$mlist"']}' >/dev/null ||
    die "could not create the experiment"
api POST /api/v1/experiments/$EXP/start "$admin" >/dev/null || die "could not start the experiment"
sdk=$(api POST /api/v1/keys "$admin" '{"name":"bench","role":"sdk"}' | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
[ -n "$sdk" ] || die "could not create an sdk key"

# ---- runs ---------------------------------------------------------------------------------
tag=b$(date +%s)
base=$(($(date +%s) * 1000))
perf_pid=""
if [ -n "${BENCH_PERF:-}" ] && command -v perf >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    perf record ${BENCH_PERF_ARGS:--g} -p "$bpid" -o "$tmp/perf.data" >"$tmp/perf.log" 2>&1 &
    perf_pid=$!
    sleep 0.5
fi
load0=$(cut -d' ' -f1-3 /proc/loadavg)
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
io_of() { awk '/^rchar:/ { r = $2 } /^wchar:/ { w = $2 } END { print r + 0, w + 0 }' "/proc/$1/io" 2>/dev/null || echo "0 0"; }
commits() { curl -s "$B/metrics" | awk '/^bunsen_writer_commits_total\{outcome="ok"\}/ { print $2; f = 1 } END { if (!f) print "" }'; }
c0=$(cpu_ticks "$bpid")
io0=$(io_of "$bpid")
k0=$(commits)
hout=$("$tmp/ingest" http "$bport" "$sdk" "$EXP" "$CLIENTS" "$BATCHES" "$BATCH" "$USERS" "$tag" "$base") ||
    die "the HTTP run failed: $hout"
c1=$(cpu_ticks "$bpid")
io1=$(io_of "$bpid")
k1=$(commits)
if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null
    wait "$perf_pid" 2>/dev/null
fi
stored=$(sqlite3 -readonly "$tmp/data/bunsen.db" "SELECT count(*) FROM events" 2>/dev/null || echo "?")
stats=$(sqlite3 -readonly "$tmp/data/bunsen.db" \
    "SELECT group_concat(metric || '/' || variant || ' n=' || n || ' s=' || s, ', ') FROM metric_stats" 2>/dev/null || echo "?")
sout=$("$tmp/ingest" sqlite "$tmp/ceiling.db" "$CLIENTS" "$BATCHES" "$BATCH" "$USERS" "$tag" "$base" "${BENCH_CEILING_TX:-10000}") ||
    die "the SQLite run failed: $sout"

# ---- report -------------------------------------------------------------------------------
H_ROWS=$(echo "$hout" | awk '{ print $2 }')
H_SEC=$(echo "$hout" | awk '{ print $3 }')
H_RATE=$(echo "$hout" | awk '{ print $4 }')
S_ROWS=$(echo "$sout" | awk '{ print $2 }')
S_SEC=$(echo "$sout" | awk '{ print $3 }')
S_RATE=$(echo "$sout" | awk '{ print $4 }')
# CPU time per 1,000 events: less sensitive than wall time to other load on the machine
H_CPU=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v n="$H_ROWS" 'BEGIN { printf "%.1f", (n > 0) ? (b - a) / hz * 1e6 / n : 0 }')
S_CPU=$(echo "$sout" | awk '{ printf "%.1f", ($2 > 0) ? $5 * 1e6 / $2 : 0 }')
# bytes the process read and wrote (files and sockets) per event: WAL frames + checkpoints
H_IO=$(echo "$io0 $io1" | awk -v n="$H_ROWS" '{ printf "%.0f / %.0f", ($3 - $1) / n, ($4 - $2) / n }')
S_IO=$(echo "$sout" | awk '{ printf "%.0f / %.0f", $6 / $2, $7 / $2 }')
COMMIT_INFO=$(awk -v a="$k0" -v b="$k1" -v n="$H_ROWS" -v bs="$BATCH" 'BEGIN { if (a != "" && b != "" && b > a) printf "%d commits, %.1f requests per commit", b - a, n / bs / (b - a); else print "commits: ?" }')
CPU_RATIO=$(awk -v a="$S_CPU" -v b="$H_CPU" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }')
RATIO=$(awk -v a="$H_RATE" -v b="$S_RATE" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }')
GOAL=$(awk -v r="$RATIO" 'BEGIN { print (r + 0 >= 0.60) ? "met" : "MISSED" }')
echo
echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo);" \
    "load average before the runs: $load0"
echo "$("$bin" version 2>/dev/null | head -n 1); bunsen threads: ${BUNSEN_THREADS:-default};" \
    "$CLIENTS clients x $BATCHES batches x $BATCH events; $USERS exposed users; 1 experiment, $mdesc"
printf '%-44s %8s %8s %10s %6s %12s %18s\n' "target" "events" "seconds" "events/s" "ratio" "CPU us/event" "read/written B/ev"
printf '%-44s %8d %8.2f %10.0f %6s %12s %18s\n' "POST /api/v1/events over HTTP" "$H_ROWS" "$H_SEC" "$H_RATE" "$RATIO" "$H_CPU" "$H_IO"
printf '%-44s %8d %8.2f %10.0f %6s %12s %18s\n' "SQLite ceiling (${BENCH_CEILING_TX:-10000}-row transactions)" "$S_ROWS" "$S_SEC" "$S_RATE" "1.00" "$S_CPU" "$S_IO"
echo "daemon group commits during the HTTP run: $COMMIT_INFO"
echo "events stored by the daemon: $stored; roll-ups: $stats"
echo "goal: HTTP >= 0.60 x SQLite ceiling: $GOAL ($RATIO; by CPU time per event: $CPU_RATIO)"
if [ -n "$perf_pid" ]; then
    echo
    echo "perf report (daemon during the HTTP run), top entries:"
    perf report -i "$tmp/perf.data" --stdio --no-children -g none --percent-limit 0.7 \
        --sort comm,dso,symbol 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 40
fi
[ -n "${BENCH_STRICT:-}" ] && [ "$GOAL" != met ] && exit 1
exit 0

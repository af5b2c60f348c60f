#!/bin/sh
# bench/compact.sh - `bunsen compact` beside a daemon that keeps writing (SQLite;
# docs/RELIABILITY.md "Compaction beside the daemon").
#
# 1. bench/results.c builds a database with one experiment ("bench", USERS exposed users and
#    EVENTS events over the last 30 days), which is then marked archived (sqlite3), so that
#    compaction has USERS exposures and their per-user values to remove, and the events older
#    than the horizon (21 days, the least bench/results.c's 14-day CUPED look-back allows: a third);
# 2. the daemon starts on it; bench/probe.c writes one event every 20 ms and times each;
# 3. `bunsen compact --horizon-days 21` runs (timed), with the WAL's size sampled every
#    0.5 s; 2 s later the probe stops: writes, non-2xx, p50/p99/max latency. A write waits
#    for the write lock while compaction holds it, for one of its chunks at most.
# 4. prints compact's output and exit status, and the WAL's largest size and its size after.
#
# Usage: sh bench/compact.sh [USERS [EVENTS]]   (defaults 2000000 2000000; BENCH_BIN_DIR=DIR
# uses bunsen, results and probe from DIR instead of building them; BENCH_LOAD=N adds N
# curl loops posting 500-event batches back to back during the whole run: a busy writer;
# BENCH_KEEP=1 keeps the temp dir)
set -eu
cd "$(dirname "$0")/.."
users=${1:-2000000}
events=${2:-2000000}
. bench/lib.sh
bench_build results probe
bench_need curl sqlite3

bench_tmp compact
echo "building $users exposed users, $events events..."
BENCH_NO_REBUILD=1 "$bb/results" "$dir" "$users" "$events" >/dev/null
sqlite3 "$dir/bunsen.db" "UPDATE experiments SET status = 'archived', doc = json_set(doc, \
'\$.status', 'archived') WHERE key = 'bench'"
bench_serve "$bb/bunsen" "$dir" --log-level warn
sdk=$(bench_sdk_key probe)
"$bb/probe" "$port" "$sdk" 20 "$dir/stop" >"$dir/probe.out" &
probe=$!
(
    while [ ! -f "$dir/stop" ]; do
        stat -c %s "$dir/bunsen.db-wal" 2>/dev/null || echo 0
        sleep 0.5
    done
) >"$dir/wal" &
sampler=$!
load=""
if [ "${BENCH_LOAD:-0}" -gt 0 ]; then
    i=0
    while [ "$i" -lt "$BENCH_LOAD" ]; do
        (
            body=$(awk 'BEGIN { printf "{\"events\":["; for (i = 0; i < 500; i++)
                printf "%s{\"user_id\":\"load%d\",\"event\":\"pageview\"}", i ? "," : "", i;
                printf "]}" }')
            while [ ! -f "$dir/stop" ]; do
                curl -s -o /dev/null -H "Authorization: Bearer $sdk" \
                    -H 'Content-Type: application/json' -d "$body" "$base/api/v1/events"
            done
        ) &
        load="$load $!"
        i=$((i + 1))
    done
fi
sleep 2 # a baseline before compaction
start=$(date +%s.%N)
rc=0
"$bb/bunsen" compact --horizon-days 21 --data-dir "$dir" >"$dir/compact.out" 2>&1 || rc=$?
end=$(date +%s.%N)
sleep 2 # and a little after
touch "$dir/stop"
wait "$probe" || true
wait "$sampler" || true
for l in $load; do wait "$l" || true; done
echo "compact: $(awk "BEGIN { printf \"%.1f\", $end - $start }") s, exit $rc: $(cat "$dir/compact.out")"
echo "probe (one event every 20 ms, during the whole run): $(cat "$dir/probe.out")"
echo "WAL: largest $(sort -n "$dir/wal" | tail -1) bytes, after $(stat -c %s "$dir/bunsen.db-wal" 2>/dev/null || echo 0) bytes"
bench_stop

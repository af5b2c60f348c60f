#!/bin/sh
# bench/rebuild.sh - a metric edit on a large experiment while a client keeps writing
# (issue 12 acceptance; docs/RELIABILITY.md "Rebuilds beside ingestion").
#
# 1. bench/results.c builds a database with one running experiment ("bench", 3 metrics) and
#    USERS exposed users and EVENTS events (BENCH_NO_REBUILD=1: no reference timing);
# 2. the daemon starts on it; bench/probe.c writes one event every 50 ms and times each;
# 3. PATCH /api/v1/metrics/pageviews {"window_hours": 48} (timed): the experiment's
#    roll-ups are rebuilt in chunks beside the probe's writes; results are polled until
#    "rebuilding" is gone (progress samples printed);
# 4. the probe stops: writes, non-2xx, p50/p99/max latency;
# 5. the daemon stops and bench/rebuild_check.c compares the roll-ups with a full recompute
#    from the raw rows (counts exact, sums 1e-9 relative).
#
# Usage: sh bench/rebuild.sh [USERS [EVENTS]]   (defaults 1000000 1000000; BENCH_BIN_DIR=DIR
# uses bunsen, results, rebuild_check and probe from DIR instead of building them;
# BENCH_RATIO=1 adds a ratio metric, whose sums the rebuilder keeps before the first chunk:
# the daemon's log line for it is printed)
set -eu
cd "$(dirname "$0")/.."
users=${1:-1000000}
events=${2:-1000000}
. bench/lib.sh
bench_build results rebuild_check probe
bench_need curl

bench_tmp rebuild
echo "building $users exposed users, $events events..."
BENCH_NO_REBUILD=1 "$bb/results" "$dir" "$users" "$events"
bench_serve "$bb/bunsen" "$dir" --log-level info
sdk=$(bench_sdk_key probe)
"$bb/probe" "$port" "$sdk" 50 "$dir/stop" >"$dir/probe.out" &
probe=$!
sleep 2 # a baseline before the edit
t=$(curl -s -o "$dir/patch.out" -w '%{http_code} %{time_total}' -X PATCH \
    -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"window_hours":48}' "$base/api/v1/metrics/pageviews")
echo "PATCH /api/v1/metrics/pageviews: status ${t% *}, $(awk "BEGIN { printf \"%.1f\", ${t#* } * 1000 }") ms"
start=$(date +%s.%N)
while :; do
    r=$(curl -s -H "Authorization: Bearer $admin" "$base/api/v1/experiments/bench/results")
    p=$(echo "$r" | sed -n 's/.*"rebuilding":{"progress":\([0-9.e-]*\).*/\1/p')
    [ -z "$p" ] && break
    echo "  rebuilding: progress $p"
    sleep 5
done
end=$(date +%s.%N)
sleep 2 # and a little after
touch "$dir/stop"
wait "$probe" || true
echo "rebuild: $(awk "BEGIN { printf \"%.1f\", $end - $start }") s (polled every 5 s)"
echo "probe (one event every 50 ms, during the whole run): $(cat "$dir/probe.out")"
grep -h '"rebuild: ratio sums kept"' "$dir/out" "$dir/err" || true
bench_stop
"$bb/rebuild_check" "$dir/bunsen.db" bench

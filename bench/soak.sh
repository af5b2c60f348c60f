#!/bin/sh
# bench/soak.sh - soak: mixed traffic at a fixed rate (80% assign, 15% events, 5% reads)
# for SOAK_SECONDS (default 600) against the daemon on 127.0.0.1, killing it with SIGKILL
# and restarting it at 1/3 and 2/3 of the run. Samples the daemon's RSS every 10 s; at the
# end checks that every event id that was acknowledged is in the database exactly once.
# Prints the driver's counts and latencies, the RSS series and the check.
# Knobs: SOAK_SECONDS=600 SOAK_RATE=1000 (requests/s in total).
set -eu
cd "$(dirname "$0")/.."
SECONDS_TOTAL=${SOAK_SECONDS:-600}
RATE=${SOAK_RATE:-1000}
make -s all
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o build/bench/soak bench/soak.c -pthread
command -v sqlite3 >/dev/null 2>&1 || { echo "soak: needs the sqlite3 CLI" >&2; exit 1; }
. bench/lib.sh
bench_tmp soak

start() {
    bench_serve build/bunsen "$dir" --log-level warn --rate-limit-ingest 0 --rate-limit-manage 0
    echo "$port" >"$dir/port"
}
start
api="http://127.0.0.1:$(cat "$dir/port")/api/v1"
H="Authorization: Bearer $admin"
J="Content-Type: application/json"
sdk=$(curl -s -H "$H" -H "$J" -d '{"name":"soak","role":"sdk"}' "$api/keys" |
    sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
curl -s -o /dev/null -H "$H" -H "$J" -d '{"key":"buy","event":"buy","type":"sum"}' "$api/metrics"
curl -s -o /dev/null -H "$H" -H "$J" -d '{"key":"soak","variants":[{"key":"a"},{"key":"b"}],"metrics":["buy"]}' "$api/experiments"
curl -s -o /dev/null -H "$H" -X POST "$api/experiments/soak/start"

build/bench/soak "$dir/port" "$sdk" "$admin" "$SECONDS_TOTAL" "$RATE" "$dir/acked" >"$dir/result" &
driver=$!
t=0
kill_at1=$((SECONDS_TOTAL / 3))
kill_at2=$((2 * SECONDS_TOTAL / 3))
echo "t_s rss_kib"
while kill -0 "$driver" 2>/dev/null; do
    sleep 10
    t=$((t + 10))
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo -)
    echo "$t $rss"
    if [ "$t" -eq "$kill_at1" ] || [ "$t" -eq "$kill_at2" ]; then
        kill -9 "$pid"
        wait "$pid" 2>/dev/null || true
        echo "$t kill -9; restarting"
        start
    fi
done
wait "$driver"
cat "$dir/result"
bench_stop
acked=$(wc -l <"$dir/acked")
sqlite3 "$dir/bunsen.db" -cmd "CREATE TEMP TABLE acked (id TEXT)" -cmd ".import $dir/acked acked" \
    "SELECT 'acknowledged=' || (SELECT COUNT(*) FROM acked) || ' missing=' ||
     (SELECT COUNT(*) FROM acked WHERE id NOT IN (SELECT id FROM events WHERE id IS NOT NULL))
     || ' duplicated=' || (SELECT COUNT(*) FROM (SELECT id FROM events WHERE id IS NOT NULL
     GROUP BY user_id, id HAVING COUNT(*) > 1))"
echo "acked lines: $acked"

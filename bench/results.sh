#!/bin/sh
# Results latency as data grows (docs/PERFORMANCE.md "Results").
#
# For each size USERS:EVENTS: bench/results.c builds a fresh database with one running
# 2-variant experiment and 3 metrics, ingests the exposures and events through the
# writer's store functions (10,000 rows per transaction), and prints the median warm time
# of results_compute() beside the time to recompute the same statistics from the raw rows
# with set-based SQL (the reference, same run, same disk). Then the real daemon is started
# on that database and GET /api/v1/experiments/bench/results is timed end to end over
# loopback with curl (median of 9 after one warm-up request).
#
# Sizes: "100000:500000 1000000:5000000" by default; BENCH_SIZES="10000000:3000000" adds
# the large case (several GB of disk, many minutes; BENCH_NO_REBUILD=1 skips the SQL
# reference, which alone takes tens of minutes there).
set -eu
cd "$(dirname "$0")/.."
make -s all build/libbunsen.a
mkdir -p build/bench
cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -Iinclude \
    $(pkg-config --cflags jansson sqlite3 gsl) -o build/bench/results bench/results.c \
    build/libbunsen.a $(pkg-config --libs libmicrohttpd jansson sqlite3 gsl libsodium libpcre2-16 libcrypto libpq) \
    -lm -pthread
. bench/lib.sh
bench_need curl
SIZES=${BENCH_SIZES:-"100000:500000 1000000:5000000"}
for size in $SIZES; do
    users=${size%%:*}
    events=${size##*:}
    dir=$(mktemp -d /tmp/bunsen-bench-XXXXXX)
    build/bench/results "$dir" "$users" "$events"
    bench_serve build/bunsen "$dir" --log-level warn
    url="http://127.0.0.1:$port/api/v1/experiments/bench/results"
    curl -s -o /dev/null -H "Authorization: Bearer $admin" "$url"
    times=""
    for _ in 1 2 3 4 5 6 7 8 9; do
        t=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $admin" "$url")
        times="$times $t"
    done
    median=$(echo $times | tr ' ' '\n' | sort -n | sed -n 5p)
    echo "users=$users http_results_ms=$(awk "BEGIN { printf \"%.2f\", $median * 1000 }")"
    bench_stop
    rm -rf "$dir"
done

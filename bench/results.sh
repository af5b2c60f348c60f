#!/bin/sh
# Results latency as data grows (issue: "Benchmark bench/results.sh").
# Builds bench/results.c against build/libbunsen.a, then for each size creates a fresh
# database, ingests USERS exposures and EVENTS events through the writer's store
# functions, and prints the median warm time of results_compute() beside the time to
# recompute the same statistics from raw rows with set-based SQL (same run, same disk).
# Sizes: "100000:500000 1000000:5000000" by default; add 10000000:3000000 with
# BENCH_SIZES to reproduce the large case (needs ~10 GB of disk and several minutes).
set -eu
cd "$(dirname "$0")/.."
make -s build/libbunsen.a
mkdir -p build/bench
cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -Iinclude \
    $(pkg-config --cflags jansson sqlite3 gsl) -o build/bench/results bench/results.c \
    build/libbunsen.a $(pkg-config --libs libmicrohttpd jansson sqlite3 gsl libsodium libpcre2-8) \
    -lm -pthread
SIZES=${BENCH_SIZES:-"100000:500000 1000000:5000000"}
for size in $SIZES; do
    users=${size%%:*}
    events=${size##*:}
    dir=$(mktemp -d /tmp/bunsen-bench-XXXXXX)
    build/bench/results "$dir" "$users" "$events"
    rm -rf "$dir"
done

#!/bin/sh
# Isolation latencies (docs/PERFORMANCE.md "Isolation"): what the isolation tests check by
# order and status, measured. The API test binaries run with BUNSEN_BENCH_LATENCY=1, which
# makes them print their latencies (never assert them) and run the measurement-only cases:
#
#   test_isolation        413/400 refusals of hostile /assign bodies; the normal /assign
#                         p50/p99 alone and beside attackers (300-element bodies, a regex
#                         in $elemMatch); PATCH and /events medians beside heavy /assign.
#                         The issue's targets: attack requests < 100 ms, normal p99 < 10 ms.
#   test_isolation_slow   results with two ratio metrics over 100,000 users looped beside
#                         /assign on one MHD thread: the read alone, and the /assign p99
#                         beside it (target: well under one read).
#   test_isolation_reads  /healthz beside looped 7 MB saved-group lists and audit pages;
#                         1-event POSTs beside PATCHes of a group of 100,000 values.
#
# Figures measure the machine as much as the daemon: run on an otherwise idle one, and
# compare with a run of the base on the same machine. Usage: sh bench/isolation.sh [TEST]
# (TEST: a cmocka filter, e.g. test_slow_results_latency).
set -eu
cd "$(dirname "$0")/.."
make -s all build/tests/api/test_isolation build/tests/api/test_isolation_slow \
    build/tests/api/test_isolation_reads
BUNSEN_BIN=$(pwd)/build/bunsen
BUNSEN_BENCH_LATENCY=1
export BUNSEN_BIN BUNSEN_BENCH_LATENCY
for t in test_isolation test_isolation_slow test_isolation_reads; do
    echo "== $t"
    # the lines the tests print for the bench start with "#"; failures are shown as well
    "build/tests/api/$t" ${1:+"$1"} 2>&1 | grep -E '^#|FAILED|ERROR' || true
done

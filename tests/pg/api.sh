#!/bin/sh
# The store-level unit tests and the API test suites again, against PostgreSQL: a throwaway
# cluster (tests/pg/cluster.sh), one fresh database per test store or daemon (both
# tests/unit/store_fixture.c and tests/api/harness*.c read BUNSEN_TEST_DATABASE). Prints each
# suite's TAP output like tests/run.sh does.
# Usage: tests/pg/api.sh [TEST_BINARY...]  (default: every store unit test, test_store_*, and
# the API tests beside $BUNSEN_BIN)
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -eq 0 ]; then
    build=$(dirname "${BUNSEN_BIN:-build/bunsen}")
    set -- "$build"/tests/unit/test_store_* "$build"/tests/api/test_*
fi
dir=$(mktemp -d /tmp/bunsen-pg-XXXXXX)
trap 'sh "$here/cluster.sh" stop "$dir" immediate; rm -rf "$dir"' EXIT INT TERM
url=$(sh "$here/cluster.sh" start "$dir") || {
    echo "not ok 1 - PostgreSQL test cluster did not start"
    cat "$dir/initdb.log" "$dir/log" 2>/dev/null | tail -20 | sed 's/^/# /'
    exit 1
}
export BUNSEN_TEST_DATABASE="$url" BUNSEN_TEST_PGDIR="$dir"
rc=0
for t in "$@"; do
    case $t in
    # the HTTP layer under attack: no store code, run once (SQLite)
    *test_isolation) continue ;;
    esac
    echo "# == $(basename "$t") (postgres)"
    CMOCKA_MESSAGE_OUTPUT=TAP "$t" || rc=1
done
exit $rc

#!/bin/sh
# tests/ecosystem/run.sh - Bunsen's ecosystem protocols against real clients.
#
#   openfeature-server.mjs  OpenFeature server SDK + OFREP provider (1,000 users vs /assign,
#                           error codes, exposures)
#   openfeature-web.mjs     OpenFeature web SDK + OFREP web provider under Node.js (bulk
#                           evaluation, ETag/If-None-Match -> 304, localStorage, CORS)
#   ofrep-conformance.mjs   every OFREP response shape against the protocol's OpenAPI (ajv),
#                           the OpenFeature gherkin evaluation scenarios through the server
#                           and web providers (tests/fixtures/ofrep)
#   growthbook.mjs          GrowthBook SDK on GET /api/features/{clientKey} (10,000 users vs
#                           /assign; trackingCallback -> POST /exposures vs /assign's own)
#   metrics.mjs             GET /metrics through `promtool check metrics`, the PromQL and
#                           scrape config of docs/INTEGRATIONS.md through promtool
#   openapi.mjs             GET /api/v1/openapi.yaml through swagger-parser validate(), and
#                           real ecosystem replies against its schemas; results, breakdown
#                           and time series replies with every member declared
#
# Installs what is missing: Node.js and npm, promtool (Debian package prometheus, without
# its recommends; its service is not started by this script) and the sqlite3 CLI (optional)
# with apt-get, through sudo when not root; the npm packages exactly as package-lock.json
# pins them (`npm ci`) when node_modules is missing or older than the lock. Starts the real
# daemon (BUNSEN_BIN, default build/bunsen) on 127.0.0.1 port 0 with a temporary data dir,
# runs the scripts against it and prints one TAP stream ("ok N - name" / "not ok N -
# name", plan at the end). Exits non-zero on any failure.
#
# Knobs: BUNSEN_BIN, ECO_SEED (user-id generators; printed), ECO_ONLY=regex (run only the
# scripts whose names match), OF_USERS (1000), WEB_USERS (100), GB_USERS (10000),
# PROMTOOL (path), BUNSEN_KEEP_TEST_DIRS=1 keeps the data dir.
#
# Usage: sh tests/ecosystem/run.sh           (from the repository root, after `make`)
#        BUNSEN_BIN=build/t7/bunsen sh tests/ecosystem/run.sh
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

bail() {
    echo "not ok 1 - $1"
    echo "1..1"
    exit 1
}

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q --no-install-recommends "$@" >&2 ||
        { $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q --no-install-recommends "$@" >&2; }
}

# The daemon binary: absolute, relative to the current directory, or to the repository.
bin=${BUNSEN_BIN:-build/bunsen}
case $bin in
/*) ;;
*) if [ -x "$bin" ]; then bin=$(pwd)/$bin; else bin=$root/$bin; fi ;;
esac
[ -x "$bin" ] || bail "bunsen binary not found at $bin (run make, or set BUNSEN_BIN)"

# Node.js (>= 20: @openfeature/ofrep-core) and npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "# installing nodejs and npm with apt-get" >&2
    apt_install nodejs npm || bail "apt-get install nodejs npm failed"
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 20 ] || bail "Node.js >= 20 needed (found $(node --version 2>&1))"

# promtool, from Debian's prometheus package.
promtool=${PROMTOOL:-}
if [ -z "$promtool" ]; then
    if ! command -v promtool >/dev/null 2>&1; then
        echo "# installing prometheus (for promtool) with apt-get" >&2
        apt_install prometheus ||
            bail "apt-get install prometheus failed: promtool (Debian package prometheus) is needed to check GET /metrics"
    fi
    promtool=$(command -v promtool) || bail "promtool not found after installing the prometheus package"
fi
[ -x "$promtool" ] || bail "promtool not executable at $promtool"

# sqlite3 CLI: optional (growthbook.mjs compares exposure rows with it, else skips that check).
if ! command -v sqlite3 >/dev/null 2>&1; then
    echo "# installing sqlite3 with apt-get (optional)" >&2
    apt_install sqlite3 || echo "# sqlite3 not installed: the row-level exposure comparison will be skipped" >&2
fi

# The npm packages, exactly as locked. npm keeps its own copy of the lock in node_modules;
# when package-lock.json (or package.json) is newer, the tree is stale.
nm=$here/node_modules
if [ ! -f "$nm/.package-lock.json" ] || [ ! -f "$nm/@openfeature/ofrep-provider/package.json" ] ||
    [ "$here/package-lock.json" -nt "$nm/.package-lock.json" ] ||
    [ "$here/package.json" -nt "$nm/.package-lock.json" ]; then
    echo "# npm ci in tests/ecosystem" >&2
    (cd "$here" && npm ci --no-audit --no-fund >&2) || bail "npm ci failed in tests/ecosystem"
fi

# The daemon.
dir=$(mktemp -d /tmp/bunsen-eco-XXXXXX) || bail "mktemp failed"
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$pid" 2>/dev/null
    fi
    if [ -z "${BUNSEN_KEEP_TEST_DIRS:-}" ]; then
        rm -rf "$dir"
    else
        echo "# data dir kept: $dir" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin" serve --listen 127.0.0.1 --port 0 --data-dir "$dir" --log-level warn \
    >"$dir/stdout.log" 2>"$dir/stderr.log" &
pid=$!

# First stdout line: "bunsen X listening on http://127.0.0.1:PORT/"
port=""
line=""
i=0
while [ "$i" -lt 150 ]; do
    line=$(head -n 1 "$dir/stdout.log" 2>/dev/null)
    case $line in
    *"listening on http://"*/)
        port=$(printf '%s\n' "$line" | sed 's|.*:\([0-9][0-9]*\)/$|\1|')
        break
        ;;
    esac
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$port" ] || [ ! -s "$dir/admin.key" ]; then
    sed 's/^/# daemon: /' "$dir/stderr.log" 2>/dev/null
    bail "daemon started and printed its port (got '${line:-}')"
fi

seed=${ECO_SEED:-$(awk 'BEGIN { srand(); print int(rand() * 2147483647) }')}
echo "# bunsen at http://127.0.0.1:$port/ ($bin); ECO_SEED=$seed; $("$promtool" --version 2>&1 | head -n 1)"

# Each script prints its own numbered TAP; renumber into one stream. Lines that are not
# TAP (a library's warning on stderr) become comments; a script that exits non-zero
# without a failing test line gets one.
n=0
fails=0
for script in openfeature-server openfeature-web ofrep-conformance growthbook metrics openapi; do
    if [ -n "${ECO_ONLY:-}" ] && ! printf '%s\n' "$script" | grep -Eq "$ECO_ONLY"; then
        continue
    fi
    echo "# --- $script.mjs"
    {
        BUNSEN_URL="http://127.0.0.1:$port" BUNSEN_ADMIN_KEY=$(cat "$dir/admin.key") \
            BUNSEN_DB="$dir/bunsen.db" PROMTOOL="$promtool" ECO_SEED="$seed" \
            timeout 300 node "$here/$script.mjs" 2>&1
        echo "__rc=$?"
    } | awk -v n="$n" -v script="$script" -v counts="$dir/counts" '
        /^__rc=/ { rc = substr($0, 6) + 0; next }
        /^(not ok|ok)( [0-9]+)?( |$)/ {
            bad = ($0 ~ /^not ok/)
            rest = $0
            sub(/^(not ok|ok)( [0-9]+)?/, "", rest)
            n++
            if (bad) f++
            print (bad ? "not ok " : "ok ") n rest
            fflush()
            next
        }
        /^1\.\.[0-9]+/ { plan = 1; next }
        /^#/ { print; fflush(); next }
        { print "# " $0; fflush() }
        END {
            if (rc != 0 && f == 0) { n++; f++; print "not ok " n " - " script ".mjs exited with status " rc }
            else if (!plan && f == 0) { n++; f++; print "not ok " n " - " script ".mjs ended without a plan" }
            print n " " f + 0 > counts
        }'
    read -r n f <"$dir/counts"
    fails=$((fails + f))
done

if ! kill -0 "$pid" 2>/dev/null; then
    n=$((n + 1))
    fails=$((fails + 1))
    echo "not ok $n - the daemon stayed up during the run"
    sed 's/^/# daemon: /' "$dir/stderr.log"
fi
echo "1..$n"
[ "$fails" -eq 0 ] || exit 1
exit 0

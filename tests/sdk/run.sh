#!/bin/sh
# tests/sdk/run.sh - GrowthBook JavaScript SDK parity (acceptance test for API.md "Hashing").
#
# Installs Node.js and npm with apt-get when missing, installs the pinned SDK from
# package-lock.json with `npm ci` when node_modules is missing or older than the lock,
# starts the real daemon (BUNSEN_BIN, default build/bunsen) on 127.0.0.1 port 0 with a
# temporary data dir, and runs growthbook-parity.mjs and growthbook-extras.mjs (saved
# groups, hash attributes, typed values; streamed, encrypted and remote payloads) against it,
# then growthbook-full.mjs against a second daemon with 8 stream slots (every one taken).
# Prints TAP
# ("ok N - name" / "not ok N - name") on stdout, so tests/run.sh-style counting works;
# exits non-zero on any failure. Knobs: PARITY_USERS, PARITY_CONCURRENCY, PARITY_SEED
# (see growthbook-parity.mjs), BUNSEN_KEEP_TEST_DIRS=1 keeps the data dir.
#
# Usage: sh tests/sdk/run.sh            (from the repository root, after `make`)
#        BUNSEN_BIN=build/t2/bunsen sh tests/sdk/run.sh
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

bail() {
    echo "not ok 1 - $1"
    echo "1..1"
    exit 1
}

# The binary: absolute, relative to the current directory, or relative to the repository.
bin=${BUNSEN_BIN:-build/bunsen}
case $bin in
/*) ;;
*) if [ -x "$bin" ]; then bin=$(pwd)/$bin; else bin=$root/$bin; fi ;;
esac
[ -x "$bin" ] || bail "bunsen binary not found at $bin (run make, or set BUNSEN_BIN)"

# Node.js (>= 18 for the global fetch) and npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "# installing nodejs and npm with apt-get" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q nodejs npm >&2 ||
        { $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q nodejs npm >&2; } ||
        bail "apt-get install nodejs npm failed"
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 18 ] || bail "Node.js >= 18 needed (found $(node --version 2>&1))"

# The SDK, exactly as locked. npm keeps its own copy of the lock in node_modules; when
# package-lock.json is newer (or the SDK is absent) the tree is stale.
nm=$here/node_modules
if [ ! -f "$nm/.package-lock.json" ] || [ ! -f "$nm/@growthbook/growthbook/package.json" ] ||
    [ ! -f "$nm/eventsource/package.json" ] ||
    [ "$here/package-lock.json" -nt "$nm/.package-lock.json" ] ||
    [ "$here/package.json" -nt "$nm/.package-lock.json" ]; then
    echo "# npm ci in tests/sdk" >&2
    (cd "$here" && npm ci --no-audit --no-fund >&2) || bail "npm ci failed in tests/sdk"
fi

# The daemon.
dir=$(mktemp -d /tmp/bunsen-sdk-XXXXXX) || bail "mktemp failed"
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
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
i=0
while [ $i -lt 150 ]; do
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

BUNSEN_URL="http://127.0.0.1:$port" BUNSEN_ADMIN_KEY=$(cat "$dir/admin.key") \
    node "$here/growthbook-parity.mjs"
rc=$?
# issue 15: saved groups, hash attributes, typed values; plain, streamed, encrypted, remote
echo "# --- growthbook-extras.mjs"
BUNSEN_URL="http://127.0.0.1:$port" BUNSEN_ADMIN_KEY=$(cat "$dir/admin.key") \
    timeout 600 node "$here/growthbook-extras.mjs" || rc=1
if ! kill -0 "$pid" 2>/dev/null; then
    echo "# the daemon died during the run; its stderr:"
    sed 's/^/# daemon: /' "$dir/stderr.log"
    rc=1
fi

# Every /sub slot taken (review sdk30 F1): a daemon of its own with 8 slots and a short retry.
echo "# --- growthbook-full.mjs"
mkdir -p "$dir/full"
BUNSEN_TEST_STREAM_FULL_RETRY_MS=500 "$bin" serve --listen 127.0.0.1 --port 0 \
    --data-dir "$dir/full" --log-level warn --max-connections 16 \
    >"$dir/full/stdout.log" 2>"$dir/full/stderr.log" &
fpid=$!
fport=""
i=0
while [ $i -lt 150 ] && [ -z "$fport" ]; do
    fport=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9][0-9]*\)/$|\1|p' "$dir/full/stdout.log" 2>/dev/null)
    [ -n "$fport" ] || { kill -0 "$fpid" 2>/dev/null || break; sleep 0.1; }
    i=$((i + 1))
done
if [ -z "$fport" ] || [ ! -s "$dir/full/admin.key" ]; then
    sed 's/^/# daemon: /' "$dir/full/stderr.log" 2>/dev/null
    echo "not ok - the second daemon (--max-connections 16) started"
    rc=1
else
    BUNSEN_URL="http://127.0.0.1:$fport" BUNSEN_ADMIN_KEY=$(cat "$dir/full/admin.key") \
        timeout 120 node "$here/growthbook-full.mjs" || rc=1
fi
kill -TERM "$fpid" 2>/dev/null
wait "$fpid" 2>/dev/null
exit $rc

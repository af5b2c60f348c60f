#!/bin/sh
# tests/browser/run.sh - end-to-end tests of the dashboard (web/) in headless Chromium.
#
# format_unit.mjs (plain Node) checks web/js/format.js and decide.js against literal texts.
# Installs what it needs when missing: Debian's chromium (/usr/bin/chromium) and
# Node.js/npm with apt-get (through sudo when not root), and playwright-core exactly as
# package-lock.json pins it (`npm ci`). Then e2e.mjs, and after it every other *.mjs here
# but lib.mjs (ratio.mjs, ...), each starts the real daemon (BUNSEN_BIN, default
# build/bunsen) on a free 127.0.0.1 port with a temporary data dir, drives the dashboard
# through its scenarios and prints TAP ("ok N - name" / "not ok N - name").
# Exits non-zero on any failure.
#
# Knobs: BUNSEN_BIN (daemon binary), CHROMIUM (default /usr/bin/chromium),
# BUNSEN_KEEP_TEST_DIRS=1 keeps the data dir, SCREENSHOT=path/results.png saves the README's
# screenshots (that full results page, and decision.png, decision-phone.png and health.png
# beside it; default: none, so that a test run leaves the tree clean), SHOTS_DIR=dir saves a screenshot of every page at both widths,
# E2E_ONLY=regex runs only the scenarios whose names match (later ones need earlier ones),
# E2E_FILES=regex only the scenario files (e2e.mjs, ratio.mjs, ...) whose names match.
#
# Usage: sh tests/browser/run.sh                (from the repository root, after `make`)
#        BUNSEN_BIN=build/t4/bunsen sh tests/browser/run.sh
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
    $SUDO apt-get install -y -q "$@" >&2 ||
        { $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q "$@" >&2; }
}

# The daemon binary: absolute, relative to the current directory, or to the repository.
bin=${BUNSEN_BIN:-build/bunsen}
case $bin in
/*) ;;
*) if [ -x "$bin" ]; then bin=$(pwd)/$bin; else bin=$root/$bin; fi ;;
esac
[ -x "$bin" ] || bail "bunsen binary not found at $bin (run make, or set BUNSEN_BIN)"

# Chromium from Debian (a test tool's own browser download does not work here).
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
    echo "# installing chromium with apt-get" >&2
    apt_install chromium || bail "apt-get install chromium failed"
fi
[ -x "$chromium" ] || bail "chromium not found at $chromium"

# Node.js (>= 20 for playwright-core) and npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "# installing nodejs and npm with apt-get" >&2
    apt_install nodejs npm || bail "apt-get install nodejs npm failed"
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 20 ] || bail "Node.js >= 20 needed (found $(node --version 2>&1))"

# playwright-core, exactly as locked; npm keeps its copy of the lock in node_modules.
nm=$here/node_modules
if [ ! -f "$nm/.package-lock.json" ] || [ ! -f "$nm/playwright-core/package.json" ] ||
    [ "$here/package-lock.json" -nt "$nm/.package-lock.json" ] ||
    [ "$here/package.json" -nt "$nm/.package-lock.json" ]; then
    echo "# npm ci in tests/browser" >&2
    (cd "$here" && npm ci --no-audit --no-fund >&2) || bail "npm ci failed in tests/browser"
fi

cd "$root" || bail "cannot cd to $root"
# e2e.mjs first, then every other scenario file (each starts its own daemon and browser;
# lib.mjs holds their helpers).
status=0
run_one() {
    if [ -n "${E2E_FILES-}" ] && ! printf '%s\n' "${1##*/}" | grep -Eq "$E2E_FILES"; then
        return
    fi
    BUNSEN_BIN=$bin CHROMIUM=$chromium BUNSEN_WEB_DIR=$root/web \
        SCREENSHOT=${SCREENSHOT-} \
        node "$1" || status=1
}
# format_unit.mjs first: the pure modules against literal texts, without a browser.
run_one "$here/format_unit.mjs"
run_one "$here/e2e.mjs"
for t in "$here"/*.mjs; do
    case ${t##*/} in
    format_unit.mjs | e2e.mjs | lib.mjs | expect.mjs) ;;
    *) run_one "$t" ;;
    esac
done
exit $status

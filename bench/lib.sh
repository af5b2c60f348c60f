# bench/lib.sh - what the bench scripts that run one daemon on a temp data dir share
# (compact.sh, publish.sh, rebuild.sh, results.sh, soak.sh). Sourced from the repository
# root (`. bench/lib.sh` after `cd "$(dirname "$0")/.."`); POSIX sh.
#
#   bench_build DRIVER...   sets bb, the directory of bunsen and the drivers: BENCH_BIN_DIR
#                           when set, else build/bench after make, with bunsen copied and
#                           each bench/DRIVER.c compiled (probe alone; the others linked
#                           with build/libbunsen.a)
#   bench_need TOOL...      fails unless each TOOL is on PATH
#   bench_tmp NAME          dir, a fresh /tmp/bunsen-NAME-XXXXXX; on exit (also on Ctrl-C)
#                           the daemon (pid) is killed and dir removed (BENCH_KEEP=1 keeps it)
#   bench_serve BIN DIR [ARG...]  BIN serve on 127.0.0.1, a free port, data dir DIR (and
#                           ARGs), stdout in DIR/out, stderr appended to DIR/err; waits for
#                           its port; sets pid, port, admin (the admin key) and base (URL)
#   bench_sdk_key NAME      prints the secret of a new sdk key (through base and admin)
#   bench_stop              stops the daemon (pid) and waits for it

bench_build() {
    bb=${BENCH_BIN_DIR:-}
    [ -z "$bb" ] || return 0
    make -s all build/libbunsen.a
    bb=build/bench
    mkdir -p "$bb"
    cp build/bunsen "$bb/bunsen"
    pkgs="libmicrohttpd jansson sqlite3 gsl libsodium libpcre2-16 libcrypto libpq"
    for driver in "$@"; do
        if [ "$driver" = probe ]; then
            cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -o "$bb/probe" bench/probe.c
        else
            # shellcheck disable=SC2046,SC2086
            cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -Iinclude \
                $(pkg-config --cflags $pkgs) -o "$bb/$driver" "bench/$driver.c" build/libbunsen.a \
                $(pkg-config --libs $pkgs) -lm -pthread
        fi
    done
}

bench_need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool is needed" >&2; exit 1; }
    done
}

bench_cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$dir"
}

bench_tmp() {
    dir=$(mktemp -d "/tmp/bunsen-$1-XXXXXX")
    pid=""
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_serve() {
    bin_=$1
    data_=$2
    shift 2
    : >"$data_/out" # not an earlier run's port (the daemon's redirection opens it later)
    "$bin_" serve --listen 127.0.0.1 --port 0 --data-dir "$data_" "$@" >"$data_/out" 2>>"$data_/err" &
    pid=$!
    port=""
    for _ in $(seq 1 300); do
        port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$data_/out")
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$port" ] || { echo "bench: the daemon did not start" >&2; cat "$data_/err" >&2; exit 1; }
    admin=$(cat "$data_/admin.key")
    base="http://127.0.0.1:$port"
}

bench_sdk_key() {
    curl -s -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
        -d "{\"name\":\"$1\",\"role\":\"sdk\"}" "$base/api/v1/keys" | sed -n 's/.*"key":"\([^"]*\)".*/\1/p'
}

bench_stop() {
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
}

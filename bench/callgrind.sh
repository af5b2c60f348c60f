#!/bin/sh
# bench/callgrind.sh - CPU instructions per request, counted by valgrind's callgrind: a
# figure that does not move with the load on a shared machine (docs/PERFORMANCE.md).
#
# Each server runs under `valgrind --tool=callgrind`; after a warm-up the counters are
# zeroed (callgrind_control -z), bench/load.c sends exactly N requests over keep-alive
# connections, and the counters are dumped (callgrind_control -d). Per request = the
# instructions of that dump / N (every thread of the server, user space only: the kernel's
# share is shown separately as syscalls per request, counted with strace on a native run).
#
#   nginx         Debian nginx, one process, answering with the same reply (bench/nginx.conf)
#   mhd ref       bench/mhd_ref.c: bare libmicrohttpd configured like Bunsen, same reply
#   /assign off   POST /api/v1/assign, log_exposure false
#   /assign on    POST /api/v1/assign, log_exposure true (the writer's group commits included)
#   access log    /assign off with the access log on (--log-level info, the default; the
#                 other rows run with warn as bench/assign.sh does)
#   ingest        POST /api/v1/events, 500-event batches into a running experiment with
#                 2 metrics (bench/ingest.c), per event; beside the raw SQLite ceiling of
#                 bench/ingest.sh (same rows, one C loop), per event
#
# Knobs (environment): BENCH_CG_REQUESTS=2000  BENCH_CG_WARMUP=200  BENCH_CG_CONNECTIONS=4
#   BENCH_CG_EVENTS=4000 (ingestion)  BENCH_CG_ONLY="nginx mhd off on ingest" (a subset)
#   BENCH_CG_TOP=N  also print the N most expensive functions of each dump
#   BENCH_CG_TARGETING='{"country":"NL"}'  targeting on the /assign experiment (the load's
#       users match it), so each request spends evaluation steps that are charged to its
#       key's rate limit (docs/API.md "Rate limits"); default none
#   BENCH_CG_STRACE=0  skip the syscall counts   BENCH_KEEP=1  keep the temp dir (dumps)
#   BUNSEN_BIN (default build/bunsen)
# Usage: make && sh bench/callgrind.sh      (`make bench` runs it after bench/assign.sh)
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
N=${BENCH_CG_REQUESTS:-2000}
WARM=${BENCH_CG_WARMUP:-200}
CONNS=${BENCH_CG_CONNECTIONS:-4}
EVENTS=${BENCH_CG_EVENTS:-4000}
ONLY=${BENCH_CG_ONLY:-nginx mhd off on access ingest}
TOP=${BENCH_CG_TOP:-0}

die() {
    echo "bench: $*" >&2
    exit 1
}
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

need=""
command -v valgrind >/dev/null 2>&1 || need="$need valgrind"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need="$need nginx-light"
command -v curl >/dev/null 2>&1 || need="$need curl"
if [ -n "$need" ]; then
    echo "bench: installing$need" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q $need >&2 ||
        { $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q $need >&2; } ||
        die "apt-get install$need failed"
fi
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
STRACE=""
[ "${BENCH_CG_STRACE:-1}" != 0 ] && command -v strace >/dev/null 2>&1 && STRACE=strace

bin=${BUNSEN_BIN:-build/bunsen}
case $bin in
/*) ;;
*) if [ -x "$bin" ]; then bin=$(pwd)/$bin; else bin=$root/$bin; fi ;;
esac
[ -x "$bin" ] || die "no bunsen binary at $bin (run make, or set BUNSEN_BIN)"

tmp=$(mktemp -d /tmp/bunsen-cg-XXXXXX) || die "mktemp failed"
spid=""
stop_pid() { # pid: TERM, wait up to 20 s (valgrind dumps on exit), then KILL
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 200 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
cleanup() {
    stop_pid "$spid"
    if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$tmp"; else echo "bench: kept $tmp" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CFL="-std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror"
# shellcheck disable=SC2046,SC2086
{
    cc $CFL -o "$tmp/load" "$here/load.c" -lpthread &&
        cc $CFL -o "$tmp/mhd_ref" "$here/mhd_ref.c" $(pkg-config --cflags --libs libmicrohttpd) -lpthread &&
        cc $CFL -o "$tmp/ingest" "$here/ingest.c" $(pkg-config --cflags --libs sqlite3) -lpthread
} || die "could not compile the bench drivers"

VG="valgrind --tool=callgrind --vgdb=yes --vgdb-error=999999 --dump-instr=no --collect-systime=no"

# start_server name port-file cmd...: runs cmd (under $WRAP), waits for its
# "listening on http://...:PORT/" line; sets spid and sport
start_server() {
    name=$1
    shift
    $WRAP "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    spid=$!
    sport=""
    i=0
    while [ $i -lt 600 ] && [ -z "$sport" ]; do
        line=$(grep -m 1 'listening on http://' "$tmp/$name.out" 2>/dev/null)
        case $line in
        *"listening on http://"*/) sport=$(printf '%s\n' "$line" | sed 's|.*:\([0-9][0-9]*\)/$|\1|') ;;
        *) kill -0 "$spid" 2>/dev/null || break; sleep 0.1 ;;
        esac
        i=$((i + 1))
    done
    [ -n "$sport" ] || { cat "$tmp/$name.err" >&2; die "$name did not start"; }
}

# ---- servers ----------------------------------------------------------------------------
EXP=bench-checkout # as bench/assign.sh
IEXP=bench-ingest  # as bench/ingest.sh: 2 metrics
start_bunsen() { # name [level]: bunsen with one running experiment, an sdk key ($sdk), metrics
    mkdir -p "$tmp/data-$1"
    start_server "$1" "$bin" serve --listen 127.0.0.1 --port 0 --data-dir "$tmp/data-$1" \
        --log-level "${2:-warn}"
    admin=$(cat "$tmp/data-$1/admin.key")
    B="http://127.0.0.1:$sport"
    api() {
        curl -sS -f -X "$1" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
            --data-binary "$4" "$B$2"
    }
    api POST /api/v1/metrics "$admin" '{"key":"bench-conv","event":"purchase","type":"binomial","window_hours":72}' >/dev/null &&
        api POST /api/v1/metrics "$admin" '{"key":"bench-clicks","event":"click","type":"count"}' >/dev/null &&
        api POST /api/v1/experiments "$admin" '{"key":"'$EXP'","name":"Bench","variants":[{"key":"control","weight":0.5},{"key":"treatment","weight":0.5}],"coverage":1,"hash_version":2'"${BENCH_CG_TARGETING:+,\"targeting\":$BENCH_CG_TARGETING}"'}' >/dev/null &&
        api POST /api/v1/experiments/$EXP/start "$admin" '{}' >/dev/null &&
        api POST /api/v1/experiments "$admin" '{"key":"'$IEXP'","name":"Bench","variants":[{"key":"control"},{"key":"treatment"}],"metrics":["bench-conv","bench-clicks"]}' >/dev/null &&
        api POST /api/v1/experiments/$IEXP/start "$admin" '{}' >/dev/null ||
        die "could not set up the experiment"
    sdk=$(api POST /api/v1/keys "$admin" '{"name":"bench","role":"sdk"}' | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
    [ -n "$sdk" ] || die "could not create an sdk key"
}
sample_reply() { # the reply nginx and the MHD reference send
    curl -sS -f -H "Authorization: Bearer $sdk" -H 'Content-Type: application/json' \
        --data-binary '{"user_id":"b0-1-1000000","attributes":{"country":"NL"},"experiments":["'$EXP'"],"log_exposure":false}' \
        "http://127.0.0.1:$sport/api/v1/assign"
}
start_nginx() { # name body: one nginx process (master_process off) on a free port
    mkdir -p "$tmp/$1"
    user_line=""
    [ "$(id -u)" -eq 0 ] && user_line="user root;"
    p=$(( ( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 ) + 20000 ))
    sed -e "s|@PREFIX@|$tmp/$1|g" -e "s|@PORT@|$p|g" -e "s|@USER@|$user_line|" \
        -e "s|@WORKERS@|1|" -e "s|@BODY@|$2|" -e "s|^master_process on;|master_process off;|" \
        "$here/nginx.conf" >"$tmp/$1/nginx.conf"
    $WRAP "$NGINX" -p "$tmp/$1" -e "$tmp/$1/error.log" -c "$tmp/$1/nginx.conf" \
        >"$tmp/$1.out" 2>&1 &
    spid=$!
    sport=""
    i=0
    while [ $i -lt 300 ]; do
        if curl -s -f -o /dev/null "http://127.0.0.1:$p/"; then
            sport=$p
            break
        fi
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    [ -n "$sport" ] || { cat "$tmp/$1/error.log" >&2; die "nginx did not start"; }
}

# ---- measuring --------------------------------------------------------------------------
# Callgrind answers callgrind_control through vgdb, also while blocked in a system call.
cg_zero() { callgrind_control -z "$spid" >/dev/null 2>&1 || die "callgrind_control -z failed"; }
cg_dump() { # -> IR: instructions since the last zero
    callgrind_control -d "$spid" >/dev/null 2>&1 || die "callgrind_control -d failed"
    f=$(ls -t "$tmp"/cg.out.* 2>/dev/null | head -n 1)
    IR=$(awk '/^(summary|totals):/ { print $2; exit }' "$f")
    [ -n "$IR" ] || die "no totals in $f"
    if [ "$TOP" -gt 0 ]; then
        python3 "$here/cg_top.py" "$f" "$TOP" >&2 # callgrind_annotate: all in start_thread
    fi
}
sys_count() { # pid cmd...: syscalls the server's threads make while cmd runs -> SYS
    pid=$1
    shift
    tids="-p $pid" # -f: every thread of the process
    # shellcheck disable=SC2086
    strace -f -c -o "$tmp/strace.txt" $tids &
    st=$!
    sleep 1
    "$@" >/dev/null || die "the load failed under strace"
    kill -INT "$st" 2>/dev/null
    wait "$st" 2>/dev/null
    SYS=$(awk '$NF == "total" { print $4 }' "$tmp/strace.txt")
}
per() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.0f", a / b; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

# measure name key log: warm-up, zero, N requests, dump -> sets IR_<name>
measure() {
    "$tmp/load" "$sport" "$2" "$EXP" "$3" "$WARM" "$CONNS" "w$1" >/dev/null ||
        die "warm-up against $1 failed"
    cg_zero
    out=$("$tmp/load" "$sport" "$2" "$EXP" "$3" "$N" "$CONNS" "m$1") || die "load against $1 failed: $out"
    cg_dump
    eval "IR_$1=\$(per \"\$IR\" \"\$N\")"
}
# native name key log: the same load without valgrind, under strace -> SYS_<name>
native_sys() {
    [ -n "$STRACE" ] || { eval "SYS_$1=-"; return 0; }
    "$tmp/load" "$sport" "$2" "$EXP" "$3" "$WARM" "$CONNS" "x$1" >/dev/null
    sys_count "$spid" "$tmp/load" "$sport" "$2" "$EXP" "$3" "$N" "$CONNS" "s$1"
    eval "SYS_$1=\$(ratio \"\$SYS\" \"\$N\")"
}

WRAP="$VG --callgrind-out-file=$tmp/cg.out.b"
start_bunsen bunsen
body=$(sample_reply) || die "a sample /assign failed"
case $body in *'"in_experiment":true'*) ;; *) die "sample /assign not in the experiment: $body" ;; esac
case $body in *"'"* | *'\'* | *'|'* | *'&'*) die "unexpected characters in the sample reply: $body" ;; esac
IR_off=- IR_on=- IR_nginx=- IR_mhd=- IR_ingest=- IR_ceiling=- IR_access=-
SYS_off=- SYS_on=- SYS_nginx=- SYS_mhd=-
want off && measure off "$sdk" false
want on && measure on "$sdk" true
if want ingest; then
    base=$(($(date +%s) * 1000))
    "$tmp/ingest" expose "$sport" "$sdk" "$IEXP" 2000 cg "$base" >/dev/null ||
        die "exposing the ingestion users failed"
    cg_zero
    batches=$((EVENTS / 1000))
    [ "$batches" -ge 1 ] || batches=1
    "$tmp/ingest" events "$sport" "$sdk" "$IEXP" 2 "$batches" 500 2000 cg "$base" >/dev/null ||
        die "the ingestion run failed"
    cg_dump
    IR_ingest=$(per "$IR" $((2 * batches * 500)))
    rm -f "$tmp/ceiling.db"*
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.ceiling" "$tmp/ingest" sqlite \
        "$tmp/ceiling.db" 2 "$batches" 500 2000 cg "$base" 10000 >/dev/null 2>&1 ||
        die "the SQLite ceiling failed under callgrind"
    IR_ceiling=$(per "$(awk '/^(summary|totals):/ { print $2; exit }' "$tmp/cg.ceiling")" $((2 * batches * 500)))
fi
stop_pid "$spid"
spid=""
if want access; then
    WRAP="$VG --callgrind-out-file=$tmp/cg.out.a"
    start_bunsen access info
    measure access "$sdk" false
    stop_pid "$spid"
    spid=""
fi
if [ -n "$STRACE" ] && { want off || want on; }; then
    WRAP=""
    start_bunsen native
    want off && native_sys off "$sdk" false
    want on && native_sys on "$sdk" true
    stop_pid "$spid"
    spid=""
fi

if want mhd; then
    WRAP="$VG --callgrind-out-file=$tmp/cg.out.m"
    start_server mhd "$tmp/mhd_ref" 0 2 "$body"
    measure mhd - false
    stop_pid "$spid"
    WRAP=""
    start_server mhdn "$tmp/mhd_ref" 0 2 "$body"
    native_sys mhd - false
    stop_pid "$spid"
    spid=""
fi
if want nginx; then
    WRAP="$VG --callgrind-out-file=$tmp/cg.out.n"
    start_nginx nginx "$body"
    measure nginx - false
    stop_pid "$spid"
    WRAP=""
    start_nginx nginxn "$body"
    native_sys nginx - false
    stop_pid "$spid"
    spid=""
fi

# ---- report -----------------------------------------------------------------------------
echo
echo "instructions per request (callgrind, user space of every server thread; $N requests" \
    "over $CONNS keep-alive connections after $WARM warm-up; $("$bin" version 2>/dev/null | head -n 1))"
printf '%-34s %14s %9s %9s %13s\n' "target" "instr/request" "vs nginx" "vs MHD" "syscalls/req"
row() { printf '%-34s %14s %9s %9s %13s\n' "$1" "$2" "$(ratio "$2" "$IR_nginx")" "$(ratio "$2" "$IR_mhd")" "$3"; }
want nginx && row "nginx static reply" "$IR_nginx" "$SYS_nginx"
want mhd && row "bare libmicrohttpd (mhd_ref)" "$IR_mhd" "$SYS_mhd"
want off && row "/assign log_exposure=false" "$IR_off" "$SYS_off"
want on && row "/assign log_exposure=true" "$IR_on" "$SYS_on"
want access && row "/assign false, access log on" "$IR_access" "-"
if want ingest; then
    printf '%-34s %14s %9s\n' "ingestion, per event" "$IR_ingest" "ceiling x$(ratio "$IR_ingest" "$IR_ceiling")"
    printf '%-34s %14s\n' "SQLite ceiling, per event" "$IR_ceiling"
fi
exit 0

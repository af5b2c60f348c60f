#!/bin/sh
# bench/assign.sh - throughput and tail latency of POST /api/v1/assign against nginx
# serving a static reply of the same size, and against a bare libmicrohttpd server
# configured like Bunsen's (bench/mhd_ref.c), all on 127.0.0.1 (docs/PERFORMANCE.md).
#
# Starts nginx (foreground, current user, temp prefix) with bench/nginx.conf and the
# bunsen daemon (BUNSEN_BIN, default build/bunsen; temp data dir; --log-level warn) with
# one running 2-variant experiment and an sdk key, then runs wrk (bench/assign.lua: a
# distinct user id per request) against: nginx; the bare-MHD reference (same reply, same
# flags and thread count as the daemon); /assign with log_exposure false; /assign with
# log_exposure true. Prints requests/s, p50, p99 and the ratio to nginx, and the
# goals of issue 17: server CPU per reply with logging off <= 1.5x nginx's, logging off
# >= 65% of nginx's requests/s, logging on >= 40%, p99 < 5 ms.
# Writes nothing outside its temp dir; stops both servers at the end.
#
# Knobs (environment):
#   BENCH_DURATION=10s  BENCH_WARMUP=2s  BENCH_CONNECTIONS=64  BENCH_THREADS=2
#   BUNSEN_THREADS      HTTP worker threads for the daemon (default: its own, = CPUs)
#   NGINX_WORKERS       nginx worker processes (default: auto = CPUs)
#   BENCH_SERVER_CPUS, BENCH_WRK_CPUS  taskset CPU lists (e.g. 1 and 0) to keep the load
#                       generator off the servers' cores; unset = no pinning
#   BENCH_PERF=1        also `perf record -g` the daemon during the logging-on run and
#                       print the top of `perf report`
#   BENCH_RETURNING=10000  users per wrk thread in the extra logging-on run with returning
#                       users (their repeats need no write)
#   BENCH_STRICT=1      exit 1 when a goal is missed
#   BENCH_DATABASE=postgres  the daemon on a throwaway PostgreSQL cluster
#                       (tests/pg/cluster.sh, as bench/pg.sh) instead of its SQLite default
# Usage: make && sh bench/assign.sh        (or `make bench`)
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
DUR=${BENCH_DURATION:-10s}
WARM=${BENCH_WARMUP:-2s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}

die() {
    echo "bench: $*" >&2
    exit 1
}

# ---- tools ------------------------------------------------------------------------------
need=""
command -v wrk >/dev/null 2>&1 || need="$need wrk"
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
SPIN=""
WPIN=""
[ -n "${BENCH_SERVER_CPUS:-}" ] && SPIN="taskset -c $BENCH_SERVER_CPUS"
[ -n "${BENCH_WRK_CPUS:-}" ] && WPIN="taskset -c $BENCH_WRK_CPUS"

bin=${BUNSEN_BIN:-build/bunsen}
case $bin in
/*) ;;
*) if [ -x "$bin" ]; then bin=$(pwd)/$bin; else bin=$root/$bin; fi ;;
esac
[ -x "$bin" ] || die "no bunsen binary at $bin (run make, or set BUNSEN_BIN)"

# ---- temp dir and cleanup -----------------------------------------------------------------
tmp=$(mktemp -d /tmp/bunsen-bench-XXXXXX) || die "mktemp failed"
bpid=""
npid=""
mpid=""
stop_pid() { # pid: TERM, wait up to 5 s, then KILL
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
PG=""
[ "${BENCH_DATABASE:-sqlite}" = postgres ] && PG=1
[ -n "$PG" ] || [ "${BENCH_DATABASE:-sqlite}" = sqlite ] ||
    die "BENCH_DATABASE must be sqlite or postgres"
cleanup() {
    stop_pid "$npid"
    stop_pid "$mpid"
    stop_pid "$bpid"
    [ -n "$PG" ] && sh "$root/tests/pg/cluster.sh" stop "$tmp/pg" immediate
    if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$tmp"; else echo "bench: kept $tmp" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- bunsen -----------------------------------------------------------------------------
mkdir -p "$tmp/data"
set -- serve --listen 127.0.0.1 --port 0 --data-dir "$tmp/data" --log-level warn --rate-limit-assign 0
[ -n "${BUNSEN_THREADS:-}" ] && set -- "$@" --threads "$BUNSEN_THREADS"
DBURL=""
if [ -n "$PG" ]; then
    chmod 755 "$tmp"
    DBURL=$(sh "$root/tests/pg/cluster.sh" start "$tmp/pg") || die "the PostgreSQL cluster did not start"
    set -- "$@" --database "$DBURL"
fi
$SPIN "$bin" "$@" >"$tmp/bunsen.out" 2>"$tmp/bunsen.err" &
bpid=$!
bport=""
i=0
while [ $i -lt 150 ] && [ -z "$bport" ]; do
    line=$(head -n 1 "$tmp/bunsen.out" 2>/dev/null)
    case $line in
    *"listening on http://"*/) bport=$(printf '%s\n' "$line" | sed 's|.*:\([0-9][0-9]*\)/$|\1|') ;;
    *) kill -0 "$bpid" 2>/dev/null || break; sleep 0.1 ;;
    esac
    i=$((i + 1))
done
[ -n "$bport" ] || { cat "$tmp/bunsen.err" >&2; die "bunsen did not start"; }
admin=$(cat "$tmp/data/admin.key")
B="http://127.0.0.1:$bport"

api() { # method path key [json]: prints the body; fails unless 2xx
    if [ $# -ge 4 ]; then
        curl -sS -f -X "$1" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
            --data-binary "$4" "$B$2"
    else
        curl -sS -f -X "$1" -H "Authorization: Bearer $3" "$B$2"
    fi
}
EXP=bench-checkout
api POST /api/v1/experiments "$admin" '{"key":"'$EXP'","name":"Bench","variants":[{"key":"control","weight":0.5},{"key":"treatment","weight":0.5}],"coverage":1,"hash_version":2}' >/dev/null ||
    die "could not create the experiment"
api POST /api/v1/experiments/$EXP/start "$admin" >/dev/null || die "could not start the experiment"
# The secret is the only field named exactly "key" in this reply.
sdk=$(api POST /api/v1/keys "$admin" '{"name":"bench","role":"sdk"}' | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
[ -n "$sdk" ] || die "could not create an sdk key"
sample=$(api POST /api/v1/assign "$sdk" '{"user_id":"b0-1-1000000","attributes":{"country":"NL"},"experiments":["'$EXP'"],"log_exposure":false}') ||
    die "a sample /assign failed"
case $sample in *'"in_experiment":true'*) ;; *) die "sample /assign not in the experiment: $sample" ;; esac

# ---- nginx ------------------------------------------------------------------------------
port_free() {
    if command -v ss >/dev/null 2>&1; then
        [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
    else
        ! curl -s -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null
    fi
}
mkdir -p "$tmp/nginx"
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root;" # workers would drop to nobody otherwise
# The reply goes into a single-quoted nginx string through sed: refuse what would need escaping.
case $sample in *"'"* | *'\'* | *'|'* | *'&'*) die "unexpected characters in the sample reply: $sample" ;; esac
body=$sample
nport=""
for try in 1 2 3 4 5 6 7 8 9 10; do
    p=$(( ( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 ) + 20000 ))
    port_free "$p" || continue
    sed -e "s|@PREFIX@|$tmp/nginx|g" -e "s|@PORT@|$p|g" -e "s|@USER@|$user_line|" \
        -e "s|@WORKERS@|${NGINX_WORKERS:-auto}|" -e "s|@BODY@|$body|" \
        "$here/nginx.conf" >"$tmp/nginx/nginx.conf"
    $SPIN "$NGINX" -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" \
        >"$tmp/nginx/stdout.log" 2>&1 &
    npid=$!
    i=0
    while [ $i -lt 50 ]; do
        if curl -s -f -o /dev/null "http://127.0.0.1:$p/"; then
            nport=$p
            break
        fi
        kill -0 "$npid" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    [ -n "$nport" ] && break
    stop_pid "$npid"
    npid=""
done
[ -n "$nport" ] || { cat "$tmp/nginx/error.log" "$tmp/nginx/stdout.log" >&2 2>/dev/null; die "nginx did not start"; }
nsize=$(curl -s "http://127.0.0.1:$nport/" | wc -c)

# ---- the bare libmicrohttpd reference -------------------------------------------------------
# shellcheck disable=SC2046
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
    -o "$tmp/mhd_ref" "$here/mhd_ref.c" $(pkg-config --cflags --libs libmicrohttpd) -lpthread ||
    die "could not compile bench/mhd_ref.c"
mthreads=${BUNSEN_THREADS:-$(nproc)}
$SPIN "$tmp/mhd_ref" 0 "$mthreads" "$body" >"$tmp/mhd_ref.out" 2>&1 &
mpid=$!
mport=""
i=0
while [ $i -lt 50 ] && [ -z "$mport" ]; do
    mport=$(sed -n 's|^listening on http://127.0.0.1:\([0-9][0-9]*\)/$|\1|p' "$tmp/mhd_ref.out" 2>/dev/null)
    [ -n "$mport" ] || sleep 0.1
    i=$((i + 1))
done
[ -n "$mport" ] || die "bench/mhd_ref did not start: $(cat "$tmp/mhd_ref.out")"

# ---- runs -------------------------------------------------------------------------------
to_ms() { # wrk latency ("812.00us", "1.23ms", "1.02s") -> milliseconds
    echo "$1" | awk '{ v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /ms$/) v = v; else if ($1 ~ /m$/) v *= 60000; else if ($1 ~ /s$/) v *= 1000; printf "%.3f", v }'
}
cpu_ticks() { # pids... -> user + system clock ticks used so far (children included for nginx)
    for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done |
        awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
tag=$(date +%s)
split_of() { # pid -> the number of descriptors in each of its epoll sets, "/"-separated
    for fd in /proc/"$1"/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = "anon_inode:[eventpoll]" ] || continue
        grep -c '^tfd:' "/proc/$1/fdinfo/${fd##*/}" 2>/dev/null
    done | paste -sd/ -
}
run() { # name url key log_exposure pids... -> sets RPS P50 P99 ERRS REQS CPU_US SPLIT
    name=$1 url=$2 key=$3 logx=$4
    shift 4
    out="$tmp/wrk-$name.txt"
    $WPIN wrk -t"$THREADS" -c"$CONNS" -d"$WARM" -s "$here/assign.lua" "$url/api/v1/assign" \
        -- "$key" "$logx" "$EXP" "${tag}w$name" /api/v1/assign "${POOL:-0}" >/dev/null 2>&1
    c0=$(cpu_ticks "$@")
    $WPIN wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency -s "$here/assign.lua" "$url/api/v1/assign" \
        -- "$key" "$logx" "$EXP" "${tag}$name" /api/v1/assign "${POOL:-0}" >"$out" 2>&1 &
    wpid=$!
    # mid-run: how the server's epoll workers hold wrk's connections (one tfd line per
    # registered socket, the worker's own wake-up descriptor included)
    sleep 2
    SPLIT=$(for p in "$@"; do split_of "$p"; done | tr '\n' ' ')
    wait "$wpid" || die "wrk failed against $name: $(cat "$out")"
    c1=$(cpu_ticks "$@")
    sed "s/^/  [$name] /" "$out" >&2
    RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    ERRS=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")
    REQS=$(awk '/requests in/ { print $1 }' "$out")
    # server CPU time per reply (the wrk count includes the few cut off at the end)
    CPU_US=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v n="$REQS" 'BEGIN { printf "%.1f", (n > 0) ? (b - a) / hz * 1e6 / n : 0 }')
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: nginx on 127.0.0.1:$nport (reply $nsize bytes), bunsen on 127.0.0.1:$bport;" \
    "wrk -t$THREADS -c$CONNS -d$DUR --latency (after a $WARM warm-up each)" >&2
npids="$npid $(pgrep -P "$npid" 2>/dev/null | tr '\n' ' ')"
run nginx "http://127.0.0.1:$nport" - false $npids
N_RPS=$RPS N_P50=$P50 N_P99=$P99 N_ERR=$ERRS N_CPU=$CPU_US
run mhd-ref "http://127.0.0.1:$mport" - false "$mpid"
M_RPS=$RPS M_P50=$P50 M_P99=$P99 M_ERR=$ERRS M_CPU=$CPU_US M_SPLIT=$SPLIT
stop_pid "$mpid"
mpid=""
run log-off "$B" "$sdk" false "$bpid"
F_RPS=$RPS F_P50=$P50 F_P99=$P99 F_ERR=$ERRS F_CPU=$CPU_US F_SPLIT=$SPLIT
perf_pid=""
if [ -n "${BENCH_PERF:-}" ] && command -v perf >/dev/null 2>&1; then
    secs=$(echo "$WARM $DUR" | awk '{ print ($1 + 0) + ($2 + 0) }')
    perf record -g -p "$bpid" -o "$tmp/perf.data" -- sleep "$secs" >"$tmp/perf.log" 2>&1 &
    perf_pid=$!
fi
commits() { curl -s "$B/metrics" | awk '/^bunsen_writer_commits_total\{outcome="ok"\}/ { print $2; f = 1 } END { if (!f) print "" }'; }
# seconds the writer spent inside group transactions (BEGIN..COMMIT, fsync included)
busy() { curl -s "$B/metrics" | awk '$1 == "bunsen_writer_commit_duration_seconds_sum" { print $2; f = 1 } END { if (!f) print "" }'; }
k0=$(commits)
w0=$(busy)
t0=$(date +%s.%N)
run log-on "$B" "$sdk" true "$bpid"
k1=$(commits)
w1=$(busy)
t1=$(date +%s.%N)
O_RPS=$RPS O_P50=$P50 O_P99=$P99 O_ERR=$ERRS O_REQS=$REQS O_CPU=$CPU_US O_SPLIT=$SPLIT
q="SELECT count(*) FROM exposures WHERE user_id LIKE 'b${tag}log-on-%'"
if [ -n "$PG" ]; then
    stored=$(runuser -u postgres -- psql "$DBURL" -qAtX -c "$q" 2>/dev/null ||
        psql "$DBURL" -qAtX -c "$q" 2>/dev/null || echo "?")
else
    stored=$(sqlite3 -readonly "$tmp/data/bunsen.db" "$q" 2>/dev/null || echo "?")
fi
# returning users (BENCH_RETURNING per wrk thread, default 10,000): the same users again and
# again, as a service sees them; repeats of a committed first exposure need no write
# (store.h "Known first exposures"). Not one of the issue's goals (those send new users).
POOL=${BENCH_RETURNING:-10000}
BENCH_RETURNING_SHOW=$POOL
lookups() { curl -s "$B/metrics" | awk -v r="$1" '$1 == "bunsen_exposure_cache_lookups_total{result=\"" r "\"}" { print $2; f = 1 } END { if (!f) print 0 }'; }
h0=$(lookups hit) m0=$(lookups miss)
run log-ret "$B" "$sdk" true "$bpid"
h1=$(lookups hit) m1=$(lookups miss)
POOL=0
R_RPS=$RPS R_P50=$P50 R_P99=$P99 R_ERR=$ERRS R_CPU=$CPU_US R_REQS=$REQS R_SPLIT=$SPLIT

# ---- report -----------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
verdict() { awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { ok = (op == ">=") ? (v + 0 >= g) : (v + 0 < g); print ok ? "met" : "MISSED" }'; }
F_R=$(ratio "$F_RPS" "$N_RPS")
O_R=$(ratio "$O_RPS" "$N_RPS")
echo
echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo);" \
    "load average before the runs: $load0"
echo "wrk -t$THREADS -c$CONNS -d$DUR on 127.0.0.1; $("$bin" version 2>/dev/null | head -n 1) on ${BENCH_DATABASE:-sqlite};" \
    "bunsen threads: ${BUNSEN_THREADS:-default}, nginx workers: ${NGINX_WORKERS:-auto}${SPIN:+; servers on CPUs $BENCH_SERVER_CPUS}${WPIN:+, wrk on CPUs $BENCH_WRK_CPUS}"
printf '%-28s %11s %8s %8s %7s %9s %13s\n' "target" "requests/s" "p50 ms" "p99 ms" "errors" "vs nginx" "server us/req"
printf '%-28s %11.0f %8.3f %8.3f %7d %9s %13s\n' "nginx static reply" "$N_RPS" "$N_P50" "$N_P99" "$N_ERR" "1.00" "$N_CPU"
printf '%-28s %11.0f %8.3f %8.3f %7d %9s %13s\n' "bare libmicrohttpd (ref)" "$M_RPS" "$M_P50" "$M_P99" "$M_ERR" "$(ratio "$M_RPS" "$N_RPS")" "$M_CPU"
printf '%-28s %11.0f %8.3f %8.3f %7d %9s %13s\n' "/assign log_exposure=false" "$F_RPS" "$F_P50" "$F_P99" "$F_ERR" "$F_R" "$F_CPU"
printf '%-28s %11.0f %8.3f %8.3f %7d %9s %13s\n' "/assign log_exposure=true" "$O_RPS" "$O_P50" "$O_P99" "$O_ERR" "$O_R" "$O_CPU"
printf '%-28s %11.0f %8.3f %8.3f %7d %9s %13s\n' "  same, returning users" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$(ratio "$R_RPS" "$N_RPS")" "$R_CPU"
echo "connections per HTTP worker mid-run (epoll sets, each with its wake-up descriptor; nginx's are idle): mhd ref $M_SPLIT; off $F_SPLIT; on $O_SPLIT; returning $R_SPLIT"
echo "(server us/req: CPU time, user + system, of the server's processes per reply: less sensitive to other load than requests/s)"
[ -n "$PG" ] && echo "(on PostgreSQL the daemon's alone: the database's processes are not counted)"
echo "exposures committed in the logging-on run: $stored (wrk counted $O_REQS replies)$(awk -v a="$k0" -v b="$k1" -v n="$stored" 'BEGIN { if (a != "" && b > a && n + 0 > 0) printf "; %d group commits, %.1f exposures per commit (warm-up included)", b - a, n / (b - a) }')"
# the writer's share of the run's wall clock: near 1, the writer (its fsync above all) bounds
# logged requests/s (docs/PERFORMANCE.md "Ninth pass")
awk -v a="$w0" -v b="$w1" -v s="$t0" -v e="$t1" -v k0="$k0" -v k1="$k1" 'BEGIN { if (a != "" && b > a && e > s && k1 > k0) printf "writer inside group transactions %.0f%% of the logging-on run (warm-up included), %.0f us per group\n", 100 * (b - a) / (e - s), 1e6 * (b - a) / (k1 - k0) }'
echo "returning users: $BENCH_RETURNING_SHOW users per wrk thread; $(awk -v h="$((h1 - h0))" -v m="$((m1 - m0))" 'BEGIN { if (h + m > 0) printf "%.1f%% of their logged assignments answered without a write (known first exposures; warm-up included)", 100 * h / (h + m); else print "the known-exposure cache is off (its default on PostgreSQL: docs/SCALING.md)" }')"
g1=$(verdict "$F_R" ">=" 0.65)
g2=$(verdict "$O_R" ">=" 0.40)
C_R=$(ratio "$F_CPU" "$N_CPU")
g5=$(awk -v v="$C_R" 'BEGIN { print (v != "-" && v + 0 <= 1.5) ? "met" : "MISSED" }')
g3=$(verdict "$F_P99" "<" 5)
g4=$(verdict "$O_P99" "<" 5)
echo "goal: CPU/reply, logging off <= 1.5 x nginx: $g5 ($C_R)"
echo "goal: logging off >= 0.65 x nginx: $g1 ($F_R)"
echo "goal: logging on  >= 0.40 x nginx: $g2 ($O_R)"
echo "goal: p99 < 5 ms, logging off:     $g3 ($F_P99 ms)"
echo "goal: p99 < 5 ms, logging on:      $g4 ($O_P99 ms)"
if [ -n "$perf_pid" ]; then
    wait "$perf_pid"
    echo
    echo "perf report (daemon during the logging-on run), top entries:"
    perf report -i "$tmp/perf.data" --stdio --no-children -g none --percent-limit 0.7 \
        --sort comm,dso,symbol 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 40
fi
fails=0
for g in $g1 $g2 $g3 $g4 $g5; do [ "$g" = met ] || fails=$((fails + 1)); done
[ "$F_ERR" -eq 0 ] && [ "$O_ERR" -eq 0 ] && [ "$R_ERR" -eq 0 ] && [ "$N_ERR" -eq 0 ] && [ "$M_ERR" -eq 0 ] || {
    echo "bench: some requests failed (see the errors column)" >&2
    fails=$((fails + 1))
}
[ -n "${BENCH_STRICT:-}" ] && [ "$fails" -gt 0 ] && exit 1
exit 0

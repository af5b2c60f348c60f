#!/bin/sh
# bench/pg.sh - ingestion and /assign on PostgreSQL beside SQLite, ratios in one run:
#   1. POST /api/v1/events through 1 daemon on SQLite (the reference),
#   2. through 1 daemon on PostgreSQL,
#   3. through 3 daemons on one PostgreSQL (the same clients per daemon, all at once),
#   4. the PostgreSQL ceiling: COPY of as many rows into the events table (same schema),
#   5. POST /api/v1/assign with exposure logging on PostgreSQL and on SQLite.
# A throwaway cluster (tests/pg/cluster.sh; synchronous_commit on, fsync on) and temp data
# dirs; the drivers are bench/ingest.c (events: 50% purchase, 30% click, 20% view, unique
# ids, users exposed first) and bench/load.c (/assign). Writes nothing outside its temp dir.
#
# Knobs: BENCH_CLIENTS=4 (per daemon)  BENCH_BATCHES=10 (per client)  BENCH_BATCH=1000
#        BENCH_USERS=20000  BENCH_ASSIGN=20000 (requests)  BENCH_CONNS=8
#        BENCH_PGSTAT=1: load pg_stat_statements and print the 3-daemon phase's statements by
#        total time (and the CPU time of the daemons and of PostgreSQL in that phase)
# Usage: make && sh bench/pg.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
CLIENTS=${BENCH_CLIENTS:-4}
BATCHES=${BENCH_BATCHES:-10}
BATCH=${BENCH_BATCH:-1000}
USERS=${BENCH_USERS:-20000}
NASSIGN=${BENCH_ASSIGN:-20000}
CONNS=${BENCH_CONNS:-8}
bin=${BUNSEN_BIN:-$root/build/bunsen}
die() {
    echo "bench: $*" >&2
    exit 1
}
[ -x "$bin" ] || die "no bunsen binary at $bin (run make)"
tmp=$(mktemp -d /tmp/bunsen-benchpg-XXXXXX) || die "mktemp failed"
chmod 755 "$tmp"
pids=""
cleanup() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    sh "$root/tests/pg/cluster.sh" stop "$tmp/pg" immediate
    [ -z "${BENCH_KEEP:-}" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2046
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -o "$tmp/ingest" \
    "$here/ingest.c" $(pkg-config --cflags --libs sqlite3) -lpthread || die "cannot build ingest.c"
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -o "$tmp/load" \
    "$here/load.c" -lpthread || die "cannot build load.c"
url=$(sh "$root/tests/pg/cluster.sh" start "$tmp/pg") || die "the PostgreSQL cluster did not start"
base_url=${url%/*}
psql_do() { # database sql
    runuser -u postgres -- psql "$base_url/$1" -qAtX -c "$2" 2>/dev/null ||
        psql "$base_url/$1" -qAtX -c "$2"
}
PGSTAT=${BENCH_PGSTAT:-}
if [ -n "$PGSTAT" ]; then
    psql_do postgres "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
    sh "$root/tests/pg/cluster.sh" restart "$tmp/pg" fast || die "restart with pg_stat_statements"
fi
pgstat_top() { # database: its statements by total time
    psql_do "$1" "SELECT round(s.total_exec_time::numeric, 1) || ' | ' || s.calls || ' | ' ||
        s.rows || ' | ' || round(s.mean_exec_time::numeric, 3) || ' | ' ||
        left(regexp_replace(s.query, '\s+', ' ', 'g'), 110) FROM pg_stat_statements s
        JOIN pg_database d ON d.oid = s.dbid AND d.datname = '$1'
        WHERE s.query NOT LIKE '%pg_stat_statements%' ORDER BY s.total_exec_time DESC LIMIT 14"
}
# CPU seconds (user + system) of the processes whose command name is $1, from /proc
cpu_of() { # command name, as /proc shows it (its first 15 characters)
    for s in /proc/[0-9]*/stat; do
        cat "$s" 2>/dev/null
    done | awk -v name="($1)" -v hz="$(getconf CLK_TCK)" \
        '$2 == name { t += $14 + $15 } END { printf "%.2f", t / hz }'
}

PORT=""
start_daemon() { # name database-url-or-sqlite: sets PORT
    mkdir -p "$tmp/$1"
    if [ "$2" = sqlite ]; then
        "$bin" serve --listen 127.0.0.1 --port 0 --data-dir "$tmp/$1" --log-level warn \
            --rate-limit-ingest 0 >"$tmp/$1.out" 2>"$tmp/$1.err" &
    else
        BUNSEN_DATABASE="$2" "$bin" serve --listen 127.0.0.1 --port 0 --data-dir "$tmp/$1" \
            --log-level warn --rate-limit-ingest 0 >"$tmp/$1.out" 2>"$tmp/$1.err" &
    fi
    pids="$pids $!"
    PORT=""
    i=0
    while [ $i -lt 150 ] && [ -z "$PORT" ]; do
        line=$(head -n 1 "$tmp/$1.out" 2>/dev/null)
        case $line in
        *"listening on http://"*/) PORT=$(printf '%s\n' "$line" | sed 's|.*:\([0-9][0-9]*\)/$|\1|') ;;
        *) sleep 0.1 ;;
        esac
        i=$((i + 1))
    done
    [ -n "$PORT" ] || { cat "$tmp/$1.err" >&2; die "bunsen ($1) did not start"; }
}

api() { # port key method path [json]
    if [ $# -ge 5 ]; then
        curl -sS -f -X "$3" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
            --data-binary "$5" "http://127.0.0.1:$1$4"
    else
        curl -sS -f -X "$3" -H "Authorization: Bearer $2" "http://127.0.0.1:$1$4"
    fi
}

SDK=""
EXP=bench
setup() { # port admin-key: metrics, a running experiment, an sdk key in SDK
    api "$1" "$2" POST /api/v1/metrics '{"key":"b-conv","event":"purchase","type":"binomial","window_hours":72}' >/dev/null &&
        api "$1" "$2" POST /api/v1/metrics '{"key":"b-clicks","event":"click","type":"count"}' >/dev/null &&
        api "$1" "$2" POST /api/v1/experiments '{"key":"'$EXP'","variants":[{"key":"control"},{"key":"treatment"}],"metrics":["b-conv","b-clicks"]}' >/dev/null &&
        api "$1" "$2" POST /api/v1/experiments/$EXP/start >/dev/null || die "setup failed"
    SDK=$(api "$1" "$2" POST /api/v1/keys '{"name":"bench","role":"sdk"}' | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
    [ -n "$SDK" ] || die "no sdk key"
}

now_s() { date +%s.%N; }
base=$(($(date +%s) * 1000))

# ---- 1. SQLite, one daemon ----
start_daemon sq sqlite
SQ=$PORT
setup "$SQ" "$(cat "$tmp/sq/admin.key")"
SQ_SDK=$SDK
out=$("$tmp/ingest" http "$SQ" "$SDK" "$EXP" "$CLIENTS" "$BATCHES" "$BATCH" "$USERS" s "$base") || die "sqlite run: $out"
SQ_RATE=$(echo "$out" | awk '{ print $4 }')
N1=$(echo "$out" | awk '{ print $2 }')

# ---- 2. PostgreSQL, one daemon ----
psql_do postgres "CREATE DATABASE one" >/dev/null
start_daemon p1 "$base_url/one"
P1=$PORT
setup "$P1" "$(cat "$tmp/p1/admin.key")"
P1_SDK=$SDK
out=$("$tmp/ingest" http "$P1" "$SDK" "$EXP" "$CLIENTS" "$BATCHES" "$BATCH" "$USERS" o "$base") || die "pg run: $out"
P1_RATE=$(echo "$out" | awk '{ print $4 }')

# ---- 3. PostgreSQL, three daemons ----
psql_do postgres "CREATE DATABASE three" >/dev/null
start_daemon t0 "$base_url/three"
T0=$PORT
setup "$T0" "$(cat "$tmp/t0/admin.key")"
start_daemon t1 "$base_url/three"
T1=$PORT
start_daemon t2 "$base_url/three"
T2=$PORT
sleep 1
if [ -n "$PGSTAT" ]; then
    psql_do three "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
fi
for d in 0 1 2; do
    eval port=\$T$d
    "$tmp/ingest" expose "$port" "$SDK" "$EXP" $((USERS / 3)) "t$d" "$base" >/dev/null || die "expose"
done
[ -n "$PGSTAT" ] && psql_do three "SELECT pg_stat_statements_reset()" >/dev/null
bin_comm=$(basename "$bin" | cut -c1-15)
cpu_d0=$(cpu_of "$bin_comm")
cpu_p0=$(cpu_of postgres)
t_start=$(now_s)
for d in 0 1 2; do
    eval port=\$T$d
    "$tmp/ingest" events "$port" "$SDK" "$EXP" "$CLIENTS" "$BATCHES" "$BATCH" $((USERS / 3)) "t$d" "$base" >"$tmp/t$d.res" &
    eval w$d=$!
done
wait "$w0" "$w1" "$w2"
t_end=$(now_s)
cpu_d1=$(cpu_of "$bin_comm")
cpu_p1=$(cpu_of postgres)
if [ -n "$PGSTAT" ]; then # now: later phases use other databases of the same cluster
    PGSTAT_TOP=$(pgstat_top three)
fi
N3=$(cat "$tmp"/t?.res | awk '{ s += $2 } END { print s }')
P3_RATE=$(awk -v n="$N3" -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.0f", n / (b - a) }')
P3_STORED=$(psql_do three "SELECT count(*) FROM events")

# ---- 4. the COPY ceiling: as many rows as run 3, same table ----
psql_do postgres "CREATE DATABASE ceiling" >/dev/null
BUNSEN_DATABASE="$base_url/ceiling" "$bin" migrate --data-dir "$tmp/sq" >/dev/null 2>&1 || die "migrate"
awk -v n="$N3" -v base="$base" 'BEGIN { for (i = 0; i < n; i++) {
    k = i % 10; ev = k < 5 ? "purchase" : k < 8 ? "click" : "view";
    printf "cu%d\t%s\t%d\t%.2f\tc%d\n", i % 20000, ev, base - (i % 3600000), (i % 1000) / 10, i } }' >"$tmp/rows.tsv"
chmod 644 "$tmp/rows.tsv"
c_start=$(now_s)
psql_do ceiling "COPY events (user_id, event, ts, value, id) FROM '$tmp/rows.tsv'" >/dev/null ||
    die "COPY failed"
c_end=$(now_s)
C_RATE=$(awk -v n="$N3" -v a="$c_start" -v b="$c_end" 'BEGIN { printf "%.0f", n / (b - a) }')

# ---- 5. /assign with exposure logging ----
if [ -n "$PGSTAT" ]; then
    psql_do one "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
    psql_do one "SELECT pg_stat_statements_reset()" >/dev/null
fi
aout=$("$tmp/load" "$P1" "$P1_SDK" "$EXP" true "$NASSIGN" "$CONNS" pa) || die "assign on pg: $aout"
[ -n "$PGSTAT" ] && PGSTAT_ASSIGN=$(pgstat_top one)
A_PG=$(echo "$aout" | awk '{ printf "%.0f", $2 / $3 }')
aout=$("$tmp/load" "$SQ" "$SQ_SDK" "$EXP" true "$NASSIGN" "$CONNS" sa) || die "assign on sqlite: $aout"
A_SQ=$(echo "$aout" | awk '{ printf "%.0f", $2 / $3 }')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
echo
echo "machine: $(nproc) CPUs; load average before the runs: see /proc/loadavg ($(cut -d' ' -f1-3 /proc/loadavg) now)"
echo "$("$bin" version 2>/dev/null | head -n 1); $CLIENTS clients x $BATCHES batches x $BATCH events per daemon; 2 metrics"
printf '%-52s %10s %10s\n' "target" "events/s" "x SQLite"
printf '%-52s %10.0f %10s\n' "1 daemon, SQLite (reference)" "$SQ_RATE" "1.00"
printf '%-52s %10.0f %10s\n' "1 daemon, PostgreSQL" "$P1_RATE" "$(ratio "$P1_RATE" "$SQ_RATE")"
printf '%-52s %10.0f %10s\n' "3 daemons, one PostgreSQL" "$P3_RATE" "$(ratio "$P3_RATE" "$SQ_RATE")"
printf '%-52s %10.0f %10s\n' "PostgreSQL ceiling: COPY of $N3 rows" "$C_RATE" "$(ratio "$C_RATE" "$SQ_RATE")"
printf '%-52s %10s %10s\n' "/assign with logging, PostgreSQL (requests/s)" "$A_PG" "$(ratio "$A_PG" "$A_SQ")"
printf '%-52s %10s %10s\n' "/assign with logging, SQLite (requests/s)" "$A_SQ" "1.00"
echo "3 daemons stored $P3_STORED events of $N3 sent; 3 daemons / COPY ceiling: $(ratio "$P3_RATE" "$C_RATE")"
if [ -n "$PGSTAT" ]; then
    echo
    echo "3-daemon phase: $(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.2f", b - a }') s;" \
        "CPU s: daemons $(awk -v a="$cpu_d0" -v b="$cpu_d1" 'BEGIN { printf "%.2f", b - a }')," \
        "PostgreSQL $(awk -v a="$cpu_p0" -v b="$cpu_p1" 'BEGIN { printf "%.2f", b - a }')" \
        "(backends that exited are not counted)"
    echo "statements of the 3-daemon phase by total time (ms total | calls | rows | ms per call):"
    echo "$PGSTAT_TOP"
    echo "statements of the PostgreSQL /assign phase (logging on):"
    echo "$PGSTAT_ASSIGN"
fi
echo "goal: 3 daemons on PostgreSQL >= 1 daemon on SQLite: $(awk -v a="$P3_RATE" -v b="$SQ_RATE" 'BEGIN { print (a >= b) ? "met" : "MISSED" }')"

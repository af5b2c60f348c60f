#!/bin/sh
# A throwaway PostgreSQL cluster for the tests, on loopback only.
#
#   tests/pg/cluster.sh start DIR [PORT]      initdb + pg_ctl start in DIR; prints the URL
#   tests/pg/cluster.sh standby DIR PRIMARY_PORT [PORT]
#                                             a streaming standby of the cluster on
#                                             PRIMARY_PORT (pg_basebackup); prints its URL
#   tests/pg/cluster.sh sync DIR STANDBY_NAME make DIR's commits wait for that standby
#   tests/pg/cluster.sh stop DIR [MODE]       pg_ctl stop (MODE fast|immediate, default fast)
#   tests/pg/cluster.sh restart DIR [MODE]    stop (MODE, default immediate) and start again
#   tests/pg/cluster.sh promote DIR           promote a standby
#
# The server runs as the `postgres` user (initdb refuses root): when this script runs as
# root it makes DIR owned by postgres and runs every server command through
# `runuser -u postgres`. Logs: DIR/log. Any free port is picked when PORT is not given.
set -eu

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "cluster.sh: no PostgreSQL server (make deps)" >&2; exit 1; }

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A free port below the kernel's ephemeral range (ip_local_port_range), so that no outgoing
# connection (the load clients', the daemons' reconnects) can hold it as its local port
# while the server is down for a restart (`restart` binds the same port again: review
# flaky34 F2).
free_port() {
    lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    case "$lo" in '' | *[!0-9]*) lo=32768 ;; esac
    span=$((lo - 20000))
    [ "$span" -ge 1000 ] || span=12768
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        p=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % span))
        if ! (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null && ! ss -ltn 2>/dev/null | grep -q ":$p "; then
            echo "$p"
            return
        fi
    done
    echo 25432
}

prepare_dir() {
    mkdir -p "$1"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres "$1"
    fi
}

server_opts() {
    # durable commits (fsync on), small shared memory, loopback only, socket in DIR
    echo "-p $2 -k $1 -c listen_addresses=127.0.0.1 -c max_connections=200 \
-c shared_buffers=64MB -c wal_level=replica -c max_wal_senders=4 -c hot_standby=on \
-c deadlock_timeout=100ms -c log_min_messages=warning"
}

start_server() { # dir port [any]: "any" retries on other ports when the first is taken
    dir=$1
    port=$2
    for attempt in 1 2 3 4 5; do
        if as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 120 \
            -o "$(server_opts "$dir" "$port")" start >/dev/null 2>&1; then
            echo "$port" >"$dir/port"
            return 0
        fi
        [ "${3:-}" = any ] || break
        port=$(free_port)
    done
    echo "cluster.sh: the server in $dir did not start:" >&2
    tail -5 "$dir/log" >&2 2>/dev/null
    return 1
}

cmd=${1:-}
case $cmd in
start)
    dir=$2
    port=${3:-$(free_port)}
    prepare_dir "$dir"
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust --locale=C -E UTF8 \
        >"$dir/initdb.log" 2>&1
    # replication connections from loopback for a standby
    echo "host replication postgres 127.0.0.1/32 trust" | as_pg tee -a "$dir/data/pg_hba.conf" >/dev/null
    start_server "$dir" "$port" any
    echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
    ;;
standby)
    dir=$2
    primary=$3
    port=${4:-$(free_port)}
    prepare_dir "$dir"
    name=$(basename "$dir")
    as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$primary" -U postgres -D "$dir/data" -R \
        -X stream -d "application_name=$name" >"$dir/basebackup.log" 2>&1
    start_server "$dir" "$port" any
    echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
    ;;
sync)
    dir=$2
    name=$3
    port=$(cat "$dir/port")
    as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt \
        -c "ALTER SYSTEM SET synchronous_standby_names = '$name'" \
        -c "ALTER SYSTEM SET synchronous_commit = 'on'" -c "SELECT pg_reload_conf()" >/dev/null
    ;;
stop)
    dir=$2
    mode=${3:-fast}
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null 2>&1 || true
    ;;
restart)
    dir=$2
    mode=${3:-immediate}
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null 2>&1 || true
    start_server "$dir" "$(cat "$dir/port")" >/dev/null
    ;;
promote)
    dir=$2
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -w -t 60 promote >/dev/null
    ;;
*)
    echo "usage: cluster.sh start DIR [PORT] | standby DIR PRIMARY_PORT [PORT] | sync DIR NAME |" \
        "stop DIR [MODE] | restart DIR [MODE] | promote DIR" >&2
    exit 2
    ;;
esac

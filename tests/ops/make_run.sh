#!/bin/sh
# tests/ops/make_run.sh - `make run` takes the daemon's environment variables (BUNSEN_PORT,
# BUNSEN_DATA_DIR, BUNSEN_LISTEN: the Makefile's own flags used to override them, so
# `BUNSEN_PORT=8081 make run` served on 8080) and the Makefile variables PORT, DATA_DIR and
# LISTEN, which win over them. Checked on the command `make -n run` prints (nothing is served).
# Prints TAP. Run from the repository root (make test does).
set -u
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ $# -gt 1 ] && echo "# $2"; }

# the serve line of `make -n run` with the given environment and arguments
serve_line() {
    env "$@" 2>/dev/null | grep 'bunsen serve' | tail -1
}

line=$(serve_line -u BUNSEN_PORT -u BUNSEN_DATA_DIR -u BUNSEN_LISTEN -u PORT -u DATA_DIR -u LISTEN \
    make -s -n run)
case "$line" in
*"--listen 127.0.0.1 --port 8080 --data-dir ./data"*) ok "make run: the defaults" ;;
*) not_ok "make run: the defaults" "$line" ;;
esac

line=$(serve_line -u PORT -u DATA_DIR -u LISTEN BUNSEN_PORT=18299 BUNSEN_DATA_DIR=/tmp/bunsen-env \
    BUNSEN_LISTEN=0.0.0.0 make -s -n run)
case "$line" in
*"--listen 0.0.0.0 --port 18299 --data-dir /tmp/bunsen-env"*) ok "make run: BUNSEN_PORT, BUNSEN_DATA_DIR, BUNSEN_LISTEN" ;;
*) not_ok "make run: BUNSEN_PORT, BUNSEN_DATA_DIR, BUNSEN_LISTEN" "$line" ;;
esac

line=$(serve_line -u PORT -u DATA_DIR -u LISTEN BUNSEN_PORT=18299 BUNSEN_DATA_DIR=/tmp/bunsen-env \
    BUNSEN_LISTEN=0.0.0.0 make -s -n run PORT=18298 DATA_DIR=/tmp/bunsen-arg LISTEN=::1)
case "$line" in
*"--listen ::1 --port 18298 --data-dir /tmp/bunsen-arg"*) ok "make run PORT= DATA_DIR= LISTEN= win over the environment" ;;
*) not_ok "make run PORT= DATA_DIR= LISTEN= win over the environment" "$line" ;;
esac

echo "1..$n"
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]

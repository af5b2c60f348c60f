#!/bin/sh
# bench/eval.sh - targeting cost of one /assign over N running experiments (bench/eval.c).
# Usage: make && sh bench/eval.sh [N]      (N defaults to 1000)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pkgs="libmicrohttpd jansson sqlite3 gsl libsodium libpcre2-16 libcrypto libpq"
# shellcheck disable=SC2046
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
    -I"$root/include" $(pkg-config --cflags $pkgs) -o "$tmp/eval" "$here/eval.c" \
    "$root/build/libbunsen.a" $(pkg-config --libs $pkgs) -lm -pthread
"$tmp/eval" "${1:-1000}"

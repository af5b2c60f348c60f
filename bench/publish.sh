#!/bin/sh
# bench/publish.sh - definition changes while SDK streams (GET /sub) are open on a large
# payload (docs/PERFORMANCE.md "Thirteenth pass").
#
# 1. the daemon starts on an empty database; GROUPS saved groups of 100,000 values each
#    (numbers: about 0.8 MB of payload per group) and one running experiment targeting the first;
# 2. KEYS sdk keys created with "encrypt": true, each with one GET /sub subscriber (curl -N);
# 3. bench/probe.c writes one event every 20 ms and times each;
# 4. EDITS PATCHes of the experiment's description, one after the other, each timed
#    (every one is a definition change: a snapshot reload and a publish to the streams);
# 5. prints the PATCH latencies (median, max), the probe's figures, the payload renders
#    counted by the daemon (bunsen_sdk_payload_renders_total), the events the streams got,
#    and how many streams' last payload is the current one (all of them, or a bug).
#
# Usage: sh bench/publish.sh [KEYS [GROUPS [EDITS]]]   (defaults 4 3 20; BENCH_BIN=PATH
# runs another bunsen binary, e.g. one built from an older commit, for a before/after)
set -eu
cd "$(dirname "$0")/.."
keys=${1:-4}
groups=${2:-3}
edits=${3:-20}
bin=${BENCH_BIN:-}
bb=build/bench
mkdir -p "$bb"
if [ -z "$bin" ]; then
    make -s all
    bin=build/bunsen
fi
cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -o "$bb/probe" bench/probe.c
. bench/lib.sh
bench_need curl

bench_tmp publish
subs=""
cleanup() {
    for s in $subs; do kill "$s" 2>/dev/null || true; done
    bench_cleanup
}
trap cleanup EXIT
bench_serve "$bin" "$dir"
api() { # METHOD PATH [BODY or @FILE]
    curl -s -X "$1" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
        ${3:+-d "$3"} "$base$2"
}
g=0
while [ "$g" -lt "$groups" ]; do
    awk -v g="$g" 'BEGIN { printf "{\"key\":\"g%d\",\"attribute\":\"id\",\"values\":[", g;
        for (i = 0; i < 100000; i++) printf "%s%d", i ? "," : "", g * 1000000 + i;
        printf "]}" }' >"$dir/group.json"
    api POST /api/v1/saved-groups "@$dir/group.json" >"$dir/group.out"
    grep -q "\"key\":\"g$g\"" "$dir/group.out" || { cat "$dir/group.out" >&2; exit 1; }
    g=$((g + 1))
done
api POST /api/v1/experiments '{"key":"pub","variants":[{"key":"a"},{"key":"b"}],
    "targeting":{"id":{"$inGroup":"g0"}}}' >/dev/null
api POST /api/v1/experiments/pub/start >/dev/null
k=0
while [ "$k" -lt "$keys" ]; do
    key=$(api POST /api/v1/keys "{\"name\":\"sub$k\",\"role\":\"sdk\",\"encrypt\":true}" |
        sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
    echo "$key" >"$dir/key$k"
    curl -s -N "$base/sub/$key" >"$dir/sub$k.out" &
    subs="$subs $!"
    k=$((k + 1))
done
sdk=$(api POST /api/v1/keys '{"name":"probe","role":"sdk"}' |
    sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
sleep 1
payload=$(curl -s "$base/api/features/$sdk" | wc -c)
"$bb/probe" "$port" "$sdk" 20 "$dir/stop" >"$dir/probe.out" &
probe=$!
sleep 1 # a baseline before the edits
e=0
: >"$dir/patch.ms"
while [ "$e" -lt "$edits" ]; do
    t=$(curl -s -o /dev/null -w '%{time_total}' -X PATCH -H "Authorization: Bearer $admin" \
        -H 'Content-Type: application/json' -d "{\"description\":\"edit $e\"}" \
        "$base/api/v1/experiments/pub")
    awk "BEGIN { printf \"%.2f\n\", $t * 1000 }" >>"$dir/patch.ms"
    e=$((e + 1))
done
sleep 2 # the last publish reaches the streams
touch "$dir/stop"
wait "$probe" || true
renders=$(curl -s "$base/metrics" | sed -n 's/^bunsen_sdk_payload_renders_total \([0-9]*\).*/\1/p')
events=0
current=0
for k in $(seq 0 $((keys - 1))); do
    events=$((events + $(grep -c '^event: features' "$dir/sub$k.out" || true)))
    # the stream's last payload is the one GET /api/features serves now (the same text:
    # the encryption's IV derives from the plaintext)
    sed -n 's/^data: //p' "$dir/sub$k.out" | tail -n 1 >"$dir/last$k"
    curl -s "$base/api/features/$(cat "$dir/key$k")" >"$dir/now$k"
    echo >>"$dir/now$k"
    cmp -s "$dir/last$k" "$dir/now$k" && current=$((current + 1))
done
echo "payload (plain) $payload bytes; $keys encrypted keys with one stream each; $edits edits"
sort -n "$dir/patch.ms" | awk '{ v[NR] = $1 } END { printf "PATCH: median %.1f ms, max %.1f ms\n", v[int((NR + 1) / 2)], v[NR] }'
echo "probe (one event every 20 ms): $(cat "$dir/probe.out")"
echo "payload renders: $renders; features events received by the streams: $events;" \
    "streams holding the current payload: $current of $keys"

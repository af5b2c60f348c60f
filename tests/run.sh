#!/bin/sh
# Run every test executable given as an argument with cmocka's TAP output, echo the
# results and finish with one line "N passed, N failed". Exit 1 when anything failed.
passed=0
failed=0
skipped=0
log=$(mktemp)
for t in "$@"; do
    echo "== $(basename "$t")"
    case $t in
    *.sh) CMOCKA_MESSAGE_OUTPUT=TAP sh "$t" >"$log" 2>&1 ;;
    *) CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$log" 2>&1 ;;
    esac
    rc=$?
    cat "$log"
    p=$(grep -c '^ok ' "$log")
    f=$(grep '^not ok ' "$log" | grep -vc '# SKIP')
    s=$(grep -c '^not ok .*# SKIP\|^ok .*# SKIP' "$log")
    skipped=$((skipped + s))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "!! $(basename "$t") exited with status $rc"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done
rm -f "$log"
[ "$skipped" -gt 0 ] && echo "($skipped skipped: see the '# SKIP' lines above)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

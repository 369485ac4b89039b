#!/bin/sh
# Runs each test program given, prints its output and how long it took (to keep CI's time in
# view), and ends with the summed totals line.
passed=0; failed=0; status=0
for t in "$@"; do
    start=$(date +%s.%N)
    case "$t" in
        *.sh) out=$(sh "$t" 2>&1); rc=$? ;;
        *) out=$("$t" 2>&1); rc=$? ;;
    esac
    printf '%s\n' "$out"
    awk -v s="$start" -v e="$(date +%s.%N)" -v t="$t" 'BEGIN { printf "%s: %.1f s\n", t, e - s }'
    line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    p=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/')
    f=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    if [ -z "$line" ]; then p=0; f=1; echo "FAIL $t: exited $rc without a totals line"; fi
    if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; echo "FAIL $t: exit status $rc"; fi
    passed=$((passed + p)); failed=$((failed + f))
    [ $rc -ne 0 ] && status=1
done
echo "$passed passed, $failed failed"
exit $status

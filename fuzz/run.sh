#!/bin/sh
# Runs each fuzz target for SECONDS on a scratch copy of its seed corpus (fuzz/corpus/<name>),
# two at a time, and prints the totals line. A crash, leak or sanitizer report fails the target;
# its reproducer is kept in build-fuzz/.
# Usage: sh fuzz/run.sh SECONDS build-fuzz/fuzz_a build-fuzz/fuzz_b ...
seconds=$1; shift
passed=0; failed=0
run_one() {
    bin=$1 name=$(basename "$1" | sed 's/^fuzz_//')
    work=$(mktemp -d)
    [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/"
    if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="build-fuzz/$name-" \
        "$work" > "build-fuzz/$name.log" 2>&1; then
        echo "fuzz $name: ok ($(grep -o 'Done [0-9]* runs' "build-fuzz/$name.log" | tail -n 1))"
    else
        echo "FAIL fuzz $name: see build-fuzz/$name.log"; tail -n 20 "build-fuzz/$name.log"
        rm -rf "$work"; return 1
    fi
    rm -rf "$work"
}
while [ $# -gt 0 ]; do
    run_one "$1" > build-fuzz/result.1 & p1=$!
    p2=
    if [ $# -gt 1 ]; then run_one "$2" > build-fuzz/result.2 & p2=$!; fi
    if wait $p1; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    cat build-fuzz/result.1
    if [ -n "$p2" ]; then
        if wait $p2; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
        cat build-fuzz/result.2
        shift
    fi
    shift
done
echo "fuzz/run.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

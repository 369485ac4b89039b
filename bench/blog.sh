#!/bin/sh
# The `blog` workload of ../shared/bench/WORKLOADS.md for nn: test accuracy, whole-process wall
# time (start to exit, loading included), fit time and peak memory; medians of RUNS runs.
# Usage: sh bench/blog.sh [RUNS]   (after `make`)
RUNS=${1:-15}
NN=${NN:-build/nn}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for i in $(seq "$RUNS"); do
    start=$(date +%s%N)
    "$NN" demo --verbose 0 --json > "$tmp/out.$i"
    end=$(date +%s%N)
    echo "$(( (end - start) / 1000 ))" > "$tmp/wall.$i"
    /usr/bin/time -f "%M" -o "$tmp/rss.$i" "$NN" demo --verbose 0 > /dev/null
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
wall=$(cat "$tmp"/wall.* | median)
rss=$(cat "$tmp"/rss.* | median)
fit=$(cat "$tmp"/out.* | sed -n 's/.*"fit_seconds":\([0-9.e-]*\).*/\1/p' | median)
acc=$(cat "$tmp"/out.* | sed -n 's/.*"test":{[^}]*"accuracy":\([0-9.e-]*\).*/\1/p' | median)
echo "blog (nn, $RUNS runs, medians): test accuracy $acc; whole process $(awk "BEGIN { print $wall / 1000 }") ms; fit $(awk "BEGIN { print $fit * 1000 }") ms; peak memory $((rss / 1024)) MB ($rss KB)"

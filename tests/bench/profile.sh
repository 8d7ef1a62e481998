#!/usr/bin/env bash
# The cost of `profile` to the program it measures: the healthy_busy fixture (mpsc pipelines and
# tasks taking tokio Mutexes in a loop: many polls and wakes a second) counts the messages and
# lock rounds it gets through in SECONDS; run plain and under `profile -- PROGRAM`, RUNS times
# each, interleaved. Prints the medians, the ratio, and the probe events per second the profile
# saw. The profiled figure includes the start snapshot's pause. Needs perf uprobe events (root or
# CAP_PERFMON).
# Usage: tests/bench/profile.sh BIN FIXTURES [SECONDS] [RUNS] [TOKIO_DIR]
set -euo pipefail
bin=$1
fixtures=$2
seconds=${3:-3}
runs=${4:-3}
tokio=${5:-tokio-1.54}
exe="$fixtures/$tokio/debug/healthy_busy"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
calc() { awk "BEGIN {printf \"%.6f\", $1}"; }
# The first (top-level) number of a key in the profile's JSON.
field() { sed -n "s/^  \"$1\": \([0-9]*\),\$/\1/p" "$2" | head -n 1; }
# "done <rounds> <messages>": their sum, per second.
ops() { awk -v s="$seconds" '$1 == "done" {printf "%.0f", ($2 + $3) / s}'; }

plain=() profiled=() events=()
json=$(mktemp)
for ((i = 0; i < runs; i++)); do
	plain+=("$("$exe" "$seconds" | ops)")
	profiled+=("$("$bin" profile --format json --output "$json" -- "$exe" "$seconds" 2>/dev/null | ops)")
	events+=("$(calc "(2 * $(field polls "$json") + $(field wakes "$json")) / ($(field duration_ns "$json") / 1e9)")")
done
rm -f "$json"
p=$(printf '%s\n' "${plain[@]}" | median)
q=$(printf '%s\n' "${profiled[@]}" | median)
e=$(printf '%s\n' "${events[@]}" | median)
printf 'healthy_busy %ss (%s, debug), %s runs each, medians of messages + lock rounds per second:\n' \
	"$seconds" "$tokio" "$runs"
printf '  plain     %10.0f ops/s\n' "$p"
printf '  profiled  %10.0f ops/s  (%.1f%% of plain; %.0f probe events/s)\n' "$q" "$(calc "100 * $q / $p")" "$e"

#!/usr/bin/env bash
# The cost of `profile` to the program it measures: the busy fixture (mpsc pipelines, MESSAGES
# messages; every message is a few polls and wakes) run plain and under `profile -- PROGRAM`,
# RUNS times each, interleaved; prints the median messages/s of both, the ratio, and the events
# the profile saw per second. Needs perf uprobe events (root or CAP_PERFMON).
# Usage: tests/bench/profile.sh BIN FIXTURES [MESSAGES] [RUNS] [TOKIO_DIR]
set -euo pipefail
bin=$1
fixtures=$2
messages=${3:-400000}
runs=${4:-3}
tokio=${5:-tokio-1.54}
exe="$fixtures/$tokio/debug/busy"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }
calc() { awk "BEGIN {printf \"%.6f\", $1}"; }
# The first (top-level) number of a key in the profile's JSON.
field() { sed -n "s/^  \"$1\": \([0-9]*\),\$/\1/p" "$2" | head -n 1; }

plain=() profiled=() events=()
json=$(mktemp)
for ((i = 0; i < runs; i++)); do
	t=$(now)
	"$exe" "$messages" >/dev/null
	plain+=("$(calc "$messages / ($(now) - $t)")")
	t=$(now)
	"$bin" profile --format json --output "$json" -- "$exe" "$messages" >/dev/null 2>&1
	profiled+=("$(calc "$messages / ($(now) - $t)")")
	events+=("$(calc "(2 * $(field polls "$json") + $(field wakes "$json")) / ($(field duration_ns "$json") / 1e9)")")
done
rm -f "$json"
p=$(printf '%s\n' "${plain[@]}" | median)
q=$(printf '%s\n' "${profiled[@]}" | median)
e=$(printf '%s\n' "${events[@]}" | median)
printf 'busy %s messages (%s, debug), %s runs each, medians:\n' "$messages" "$tokio" "$runs"
printf '  plain     %10.0f messages/s\n' "$p"
printf '  profiled  %10.0f messages/s  (%.1f%% of plain; %.0f probe events/s)\n' "$q" "$(calc "100 * $q / $p")" "$e"
printf '(the profiled run includes the two snapshots, the start and end of the profile)\n'

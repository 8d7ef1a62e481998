#!/usr/bin/env bash
# Times `async-inspect dump` on the many_tasks fixture at 10, 1,000, 20,000 and 100,000 idle tasks,
# beside `gdb -batch -p PID -ex 'thread apply all bt'` on the same process, and reports the pause
# dump imposed on the target (from its JSON). Medians of several runs.
# Usage: tests/bench/dump.sh BIN FIXTURES [RUNS] [TOKIO_DIR]
set -euo pipefail
bin=$1
fixtures=$2
runs=${3:-5}
tokio=${4:-tokio-1.54}
exe="$fixtures/$tokio/debug/many_tasks"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
time_ms() {
	local start end
	start=$(date +%s%N)
	"$@" >/dev/null 2>&1 || true
	end=$(date +%s%N)
	echo $(((end - start) / 1000000))
}

echo "$tokio many_tasks: medians of $runs runs (ms)"
printf '%9s %10s %10s %10s %10s %10s %12s\n' tasks dump-text dump-json pause found gdb-bt text/gdb
for n in 10 1000 20000 100000; do
	coproc FIX { exec "$exe" "$n"; }
	read -r _ pid <&"${FIX[0]}"
	walls=() jsons=() pauses=() gdbs=()
	found=0
	for ((i = 0; i < runs; i++)); do
		walls+=("$(time_ms "$bin" dump --pid "$pid")")
		jsons+=("$(time_ms "$bin" dump --pid "$pid" --format json)")
		json=$("$bin" dump --pid "$pid" --format json --no-locals)
		pauses+=("$(sed -n 's/^  "pause_us": \([0-9]*\).*/\1/p' <<<"$json")")
		found=$(grep -c '"kind": "task"' <<<"$json" || true)
		gdbs+=("$(time_ms gdb -batch -p "$pid" -ex 'thread apply all bt')")
	done
	kill "$FIX_PID"
	wait "$FIX_PID" 2>/dev/null || true
	w=$(printf '%s\n' "${walls[@]}" | median)
	j=$(printf '%s\n' "${jsons[@]}" | median)
	p=$(printf '%s\n' "${pauses[@]}" | median)
	g=$(printf '%s\n' "${gdbs[@]}" | median)
	printf '%9s %10s %10s %10s %10s %10s %12s\n' "$n" "$w" "$j" "$(awk -v p="$p" 'BEGIN{printf "%.1f", p/1000}')" \
		"$found" "$g" "$(awk -v a="$w" -v b="$g" 'BEGIN{printf "%.2f", a/b}')"
done

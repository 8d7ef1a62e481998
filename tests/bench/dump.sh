#!/usr/bin/env bash
# Times `async-inspect dump` (text, and JSON as it is written by default: compact) on the many_tasks
# fixture at 10, 1,000, 22,000 and 100,000 idle tasks, beside `gdb -batch -p PID -ex 'thread apply
# all bt'` on the same process in the same run, and reports the pause dump imposed on the target
# (from its JSON). Medians of several runs. Then one JSON dump of RSS_TASKS idle tasks (default
# 1,000,000; 0 skips it): our peak RSS beside the target's own.
# TOKIO_DIR is the fixture crate whose many_tasks runs: a tokio-* one, or smol (its many_tasks has
# the same interface: N idle tasks, `ready <pid>`).
# Usage: tests/bench/dump.sh BIN FIXTURES [RUNS] [TOKIO_DIR] [RSS_TASKS]
set -euo pipefail
bin=$1
fixtures=$2
runs=${3:-5}
tokio=${4:-tokio-1.54}
rss_tasks=${5:-1000000}
exe="$fixtures/$tokio/debug/many_tasks"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b > 0) ? a/b : 0}'; }
time_ms() {
	local start end
	start=$(date +%s%N)
	"$@" >/dev/null 2>&1 || true
	end=$(date +%s%N)
	echo $(((end - start) / 1000000))
}

echo "$tokio many_tasks: medians of $runs runs (ms), dump and gdb on the same process"
printf '%9s %10s %10s %10s %8s %10s %9s %9s %9s\n' tasks dump-text dump-json pause found gdb-bt \
	text/gdb json/gdb json/text
for n in 10 1000 22000 100000; do
	coproc FIX { exec "$exe" "$n"; }
	read -r _ pid <&"${FIX[0]}"
	walls=() jsons=() pauses=() gdbs=()
	found=0
	for ((i = 0; i < runs; i++)); do
		walls+=("$(time_ms "$bin" dump --pid "$pid")")
		jsons+=("$(time_ms "$bin" dump --pid "$pid" --format json)")
		json=$("$bin" dump --pid "$pid" --format json --no-locals)
		pauses+=("$(grep -o '"pause_us":[0-9]*' <<<"$json" | head -1 | cut -d: -f2)")
		found=$(grep -o '"kind":"task"' <<<"$json" | wc -l)
		gdbs+=("$(time_ms gdb -batch -p "$pid" -ex 'thread apply all bt')")
	done
	kill "$FIX_PID"
	wait "$FIX_PID" 2>/dev/null || true
	w=$(printf '%s\n' "${walls[@]}" | median)
	j=$(printf '%s\n' "${jsons[@]}" | median)
	p=$(printf '%s\n' "${pauses[@]}" | median)
	g=$(printf '%s\n' "${gdbs[@]}" | median)
	printf '%9s %10s %10s %10s %8s %10s %9s %9s %9s\n' "$n" "$w" "$j" "$(awk -v p="$p" 'BEGIN{printf "%.1f", p/1000}')" \
		"$found" "$g" "$(ratio "$w" "$g")" "$(ratio "$j" "$g")" "$(ratio "$j" "$w")"
done

((rss_tasks > 0)) || exit 0
# Peak RSS (GNU time's %M, kB) of one JSON dump, against the target's VmRSS once all its tasks are
# parked: what a dump costs in memory relative to the program it looks at.
if [[ ! -x /usr/bin/time ]]; then
	echo "RSS at $rss_tasks tasks: skipped (needs GNU time, /usr/bin/time)"
	exit 0
fi
coproc FIX { exec "$exe" "$rss_tasks"; }
read -r _ pid <&"${FIX[0]}"
target_kb=$(awk '/^VmRSS:/ {print $2}' /proc/"$pid"/status)
peak=$(mktemp)
start=$(date +%s%N)
/usr/bin/time -o "$peak" -f '%M' "$bin" dump --pid "$pid" --format json >/dev/null 2>&1 || true
end=$(date +%s%N)
ours_kb=$(tail -1 "$peak")
rm -f "$peak"
kill "$FIX_PID"
wait "$FIX_PID" 2>/dev/null || true
echo "RSS at $rss_tasks tasks (dump --format json, one run, $(((end - start) / 1000000)) ms):" \
	"ours $((ours_kb / 1024)) MB, target $((target_kb / 1024)) MB, ours/target $(ratio "$ours_kb" "$target_kb")"

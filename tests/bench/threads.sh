#!/usr/bin/env bash
# Times `async-inspect threads` against gdb's and eu-stack's backtraces of the same live fixture
# process: several runs each, the median, and the ratio to ours. Also reports the pause we impose.
# Usage: tests/bench/threads.sh BIN FIXTURES [RUNS]
set -euo pipefail
bin=$1
fixtures=$2
runs=${3:-7}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# Wall time of a command in milliseconds (its output discarded).
time_ms() {
	local start end
	start=$(date +%s%N)
	"$@" >/dev/null 2>&1 || true
	end=$(date +%s%N)
	echo $(((end - start) / 1000000))
}

bench_one() {
	local label=$1 exe=$2
	coproc FIX { exec "$exe"; }
	local pid
	read -r _ pid <&"${FIX[0]}"
	local ours=() gdbs=() eus=() pauses=()
	for ((i = 0; i < runs; i++)); do
		ours+=("$(time_ms "$bin" threads --pid "$pid")")
		pauses+=("$("$bin" threads --pid "$pid" --format json | sed -n 's/.*"pause_us": \([0-9]*\).*/\1/p')")
		if command -v eu-stack >/dev/null; then eus+=("$(time_ms eu-stack -s -p "$pid")"); fi
		if command -v gdb >/dev/null; then gdbs+=("$(time_ms gdb -batch -p "$pid" -ex 'thread apply all bt')"); fi
	done
	local threads
	threads=$(ls /proc/"$pid"/task | wc -l)
	kill "$FIX_PID"
	wait "$FIX_PID" 2>/dev/null || true
	local o g e p
	o=$(printf '%s\n' "${ours[@]}" | median)
	p=$(printf '%s\n' "${pauses[@]}" | median)
	e=$( ((${#eus[@]})) && printf '%s\n' "${eus[@]}" | median || echo nan)
	g=$( ((${#gdbs[@]})) && printf '%s\n' "${gdbs[@]}" | median || echo nan)
	printf '%-28s %7s %10s %12s %9s %12s %9s %9s\n' "$label" "$threads" "$o" "$e" \
		"$(awk -v a="$e" -v b="$o" 'BEGIN{printf "%.1fx", a/b}')" "$g" \
		"$(awk -v a="$g" -v b="$o" 'BEGIN{printf "%.1fx", a/b}')" "$(awk -v p="$p" 'BEGIN{printf "%.2f", p/1000}')"
}

echo "medians of $runs runs, wall time in ms (pause: how long async-inspect stopped the target)"
printf '%-28s %7s %10s %12s %9s %12s %9s %9s\n' fixture threads ours eu-stack-s ratio gdb-bt ratio pause-ms
bench_one "tokio-1.54 nested ($(du -h "$fixtures/tokio-1.54/debug/nested" | cut -f1))" "$fixtures/tokio-1.54/debug/nested"
bench_one "tokio-1.24 nested ($(du -h "$fixtures/tokio-1.24/debug/nested" | cut -f1))" "$fixtures/tokio-1.24/debug/nested"
bench_one "plain many_threads" "$fixtures/plain/debug/many_threads"

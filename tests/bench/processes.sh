#!/usr/bin/env bash
# Times `async-inspect dump` of several processes at once (5 and 20 copies of a fixture, one
# `dump --pids A,B,...`) beside the same processes dumped one at a time (the sum of one
# `dump --pid N` each) and gdb's batch backtraces of each (`gdb -batch -p PID -ex 'thread apply
# all bt'`, summed), in the same run. Issue 17 asks for together <= 1.5 x the sum of single dumps.
# Medians of several runs (ms).
# Usage: tests/bench/processes.sh BIN FIXTURES [RUNS] [TOKIO_DIR] [FIXTURE]
set -euo pipefail
bin=$1
fixtures=$2
runs=${3:-3}
tokio=${4:-tokio-1.54}
fixture=${5:-nested}
exe="$fixtures/$tokio/debug/$fixture"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b > 0) ? a/b : 0}'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
have_gdb=1
command -v gdb >/dev/null || have_gdb=0

pids=()
outs=()
stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -f "${outs[@]}"
	pids=()
	outs=()
}
trap stop_all EXIT

# Starts n copies of the fixture and waits until each has printed its `ready` line.
start_n() {
	local n=$1 i out
	for ((i = 0; i < n; i++)); do
		out=$(mktemp)
		"$exe" >"$out" 2>/dev/null &
		pids+=("$!")
		outs+=("$out")
	done
	for out in "${outs[@]}"; do
		for ((i = 0; i < 300; i++)); do
			grep -q '^ready' "$out" && break
			sleep 0.1
		done
		grep -q '^ready' "$out" || { echo "a $fixture did not get ready" >&2; exit 1; }
	done
}

echo "$tokio $fixture: medians of $runs runs (ms), the same processes in each column"
printf '%9s %10s %12s %10s %14s %12s\n' processes together one-by-one gdb-bt together/one together/gdb
for n in 5 20; do
	start_n "$n"
	list=$(IFS=,; echo "${pids[*]}")
	togethers=() singles=() gdbs=()
	for ((r = 0; r < runs; r++)); do
		start=$(now_ms)
		"$bin" dump --pids "$list" >/dev/null 2>&1 || true
		togethers+=($(($(now_ms) - start)))
		start=$(now_ms)
		for p in "${pids[@]}"; do "$bin" dump --pid "$p" >/dev/null 2>&1 || true; done
		singles+=($(($(now_ms) - start)))
		if ((have_gdb)); then
			start=$(now_ms)
			for p in "${pids[@]}"; do gdb -batch -p "$p" -ex 'thread apply all bt' >/dev/null 2>&1 || true; done
			gdbs+=($(($(now_ms) - start)))
		else
			gdbs+=(0)
		fi
	done
	stop_all
	t=$(printf '%s\n' "${togethers[@]}" | median)
	s=$(printf '%s\n' "${singles[@]}" | median)
	g=$(printf '%s\n' "${gdbs[@]}" | median)
	printf '%9s %10s %12s %10s %14s %12s\n' "$n" "$t" "$s" "$( ((have_gdb)) && echo "$g" || echo n/a)" \
		"$(ratio "$t" "$s")" "$( ((have_gdb)) && ratio "$t" "$g" || echo n/a)"
done

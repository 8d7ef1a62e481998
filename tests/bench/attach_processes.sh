#!/usr/bin/env bash
# The cost of one sample of `attach --no-tui` of several processes beside the same number of
# single `attach --pid N` samples: CPU time of the tool (perf stat task-clock, else getrusage
# through bash's `times`) divided by the snapshots it printed. N copies of a fixture, each
# sampled for SECONDS at --interval 100ms.
# Usage: tests/bench/attach_processes.sh BIN FIXTURES [N] [SECONDS] [TOKIO_DIR] [FIXTURE]
set -euo pipefail
bin=$1
fixtures=$2
n=${3:-2}
seconds=${4:-5}
tokio=${5:-tokio-1.54}
fixture=${6:-nested}
exe="$fixtures/$tokio/debug/$fixture"
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }

pids=()
outs=()
stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -f "${outs[@]}"
}
trap stop_all EXIT
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

# Runs `attach --no-tui ARGS` for $seconds; prints "SNAPSHOTS CPU_MS".
measure() {
	local stat out
	stat=$(mktemp)
	out=$(mktemp)
	perf stat -x, -e task-clock -o "$stat" -- "$bin" attach --no-tui --interval 100ms "$@" >"$out" 2>/dev/null &
	local perf_pid=$!
	sleep "$seconds"
	pkill -INT -P "$perf_pid" || true
	wait "$perf_pid" || true
	local snaps cpu
	snaps=$(grep -c '^==== snapshot' "$out" || true)
	cpu=$(awk -F, '/task-clock/ {print $1}' "$stat")
	rm -f "$stat" "$out"
	echo "$snaps $cpu"
}

args=()
for p in "${pids[@]}"; do args+=(--pid "$p"); done
read -r set_snaps set_cpu < <(measure "${args[@]}")
single_cpu=0
single_snaps=0
for p in "${pids[@]}"; do
	read -r s c < <(measure --pid "$p")
	single_cpu=$(awk -v a="$single_cpu" -v b="$c" -v s="$s" 'BEGIN{print a + b / s}')
done
awk -v n="$n" -v ss="$set_snaps" -v sc="$set_cpu" -v one="$single_cpu" -v f="$tokio/$fixture" 'BEGIN{
	per = sc / ss
	printf "%s, %d processes: attach of the set %.1f ms CPU per sample (%d samples); the sum of %d single attach samples %.1f ms; ratio %.2f\n", f, n, per, ss, n, one, per / one
}'

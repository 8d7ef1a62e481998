#!/usr/bin/env bash
# The target dies mid-inspection: TRIALS times, start the busy fixture (tokio-1.54), start `dump
# --pid` on it, and SIGKILL the target after a random delay of 0 to MAX_DELAY_MS (its parent, this
# script, reaps it at once, as a real parent would). The tool runs under `timeout 60`: exit 124 is
# a hang, >= 128 a death by a signal (a crash). Prints how many trials ended each way (exit status,
# whether anything was printed on stdout, the stderr line with its pid replaced by P).
# Usage: tests/bench/target_dies.sh BIN FIXTURES [TRIALS] [MAX_DELAY_MS]
#   (defaults: $FAULT_TRIALS or 1000, 50)
set -uo pipefail
bin=$(realpath "$1")
fixtures=$2
trials=${3:-${FAULT_TRIALS:-1000}}
max_delay=${4:-50}
busy="$fixtures/tokio-1.54/debug/busy"
work=$(mktemp -d)
busy_pid=
trap '[[ -n $busy_pid ]] && kill -9 "$busy_pid" 2>/dev/null; rm -rf "$work"' EXIT

declare -A outcomes
hangs=0 crashes=0 slowest=0
start=$(date +%s)
for ((i = 0; i < trials; i++)); do
	: >"$work/busy.out"
	"$busy" 1000000000 >"$work/busy.out" &
	busy_pid=$!
	until grep -q '^ready' "$work/busy.out"; do sleep 0.005; done
	t0=$(date +%s%N)
	timeout 60 "$bin" dump --pid "$busy_pid" >"$work/out" 2>"$work/err" &
	tool=$!
	delay=$((RANDOM % (max_delay + 1)))
	sleep "$(printf '0.%03d' "$delay")"
	kill -9 "$busy_pid"
	wait "$busy_pid" 2>/dev/null
	busy_pid=
	wait "$tool"
	status=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	((ms > slowest)) && slowest=$ms
	((status == 124)) && ((hangs++))
	((status >= 128)) && ((crashes++))
	printed=$([[ -s $work/out ]] && echo "stdout: dump" || echo "stdout: empty")
	message=$(head -n 1 "$work/err" | sed -E 's/process [0-9]+/process P/g; s/[0-9]+/N/g')
	key="exit $status, $printed, ${message:-(no stderr)}"
	outcomes[$key]=$((${outcomes[$key]:-0} + 1))
done
echo "target_dies: $trials trials, SIGKILL of busy 0-${max_delay} ms into dump ($(($(date +%s) - start)) s)"
for key in "${!outcomes[@]}"; do printf '%6d  %s\n' "${outcomes[$key]}" "$key"; done | sort -rn
echo "hangs (timeout 60 s): $hangs; crashes (exit >= 128): $crashes; longest dump: $slowest ms"
((hangs == 0 && crashes == 0)) && echo "target_dies: PASS" || { echo "target_dies: FAIL"; exit 1; }

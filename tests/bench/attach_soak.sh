#!/usr/bin/env bash
# Attach/detach soak: CYCLES inspections of runs of the busy fixture (tokio-1.54, 4 pipelines on
# 2 workers; SOAK_MESSAGES messages a run, default 4,000,000; a new run starts when one ends),
# each a `dump --pid` and every 10th an `attach --no-tui` ended by SIGINT after 3 snapshots; then
# SAN_CYCLES more with the ASan+UBSan binary (SAN_BIN, if built: `make soak-faults` builds it)
# with leak detection on. Checks that after every cycle the target is traced by no one and no
# thread of it is stopped, that its thread and fd counts are the same at the end of each run as
# at its start, and that each run's final line (`done N checksum`) and exit status are those of
# an undisturbed run of the same N. Prints the tool's exit statuses and any sanitizer report.
# Usage: tests/bench/attach_soak.sh BIN FIXTURES [CYCLES] [SAN_CYCLES] [SAN_BIN]
#   (defaults: $SOAK_CYCLES or 1000, $SOAK_SAN_CYCLES or 50, FIXTURES/../san/async-inspect)
set -uo pipefail
bin=$(realpath "$1")
fixtures=$2
cycles=${3:-${SOAK_CYCLES:-1000}}
san_cycles=${4:-${SOAK_SAN_CYCLES:-50}}
san_bin=${5:-$(dirname "$fixtures")/san/async-inspect}
messages=${SOAK_MESSAGES:-4000000}
busy="$fixtures/tokio-1.54/debug/busy"
work=$(mktemp -d)
busy_pid=
trap '[[ -n $busy_pid ]] && kill -9 "$busy_pid" 2>/dev/null; rm -rf "$work"' EXIT

# shellcheck source=fault_lib.sh
. "$(dirname "$0")/fault_lib.sh"

# One `attach --no-tui` of $2 (binary $1): SIGINT once 3 snapshots are out; its exit status.
attach_briefly() {
	local tool=$1 pid=$2
	"$tool" attach --pid "$pid" --interval 20ms --no-tui >"$work/attach.out" 2>>"$work/stderr" &
	local att_pid=$!
	while (($(grep -c '^==== snapshot ' "$work/attach.out") < 3)) && kill -0 "$att_pid" 2>/dev/null; do
		sleep 0.01
	done
	kill -INT "$att_pid" 2>/dev/null
	wait "$att_pid"
}

declare -A statuses
bad_after=0 bad_detail=
# Runs cycle $2 with binary $1 on busy_pid; records its exit status and the target's state after.
cycle() {
	local tool=$1 i=$2 kind status
	if ((i % 10 == 9)); then
		kind=attach
		attach_briefly "$tool" "$busy_pid"
		status=$?
	else
		kind=dump
		"$tool" dump --pid "$busy_pid" >/dev/null 2>>"$work/stderr"
		status=$?
	fi
	last_key="$3 $kind exit $status"
	last_tracer=$(tracer_of "$busy_pid")
	last_stopped=$(stopped_threads "$busy_pid")
	last_i=$i
}
record_cycle() {
	statuses[$last_key]=$((${statuses[$last_key]:-0} + 1))
	if [[ $last_tracer != 0 || -n $last_stopped ]]; then
		((bad_after++))
		bad_detail+="  cycle $last_i: TracerPid $last_tracer, stopped threads: ${last_stopped:-none}"$'\n'
	fi
}

[[ -x $san_bin ]] || san_cycles=0
echo "attach_soak: $cycles cycles, then $san_cycles with ASan ($san_bin), on busy runs of $messages messages"
start=$(now_ms)
start_busy "$messages"
finish_busy
reference=$finished
echo "undisturbed run: ${reference%|*}, exit ${reference##*|} ($(($(now_ms) - start)) ms)"

# The cycles, on as many busy runs as they take (a new one once the last has ended); each run's
# final line and exit status, thread and fd counts are checked.
runs=0 runs_differ=0 counts_differ=0 ended_during=0
busy_run_start() {
	start_busy "$messages"
	((runs++))
	threads_before=$(threads_of "$busy_pid") fds_before=$(fds_of "$busy_pid")
	threads_last=$threads_before fds_last=$fds_before
}
busy_run_end() {
	finish_busy
	[[ $finished == "$reference" ]] || { ((runs_differ++)); echo "  run $runs: ${finished%|*}, exit ${finished##*|}"; }
	if [[ $threads_before != "$threads_last" || $fds_before != "$fds_last" ]]; then
		((counts_differ++))
		echo "  run $runs: threads $threads_before -> $threads_last, fds $fds_before -> $fds_last"
	fi
}
start=$(now_ms)
for ((i = 0; i < cycles + san_cycles; )); do
	[[ -z $busy_pid ]] && busy_run_start
	if ((i < cycles)); then
		cycle "$bin" "$i" plain
	else
		ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(dirname "$0")/../lsan.supp \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 cycle "$san_bin" "$i" asan
	fi
	threads_now=$(threads_of "$busy_pid" 2>/dev/null) fds_now=$(fds_of "$busy_pid" 2>/dev/null)
	if busy_done; then
		# It ended during this cycle or just after: that cycle does not count, it is run again.
		((ended_during++))
		busy_run_end
		continue
	fi
	record_cycle
	threads_last=$threads_now fds_last=$fds_now
	((i++))
done
cycles_ms=$(($(now_ms) - start))
[[ -n $busy_pid ]] && busy_run_end
echo "cycles: $cycles plain + $san_cycles ASan in $cycles_ms ms, on $runs busy runs of $messages messages" \
	"($ended_during cycles run again: busy ended during them)"
for key in "${!statuses[@]}"; do echo "  $key: ${statuses[$key]}"; done | sort
echo "busy runs whose final line or exit status differ from the undisturbed run: $runs_differ"
echo "busy runs whose thread or fd count changed: $counts_differ"
echo "cycles after which the target was traced or had a stopped thread: $bad_after"
printf '%s' "$bad_detail" | head -20
sanitizer=$(grep -c -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$work/stderr")
echo "sanitizer reports: $sanitizer"
grep -E -A8 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$work/stderr" | head -40
echo "stderr lines of the tool over all cycles: $(grep -c . "$work/stderr")"
sed -E 's/[0-9]+/N/g' "$work/stderr" | sort | uniq -c | sort -rn | head -5

ok=1
((runs_differ == 0 && counts_differ == 0 && bad_after == 0 && sanitizer == 0)) || ok=0
[[ ${#statuses[@]} -eq $(printf '%s\n' "${!statuses[@]}" | grep -c 'exit 0$') ]] ||
	{ echo "SOME CYCLES FAILED"; ok=0; }
((ok)) && echo "attach_soak: PASS" || { echo "attach_soak: FAIL"; exit 1; }

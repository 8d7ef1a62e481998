#!/usr/bin/env bash
# The tool dies mid-inspection: TRIALS times, on runs of the busy fixture (tokio-1.54;
# FAULT_MESSAGES messages a run, default 4,000,000; a new run starts when one ends),
# start `dump --pid` (even trials) or `attach --no-tui --interval 10ms` (odd trials) and signal it
# after a random delay (dump: 0 to the length of one dump; attach: 0 to 500 ms): SIGKILL on 3
# trials of 4 of each kind; on the 4th a signal its handlers catch, in turn SIGINT (Ctrl-C),
# SIGTERM, SIGSEGV and SIGABRT sent by kill (as a crash would raise them: the tool detaches
# first). After each, once the tool is reaped, and again 50 ms later: the target must be traced by
# no one and none of its threads stopped (/proc/P/task/*/stat state t or T). Each run's final
# line (`done N checksum`) and exit status must be those of an undisturbed run of the same N.
# (A script's background jobs start with SIGINT ignored: env gives the tool the default
# disposition, as from a terminal.)
# The tool plants no breakpoints (it only stops threads with PTRACE_INTERRUPT and reads memory),
# so there is no int3 a dead tool could leave behind in the target.
# Usage: tests/bench/tool_dies.sh BIN FIXTURES [TRIALS]   (default: $FAULT_KILL_TRIALS or 500)
set -uo pipefail
bin=$(realpath "$1")
fixtures=$2
trials=${3:-${FAULT_KILL_TRIALS:-500}}
messages=${FAULT_MESSAGES:-4000000}
busy="$fixtures/tokio-1.54/debug/busy"
work=$(mktemp -d)
busy_pid=
trap '[[ -n $busy_pid ]] && kill -9 "$busy_pid" 2>/dev/null; rm -rf "$work"' EXIT

# shellcheck source=fault_lib.sh
. "$(dirname "$0")/fault_lib.sh"

# The length of one dump, for the delays.
start_busy 1000000000
t0=$(now_ms)
"$bin" dump --pid "$busy_pid" >/dev/null 2>&1
dump_ms=$(($(now_ms) - t0))
kill -9 "$busy_pid"
wait "$busy_pid" 2>/dev/null
busy_pid=
echo "tool_dies: $trials trials (dump ~${dump_ms} ms), on busy runs of $messages messages"

t0=$(now_ms)
start_busy "$messages"
finish_busy
reference=$finished
echo "undisturbed run: ${reference%|*}, exit ${reference##*|} ($(($(now_ms) - t0)) ms)"

declare -A killed
stopped_now=0 stopped_later=0 traced=0 in_stop=0 detail=
runs=0 runs_differ=0 ended_during=0
run_end() {
	finish_busy
	[[ $finished == "$reference" ]] || { ((runs_differ++)); echo "  run $runs: ${finished%|*}, exit ${finished##*|}"; }
}
t0=$(now_ms)
done_trials=0
for ((i = 0; i < trials; i++)); do
	[[ -z $busy_pid ]] && { start_busy "$messages"; ((runs++)); }
	if ((i % 2 == 0)); then
		kind=dump max=$dump_ms
		env --default-signal=INT "$bin" dump --pid "$busy_pid" >/dev/null 2>&1 &
	else
		kind=attach max=500
		env --default-signal=INT "$bin" attach --pid "$busy_pid" --interval 10ms --no-tui >/dev/null 2>&1 &
	fi
	tool=$!
	delay=$((RANDOM % (max + 1)))
	sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
	# Whether the kill lands while the tool holds the target stopped (as far as a look just
	# before it can tell).
	[[ -n $(stopped_threads "$busy_pid") ]] && ((in_stop++))
	if ((i % 8 < 6)); then
		sig=KILL
	else
		sigs=(INT TERM SEGV ABRT)
		sig=${sigs[$((i / 8 % 4))]}
	fi
	kill -"$sig" "$tool" 2>/dev/null
	wait "$tool" 2>/dev/null
	status=$?
	key="$kind SIG$sig: exit $status"
	killed[$key]=$((${killed[$key]:-0} + 1))
	if busy_done; then
		# It ended during the trial: nothing to check but its final line.
		((ended_during++))
		run_end
		continue
	fi
	s=$(stopped_threads "$busy_pid") tracer=$(tracer_of "$busy_pid")
	[[ -n $s ]] && { ((stopped_now++)); detail+="  trial $i ($kind, ${delay} ms): stopped at once: $s"$'\n'; }
	[[ -n $tracer && $tracer != 0 ]] && { ((traced++)); detail+="  trial $i: TracerPid $tracer"$'\n'; }
	sleep 0.05
	s=$(stopped_threads "$busy_pid")
	[[ -n $s ]] && { ((stopped_later++)); detail+="  trial $i ($kind, ${delay} ms): still stopped 50 ms later: $s"$'\n'; }
	((done_trials++))
done
trials_ms=$(($(now_ms) - t0))
[[ -n $busy_pid ]] && run_end
echo "trials: $done_trials checked + $ended_during during which busy ended, in $trials_ms ms, on $runs busy runs"
echo "busy runs whose final line or exit status differ from the undisturbed run: $runs_differ"
echo "tool's exit status by signal (128 + N: died of signal N; 0 or 1: it ended or detached first):"
for key in "${!killed[@]}"; do printf '%6d  %s\n' "${killed[$key]}" "$key"; done | sort -k2
echo "kills with a thread of the target in a ptrace stop just before: $in_stop"
echo "target traced after the tool was reaped: $traced; a thread stopped at once: $stopped_now; 50 ms later: $stopped_later"
printf '%s' "$detail" | head -20
ok=1
((runs_differ == 0 && traced == 0 && stopped_now == 0 && stopped_later == 0)) || ok=0
((ok)) && echo "tool_dies: PASS" || { echo "tool_dies: FAIL"; exit 1; }

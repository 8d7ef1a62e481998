#!/usr/bin/env bash
# The pause each snapshot of `attach` imposes on the many_tasks fixture (100,000 idle tasks by
# default), without a cap and with --max-pause CAP: median and worst pause over SAMPLES snapshots,
# and how many tasks each capped snapshot took from its copy (the others are read live after the
# target resumed, and later snapshots copy them: the copy goes on where the last one stopped).
# Usage: tests/bench/max_pause.sh BIN FIXTURES [CAP] [SAMPLES] [TASKS] [TOKIO_DIR]
set -euo pipefail
bin=$1
fixtures=$2
cap=${3:-10ms}
samples=${4:-6}
tasks=${5:-100000}
tokio=${6:-tokio-1.54}
exe="$fixtures/$tokio/debug/many_tasks"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# Prints the "==== snapshot" header lines of the first $samples snapshots of attach --no-tui
# (awk reads the dumps themselves away as fast as they come), then ends it with Ctrl-C: it
# detaches once the snapshot it is printing is out.
headers() {
	local pid=$1
	shift
	local out
	out=$(mktemp)
	"$bin" attach --pid "$pid" --interval 10ms --no-tui "$@" 2>/dev/null \
		> >(awk '/^==== snapshot /{print; fflush()}' >"$out") &
	local attach=$!
	while (($(wc -l <"$out") < samples)) && kill -0 "$attach" 2>/dev/null; do
		sleep 0.2
	done
	kill -INT "$attach" 2>/dev/null || true
	wait "$attach" 2>/dev/null || true
	sleep 0.5
	head -n "$samples" "$out"
	rm -f "$out"
}

pauses() { sed -n 's/^==== snapshot [0-9]* (pause \([0-9]*\)us.*/\1/p'; }
ms() { awk '{printf "%.1f", $1/1000}'; }

coproc FIX { exec "$exe" "$tasks"; }
read -r _ fixture_pid <&"${FIX[0]}"
trap 'kill "$FIX_PID" 2>/dev/null || true' EXIT

full=$(headers "$fixture_pid")
capped=$(headers "$fixture_pid" --max-pause "$cap")

echo "$tokio many_tasks $tasks tasks, $samples snapshots each (pause in ms)"
printf '%-22s %8s %8s  %s\n' mode median worst "tasks from the copy, per snapshot"
printf '%-22s %8s %8s  %s\n' "no cap" "$(pauses <<<"$full" | median | ms)" "$(pauses <<<"$full" | sort -n | tail -1 | ms)" all
sampled=$(sed -n 's/.*sampled \([0-9]*\) of.*/\1/p' <<<"$capped" | paste -sd' ')
printf '%-22s %8s %8s  %s\n' "--max-pause $cap" "$(pauses <<<"$capped" | median | ms)" \
	"$(pauses <<<"$capped" | sort -n | tail -1 | ms)" "$sampled"

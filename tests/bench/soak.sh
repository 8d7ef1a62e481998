#!/usr/bin/env bash
# The live TUI's soak: `attach` at 10 Hz in a real terminal (a private tmux server) on the busy
# fixture for several minutes. Measures what the session costs the program (its throughput with
# and without us, the same work both times) and whether our memory stays flat (RSS sampled every
# few seconds). Also checks that the program's checksum is the same with us attached.
# Usage: tests/bench/soak.sh BIN FIXTURES [SECONDS] [INTERVAL]   (defaults: 180 s, 100ms)
set -euo pipefail
bin=$(realpath "$1")
fixtures=$2
seconds=${3:-180}
interval=${4:-100ms}
busy="$fixtures/tokio-1.54/debug/busy"
sock="ai-soak-$$"
tmux_() { tmux -L "$sock" -f /dev/null "$@"; }
trap 'tmux_ kill-server >/dev/null 2>&1 || true' EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Runs busy with $1 messages; prints "wall_ms checksum". With $2 = attach, a TUI session watches it.
run_busy() {
	local messages=$1 mode=${2:-alone} start end line pid
	start=$(now_ms)
	coproc BUSY { exec "$busy" "$messages"; }
	read -r _ pid <&"${BUSY[0]}"
	if [[ $mode == attach ]]; then
		tmux_ new-session -d -x 160 -y 50 -s soak "TERM=xterm-256color exec $bin attach --pid $pid --interval $interval"
		local ai_pid
		ai_pid=$(tmux_ display-message -p -t soak '#{pane_pid}')
		echo "# seconds rss_kb (async-inspect pid $ai_pid)" >"$rss_log"
		(
			t0=$(now_ms)
			while kill -0 "$ai_pid" 2>/dev/null; do
				rss=$(awk '/^VmRSS:/ {print $2}' /proc/"$ai_pid"/status 2>/dev/null || true)
				[[ -n $rss ]] && echo "$((($(now_ms) - t0) / 1000)) $rss" >>"$rss_log"
				sleep 5
			done
		) &
		sampler=$!
	fi
	read -r line <&"${BUSY[0]}"
	end=$(now_ms)
	wait "$BUSY_PID" 2>/dev/null || true
	if [[ $mode == attach ]]; then
		tmux_ send-keys -t soak q
		for _ in $(seq 50); do tmux_ has-session -t soak 2>/dev/null || break; sleep 0.1; done
		kill "$sampler" 2>/dev/null || true
		wait "$sampler" 2>/dev/null || true
	fi
	echo "$((end - start)) ${line##* }"
}

rss_log=$(mktemp)
# Calibrate: how many messages keep busy running for about $seconds on its own.
read -r probe_ms _ < <(run_busy 1000000)
messages=$((1000000 * seconds * 1000 / (probe_ms > 0 ? probe_ms : 1)))
echo "busy: 1,000,000 messages in ${probe_ms} ms; soak with $messages messages (~${seconds}s alone)"

read -r alone_ms alone_sum < <(run_busy "$messages")
read -r watched_ms watched_sum < <(run_busy "$messages" attach)

echo "alone:    ${alone_ms} ms, $((messages * 1000 / alone_ms)) messages/s, checksum $alone_sum"
echo "attached: ${watched_ms} ms, $((messages * 1000 / watched_ms)) messages/s, checksum $watched_sum (TUI, interval $interval)"
awk -v a="$alone_ms" -v w="$watched_ms" 'BEGIN { printf "throughput loss: %.1f%%\n", 100 * (1 - a / w) }'
[[ "$alone_sum" == "$watched_sum" ]] && echo "checksums match" || { echo "CHECKSUM MISMATCH"; exit 1; }
echo "async-inspect RSS over the session (kB):"
awk '!/^#/ { n++; s[n] = $1; r[n] = $2; if ($2 > max) max = $2 }
     END { if (n < 2) { print "  too few samples"; exit }
	   w = (n > 3) ? 3 : 1;  # after ~10 s of warm-up
	   printf "  at %ss: %d, at %ss: %d (end), max %d; growth after warm-up: %+d kB\n", s[w], r[w], s[n], r[n], max, r[n] - r[w]
	   line = "  every sample (s:kB):"
	   for (i = 1; i <= n; i++) line = line " " s[i] ":" r[i]
	   print line }' "$rss_log"
rm -f "$rss_log"

# Shared by the fault soaks (attach_soak.sh, tool_dies.sh): reading a process's state from /proc,
# and running the busy fixture. Sourced after the script has set $busy (the fixture) and $work
# (a scratch directory); start_busy sets busy_pid, finish_busy clears it and sets finished.

now_ms() { echo $(($(date +%s%N) / 1000000)); }
threads_of() { awk '/^Threads:/ {print $2}' /proc/"$1"/status 2>/dev/null; }
fds_of() { ls /proc/"$1"/fd | wc -l; }
tracer_of() { awk '/^TracerPid:/ {print $2}' /proc/"$1"/status 2>/dev/null; }
# Threads of $1 in a stop (t: tracing stop, T: job-control stop), as "tid:state ...".
stopped_threads() {
	local stat tid rest
	for stat in /proc/"$1"/task/[0-9]*/stat; do
		[[ -e $stat ]] || continue
		read -r tid rest <"$stat" 2>/dev/null || continue
		rest=${rest##*) }
		[[ ${rest:0:1} == [tT] ]] && printf '%s:%s ' "$tid" "${rest:0:1}"
	done
}

# Starts busy with $1 messages, its output in $work/busy.out; sets busy_pid once it is ready.
start_busy() {
	: >"$work/busy.out"
	"$busy" "$1" >"$work/busy.out" &
	busy_pid=$!
	until grep -q '^ready' "$work/busy.out"; do sleep 0.01; done
}
# Waits for busy to end; sets finished to "last line|exit status".
finish_busy() {
	local status
	wait "$busy_pid"
	status=$?
	busy_pid=
	finished="$(tail -n 1 "$work/busy.out")|$status"
}
busy_done() { grep -q '^done' "$work/busy.out"; }

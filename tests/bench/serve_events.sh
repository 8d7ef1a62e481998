#!/usr/bin/env bash
# The bytes `serve` sends each page per sample on /api/events, on the many_tasks fixture at N idle
# tasks: the first event (the whole task table, `tasks`) and the next ones (`changes`: only the
# rows that changed), beside the /api/tasks and /api/snapshot documents of the same server.
# Usage: tests/bench/serve_events.sh BIN FIXTURES [TASKS] [TOKIO_DIR]
set -euo pipefail
bin=$1
fixtures=$2
tasks=${3:-20000}
tokio=${4:-tokio-1.54}
exe="$fixtures/$tokio/debug/many_tasks"
out=$(mktemp)
trap 'kill "$serve_pid" "$FIX_PID" 2>/dev/null || true; rm -f "$out"' EXIT

coproc FIX { exec "$exe" "$tasks"; }
read -r _ pid <&"${FIX[0]}"
"$bin" serve --pid "$pid" --interval 500ms >"$out" 2>/dev/null &
serve_pid=$!
url=
for _ in $(seq 100); do
	url=$(grep -o 'http://[^ ]*' "$out" || true)
	[ -n "$url" ] && break
	sleep 0.1
done
[ -n "$url" ] || { echo "serve printed no URL" >&2; exit 1; }
base=${url%%/\?*}
token=${url##*token=}
auth="Authorization: Bearer $token"

echo "$tokio many_tasks $tasks: bytes per /api/events event (--interval 500ms), then the documents"
timeout 30 curl -s -N -H "$auth" "$base/api/events" |
	awk 'BEGIN { RS = "\n\n" } NR <= 4 { split($0, l, "\n"); printf "event %d  %-14s %10d bytes\n", NR, l[1], length($0) } NR == 4 { exit }' || true
printf '/api/tasks     %10d bytes\n' "$(curl -s -H "$auth" "$base/api/tasks" | wc -c)"
printf '/api/snapshot  %10d bytes\n' "$(curl -s -H "$auth" "$base/api/snapshot" | wc -c)"
kill -INT "$serve_pid"
wait "$serve_pid" || true

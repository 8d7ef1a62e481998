#!/usr/bin/env bash
# `make demo`: runs async-inspect on a bundled demo program (tests/fixtures: a tokio program whose
# tasks are parked in nested async fns) and shows what it prints.
set -euo pipefail
bin=$1
fixtures=$2
demo="$fixtures/tokio-1.54/debug/nested"

echo "== Starting the demo program: $demo" >&2
coproc DEMO { exec "$demo"; }
trap 'kill "$DEMO_PID" 2>/dev/null || true' EXIT
read -r ready pid <&"${DEMO[0]}"
[[ $ready == ready ]] || { echo "demo program did not start" >&2; exit 1; }

echo "== async-inspect dump --pid $pid   (every task as an await tree)" >&2
"$bin" dump --pid "$pid"

echo >&2
echo "== async-inspect threads --pid $pid   (every thread's native stack)" >&2
"$bin" threads --pid "$pid"

echo >&2
echo "== The program is still running (state: $(awk '{print $3}' /proc/"$pid"/stat)); stopping it." >&2

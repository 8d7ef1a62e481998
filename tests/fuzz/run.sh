#!/usr/bin/env bash
# Runs each fuzz harness: tests/fuzz/run.sh FUZZ_BUILD FIXTURES LIMIT HARNESS...
# LIMIT is "60s" (that long each, on a corpus kept between runs in FUZZ_BUILD/corpus/<harness>) or
# a number of inputs (each harness runs that many with seed 1, from the seeds alone: the same
# inputs on every machine, so that `make check` cannot flake). Corpora are seeded from
# tests/fuzz/seeds, tests/fuzz/regressions and, for elf, fixture binaries; a harness with a
# tests/fuzz/dict/<harness>.dict gets it as its dictionary; crashes go to
# FUZZ_BUILD/crashes/<harness>/. Prints one line per harness (executions, coverage, corpus size)
# and exits 1 if any harness crashed.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 FUZZ_BUILD FIXTURES LIMIT HARNESS..." >&2
    exit 2
fi
build=$1 fixtures=$(cd "$2" && pwd) limit=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
export AI_FIXTURES=$fixtures AI_FUZZ_BINARY=$fixtures/tokio-1.54/debug/nested
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for h in "$@"; do
    crashes=$build/crashes/$h
    if [[ $limit == *s ]]; then
        corpus=$build/corpus/$h
        budget=(-max_total_time="${limit%s}")
    else
        corpus=$build/corpus-fixed/$h
        rm -rf "$corpus"
        budget=(-runs="$limit" -seed=1)
    fi
    mkdir -p "$corpus" "$crashes"
    for d in "$here/seeds/$h" "$here/regressions/$h"; do
        if [ -d "$d" ]; then cp -n "$d"/* "$corpus"/ 2>/dev/null || true; fi
    done
    if [ "$h" = elf ]; then
        cp -n "$fixtures/c/hello" "$corpus/hello" 2>/dev/null || true
        head -c 65536 "$fixtures/plain/debug/exit_with" > "$corpus/exit_with-head" || true
    fi
    # Snapshot documents are tens of KiB; the binary inputs stay small so that runs stay fast.
    max_len=65536
    if [ "$h" = json ]; then max_len=262144; fi
    dict=()
    if [ -f "$here/dict/$h.dict" ]; then dict=(-dict="$here/dict/$h.dict"); fi
    log=$build/$h.log
    if "$build/fuzz-$h" "${budget[@]}" "${dict[@]}" -max_len="$max_len" -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix="$crashes/" -print_final_stats=1 "$corpus" > "$log" 2>&1; then
        result=ok
    else
        result="CRASH (see $log and $crashes)"
        status=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "fuzz $h: ${runs:-?} executions (limit $limit), ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) inputs: $result"
done
exit $status

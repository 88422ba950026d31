#!/usr/bin/env bash
# Runs libFuzzer targets for a bounded time and summarises them (make fuzz).
#   run_fuzzers.sh BUILD_DIR SECONDS PARALLEL TARGET...
# For each target: replays tests/fuzz/regressions/<target>/* (inputs that
# once crashed it), then fuzzes for SECONDS with the corpus in
# BUILD_DIR/corpus/<target> (seeded by fuzz_seed_corpus and
# tests/fuzz/seeds/<target>), the dictionary tests/fuzz/dicts/<target>.dict
# if present, -rss_limit_mb=2048; PARALLEL targets at a time. Prints one line
# per target (exec/s, cov, ft, corpus size) and exits non-zero if any target
# crashed, leaked, timed out or ran out of memory; the reproducer is left in
# BUILD_DIR/artifacts/<target>/ and the log in BUILD_DIR/fuzz-logs/.
set -uo pipefail
build=$1; seconds=$2; parallel=$3; shift 3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/fuzz-logs"

run_one() {
  local t=$1 log="$build/fuzz-logs/$1.log"
  # The targets' scratch files (fuzz_util.h) go here, removed afterwards:
  # libFuzzer's timed exit skips the destructors that would delete them.
  local scratch="$build/fuzz-scratch/$t"
  mkdir -p "$build/corpus/$t" "$build/artifacts/$t" "$scratch"
  export TMPDIR="$scratch"
  trap 'rm -rf "$scratch"' RETURN
  local -a args=(-rss_limit_mb=2048 -timeout=60 -print_final_stats=1
                 "-artifact_prefix=$build/artifacts/$t/")
  [ -f "$here/dicts/$t.dict" ] && args+=("-dict=$here/dicts/$t.dict")
  if compgen -G "$here/regressions/$t/*" > /dev/null; then
    if ! "$build/bin/$t" "${args[@]}" "$here/regressions/$t"/* > "$log.regressions" 2>&1; then
      echo "$t: a regression input fails again (see $log.regressions)"
      return 1
    fi
  fi
  local -a dirs=("$build/corpus/$t")
  [ -d "$here/seeds/$t" ] && dirs+=("$here/seeds/$t")
  "$build/bin/$t" "${args[@]}" -max_total_time="$seconds" "${dirs[@]}" > "$log" 2>&1
  local rc=$?
  local last execs
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  printf '%-28s exec/s %-7s cov %-6s ft %-6s corpus %s\n' "$t" "${execs:-?}" \
    "$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")" \
    "$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")" \
    "$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<< "$last")"
  if [ $rc -ne 0 ]; then
    echo "$t: FAILED (exit $rc): $(grep -m1 -E 'ERROR|fuzz check failed|SUMMARY' "$log")"
    echo "$t: reproducer in $build/artifacts/$t/, log $log"
    return 1
  fi
}
export -f run_one
export build seconds here

printf '%s\n' "$@" | xargs -P "$parallel" -I{} bash -c 'run_one {}'

#!/usr/bin/env bash
# Fuzzes every target of fuzz/ (docs/fuzzing.md) for SECONDS each (default 600) with libFuzzer:
#   scripts/fuzz.sh [SECONDS]
# Builds build-fuzz/ with clang-19 (CERTINBOX_FUZZ: ASan+UBSan, coverage), makes the seed corpus
# (build-fuzz/seeds/) when it is missing, and runs each target on its own corpus
# (build-fuzz/corpus/TARGET/, kept between runs and grown by them), the seeds and the
# regression inputs (fuzz/regressions/TARGET/, without the open findings). Then prints, per target, executions per second,
# coverage (cov: edges, ft: features), the corpus size and the crashes found; a crash's input is in
# build-fuzz/artifacts/TARGET/. Exits 1 if any target crashed, hung or leaked.
#
# Environment: FUZZ_TARGETS (default: all), CXX_FUZZ (default clang++-19), BUILD_DIR, JOBS,
# FUZZ_TIMEOUT (seconds one input may take before it counts as a hang; default 30, 120 for
# control, whose csr.create makes RSA keys), FUZZ_FLAGS (more libFuzzer flags, e.g.
# "-fork=1 -ignore_crashes=1" to go on past a crash that is known and not fixed yet).
# Needs Debian's clang-19 and libclang-rt-19-dev.
# On a shared machine: nice -n 15 scripts/fuzz.sh 60.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
build_dir=${BUILD_DIR:-build-fuzz}
jobs=${JOBS:-$(nproc)}
targets=${FUZZ_TARGETS:-parse sidecar config control events}
cxx=${CXX_FUZZ:-clang++-19}

if ! command -v "$cxx" >/dev/null; then
  echo "fuzz.sh: $cxx not found: apt-get install clang-19 libclang-rt-19-dev" >&2
  exit 2
fi
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build_dir" "${generator[@]}" "${launcher[@]}" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" \
  -DCERTINBOX_FUZZ=ON -DCERTINBOX_JEMALLOC=OFF -DCERTINBOX_BUILD_TESTS=OFF \
  -DCERTINBOX_BUILD_BENCH=OFF >/dev/null
build_targets=(fuzz_make_corpus)
for t in $targets; do build_targets+=("fuzz_$t"); done
cmake --build "$build_dir" -j"$jobs" --target "${build_targets[@]}"

seeds=$build_dir/seeds
if [ ! -d "$seeds/parse" ]; then "$build_dir/fuzz/fuzz_make_corpus" "$seeds" .; fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
summary=()
failed=0
for t in $targets; do
  corpus=$build_dir/corpus/$t
  artifacts=$build_dir/artifacts/$t
  log=$build_dir/logs/$t.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  timeout=${FUZZ_TIMEOUT:-30}
  if [ "$t" = control ] && [ -z "${FUZZ_TIMEOUT:-}" ]; then timeout=120; fi
  dict=()
  if [ -f "fuzz/$t.dict" ]; then dict=(-dict="fuzz/$t.dict"); fi
  # The regression inputs, but not the open findings (fuzz/regressions/README.md): those would
  # only be found again.
  regressions=$build_dir/regressions/$t
  rm -rf "$regressions"
  mkdir -p "$regressions"
  if [ -d "fuzz/regressions/$t" ]; then
    find "fuzz/regressions/$t" -type f ! -name 'open-*' -exec cp {} "$regressions/" \;
  fi
  inputs=("$corpus" "$seeds/$t" "$regressions")
  before=$(find "$artifacts" -type f | wc -l)
  echo "== $t: ${seconds}s (log: $log)"
  status=0
  # shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
  "$build_dir/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_FLAGS:-} "${dict[@]}" "${inputs[@]}" \
    >"$log" 2>&1 || status=$?
  found=$(( $(find "$artifacts" -type f | wc -l) - before ))
  # The last status line: "#N DONE cov: C ft: F corp: K/SIZE ... exec/s: E", or in -fork mode
  # "#N: cov: C ft: F corp: K exec/s: E oom/timeout/crash: ...".
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.*corp: ([0-9]+(\/[0-9]+[a-zA-Z]*)?).*/\1/p' <<<"$last")
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -n 1)
  if [ -z "$execs" ]; then execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last"); fi
  if [ -z "$rate" ]; then rate=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$last"); fi
  result=ok
  if [ "$status" -ne 0 ] || [ "$found" -gt 0 ]; then
    result="FOUND (exit $status, $found new in $artifacts)"
    failed=1
  fi
  summary+=("$(printf '%-8s %10s execs %8s exec/s  cov %6s  ft %7s  corpus %-12s %s' \
    "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result")")
done
echo
printf '%s\n' "${summary[@]}"
exit "$failed"

#!/usr/bin/env bash
# README command 2: install what is missing, build, run every test; then build the tests again
# with AddressSanitizer + UndefinedBehaviorSanitizer and run them again. Any failure or sanitizer
# report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=${JOBS:-2}
scripts/check_format.sh

# Optimized as RelWithDebInfo but without debug info: a fifth less compile time, which with the
# unity batches keeps both passes within CI's 20 minutes on 2 cores (gdb users: rebuild with
# scripts/build.sh).
BUILD_DIR=build JOBS=$jobs scripts/build.sh -DCERTINBOX_BUILD_TESTS=ON -DCERTINBOX_BUILD_BENCH=ON \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -DNDEBUG"
(cd build && ctest --output-on-failure --no-tests=error -j"$jobs" --timeout 600)

if [ "${CERTINBOX_SKIP_SANITIZERS:-0}" != 1 ]; then
  # -g1: line tables for the sanitizers' stack traces, without the full debug info (a tenth
  # less compile time).
  BUILD_DIR=build-asan BUILD_TYPE=Debug JOBS=$jobs scripts/build.sh -DCERTINBOX_SANITIZE=ON \
    -DCERTINBOX_BUILD_TESTS=ON -DCERTINBOX_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS_DEBUG=-g1
  # The first run's timings (CTestCostData.txt) let ctest start the longest tests first here
  # too, instead of ending on the slowest one alone.
  mkdir -p build-asan/Testing/Temporary
  cp -f build/Testing/Temporary/CTestCostData.txt build-asan/Testing/Temporary/ 2>/dev/null || true
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-asan && ctest --output-on-failure --no-tests=error -j"$jobs" --timeout 900)
fi

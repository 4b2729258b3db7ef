#!/bin/sh
# Builds certinboxd and the ingest benchmark, then runs the benchmark. Extra arguments go to
# the benchmark (see --help), e.g.: bench/run.sh --files 4000 --json
# BUILD_DIR (default build) and JOBS (default 2) can be set in the environment.
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCERTINBOX_BUILD_TESTS=ON -DCERTINBOX_BUILD_BENCH=ON
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" --target certinbox_ingest_bench certinboxd
exec "$BUILD_DIR/bench/certinbox_ingest_bench" "$@"

#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root) or an existing one:
#   bash scripts/run.sh main   install, build (Release) what Example 1.1 needs, run it ->
#                              results/example_1_1/ (table on stdout, example_1_1.png, the sweep's runs and aggregate)
#   bash scripts/run.sh test   install, build everything, run the whole test suite through CTest
#   bash scripts/run.sh bench [--quick] [run_bench.py options]
#                              install the peers too (SciPy, SUNDIALS, OpenBLAS), build the
#                              benchmarks (-DFLOWSENSE_BUILD_BENCH=ON, in BENCH_BUILD_DIR,
#                              default build-bench), run flowsense and every peer on the same
#                              files -> results/bench/ (results.csv, summary.csv, manifest.json,
#                              table.md; the table on stdout). docs/performance.md.
#   bash scripts/run.sh bench-operators [bench_operators options, e.g. --d=50,100,200]
#                              build bench/bench_operators (in BENCH_BUILD_DIR) and print the
#                              table of time per right-hand side against d for every sensing
#                              operator. docs/operators.md.
#   bash scripts/run.sh sanitize [address,undefined|thread] [ctest options]
#                              build everything with the sanitizers (RelWithDebInfo, in
#                              build-<sanitizers>) and run the test suite under them; a
#                              check by hand, not part of CI (README).
# Environment: BUILD_DIR (default build), JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config libboost-dev libeigen3-dev libspectra-dev catch2
          nlohmann-json3-dev python3 python3-numpy python3-matplotlib)

# Only for `bench`: the peers (scipy.integrate, CVODE) and an optimized BLAS for NumPy
# (Debian's NumPy otherwise runs on the reference BLAS, ~3x slower at these sizes).
bench_packages=(python3-scipy libsundials-dev libopenblas0-pthread)

install_dependencies() {
  if dpkg -s "${packages[@]}" >/dev/null 2>&1; then
    echo "[flowsense] dependencies already installed"
    return
  fi
  echo "[flowsense] installing: ${packages[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
}

# build [TARGET]: configure (Release) and build TARGET, or everything.
build() {
  local dir=${BUILD_DIR:-build}
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release
  cmake --build "$dir" -j "${JOBS:-$(nproc)}" ${1:+--target "$1"}
}

case "${1:-}" in
  main)
    install_dependencies
    build example_1_1
    "${BUILD_DIR:-build}/example_1_1" --out results/example_1_1
    ;;
  test)
    install_dependencies
    build
    (cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j "${JOBS:-$(nproc)}")
    ;;
  bench)
    shift
    packages+=("${bench_packages[@]}")
    install_dependencies
    dir=${BENCH_BUILD_DIR:-build-bench}
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DFLOWSENSE_BUILD_BENCH=ON \
          -DFLOWSENSE_BUILD_TESTS=OFF -DFLOWSENSE_BUILD_APPS=OFF
    cmake --build "$dir" -j "${JOBS:-$(nproc)}"
    /usr/bin/python3 bench/run_bench.py --build "$dir" --out results/bench "$@"
    ;;
  bench-operators)
    shift
    install_dependencies
    dir=${BENCH_BUILD_DIR:-build-bench}
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DFLOWSENSE_BUILD_BENCH=ON \
          -DFLOWSENSE_BUILD_TESTS=OFF -DFLOWSENSE_BUILD_APPS=OFF
    cmake --build "$dir" -j "${JOBS:-$(nproc)}" --target bench_operators
    "$dir/bench/bench_operators" "$@"
    ;;
  sanitize)
    shift
    sanitizers=address,undefined
    if [ $# -gt 0 ] && [[ "$1" != -* ]]; then sanitizers=$1; shift; fi
    install_dependencies
    dir=build-${sanitizers//,/-}
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLOWSENSE_SANITIZE="$sanitizers"
    cmake --build "$dir" -j "${JOBS:-$(nproc)}"
    (cd "$dir" && ctest --output-on-failure -j "${JOBS:-$(nproc)}" "$@")
    ;;
  *)
    echo "usage: bash scripts/run.sh main|test|bench|bench-operators|sanitize" >&2
    exit 2
    ;;
esac

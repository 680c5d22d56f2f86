#!/usr/bin/env bash
# Installs the Debian packages hakmem needs that are missing, and nothing else.
# Idempotent and quiet: when everything is present it only asks dpkg (well under a second).
# Usage: tools/deps.sh [build|bench]   (bench adds the peer allocators and real programs)
set -euo pipefail

build_pkgs=(
  bazel-bootstrap g++ binutils        # Bazel 4.2.3, the compiler, nm/readelf for tests
  lld                                 # links the preload with its hot code first (core/BUILD.bazel)
  libabsl-dev libgtest-dev            # Abseil headers (core), GoogleTest
  nlohmann-json3-dev                  # the tools' JSON writer (`hakmem report --json`)
  libdw-dev                           # elfutils headers: site reports dlopen libdw to symbolize
  libprotobuf-dev protobuf-compiler   # the frozen table's tools (tools/hakmem), telemetry
  nanopb libnanopb-dev                # protobuf without malloc, inside the preload
  golang-github-google-pprof-dev      # pprof's profile.proto (`hakmem pprof`)
  golang-go                           # `go tool pprof`, the pprof client tests read exports with
  pybind11-dev python3-dev            # the Python module (later layers)
  python3 python3-protobuf            # Debian's /usr/bin/python3 runs tests and tools
  python3-numpy python3-pandas python3-pytest  # the Python module `hakmem` (py/) and its tests
  python3-dask python3-distributed    # hakmem.fleet: tree merges of a fleet's telemetry
  python3-tqdm                        # progress bars (hakmem.fleet, ./run main)
  python3-pip                         # py:wheel_test installs the wheel with pip
  jupyter-nbconvert python3-ipykernel python3-matplotlib  # the notebook, run by the tests
  sqlite3 lua5.4                      # real programs in the whole-process tests
  redis-server redis-tools            # tests/real_programs_test.py: redis under hakmem, driven by redis-cli/-benchmark
  libpython3.11-testsuite             # tests/real_programs_test.py: CPython's own regression tests (test_dict, test_gc ...)
  clang-14 libclang-rt-14-dev         # the sanitizer and fuzzing configs (.bazelrc): clang,
                                      # its ASan/TSan/UBSan runtimes and libFuzzer
  llvm-14                             # llvm-symbolizer: sanitizer reports with file:line
  valgrind                            # tools/valgrind.sh: whole programs under memcheck
)
bench_pkgs=(
  libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4   # the peers we measure against
  time                                               # /usr/bin/time for peak RSS checks
  python3-matplotlib                                 # learner_experiment.py --plot
)

want=("${build_pkgs[@]}")
if [[ "${1:-build}" == "bench" ]]; then want+=("${bench_pkgs[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "hakmem: installing missing Debian packages: ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "hakmem: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

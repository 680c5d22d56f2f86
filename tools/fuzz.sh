#!/usr/bin/env bash
# Builds and runs hakmem's libFuzzer targets (README.md, "Sanitizers and fuzzing").
#
#   tools/fuzz.sh TARGET SECONDS [LIBFUZZER_FLAG...]   fuzz one target for SECONDS; new
#       inputs accumulate in $HAKMEM_FUZZ_DIR/TARGET/corpus (default ~/.cache/hakmem-fuzz),
#       so long runs resume where the last one stopped; the seeds in the tree are read,
#       never written
#   tools/fuzz.sh --short SECONDS                      every target for SECONDS with a fixed
#       seed from the tree's seeds alone (what `./run test` runs); prints each target's
#       executions, and fails on any finding
#   tools/fuzz.sh --seeds                              regenerates the seed corpora from a
#       learn run of //learner:two_sites (tools/make_fuzz_seeds.py)
#
# TARGET: options_fuzz, malloc_fuzz, table_codec_fuzz, telemetry_file_fuzz, trace_fuzz.
# A finding leaves its input in $HAKMEM_FUZZ_DIR/TARGET/artifacts/; fix the bug, then copy
# the input into the target's corpus folder as bug_<what> (it becomes a regression test:
# every build runs each target's corpus once, see build_defs.bzl hakmem_fuzz_test).
set -euo pipefail
cd "$(dirname "$0")/.."
# Findings with file:line.
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/lib/llvm-14/bin/llvm-symbolizer}

# target -> "label config corpus"
declare -A TARGETS=(
  [options_fuzz]="//core:options_fuzz fuzz core/testdata/fuzz/options_fuzz"
  [malloc_fuzz]="//core:malloc_fuzz fuzz_alloc core/testdata/fuzz/malloc_fuzz"
  [table_codec_fuzz]="//learner:table_codec_fuzz fuzz learner/testdata/fuzz/table_codec_fuzz"
  [telemetry_file_fuzz]="//tools:telemetry_file_fuzz fuzz tools/testdata/fuzz/telemetry_file_fuzz"
  [trace_fuzz]="//py:trace_fuzz fuzz py/testdata/fuzz/trace_fuzz"
)
ORDER=(options_fuzz table_codec_fuzz telemetry_file_fuzz trace_fuzz malloc_fuzz)

usage() {
  echo "usage: tools/fuzz.sh TARGET SECONDS [libFuzzer flags] | --short SECONDS | --seeds" >&2
  echo "targets: ${ORDER[*]}" >&2
  exit 2
}

# Builds the targets given (names) with their configs; prints nothing but errors.
build() {
  local fuzz=() alloc=() t
  for t in "$@"; do
    read -r label config _ <<<"${TARGETS[$t]}"
    if [[ $config == fuzz ]]; then fuzz+=("$label"); else alloc+=("$label"); fi
  done
  if ((${#fuzz[@]})); then bazel build -c opt --config=fuzz "${fuzz[@]}" 2>&1 | grep -E "^ERROR|error:" >&2 || true; fi
  if ((${#alloc[@]})); then bazel build -c opt --config=fuzz_alloc "${alloc[@]}" 2>&1 | grep -E "^ERROR|error:" >&2 || true; fi
}

binary() {
  local label config
  read -r label config _ <<<"${TARGETS[$1]}"
  local path="${label#//}"
  echo "$(bazel info -c opt --config="$config" bazel-bin 2>/dev/null)/${path/://}"
}

# Runs target $1 for $2 seconds from corpus folder $3 (written) and the tree's seeds
# (read), with extra libFuzzer flags after. Prints "TARGET: N executions in S s".
run() {
  local t=$1 seconds=$2 corpus=$3
  shift 3
  local _label _config seeds
  read -r _label _config seeds <<<"${TARGETS[$t]}"
  local bin artifacts log
  bin=$(binary "$t")
  [[ -x $bin ]] || { echo "fuzz: $t: no binary at $bin (did the build fail?)" >&2; return 1; }
  artifacts="${corpus%/corpus}/artifacts"
  mkdir -p "$corpus" "$artifacts"
  log="${corpus%/corpus}/fuzz.log"
  local status=0
  "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$@" "$corpus" "$seeds" >"$log" 2>&1 || status=$?
  local runs
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if ((status != 0)); then
    echo "fuzz: $t FOUND A BUG (exit $status); its input: $(ls -t "$artifacts" | head -1 | sed "s|^|$artifacts/|")" >&2
    grep -E "^(==[0-9]+==ERROR|SUMMARY|[a-z_]+_fuzz: )" "$log" | head -5 >&2 || true
    echo "fuzz: the whole log: $log" >&2
    return 1
  fi
  echo "fuzz: $t: ${runs:-?} executions in $seconds s, nothing found"
}

case "${1:-}" in
  --short)
    [[ $# -eq 2 ]] || usage
    build "${ORDER[@]}"
    scratch=$(mktemp -d /tmp/hakmem-fuzz-short.XXXXXX)
    failed=0
    for t in "${ORDER[@]}"; do
      run "$t" "$2" "$scratch/$t/corpus" -seed=1 || failed=1
    done
    if ((failed)); then
      echo "fuzz: logs and findings kept in $scratch" >&2
      exit 1
    fi
    rm -rf "$scratch"
    ;;
  --seeds)
    bazel build //core:libhakmem.so //learner:two_sites //tools:hakmem //tools:telemetry_testdata_files
    bin=$(bazel info bazel-bin 2>/dev/null)
    tmp=$(mktemp -d)
    (cd "$tmp" && HAKMEM_MODE=learn HAKMEM_TELEMETRY="$tmp/run.hakt" HAKMEM_TRACE="$tmp/run.trace" \
      HAKMEM_FREEZE_TO="$tmp/state.pb" LD_PRELOAD="$bin/core/libhakmem.so" "$bin/learner/two_sites" >/dev/null)
    "$bin/tools/hakmem" freeze "$tmp/run.hakt" -o "$tmp/frozen.pb" >/dev/null
    /usr/bin/python3 tools/make_fuzz_seeds.py "$tmp/run.hakt" "$tmp/run.trace" "$tmp/state.pb" \
      "$tmp/frozen.pb" "$bin/tools/testdata/small.hakt" "$bin/tools/testdata/drops.hakt"
    rm -rf "$tmp"
    ;;
  -*|"")
    usage
    ;;
  *)
    [[ $# -ge 2 && -n "${TARGETS[$1]:-}" ]] || usage
    t=$1 seconds=$2
    shift 2
    build "$t"
    dir="${HAKMEM_FUZZ_DIR:-$HOME/.cache/hakmem-fuzz}/$t"
    run "$t" "$seconds" "$dir/corpus" "$@"
    ;;
esac

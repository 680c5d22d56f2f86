#!/usr/bin/env bash
# The soak: reliability.cc's soak case at full length, in learn mode with every file
# asked for and telemetry rewritten every second, as a long-running service would run.
# Cycles of heavy load (256 MiB live across 4 threads, 200k replacements each) and light
# load (4 MiB); fails if resident memory at the end of a heavy phase grows from cycle to
# cycle, or does not come back down within 30 s of the load dropping, or if any block is
# corrupted, any file is invalid, or hakmem prints anything but its start and exit lines.
#
#   tests/soak.sh [SECONDS]     (default 300; from the workspace root)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
bazel build //core:libhakmem.so //tools:hakmem //tests:reliability //tests:libreliability_plugin.so
exec /usr/bin/python3 tests/reliability_test.py \
  --lib=bazel-bin/core/libhakmem.so --hakmem=bazel-bin/tools/hakmem \
  --program=bazel-bin/tests/reliability --plugin=bazel-bin/tests/libreliability_plugin.so \
  --case=soak --scale=full --seconds="$seconds"

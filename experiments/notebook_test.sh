#!/bin/bash
# Runs experiments/learning_curves.ipynb headless (jupyter nbconvert --execute, Debian's
# jupyter-nbconvert and python3-ipykernel) against the built preload, bench and tool, and
# checks that it wrote its five figures. Fails on any cell's error.
# Usage: notebook_test.sh NOTEBOOK LIBHAKMEM BENCH_MULTISITE RSS_EXEC HAKMEM_TOOL PY_DIR
set -euo pipefail
nb=$(realpath "$1")
export HAKMEM_NB_LIB=$(realpath "$2") HAKMEM_NB_BENCH=$(realpath "$3")
export HAKMEM_NB_RSS_EXEC=$(realpath "$4") HAKMEM_NB_TOOL=$(realpath "$5")
out="${TEST_UNDECLARED_OUTPUTS_DIR:-$(mktemp -d)}"
export HAKMEM_NB_FIGURES="$out/figures" HAKMEM_NB_ROUNDS=120
# The package's sources and its compiled half sit together in runfiles.
export PYTHONPATH="$(realpath "$6")"
export HOME="${TEST_TMPDIR:-$out}" JUPYTER_PLATFORM_DIRS=1 PYDEVD_DISABLE_FILE_VALIDATION=1
jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=300 \
  --output-dir "$out" --output executed.ipynb "$nb"
for f in ratings strategy_share cost_by_strategy learn_vs_fixed commit_vs_regret; do
  [[ -s "$HAKMEM_NB_FIGURES/$f.png" ]] || { echo "FAIL: the notebook wrote no $f.png"; exit 1; }
done
echo PASS

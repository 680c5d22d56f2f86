#!/bin/bash
# Keeps the benchmark driver honest in CI: a --quick run of the in-process benches under
# hakmem and glibc (no peers needed) must finish with every run's allocator proven, and
# must show hakmem rows. Numbers from this run mean nothing; it checks the plumbing.
set -u
hakmem="$1"; bench_dir=$(dirname "$2"); compare="$3"
out=$(/usr/bin/python3 "$compare" --quick --only random_mixed,large,larson \
        --allocators hakmem,glibc --hakmem "$hakmem" --bench-dir "$bench_dir" \
        --json "${TEST_TMPDIR:-/tmp}/smoke.json" 2>&1)
status=$?
echo "$out" | tail -20
if [[ $status -ne 0 ]]; then
  echo "FAIL: compare.py exited $status"
  exit 1
fi
# The report names the build it measured (hak_version() read from a preloaded child).
if ! grep -Eq "hak_version: [0-9]+\.[0-9]+\.[0-9]+" <<<"$out"; then
  echo "FAIL: compare.py could not read hakmem's version"
  exit 1
fi
for bench in random_mixed_w256 random_mixed_w8192 large larson; do
  if ! grep -Eq "^\| $bench \| hakmem \| [0-9.]+ .*\| yes \|$" <<<"$out"; then
    echo "FAIL: no proven hakmem result for $bench"
    exit 1
  fi
done
echo "PASS"

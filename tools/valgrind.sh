#!/usr/bin/env bash
# Whole programs under the preload, checked by valgrind's memcheck (README.md, "Sanitizers
# and fuzzing"). The sanitizer configs cannot run these: the preload is the process's
# malloc, and a sanitizer runtime would need to be. Memcheck can, told to leave every
# malloc but libc's alone (--soname-synonyms=somalloc=nouserintercepts; by default it
# would put its own in place of hakmem's, and test itself): it has no heap redzones then,
# but it still sees branches on uninitialized values, accesses to memory that is not
# mapped or not committed (a block used after its munmap, a page of the heap's
# reservation never committed) and system calls given uninitialized bytes (the
# telemetry, trace and table writes). Each program must exit 0 with no memcheck error,
# and memcheck must have counted no allocation of its own (hakmem served them all).
#
#   tools/valgrind.sh          three programs, about two minutes on 2 cores
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
bazel build //core:libhakmem.so //learner:two_sites //tests:stress 2>&1 | grep -E "^ERROR" >&2 || true
bin=$(bazel info bazel-bin 2>/dev/null)
lib="$bin/core/libhakmem.so"
tmp=$(mktemp -d /tmp/hakmem-valgrind.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

failed=0
check() {  # name, then the command (run under memcheck with the preload)
  local name=$1
  shift
  local log="$tmp/$name.log"
  local status=0
  valgrind --tool=memcheck --soname-synonyms=somalloc=nouserintercepts --error-exitcode=99 \
    --trace-children=yes --track-origins=yes --log-file="$log.%p" \
    env LD_PRELOAD="$lib" HAKMEM_VERBOSE=1 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" \
    </dev/null || status=$?
  if ((status != 0)); then
    echo "valgrind: $name: FAIL (exit $status):"
    grep -h -B2 -A12 -E "Invalid|uninitialised|Syscall param|unaddressable" "$log".* | head -60
    tail -3 "$tmp/$name.err"
    failed=1
  elif ! grep -q "^hakmem: exit pid=" "$tmp/$name.err"; then
    echo "valgrind: $name: FAIL: hakmem did not serve it (no exit line)"
    failed=1
  elif grep -h "total heap usage:" "$log".* | grep -qv " 0 allocs"; then
    echo "valgrind: $name: FAIL: memcheck's malloc served some of it, not hakmem's"
    failed=1
  else
    echo "valgrind: $name: ok ($(cat "$log".* | grep -c "ERROR SUMMARY: 0 errors") processes, no errors)"
  fi
}

# Learning with every file written at exit: telemetry, trace, the frozen table.
check two_sites_learn env HAKMEM_MODE=learn HAKMEM_TELEMETRY="$tmp/t.hakt" \
  HAKMEM_TRACE="$tmp/t.trace" HAKMEM_FREEZE_TO="$tmp/t.pb" "$bin/learner/two_sites"
# Threads, cross-thread frees, fork, thread exit, every allocation function's contract.
check stress "$bin/tests/stress" --ops=2000
# A real program, with every request of 64 KiB and up through BigCache.
check sqlite3 env HAKMEM_STRATEGY=bigcache sqlite3 :memory: \
  ".read tests/workloads/sqlite_script.sql"
exit $failed

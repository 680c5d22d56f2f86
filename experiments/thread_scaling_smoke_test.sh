#!/bin/bash
# Keeps thread_scaling.py's plumbing honest in CI, where the suite's programs are absent:
# stand-ins named like them (bash scripts, so each run is a real process under the
# allocator, with the which_malloc probe and hakmem's exit line as proof) must give a
# report with every run proven, a score parsed from the program's own output, and the
# thread count on each program's command line. Numbers mean nothing here.
set -u
hakmem="$1"; bench_dir=$(dirname "$2"); driver="$3"
bin="${TEST_TMPDIR:-/tmp}/suite-bin"
rm -rf "$bin"; mkdir -p "$bin"
# bash, not sh: dash leaves through _exit, so the probe's destructor would never run.
# mstress takes the thread count first and is timed by the wall clock.
printf '#!/bin/bash\necho "mstress $*" > "%s/mstress.args"\n' "$bin" > "$bin/mstress"
# rptest scores itself: ops per second, from its output.
printf '#!/bin/bash\necho "rptest $*" > "%s/rptest.args"\necho "crt  $1 threads ........4000000 memory ops/CPU second"\n' \
  "$bin" > "$bin/rptest"
chmod +x "$bin/mstress" "$bin/rptest"
out=$(/usr/bin/python3 "$driver" --suite-bin "$bin" --only mstressN,rptestN --threads 3,5 \
        --reps 1 --allocators hakmem,glibc --hakmem "$hakmem" --bench-dir "$bench_dir" \
        --json "${TEST_TMPDIR:-/tmp}/thread_scaling.json" 2>&1)
status=$?
echo "$out" | tail -20
fail() { echo "FAIL: $*"; exit 1; }
[[ $status -eq 0 ]] || fail "thread_scaling.py exited $status"
grep -q "INVALID" <<<"$out" && fail "a run was not proven"
grep -Eq "^\| rptestN \| 5 \| 0\.5 \(1\.00x\) \| 0\.5 \(1\.00x\) \|$" <<<"$out" ||
  fail "rptest's score (2e6 / 4000000 ops/s = 0.5) is not in the report"
grep -Eq "^\| mstressN \| 3 \| [0-9.]+ \([0-9.]+x\) \| [0-9.]+ \([0-9.]+x\) \|$" <<<"$out" ||
  fail "no wall-clock row for mstressN"
[[ "$(cat "$bin/mstress.args")" == "mstress 5 50 25" ]] || fail "mstress got $(cat "$bin/mstress.args")"
[[ "$(cat "$bin/rptest.args")" == "rptest 5 0 1 2 500 1000 100 8 16000" ]] ||
  fail "rptest got $(cat "$bin/rptest.args")"
/usr/bin/python3 "$driver" --threads 0 >/dev/null 2>&1 && fail "--threads 0 was accepted"
echo "PASS"

#!/bin/bash
# The telemetry commands of the `hakmem` command line, end to end on the generated files
# (tools/testdata/make_telemetry.py): report (text and JSON), diff, merge, freeze from
# telemetry, pprof read back by `go tool pprof`, run (exit statuses, the preload, the
# library search, --report), every command's --help and usage errors (exit 2).
# Usage: telemetry_cli_test.sh HAKMEM MAKE_TEST_TABLE A_HAKT
set -u
hakmem="$1"
make_table="$2"
data=$(dirname "$3")
dir="${TEST_TMPDIR:-$(mktemp -d)}/telemetry_cli"
rm -rf "$dir" && mkdir -p "$dir"
source "$(dirname "$0")/testdata/cli_test_lib.sh"

# ---- help and usage
run 0 --help
main_help="$out"
for cmd in show validate freeze report diff merge pprof run version; do
  grep -Eq "^  $cmd +[a-z]" <<<"$main_help" || fail "hakmem --help does not list $cmd"
  run 0 "$cmd" --help
  expect_out_has "usage: hakmem $cmd"
  run 0 "$cmd" -h
  expect_out_has "usage: hakmem $cmd"
done
run 2 report
expect_err "hakmem report: missing FILE"
expect_err "usage: hakmem report FILE"
run 2 report "$data/a.hakt" --top x
expect_err "hakmem report: --top: expected a non-negative integer, got 'x'"
run 2 report "$data/a.hakt" --sort size
expect_err "hakmem report: --sort: expected allocs, bytes, live, peak, frees or name, got 'size'"
run 2 report "$data/a.hakt" --bogus
expect_err "hakmem report: unknown option '--bogus'"
run 2 report "$data/a.hakt" "$data/b.hakt"
expect_err "unexpected argument"
run 2 diff "$data/a.hakt"
expect_err "hakmem diff: missing B"
run 2 diff "$data/a.hakt" "$data/b.hakt" --threshold -1
expect_err "hakmem diff: --threshold: expected a non-negative number, got '-1'"
run 2 merge "$data/a.hakt"
expect_err "hakmem merge: missing -o OUT"
run 2 merge -o "$dir/x.hakt"
expect_err "hakmem merge: missing FILE"
run 2 pprof "$data/a.hakt"
expect_err "hakmem pprof: missing -o OUT.pb.gz"
run 2 freeze "$data/a.hakt" -o
expect_err "hakmem freeze: --out needs a value"
[[ -e "$dir/x.hakt" ]] && fail "a usage error wrote $dir/x.hakt"

# ---- report
run 0 report "$data/a.hakt"
expect_out "telemetry: 2 runs, 6 sites, 8 locations in 2 modules"
expect_out "  1  /usr/bin/app  pid 4243 on build-1  started 2023-11-14 22:14:20 UTC  ran 2.50 s  learn  complete  hakmem 0.1.0"
expect_out "sites: 6 (all shown), by bytes; ~: estimated from samples"
expect_out "   3  parse_tokens (src/parse.cc:88)      ~600339    57.3 MiB    47.5 KiB     159 KiB  2.05 µs / 16.4 µs / 16.4 µs"
expect_out "        middle band: chose pool; pool 1630.0 (120 samples, mean 85 ns), bigcache 1485.0 (120 samples, mean 215 ns), mmap 1385.0 (120 samples, mean 975 ns); 150339 allocations, 6 matches"
expect_out "  run 0 at 1.50 s: mapped 16.0 MiB, resident 30.0 MiB (the whole process)"
expect_out "drops: none"
report_a="$out"
run 0 report "$data/drops.hakt" --top 1 --sort allocs
expect_out "!! DROPPED: these runs could not record everything; counts below are lower bounds:"
expect_out "sites: 6 (top 1 shown), by allocations; ~: estimated from samples"
expect_out_has "   1  parse_tokens"
run 0 report --json "$data/a.hakt"
/usr/bin/python3 - "$dir/out" <<'EOF' || fail "report --json is not the site report's shape"
import json, sys
doc = json.load(open(sys.argv[1]))
assert list(doc) == ["sample_bytes", "sites", "dropped_sites", "context_depth", "dropped_contexts"], list(doc)
assert len(doc["sites"]) == 6
parse = [s for s in doc["sites"] if s["name"] == "parse_tokens"][0]
assert parse["allocs"] == 600339 and parse["allocs_estimated"] is True, parse
assert parse["context"][1]["symbol"] == "parse_tokens" and parse["name_frame"] == 1
assert parse["strategy"] == "pool" and parse["bands"] == {"middle": "pool"}, parse
assert parse["lifetime_histogram"]["2047"] == 360000
EOF

# ---- diff
run 0 diff "$data/a.hakt" "$data/a.hakt"
[[ "$out" == "no changes" ]] || fail "diff of a file with itself printed: $out"
run 0 diff "$data/a.hakt" "$data/changed.hakt"
want_diff="new     middle  __strdup (string/strdup.c:42): chooses none (undecided)
cost    large   decode_frame: mmap mean cost 6.00 µs -> 9.00 µs (+50.0%)
chosen  middle  parse_tokens (src/parse.cc:88): pool (mean cost 85 ns) -> bigcache (mean cost 80 ns)
gone    huge    site 'decoder.frames': chose bigcache (mean cost 30.0 µs)
4 changes: 1 new, 1 gone, 1 chosen strategy changed, 1 cost moved"
[[ "$out" == "$want_diff" ]] || fail "diff a changed printed:
$out
expected:
$want_diff"
run 3 diff --exit-code "$data/a.hakt" "$data/changed.hakt"
run 0 diff --exit-code "$data/b.hakt" "$data/b.hakt"
run 0 diff --threshold 0.6 "$data/a.hakt" "$data/changed.hakt"
grep -q "^cost" <<<"$out" && fail "a 50% move was reported with --threshold 0.6: $out"

# ---- merge
run 0 merge "$data/a.hakt" "$data/b.hakt" "$data/c.hakt" "$data/d.hakt" -o "$dir/abcd.hakt"
expect_out "wrote $dir/abcd.hakt: 5 runs, 7 sites, 9 locations in 3 modules, from 4 files"
expect_err "hakmem merge: note: run pid 4243 on build-1 started 2023-11-14 22:14:20.000 UTC is in several inputs with different data: kept the write that ended 2023-11-14 22:14:22.500 UTC (at exit), dropped the write that ended 2023-11-14 22:14:21.200 UTC (periodic, write 1)"
run 0 merge "$data/d.hakt" "$data/c.hakt" -o "$dir/dc.hakt"
run 0 merge "$data/b.hakt" "$dir/dc.hakt" "$data/a.hakt" --out="$dir/b_dc_a.hakt"
cmp -s "$dir/abcd.hakt" "$dir/b_dc_a.hakt" || fail "merge depends on the order or grouping"
run 0 merge "$data/a.hakt" -o "$dir/a1.hakt"
run 0 merge "$data/a.hakt" "$data/a.hakt" -o "$dir/a2.hakt"
cmp -s "$dir/a1.hakt" "$dir/a2.hakt" || fail "merge(a, a) is not merge(a)"
[[ -z "$err" ]] || fail "merging a file with itself said: $err"
run 0 merge "$dir/a1.hakt" -o "$dir/a1.hakt"  # in place
cmp -s "$dir/a1.hakt" "$dir/a2.hakt" || fail "the canonical form is not a fixed point"
[[ -e "$dir/a1.hakt.tmp" ]] && fail "merge left a temporary file"
run 0 report "$dir/a1.hakt"
[[ "$out" == "$report_a" ]] || fail "the canonical form reports differently from the file"

# ---- freeze from telemetry, mixed with a learner state
"$make_table" write state_a "$dir/state_a.pb" || fail "make_test_table write state_a"
run 0 freeze "$data/a.hakt" -o "$dir/t.pb"
expect_out "wrote $dir/t.pb: 3 entries (3 decided) from 6 entries in 2 states"
run 0 validate "$dir/t.pb"
run 0 diff "$data/a.hakt" "$dir/t.pb"
[[ "$out" == "no changes" ]] || fail "a table frozen from a file differs from it: $out"
run 0 freeze "$dir/abcd.hakt" "$dir/state_a.pb" -o "$dir/mixed.pb"
# Four telemetry runs learned (each a state: 3 entries), the frozen-mode run did not;
# state_a adds two entries.
expect_out "wrote $dir/mixed.pb: 5 entries (5 decided) from 14 entries in 5 states"
dump=$("$make_table" dump "$dir/mixed.pb")
grep -Fq "runs 4242 100 977 4243 5000" <<<"$dump" || fail "mixed freeze runs: $dump"
grep -Fq "decoder.frames SIZE_BAND_HUGE STRATEGY_BIGCACHE" <<<"$dump" || fail "mixed freeze: $dump"
# The overflow site and the JIT-framed site measured nothing here; a frozen table where
# telemetry is expected, and the reverse, say what they are.
run 1 report "$dir/t.pb"
expect_err "hakmem report: $dir/t.pb: is a frozen table, not telemetry"
expect_one_err_line
run 1 validate "$data/a.hakt"
expect_err "hakmem validate: $data/a.hakt: is telemetry, not a frozen table"

# ---- pprof, read back with go tool pprof (offline: nothing to fetch or build)
run 0 pprof "$data/a.hakt" -o "$dir/a.pb.gz"
expect_out "wrote $dir/a.pb.gz: 6 samples (sites), 10 locations, 7 functions"
export HOME="$dir" GOCACHE="$dir/gocache" PPROF_TMPDIR="$dir"
pprof_top() { go tool pprof -top -nodefraction=0 "$@" 2>&1; }
top=$(pprof_top -sample_index=alloc_objects "$dir/a.pb.gz") || fail "go tool pprof failed: $top"
echo "$top"
# xmalloc is the allocation call of parse_tokens' and load_config's contexts.
grep -Eq '^ +615939 .* xmalloc$' <<<"$top" || fail "pprof: xmalloc's allocations: $top"
grep -Eq '^ +0 .* +600339 .* parse_tokens$' <<<"$top" || fail "pprof: parse_tokens: $top"
grep -Eq '^ +120 .* decoder\.frames$' <<<"$top" || fail "pprof: the explicit site: $top"
grep -Eq '^ +900 .* \(overflow\)$' <<<"$top" || fail "pprof: the overflow site: $top"
top=$(pprof_top -sample_index=inuse_space -unit=B "$dir/a.pb.gz") || fail "go tool pprof failed: $top"
echo "$top"
grep -Fq "Type: inuse_space" <<<"$top" || fail "pprof: no inuse_space: $top"
grep -Eq '^ +16777216B .* decoder\.frames$' <<<"$top" || fail "pprof: decoder.frames' live bytes: $top"
grep -Eq '^ +4194304B .* decode_frame$' <<<"$top" || fail "pprof: decode_frame's live bytes: $top"
grep -Eq '^ +0 .* 48600B .* parse_tokens$' <<<"$top" || fail "pprof: parse_tokens' live bytes: $top"
top=$(pprof_top "$dir/a.pb.gz") || fail "go tool pprof failed: $top"
grep -Fq "Type: alloc_space" <<<"$top" || fail "pprof: the default sample type: $top"

# ---- run
run 3 run -- /bin/sh -c 'exit 3'
run 143 run -- /bin/sh -c 'kill -TERM $$'
run 0 run -- /bin/grep -m1 libhakmem.so /proc/self/maps
expect_out_has "/core/libhakmem.so"
LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6 HAKMEM_SAMPLE_BYTES=4k run 0 run --mode shadow \
  --telemetry rel.hakt -- /bin/sh -c 'echo "$LD_PRELOAD|$HAKMEM_MODE|$HAKMEM_SAMPLE_BYTES|$HAKMEM_TELEMETRY"'
[[ "$out" == *"/core/libhakmem.so:/lib/x86_64-linux-gnu/libm.so.6|shadow|4k|$PWD/rel.hakt" ]] ||
  fail "run's environment: $out"
run 0 run --frozen-table "$dir/t.pb" -- /bin/sh -c 'echo "$HAKMEM_MODE $HAKMEM_FROZEN_TABLE"'
[[ "$out" == "frozen $dir/t.pb" ]] || fail "--frozen-table implies frozen: $out"
run 0 run /bin/echo --mode x  # options end at CMD
[[ "$out" == "--mode x" ]] || fail "run read CMD's options: $out"
HAKMEM_LIBRARY=/no/such.so run 1 run -- /bin/true
expect_err "hakmem run: cannot preload hakmem: HAKMEM_LIBRARY=/no/such.so: No such file or directory"
expect_one_err_line
cp "$hakmem" "$dir/lonely-hakmem"
"$dir/lonely-hakmem" run -- /bin/true >"$dir/out" 2>"$dir/err"
[[ $? -eq 1 ]] || fail "run without a library did not exit 1"
err=$(cat "$dir/err")
expect_err "hakmem run: cannot preload hakmem: libhakmem.so not found; looked for $(dirname "$dir")/core/libhakmem.so, $dir/lonely-hakmem.runfiles/hakmem/core/libhakmem.so"
expect_one_err_line
run 127 run -- /no/such/program
expect_err "hakmem run: cannot run: /no/such/program: No such file or directory"
run 2 run
expect_err "hakmem run: missing CMD"
run 2 run --mode frozen -- /bin/true
expect_err "hakmem run: --mode frozen needs a table: --frozen-table FILE"
run 2 run --mode fast -- /bin/true
expect_err "hakmem run: --mode: expected off, learn, shadow or frozen, got 'fast'"
# --report: the program's own telemetry, written by the preload at its exit, on stderr.
run 0 run --report -- /bin/true
expect_err "telemetry: 1 run,"
expect_err "true  pid "
expect_err "drops: none"
# Stand-ins that leave with _exit (no exit write), so the file they put there stays.
py=/usr/bin/python3
run 5 run --report -- $py -c "import os, shutil; shutil.copy('$data/a.hakt', os.environ['HAKMEM_TELEMETRY']); os._exit(5)"
expect_err "telemetry: 2 runs, 6 sites, 8 locations in 2 modules"
run 0 run --report --telemetry "$dir/kept.hakt" -- $py -c "import os, shutil; shutil.copy('$data/b.hakt', os.environ['HAKMEM_TELEMETRY']); os._exit(0)"
expect_err "pid 977 on build-2"
[[ -s "$dir/kept.hakt" ]] || fail "--report removed the --telemetry file"
# A program that exits 0 without its exit handlers writes no telemetry: that is a failure.
run 1 run --report -- $py -c "import os; os._exit(0)"
expect_err "hakmem run: --report: no telemetry from the program:"
expect_one_err_line

finish

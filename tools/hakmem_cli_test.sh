#!/bin/bash
# The `hakmem` command line on small tables: show, validate and freeze (a merge of two
# learner states written with the generated Python module, whose modules have different
# ids: one calling context under both is merged, one that differs in an outer frame is
# not), a corrupt and a truncated file, tables of other format versions, usage errors and
# exit statuses (0 ok, 1 failed, 2 usage), and an atomic --out.
# Usage: hakmem_cli_test.sh HAKMEM MAKE_TEST_TABLE
set -u
hakmem="$1"
make_table="$2"
dir="${TEST_TMPDIR:-$(mktemp -d)}/cli"
rm -rf "$dir" && mkdir -p "$dir"
source "$(dirname "$0")/testdata/cli_test_lib.sh"

"$make_table" write state_a "$dir/a.pb" || fail "make_test_table write state_a"
"$make_table" write state_b "$dir/b.pb" || fail "make_test_table write state_b"

# ---- version and help
run 0 version
expect_out_has "hakmem 0.1.0 (frozen table format 2, telemetry format 1)"
for cmd in show validate freeze version; do
  run 0 "$cmd" --help
  expect_out_has "usage: hakmem $cmd"
done
run 0 --help
expect_out_has "usage: hakmem <command>"

# ---- usage errors: status 2, a line naming the problem
run 2
expect_err "usage: hakmem <command>"
run 2 frobnicate
expect_err "unknown command 'frobnicate'"
run 2 validate
expect_err "hakmem validate: missing FILE"
run 2 show "$dir/a.pb" extra
expect_err "unexpected argument 'extra'"
run 2 freeze "$dir/a.pb"
expect_err "hakmem freeze: missing --out FILE"
run 2 freeze --out "$dir/m.pb"
expect_err "missing STATE files"
run 2 freeze --out "$dir/m.pb" --min-samples x "$dir/a.pb"
expect_err "--min-samples: expected a non-negative integer, got 'x'"
run 2 freeze --out "$dir/m.pb" --commit-margin -5 "$dir/a.pb"
expect_err "--commit-margin: expected a non-negative number, got '-5'"
run 2 freeze --out "$dir/m.pb" --bogus "$dir/a.pb"
expect_err "unknown option '--bogus'"
[[ -e "$dir/m.pb" ]] && fail "a usage error wrote $dir/m.pb"

# ---- validate and show a good state
run 0 validate "$dir/a.pb"
[[ "$out" == "ok: 2 entries" ]] || fail "validate printed '$out'"
run 0 show "$dir/a.pb"
expect_out_has "hakmem version:  0.1.0"
expect_out_has "created:         2023-11-14 22:16:40.000 UTC"
expect_out_has "min_samples=16 commit_margin_points=50"
expect_out_has "pid 100"
expect_out_has "liba.so[aaaaaaaaaaaa]+0x10"
# The whole calling context, innermost first.
expect_out_has "context: liba.so[aaaaaaaaaaaa]+0x10 <- app+0x500"
expect_out_has "site 'decoder'"
expect_out_has "1600.0 (10) 100.0ns"
expect_out_has "modules:         2"
expect_out_has "1  /usr/lib/liba.so  build-id aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
expect_out_has "2  /usr/bin/app  build-id (none)"
expect_out_has "status: ok (2 entries)"
run 0 show "$dir/b.pb"
expect_out_has 'bin-\xff+0x99'  # a path that is not UTF-8, escaped
expect_out_has "context: liba.so[aaaaaaaaaaaa]+0x10 <- app+0x700"
# A single-frame context has no context line of its own.
[[ $(grep -c "context:" <<<"$out") -eq 2 ]] || fail "show b.pb: expected 2 context lines: $out"

# ---- bad files: status 1, one line naming file and reason
run 1 validate "$dir/missing.pb"
expect_err "hakmem validate: $dir/missing.pb: No such file or directory"
expect_one_err_line
cp "$dir/a.pb" "$dir/corrupt.pb"
# Flip one bit in the middle of the table.
size=$(stat -c %s "$dir/corrupt.pb")
offset=$((size / 2))
byte=$(od -An -tu1 -j "$offset" -N1 "$dir/corrupt.pb" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 4)))" |
  dd of="$dir/corrupt.pb" bs=1 seek="$offset" conv=notrunc status=none
cmp -s "$dir/a.pb" "$dir/corrupt.pb" && fail "the corrupt copy is not corrupt"
run 1 validate "$dir/corrupt.pb"
expect_err "hakmem validate: $dir/corrupt.pb: checksum mismatch (file corrupt)"
expect_one_err_line
[[ -z "$out" ]] || fail "validate of a corrupt file printed '$out'"
run 1 show "$dir/corrupt.pb"
head -c $((size - 3)) "$dir/a.pb" >"$dir/truncated.pb"
run 1 validate "$dir/truncated.pb"
expect_err "truncated"
expect_one_err_line
echo "not a table" >"$dir/text.pb"
run 1 validate "$dir/text.pb"
expect_err "bad magic (not a frozen table)"
run 1 show "$dir/text.pb"
expect_err "hakmem show: $dir/text.pb: bad magic (not a frozen table)"
run 1 validate "$dir"
expect_err "is a directory"
# Well-formed but refused by production: show still shows it, and says why.
"$make_table" write ineligible "$dir/ineligible.pb" || fail "make_test_table write ineligible"
run 1 validate "$dir/ineligible.pb"
expect_err "hakmem validate: $dir/ineligible.pb: entry 0: strategy pool not eligible for band large"
run 1 show "$dir/ineligible.pb"
expect_out_has "libc.so.6+0x20"
expect_out_has "status: INVALID: entry 0: strategy pool not eligible for band large"
"$make_table" write dangling "$dir/dangling.pb" || fail "make_test_table write dangling"
run 1 validate "$dir/dangling.pb"
expect_err "hakmem validate: $dir/dangling.pb: entry 0: frame 1 names module 2, but the table has 1 module"
expect_one_err_line
# Older and newer format versions: refused by validate, freeze and show alike, an older
# one with what changed.
v1_why="format version 1 is older than this hakmem's 2 (made before call sites were calling contexts); relearn and freeze again"
"$make_table" write version1 "$dir/v1.pb" || fail "make_test_table write version1"
run 1 validate "$dir/v1.pb"
expect_err "hakmem validate: $dir/v1.pb: $v1_why"
expect_one_err_line
run 1 freeze --out "$dir/never.pb" "$dir/v1.pb"
expect_err "hakmem freeze: $dir/v1.pb: $v1_why"
run 1 show "$dir/v1.pb"
expect_out_has "status: INVALID: $v1_why"
"$make_table" write version3 "$dir/v3.pb" || fail "make_test_table write version3"
run 1 validate "$dir/v3.pb"
expect_err "unsupported format version 3 (expected 2)"
run 1 freeze --out "$dir/never.pb" "$dir/v3.pb"
expect_err "hakmem freeze: $dir/v3.pb: unsupported format version 3 (expected 2)"
[[ -e "$dir/never.pb" ]] && fail "a failed freeze wrote $dir/never.pb"

# ---- freeze: merge two states
run 0 freeze --out "$dir/m.pb" "$dir/a.pb" "$dir/b.pb"
expect_out_has "4 entries (3 decided) from 5 entries in 2 states"
[[ -e "$dir/m.pb.tmp" ]] && fail "freeze left $dir/m.pb.tmp behind"
run 0 validate "$dir/m.pb"
[[ "$out" == "ok: 4 entries" ]] || fail "validate of the merge printed '$out'"
dump=$("$make_table" dump "$dir/m.pb") || fail "make_test_table dump failed"
echo "$dump"
expect_dump() { grep -Fxq -- "$1" <<<"$dump" || fail "merged table lacks the line '$1'"; }
expect_dump "runs 100 200"
expect_dump "params min_samples=16 commit_margin_points=50"
# One module per identity (liba.so by build-id, with the first path seen), renumbered
# 1, 2, ... in order of first use.
expect_dump "modules 1:aaaaaaaa 2:/usr/bin/app 3:/opt/app/bin-\xff"
# The same context under different module ids: one entry. Samples summed, ratings and
# costs weighted by samples: pool (1600*10 + 1640*30) / 40.
expect_dump "aaaaaaaa+0x10<-/usr/bin/app+0x500 SIZE_BAND_MIDDLE STRATEGY_POOL STRATEGY_POOL=1630/40/85 STRATEGY_BIGCACHE=1485/40/215 STRATEGY_MMAP=1385/40/975"
# The same allocation call from another caller: its own entry, its own decision.
expect_dump "aaaaaaaa+0x10<-/usr/bin/app+0x700 SIZE_BAND_MIDDLE STRATEGY_POOL STRATEGY_POOL=1650/20/50 STRATEGY_BIGCACHE=1500/20/100 STRATEGY_MMAP=1300/20/500"
expect_dump "decoder SIZE_BAND_HUGE STRATEGY_MMAP STRATEGY_BIGCACHE=1450/100/7000 STRATEGY_MMAP=1550/100/5000"
expect_dump '/opt/app/bin-\xff+0x99 SIZE_BAND_LARGE STRATEGY_NONE STRATEGY_BIGCACHE=1500/5/10'
# In order of first appearance.
order=$(grep "SIZE_BAND" <<<"$dump" | cut -d' ' -f1 | tr '\n' ' ')
[[ "$order" == 'aaaaaaaa+0x10<-/usr/bin/app+0x500 decoder aaaaaaaa+0x10<-/usr/bin/app+0x700 /opt/app/bin-\xff+0x99 ' ]] ||
  fail "merged entries out of order: $order"
run 0 show "$dir/m.pb"
expect_out_has "status: ok (4 entries)"

# Overridden decision parameters: mmap's 100-point lead is not enough, 5 samples are.
cp "$dir/m.pb" "$dir/m_before.pb"
run 0 freeze --out="$dir/m.pb" --commit-margin 200 --min-samples=5 "$dir/a.pb" "$dir/b.pb"
dump=$("$make_table" dump "$dir/m.pb")
expect_dump "params min_samples=5 commit_margin_points=200"
expect_dump "decoder SIZE_BAND_HUGE STRATEGY_NONE STRATEGY_BIGCACHE=1450/100/7000 STRATEGY_MMAP=1550/100/5000"
expect_dump "aaaaaaaa+0x10<-/usr/bin/app+0x700 SIZE_BAND_MIDDLE STRATEGY_NONE STRATEGY_POOL=1650/20/50 STRATEGY_BIGCACHE=1500/20/100 STRATEGY_MMAP=1300/20/500"
expect_dump '/opt/app/bin-\xff+0x99 SIZE_BAND_LARGE STRATEGY_BIGCACHE STRATEGY_BIGCACHE=1500/5/10'

# A bad state fails the whole freeze and leaves --out as it was.
cp "$dir/m.pb" "$dir/m_before.pb"
run 1 freeze --out "$dir/m.pb" "$dir/a.pb" "$dir/corrupt.pb"
expect_err "hakmem freeze: $dir/corrupt.pb: checksum mismatch (file corrupt)"
expect_one_err_line
cmp -s "$dir/m.pb" "$dir/m_before.pb" || fail "a failed freeze changed $dir/m.pb"
[[ -e "$dir/m.pb.tmp" ]] && fail "a failed freeze left $dir/m.pb.tmp behind"
# An unwritable destination: status 1, nothing left behind.
run 1 freeze --out "$dir/no/such/dir/m.pb" "$dir/a.pb"
expect_err "hakmem freeze: $dir/no/such/dir/m.pb: $dir/no/such/dir/m.pb.tmp: No such file or directory"
# A frozen table is a valid state too; its own parameters apply (margin 200, 5 samples).
run 0 freeze --out "$dir/m2.pb" "$dir/m.pb"
expect_out_has "4 entries (1 decided) from 4 entries in 1 states"

finish

# Shared by the command-line tests (hakmem_cli_test.sh, telemetry_cli_test.sh): run the
# tool, check its exit status, stdout and stderr, count failures, and finish.
# The test sets $hakmem (the tool) and $dir (a scratch directory) before sourcing this.
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# run EXPECTED_STATUS ARGS...: runs hakmem, keeping stdout in $out and stderr in $err.
run() {
  local want="$1"
  shift
  "$hakmem" "$@" >"$dir/out" 2>"$dir/err"
  status=$?
  out=$(cat "$dir/out")
  err=$(cat "$dir/err")
  if [[ $status -ne $want ]]; then
    fail "hakmem $* exited $status, expected $want; stdout: $out; stderr: $err"
  fi
}

expect_out() { grep -Fxq -- "$1" <<<"$out" || fail "stdout of the last command lacks the line '$1': $out"; }
expect_out_has() { grep -Fq -- "$1" <<<"$out" || fail "stdout of the last command lacks '$1': $out"; }
expect_err() { grep -Fq -- "$1" <<<"$err" || fail "stderr of the last command lacks '$1': $err"; }
expect_one_err_line() {
  [[ $(printf '%s\n' "$err" | wc -l) -eq 1 && -n "$err" ]] || fail "stderr is not one line: $err"
}

# The test's last line.
finish() {
  if [[ $failures -ne 0 ]]; then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "PASS"
}

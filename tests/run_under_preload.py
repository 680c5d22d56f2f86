#!/usr/bin/python3
"""Runs one command on glibc and again with an allocator LD_PRELOADed, and compares.

The test passes only if
  1. the baseline run (no LD_PRELOAD, no proof variable) exits 0 and its stderr does NOT
     match the proof regex (else the regex would prove nothing);
  2. the preloaded run exits with the same status;
  3. both stdouts are byte-identical (workloads print only deterministic facts, so the
     expected output is whatever glibc produced, never a hard-coded copy);
  4. the preloaded run's stderr carries the allocator's proof line: a process that silently
     fell back to glibc, or a library that failed to load, prints none. When the regex has
     a named group `pid`, the command's own pid must be among the reported pids, no pid
     may report twice (e.g. a pid cached before fork), and at least --min-processes
     distinct pids must report (e.g. 2 for a program that forks a child);
  5. the preloaded stderr has no other line of the allocator's own (--own-prefix, e.g. a
     warning about a bad free or a file it could not write) than the proof lines and
     those --allow-line names;
  6. every --expect holds over the counters of the command's own exit line (e.g.
     `mmap_blocks == 0` with the BigCache strategy forced). Not over forked children's:
     a child forked while another thread was between two counter updates inherits
     counters one step apart.
On failure it prints one line starting with "FAIL:" that names what differed, followed by
the tail of the preloaded stderr for context, and exits 1.

Usage: run_under_preload.py --lib=PATH [options] -- COMMAND [ARGS...]
Paths relative to the working directory (Bazel's runfiles root under `bazel test`) are
made absolute so that a workload that changes directory still finds them.
"""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hakmem_run import describe_status, first_difference  # noqa: E402
import hakmem_run as hr  # noqa: E402

# The hakmem proof contract: one line per process at exit, with the pid and a non-zero
# count of bytes taken from the OS.
HAKMEM_PROOF_REGEX = r"^hakmem: exit pid=(?P<pid>[0-9]+) .*bytes_from_os=[1-9]"
# hakmem's expected lines under HAKMEM_VERBOSE=1: the start line and the exit line.
HAKMEM_EXPECTED_LINES = [r"^hakmem: start pid=[0-9]+ ", r"^hakmem: exit pid=[0-9]+ "]


def counters(lines):
    """Sums of every `name=integer` field over the given lines (one line: its fields)."""
    total = {}
    for line in lines:
        for name, value in re.findall(r"\b([a-z_]+)=([0-9]+)\b", line):
            total[name] = total.get(name, 0) + int(value)
    return total


def check_expectation(expr, values):
    """Evaluates `expr` (arithmetic and comparisons over counter names) against the
    counters; (holds, why)."""
    names = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", expr))
    missing = sorted(names - set(values))
    if missing:
        return False, "no counter %s in the exit lines" % ", ".join(missing)
    if not re.fullmatch(r"[A-Za-z_0-9+\-*/<>=!() ]+", expr):
        return False, "not an expression over counters"
    shown = ", ".join("%s=%d" % (n, values[n]) for n in sorted(names))
    return bool(eval(expr, {"__builtins__": {}}, dict(values))), shown


def fail(reason, stderr_text=""):
    print("FAIL: " + reason, flush=True)
    tail = stderr_text.splitlines()[-15:]
    if tail:
        print("--- last lines of the preloaded run's stderr ---")
        print("\n".join(tail))
    sys.exit(1)


def abspath_if_exists(path):
    return os.path.abspath(path) if os.sep in path and os.path.exists(path) else path


def run(label, cmd, env, stdin_path, timeout):
    try:
        return hr.run(cmd, env, timeout, stdin=stdin_path, context=label + " run")
    except hr.RunError as e:  # the timeout: its message carries the stderr's tail
        fail(str(e).split("\n", 1)[0], str(e).split("\n", 1)[-1])


def short(line, limit=120):
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    return repr(text if len(text) <= limit else text[:limit] + "...")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lib", required=True, help="shared object to LD_PRELOAD")
    parser.add_argument("--proof-regex", default=HAKMEM_PROOF_REGEX,
                        help="regex (re.MULTILINE) that the preloaded stderr must match")
    parser.add_argument("--proof-env", action="append", default=None, metavar="VAR=VALUE",
                        help="set only in the preloaded run, to make the allocator print "
                             "its proof (default HAKMEM_VERBOSE=1)")
    parser.add_argument("--env", action="append", default=[], metavar="VAR=VALUE",
                        help="set in both runs")
    parser.add_argument("--min-processes", type=int, default=1,
                        help="distinct pids (or matching lines, without a pid group) "
                             "that must report")
    parser.add_argument("--own-prefix", default="hakmem:",
                        help="lines starting with this are the allocator's own; any of "
                             "them but the proof lines and --allow-line fails the test "
                             "('' to disable)")
    parser.add_argument("--allow-line", action="append", default=[], metavar="REGEX",
                        help="an own line this test expects (in addition to hakmem's "
                             "start and exit lines)")
    parser.add_argument("--expect", action="append", default=[], metavar="EXPR",
                        help="a condition over the counters of the command's own exit "
                             "line, e.g. 'mmap_blocks == 0'")
    parser.add_argument("--stdin", help="file to feed on stdin (else /dev/null)")
    parser.add_argument("--timeout", type=int, default=50, help="seconds per run")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("no command given after --")
    cmd = [abspath_if_exists(c) for c in cmd]
    lib = os.path.abspath(args.lib)
    if not os.path.isfile(lib):
        fail("preload library %s does not exist" % lib)
    stdin_path = os.path.abspath(args.stdin) if args.stdin else None
    proof = re.compile(args.proof_regex, re.MULTILINE)
    proof_env = dict(kv.split("=", 1) for kv in (args.proof_env or ["HAKMEM_VERBOSE=1"]))
    name = os.path.basename(cmd[0]) + (" " + os.path.basename(cmd[1]) if len(cmd) > 1 else "")

    base_env = dict(os.environ)
    base_env.update(kv.split("=", 1) for kv in args.env)
    base_env.pop("LD_PRELOAD", None)
    for var in proof_env:
        base_env.pop(var, None)
    pre_env = dict(base_env, LD_PRELOAD=lib, **proof_env)

    _, base_rc, base_out, base_err = run("baseline", cmd, base_env, stdin_path, args.timeout)
    if base_rc != 0:
        fail("%s: baseline run without preload failed (%s): the workload itself is broken"
             % (name, describe_status(base_rc)), base_err)
    if proof.search(base_err):
        fail("%s: proof regex %r already matches without the preload: it proves nothing"
             % (name, args.proof_regex), base_err)

    pid, rc, out, err = run("preloaded", cmd, pre_env, stdin_path, args.timeout)
    if "cannot be preloaded" in err:  # ld.so's message; the run would silently use glibc
        fail("%s: ld.so could not preload %s" % (name, lib), err)
    if rc != base_rc:
        last = [l for l in err.splitlines() if l.strip()][-1:] or ["<empty>"]
        fail("%s: exit status differs: baseline %s, preloaded %s; last stderr line: %s"
             % (name, describe_status(base_rc), describe_status(rc), short(last[0])), err)
    if out != base_out:
        line, want, got = first_difference(base_out, out)
        fail("%s: stdout differs at line %d: baseline %s, preloaded %s"
             % (name, line, short(want), short(got)), err)

    matches = list(proof.finditer(err))
    if not matches:
        fail("%s: no proof line matching %r in the preloaded stderr (did the allocator load, "
             "or did it fall back to glibc?)" % (name, args.proof_regex), err)
    if "pid" in proof.groupindex:
        pids = [int(m.group("pid")) for m in matches]
        repeated = sorted({p for p in pids if pids.count(p) > 1})
        if repeated:
            fail("%s: pid(s) %s reported more than one proof line (one per process expected; "
                 "a pid cached across fork?)" % (name, repeated), err)
        if pid not in pids:
            fail("%s: the command's own pid %d printed no proof line (pids seen: %s)"
                 % (name, pid, pids), err)
        seen = len(pids)
    else:
        seen = len(matches)
    if seen < args.min_processes:
        fail("%s: %d process(es) printed a proof line, expected at least %d"
             % (name, seen, args.min_processes), err)

    if args.own_prefix:
        allowed = [re.compile(r) for r in HAKMEM_EXPECTED_LINES + args.allow_line]
        for line in err.splitlines():
            if line.startswith(args.own_prefix) and not any(a.search(line) for a in allowed):
                fail("%s: the allocator printed an unexpected line: %s" % (name, short(line)), err)

    own = [m for m in matches if "pid" not in proof.groupindex or int(m.group("pid")) == pid]
    values = counters([err[m.start():].split("\n", 1)[0] for m in own[:1]])
    for expr in args.expect:
        holds, why = check_expectation(expr, values)
        if not holds:
            fail("%s: expected %s over the exit lines, but %s" % (name, expr, why), err)

    print("PASS: %s: stdout identical (%d lines, %d bytes), %s, %d %s%s:"
          % (name, base_out.count(b"\n"), len(base_out), describe_status(rc), seen,
             "process(es) proved" if "pid" in proof.groupindex else "proof line(s)",
             "".join("; %s holds" % e for e in args.expect)))
    for m in matches[:5]:
        print("  " + err[m.start():].split("\n", 1)[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/python3
"""Run every hakmem benchmark under hakmem, glibc, mimalloc, jemalloc, tcmalloc.

Usage (from anywhere; stdlib only, run with Debian's /usr/bin/python3):
  bazel build -c opt //core:libhakmem.so //experiments/...
  /usr/bin/python3 experiments/compare.py [--reps 5] [--only random_mixed,redis]
      [--allocators glibc,mimalloc] [--quick] [--hakmem PATH] [--bench-dir DIR]

Prints a markdown table (median per allocator, ratio to mimalloc, median peak
RSS, whether every run proved it used the intended allocator) and writes the
same data, plus every raw run, to experiments/results/latest.json.

Design notes (the why):
  * Runs alternate allocators (rep -> benchmark -> allocator, with the allocator
    order rotated each rep) so slow drift on a shared 2-core box (thermal, other
    jobs, page cache) spreads over all allocators instead of biasing one.
  * Every run must carry proof of which allocator served it, because a wrong
    LD_PRELOAD path only produces a warning and a silent glibc fallback. Bench
    binaries print an "allocator:" line; real programs get the which_malloc probe
    preloaded after the allocator. hakmem runs additionally need hakmem's own
    HAKMEM_VERBOSE exit line. Runs without valid proof are reported INVALID and
    excluded from medians.
"""
import argparse
import csv
import datetime
import hashlib
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PEERS = {
    "mimalloc": LIBDIR + "/libmimalloc.so.2",
    "jemalloc": LIBDIR + "/libjemalloc.so.2",
    "tcmalloc": LIBDIR + "/libtcmalloc_minimal.so.4",
}
# hakmem-noprof: the same library with call-site profiling off, so that what profiling
# costs is measured side by side with it in every run.
# hakmem-mmap: every request of 64 KiB and up mapped and unmapped directly, to show what
# reuse (BigCache, the pool) saves. hakmem-baseline: another build (--hakmem-baseline),
# for A/B comparisons of two versions in one run.
# hakmem-learn / hakmem-frozen (only when asked for with --allocators): the learner in
# learn mode, and frozen mode with --frozen-table (or, without it, a table learned by a
# learn-mode run of bench_random_mixed made before the measurements).
ALLOCATOR_ORDER = ["hakmem", "hakmem-noprof", "hakmem-mmap", "hakmem-learn", "hakmem-frozen",
                   "hakmem-baseline", "glibc", "mimalloc", "jemalloc", "tcmalloc"]
DEFAULT_ALLOCATORS = [n for n in ALLOCATOR_ORDER if n not in ("hakmem-learn", "hakmem-frozen")]
HAKMEM_VARIANTS = {"hakmem": {}, "hakmem-noprof": {"HAKMEM_PROFILE_SITES": "0"},
                   "hakmem-mmap": {"HAKMEM_STRATEGY": "mmap"},
                   "hakmem-learn": {"HAKMEM_MODE": "learn"},
                   "hakmem-frozen": {"HAKMEM_MODE": "frozen"}, "hakmem-baseline": {}}
BENCH_ORDER = ["random_mixed", "large", "larson", "sqlite", "python", "redis"]
HAKMEM_EXIT_RE = re.compile(r"^hakmem: exit pid=[0-9]+ .*bytes_from_os=[1-9]", re.M)
GLIBC_NAME_RE = re.compile(r"^libc(\.so\.6|-[0-9.]+\.so)$")
RUN_TIMEOUT_S = 300
REDIS_TESTS = "set,get,lpush,lpop"


# Named after the script that runs: thread_scaling.py reports through these too.
PROG = os.path.basename(sys.argv[0]) or "compare.py"


def die(msg):
    print(PROG + ": error: " + msg, file=sys.stderr)
    sys.exit(2)


def warn(msg):
    print(PROG + ": warning: " + msg, file=sys.stderr)


def find_glibc():
    for cand in ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"):
        if os.path.exists(cand):
            return cand
    die("cannot find libc.so.6 (needed to force glibc for redis-server)")


# ---------------------------------------------------------------- allocators

class Allocator:
    def __init__(self, name, path, extra_env=None):
        self.name = name
        self.path = path  # None for glibc: it is the default, no preload
        self.extra_env = extra_env or {}
        self.is_hakmem = name in HAKMEM_VARIANTS

    def preload(self, probe=None, force_glibc=False):
        libs = []
        if self.path:
            libs.append(self.path)
        elif force_glibc:
            # redis-server is linked against libjemalloc, so "no preload" would
            # measure jemalloc; preloading libc itself puts glibc's malloc first.
            libs.append(find_glibc())
        if probe:
            libs.append(probe)  # after the allocator so it never wins "malloc"
        return " ".join(libs)

    def env(self, probe=None, force_glibc=False, extra=None):
        env = dict(os.environ)
        for k in ("LD_PRELOAD", "PYTHONMALLOC", "WHICH_MALLOC_OUT", "HAKMEM_VERBOSE"):
            env.pop(k, None)
        pre = self.preload(probe, force_glibc)
        if pre:
            env["LD_PRELOAD"] = pre
        if self.is_hakmem:
            env["HAKMEM_VERBOSE"] = "1"
            env.update(self.extra_env)
        if extra:
            env.update(extra)
        return env

    def matches(self, reported):
        """True if the object that provided malloc is the intended allocator."""
        if not reported or reported == "unknown":
            return False
        if self.path is None:
            return bool(GLIBC_NAME_RE.match(os.path.basename(os.path.realpath(reported))))
        # realpath: /lib vs /usr/lib (usrmerge) and soname symlinks are the same file.
        return os.path.realpath(reported) == os.path.realpath(self.path)


def check_hakmem_exit(alloc, stderr_text):
    """hakmem must also say, itself, that it ran and took memory from the OS."""
    if not alloc.is_hakmem:
        return None
    if HAKMEM_EXIT_RE.search(stderr_text or ""):
        return None
    return "no 'hakmem: exit pid=... bytes_from_os=N>0' line on stderr"


def hakmem_version(path):
    # In a child process: loading hakmem into this driver could change its heap. Preloaded,
    # not dlopen()ed: its thread cache is initial-exec TLS, which a library loaded after
    # start-up cannot get ("cannot allocate memory in static TLS block").
    code = ("import ctypes; f=ctypes.CDLL(None).hak_version; "
            "f.restype=ctypes.c_char_p; print(f().decode())")
    try:
        out = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True,
                             text=True, timeout=30,
                             env={"PATH": "/usr/bin:/bin", "LD_PRELOAD": os.path.abspath(path)})
        if out.returncode == 0:
            return out.stdout.strip()
        warn("could not call hak_version() in %s: %s" % (path, out.stderr.strip()[-200:]))
    except (OSError, subprocess.SubprocessError) as e:
        warn("could not call hak_version() in %s: %s" % (path, e))
    return None


# ---------------------------------------------------------------- process runner

RSS_EXEC = None  # path of the rss_exec launcher, set in main()


def run_child(argv, env, stdin_path=None, timeout=RUN_TIMEOUT_S):
    """Run to completion; returns (rc, stdout, stderr, wall_s, maxrss_kib).

    Peak RSS is ru_maxrss from wait4. That is taken in the rss_exec launcher, not
    by os.wait4 here: Linux keeps the pre-exec address space's peak in ru_maxrss
    across execve, so a direct child of this ~20 MiB driver would never report
    less than the driver's size (see rss_exec.c). The launcher also keeps
    LD_PRELOAD off itself and applies it to the program only.
    """
    rss_file = None
    if RSS_EXEC:
        env = dict(env if env is not None else os.environ)
        env["RSS_EXEC_LD_PRELOAD"] = env.pop("LD_PRELOAD", "")
        fd, rss_file = tempfile.mkstemp(prefix="rss-")
        os.close(fd)
        argv = [RSS_EXEC, rss_file] + list(argv)
    try:
        return _run_child(argv, env, stdin_path, timeout, rss_file)
    finally:
        if rss_file:
            os.unlink(rss_file)


def _run_child(argv, env, stdin_path, timeout, rss_file):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            t0 = time.perf_counter()
            try:
                # Own session, so a timeout can kill the launcher and the program.
                p = subprocess.Popen(argv, env=env, stdin=stdin, stdout=out, stderr=err,
                                     start_new_session=True)
            except OSError as e:
                return "not started", "", str(e), 0.0, 0
            # Blocking wait4 (not polling) keeps the wall-clock figure exact; a
            # timer kills runaways.
            timed_out = []
            timer = threading.Timer(timeout, lambda: (timed_out.append(1),
                                                      os.killpg(p.pid, signal.SIGKILL)))
            timer.start()
            try:
                _, status, ru = os.wait4(p.pid, 0)
            finally:
                timer.cancel()
            wall = time.perf_counter() - t0
            p.returncode = 0  # reaped by wait4; stop Popen from waiting again
        finally:
            if stdin_path:
                stdin.close()
        out.seek(0)
        err.seek(0)
        so = out.read().decode("utf-8", "replace")
        se = err.read().decode("utf-8", "replace")
    if timed_out:
        return "timeout after %ds" % timeout, so, se, wall, None
    rc = os.waitstatus_to_exitcode(status)
    if not rss_file:
        return rc, so, se, wall, ru.ru_maxrss
    if rc > 128:  # rss_exec's encoding of "killed by signal rc-128"
        rc = 128 - rc
    try:
        with open(rss_file) as f:
            maxrss = int(f.read().split("=", 1)[1])
    except (OSError, ValueError, IndexError):
        maxrss = None
    return rc, so, se, wall, maxrss


def read_probe(path):
    """Lines 'pid=N malloc=PATH' written by libwhich_malloc.so at exit."""
    try:
        with open(path) as f:
            return [ln.split("malloc=", 1)[1].strip() for ln in f if "malloc=" in ln]
    except OSError:
        return []


def probe_proof(alloc, probe_file, stderr_text):
    names = read_probe(probe_file)
    if not names:
        return None, "probe wrote nothing (libwhich_malloc.so not loaded or process killed)"
    bad = [n for n in names if not alloc.matches(n)]
    if bad:
        return names[0], "malloc came from %s, expected %s" % (bad[0], alloc.path or "glibc")
    return names[0], check_hakmem_exit(alloc, stderr_text)


# ---------------------------------------------------------------- benchmarks

class Run:
    def __init__(self, bench, alloc, rep):
        self.bench, self.alloc, self.rep = bench, alloc, rep
        self.values = {}        # metric name -> number
        self.rss_mib = None
        self.proof = None       # what the run says served malloc
        self.invalid = None     # reason, or None if the run is valid

    def as_dict(self):
        return {"benchmark": self.bench, "allocator": self.alloc, "rep": self.rep,
                "values": self.values, "peak_rss_mib": self.rss_mib,
                "proof": self.proof, "invalid": self.invalid}


class BinaryBench:
    """One of the cc_binary benches; parses 'allocator:' and 'result:' lines."""

    def __init__(self, name, binary, args, metric, unit):
        self.name, self.binary, self.args = name, binary, args
        self.metrics = [(name, metric, unit)]

    def extra_args(self, alloc):
        # With every 2 MiB block mapped, faulted in and unmapped afresh, a cycle costs ~0.5 ms
        # here: fewer cycles keep the run short (the figure is per cycle either way).
        if self.name == "large" and alloc.name == "hakmem-mmap" and "--cycles" not in self.args:
            return ["--cycles", "2000"]
        return []

    def run(self, ctx, alloc, rep):
        r = Run(self.name, alloc.name, rep)
        rc, so, se, _, maxrss = run_child([self.binary] + self.args + self.extra_args(alloc),
                                          alloc.env())
        r.rss_mib = maxrss / 1024.0 if maxrss else None
        if rc != 0:
            r.invalid = "%s: %s" % (describe_exit(rc), last_line(se))
            return [r]
        m = re.search(r"^allocator: (.*)$", so, re.M)
        r.proof = m.group(1).strip() if m else None
        if not m:
            r.invalid = "no 'allocator:' line in output"
        elif not alloc.matches(r.proof):
            r.invalid = "served by %s, expected %s" % (r.proof, alloc.path or "glibc")
        else:
            r.invalid = check_hakmem_exit(alloc, se)
        res = parse_result(so)
        metric = self.metrics[0][1]
        if metric not in res:
            r.invalid = r.invalid or "no result: line with %s=" % metric
        else:
            r.values[self.name] = float(res[metric])
        return [r]


class ProgramBench:
    """A real program timed by wall clock, with the probe preloaded."""

    def __init__(self, name, argv, stdin_path=None, extra_env=None):
        self.name, self.argv, self.stdin_path = name, argv, stdin_path
        self.extra_env = extra_env or {}
        self.metrics = [(name, "seconds", "s (lower=better)")]

    def run(self, ctx, alloc, rep):
        r = Run(self.name, alloc.name, rep)
        probe_file = ctx.tmpfile("probe")
        env = alloc.env(ctx.probe, extra=dict(self.extra_env, WHICH_MALLOC_OUT=probe_file))
        rc, so, se, wall, maxrss = run_child(self.argv, env, self.stdin_path)
        r.rss_mib = maxrss / 1024.0 if maxrss else None
        r.proof, r.invalid = probe_proof(alloc, probe_file, se)
        if rc != 0:
            r.invalid = "%s: %s" % (describe_exit(rc), last_line(se))
        else:
            r.values[self.name] = wall
        return [r]


class RedisBench:
    """redis-server under the allocator; redis-benchmark (glibc) drives it."""

    def __init__(self, requests):
        self.name = "redis"
        self.requests = requests
        self.tests = REDIS_TESTS.split(",")
        self.metrics = [("redis_" + t, "rps", "req/s (higher=better)") for t in self.tests]

    def run(self, ctx, alloc, rep):
        runs = {t: Run("redis_" + t, alloc.name, rep) for t in self.tests}
        port = free_port()
        probe_file = ctx.tmpfile("probe")
        err_path = ctx.tmpfile("redis-stderr")
        env = alloc.env(ctx.probe, force_glibc=True, extra={"WHICH_MALLOC_OUT": probe_file})
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                "--protected-mode", "yes", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--logfile", ""]  # log to stdout, discarded
        try:
            with open(err_path, "wb") as err:
                srv = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=err)
        except OSError as e:
            for r in runs.values():
                r.invalid = "redis-server not started: %s" % e
            return list(runs.values())
        invalid, rss, rows = None, None, {}
        try:
            if not wait_for_port(port, srv, 10.0):
                invalid = "redis-server did not start listening on port %d (%s)" % (
                    port, "still running" if srv.poll() is None else
                    describe_exit(srv.returncode))
            else:
                try:
                    bench = subprocess.run(
                        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-q",
                         "-n", str(self.requests), "-t", REDIS_TESTS, "-d", "256", "--csv"],
                        capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                        env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
                    if bench.returncode != 0:
                        invalid = "redis-benchmark exit %d: %s" % (bench.returncode,
                                                                   last_line(bench.stderr))
                    rows = parse_redis_csv(bench.stdout)
                except subprocess.TimeoutExpired:
                    invalid = "redis-benchmark timed out"
                rss = read_vmhwm(srv.pid)  # must precede shutdown: /proc entry goes away
        finally:
            # SIGTERM = redis' clean shutdown, so exit() runs the probe's destructor
            # and hakmem's exit report.
            if srv.poll() is None:
                srv.send_signal(signal.SIGTERM)
                try:
                    srv.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    srv.kill()
                    srv.wait()
                    invalid = invalid or "redis-server ignored SIGTERM, killed"
        with open(err_path, errors="replace") as f:
            se = f.read()
        if invalid and invalid.startswith("redis-server did not start"):
            invalid += ": " + last_line(se)
        proof, proof_bad = probe_proof(alloc, probe_file, se)
        if srv.returncode not in (0, None):
            invalid = invalid or "redis-server %s: %s" % (describe_exit(srv.returncode),
                                                          last_line(se))
        invalid = invalid or proof_bad
        for t, r in runs.items():
            r.proof, r.invalid, r.rss_mib = proof, invalid, rss
            if t.upper() in rows:
                r.values[r.bench] = rows[t.upper()]
            elif not r.invalid:
                r.invalid = "no %s row in redis-benchmark output" % t.upper()
        return list(runs.values())


def parse_result(stdout):
    lines = [ln for ln in stdout.splitlines() if ln.startswith("result:")]
    if not lines:
        return {}
    return dict(kv.split("=", 1) for kv in lines[-1][len("result:"):].split() if "=" in kv)


def parse_redis_csv(text):
    rows = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 2 and row[0] != "test":
            try:
                rows[row[0].split()[0].upper()] = float(row[1])
            except ValueError:
                pass
    return rows


def read_vmhwm(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmHWM:"):
                    return int(ln.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def free_port():
    # Let the kernel pick an unused loopback port; the tiny reuse race is acceptable.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def describe_exit(rc):
    if isinstance(rc, str):
        return rc
    if rc is not None and rc < 0:
        try:
            return "killed by " + signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit %s" % rc


def last_line(text):
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "(no stderr)"


# ---------------------------------------------------------------- driver

class Ctx:
    def __init__(self, probe, tmpdir):
        self.probe, self.tmpdir, self.n = probe, tmpdir, 0

    def tmpfile(self, tag):
        self.n += 1
        path = os.path.join(self.tmpdir, "%s-%d" % (tag, self.n))
        if os.path.exists(path):
            os.unlink(path)
        return path


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hakmem", default=None,
                    help="hakmem LD_PRELOAD library (default: bazel-bin/core/libhakmem.so)")
    ap.add_argument("--bench-dir", default=None,
                    help="directory with the bench binaries and libwhich_malloc.so "
                         "(default: bazel-bin/experiments)")
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions per benchmark and allocator (default 5, --quick 1)")
    ap.add_argument("--only", default=None,
                    help="comma-separated subset of: " + ",".join(BENCH_ORDER))
    ap.add_argument("--allocators", default=None,
                    help="comma-separated subset of: " + ",".join(ALLOCATOR_ORDER))
    ap.add_argument("--quick", action="store_true",
                    help="smaller workloads and 1 rep (CI smoke test, not for numbers)")
    ap.add_argument("--frozen-table", default=None,
                    help="the table hakmem-frozen loads (default: learn one first)")
    ap.add_argument("--hakmem-baseline", default=None,
                    help="another hakmem build to run side by side as 'hakmem-baseline'")
    ap.add_argument("--json", default=os.path.join(HERE, "results/latest.json"),
                    help="where to write the JSON results (default: %(default)s)")
    a = ap.parse_args()
    # bazel-bin follows whatever configuration was built last, and other people
    # build in this workspace; fall back to the -c opt tree if bazel-bin lacks it.
    if a.hakmem is None:
        a.hakmem = default_path("core/libhakmem.so")
    if a.bench_dir is None:
        a.bench_dir = os.path.dirname(default_path("experiments/bench_random_mixed"))
    if "fastbuild" in os.path.realpath(a.bench_dir) or "fastbuild" in os.path.realpath(a.hakmem):
        warn("using a fastbuild (unoptimised) output tree; numbers are not meaningful "
             "(build with -c opt)")
    if a.reps is None:
        a.reps = 1 if a.quick else 5
    if a.reps < 1:
        die("--reps must be >= 1, got %d" % a.reps)
    a.only = split_list(a.only, BENCH_ORDER, "--only")
    if a.allocators is None:
        a.allocators = list(DEFAULT_ALLOCATORS)
    else:
        a.allocators = split_list(a.allocators, ALLOCATOR_ORDER, "--allocators")
    if a.frozen_table is not None and not os.path.isfile(a.frozen_table):
        die("--frozen-table %s does not exist" % a.frozen_table)
    return a


def default_path(rel):
    # The optimized build, always: bazel-bin follows whichever configuration ran last,
    # and after a `bazel test` (fastbuild) it would silently measure unoptimized code.
    opt = os.path.join(REPO, "bazel-out/k8-opt/bin", rel)
    if os.path.exists(opt):
        return opt
    other = os.path.join(REPO, "bazel-bin", rel)
    if os.path.exists(other):
        warn("%s has no optimized build (run bazel build -c opt //...); using %s, which "
             "may be unoptimized" % (rel, os.path.relpath(other)))
        return other
    return opt


def snapshot(path, tmpdir):
    """Private copy of a binary, so a concurrent bazel build cannot swap or delete
    it halfway through the comparison (and every rep measures the same build)."""
    dst_dir = os.path.join(tmpdir, "bin")
    os.makedirs(dst_dir, exist_ok=True)
    dst = os.path.join(dst_dir, os.path.basename(path))
    shutil.copy2(path, dst)
    return dst


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def split_list(value, allowed, flag):
    if value is None:
        return list(allowed)
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        die("%s: unknown name(s) %s; choose from %s" % (flag, ",".join(bad) or "''",
                                                          ",".join(allowed)))
    return [v for v in allowed if v in items]


def learn_table(a):
    """A frozen table from a learn-mode run of bench_random_mixed, for hakmem-frozen."""
    out = os.path.join(tempfile.mkdtemp(prefix="hakmem-frozen-"), "random_mixed.pb")
    bench = os.path.join(a.bench_dir, "bench_random_mixed")
    env = dict(os.environ, LD_PRELOAD=os.path.abspath(a.hakmem), HAKMEM_MODE="learn",
               HAKMEM_FREEZE_TO=out)
    r = subprocess.run([bench, "--steps", "2000000"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0 or not os.path.isfile(out):
        die("could not learn a table for hakmem-frozen (%s): %s"
            % (bench, r.stderr.strip().splitlines()[-1:] or "no table written"))
    return out


def build_allocators(a):
    allocs = []
    for name in a.allocators:
        if name == "hakmem-baseline":
            if a.hakmem_baseline is None:
                continue  # only with --hakmem-baseline
            if not os.path.isfile(a.hakmem_baseline):
                die("--hakmem-baseline %s does not exist" % a.hakmem_baseline)
            allocs.append(Allocator(name, os.path.abspath(a.hakmem_baseline)))
            allocs[-1].is_hakmem = True
            continue
        if name in HAKMEM_VARIANTS:
            if not os.path.isfile(a.hakmem):
                warn("hakmem library %s not found; skipping %s "
                     "(build it: bazel build -c opt //core:libhakmem.so)" % (a.hakmem, name))
                continue
            extra = dict(HAKMEM_VARIANTS[name])
            if name == "hakmem-frozen":
                extra["HAKMEM_FROZEN_TABLE"] = os.path.abspath(a.frozen_table or learn_table(a))
            allocs.append(Allocator(name, os.path.abspath(a.hakmem), extra))
        elif name == "glibc":
            allocs.append(Allocator("glibc", None))
        else:
            if not os.path.isfile(PEERS[name]):
                warn("%s not found at %s; skipping it" % (name, PEERS[name]))
                continue
            allocs.append(Allocator(name, PEERS[name]))
    if not allocs:
        die("no allocator left to run")
    return allocs


def build_benches(a):
    q = a.quick
    bd = os.path.abspath(a.bench_dir)
    wl = os.path.join(HERE, "workloads")
    benches = []
    for name in a.only:
        if name == "random_mixed":
            # Both working sets the earlier allocator was measured at: 256 slots fits in
            # L1/L2, 8192 slots (~2 MiB live) is where its slab backend fell over.
            for slots in (256, 8192):
                args = ["--slots", str(slots)] + (["--steps", "2000000"] if q else [])
                benches.append(BinaryBench("random_mixed_w%d" % slots,
                                           os.path.join(bd, "bench_random_mixed"), args,
                                           "mops", "Mops/s (higher=better)"))
        elif name == "large":
            args = ["--cycles", "5000"] if q else []
            benches.append(BinaryBench(name, os.path.join(bd, "bench_large"), args,
                                       "ns_per_cycle", "ns/cycle (lower=better)"))
        elif name == "larson":
            args = ["--rounds", "20"] if q else []
            benches.append(BinaryBench(name, os.path.join(bd, "bench_larson"), args,
                                       "mops", "Mops/s (higher=better)"))
        elif name == "sqlite":
            benches.append(ProgramBench(name, ["sqlite3", ":memory:"],
                                        stdin_path=os.path.join(wl, "sqlite_workload.sql")))
        elif name == "python":
            # pymalloc would otherwise serve most objects and hide the allocator.
            benches.append(ProgramBench(
                name, ["/usr/bin/python3", os.path.join(wl, "py_alloc.py"), "5" if q else "40"],
                extra_env={"PYTHONMALLOC": "malloc"}))
        elif name == "redis":
            benches.append(RedisBench(10000 if q else 100000))
    needs_probe = any(not isinstance(b, BinaryBench) for b in benches)
    for b in benches:
        if isinstance(b, BinaryBench) and not os.access(b.binary, os.X_OK):
            die("bench binary %s not found; build with: bazel build -c opt //experiments/... "
                "or pass --bench-dir" % b.binary)
        if isinstance(b, ProgramBench) and not shutil_which(b.argv[0]):
            die("program %s not found on PATH" % b.argv[0])
    if any(isinstance(b, RedisBench) for b in benches):
        for prog in ("redis-server", "redis-benchmark"):
            if not shutil_which(prog):
                die("program %s not found on PATH" % prog)
    global RSS_EXEC
    RSS_EXEC = os.path.join(bd, "rss_exec")
    if not os.access(RSS_EXEC, os.X_OK):
        die("launcher %s not found; build with: bazel build -c opt //experiments/..." % RSS_EXEC)
    probe = os.path.join(bd, "libwhich_malloc.so")
    if needs_probe and not os.path.isfile(probe):
        die("probe %s not found; build with: bazel build -c opt //experiments:libwhich_malloc.so"
            % probe)
    return benches, probe


def shutil_which(prog):
    return shutil.which(prog)


def fmt(x, digits=2):
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return "%.0f" % x
    return ("%." + str(digits) + "f") % x


def summarize(benches, allocs, runs):
    rows = []
    for b in benches:
        for metric, _, unit in b.metrics:
            med = {}
            for al in allocs:
                rs = [r for r in runs if r.bench == metric and r.alloc == al.name]
                ok = [r for r in rs if not r.invalid and metric in r.values]
                rss = [r.rss_mib for r in ok if r.rss_mib is not None]
                med[al.name] = statistics.median([r.values[metric] for r in ok]) if ok else None
                rows.append({
                    "benchmark": metric, "allocator": al.name, "median": med[al.name],
                    "unit": unit, "runs": len(rs), "valid_runs": len(ok),
                    "peak_rss_mib": statistics.median(rss) if rss else None,
                    "proof_ok": bool(rs) and len(ok) == len(rs),
                })
            base = med.get("mimalloc")
            for row in rows:
                if row["benchmark"] == metric:
                    row["ratio_vs_mimalloc"] = (row["median"] / base
                                                if base and row["median"] is not None else None)
    return rows


def markdown(rows):
    out = ["| benchmark | allocator | median | unit | ratio vs mimalloc | peak RSS MiB | proof ok |",
           "|---|---|---:|---|---:|---:|---|"]
    for r in rows:
        proof = "yes" if r["proof_ok"] else "NO (%d/%d valid)" % (r["valid_runs"], r["runs"])
        ratio = "-" if r["ratio_vs_mimalloc"] is None else "%.2f" % r["ratio_vs_mimalloc"]
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["benchmark"], r["allocator"], fmt(r["median"]), r["unit"], ratio,
            fmt(r["peak_rss_mib"], 1), proof))
    return "\n".join(out)


def main():
    a = parse_args()
    allocs = build_allocators(a)
    benches, probe = build_benches(a)
    tmpobj = tempfile.TemporaryDirectory(prefix="hakmem-compare-")
    tmp = tmpobj.name
    global RSS_EXEC
    RSS_EXEC = snapshot(RSS_EXEC, tmp)
    for b in benches:
        if isinstance(b, BinaryBench):
            b.binary = snapshot(b.binary, tmp)
    if any(not isinstance(b, BinaryBench) for b in benches):
        probe = snapshot(probe, tmp)
    haks = [al for al in allocs if al.is_hakmem and al.name != "hakmem-baseline"]
    for al in allocs:
        if al.name == "hakmem-baseline":
            al.path = snapshot(al.path, os.path.join(tmp, "baseline"))
    hak_info = None
    if haks:
        hak_info = {"path": haks[0].path, "sha256": sha256(haks[0].path)}
        copy = snapshot(haks[0].path, tmp)  # every hakmem variant runs this same copy
        for al in haks:
            al.path = copy
        hak_info["version"] = hakmem_version(copy)
        print("hakmem: %s (hak_version: %s, sha256 %s)" % (
            hak_info["path"], hak_info["version"] or "unavailable", hak_info["sha256"][:12]))
    print("allocators: %s; benchmarks: %s; reps: %d%s" % (
        ",".join(al.name for al in allocs), ",".join(b.name for b in benches), a.reps,
        " (quick)" if a.quick else ""))

    runs = []
    started = datetime.datetime.now().isoformat(timespec="seconds")
    with tmpobj:
        ctx = Ctx(probe, tmp)
        for rep in range(a.reps):
            # Rotate who goes first each rep so no allocator always runs on a cold
            # (or warm) machine.
            order = allocs[rep % len(allocs):] + allocs[:rep % len(allocs)]
            for b in benches:
                for al in order:
                    for r in b.run(ctx, al, rep):
                        runs.append(r)
                        val = r.values.get(r.bench)
                        status = "INVALID: " + r.invalid if r.invalid else "ok"
                        print("  rep %d %-14s %-9s %12s  rss %7s MiB  %s" % (
                            rep + 1, r.bench, r.alloc, fmt(val), fmt(r.rss_mib, 1), status),
                            flush=True)

    rows = summarize(benches, allocs, runs)
    invalid = [r for r in runs if r.invalid]
    print()
    print(markdown(rows))
    if invalid:
        print("\n%d INVALID run(s) excluded from medians:" % len(invalid))
        for r in invalid:
            print("  %s/%s rep %d: %s" % (r.bench, r.alloc, r.rep + 1, r.invalid))

    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    doc = {
        "started": started, "host": platform.node(), "kernel": platform.release(),
        "cpus": os.cpu_count(), "reps": a.reps, "quick": a.quick,
        "allocators": {al.name: (hak_info["path"] if al.is_hakmem else
                                 al.path or "glibc (no preload)") for al in allocs},
        "hakmem": hak_info,
        "summary": rows, "runs": [r.as_dict() for r in runs],
    }
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=1)
    print("\nwrote %s" % os.path.relpath(a.json))
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())

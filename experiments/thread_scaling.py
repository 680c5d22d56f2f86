#!/usr/bin/python3
"""More threads than cores: the suite's N-thread workloads at several thread counts.

Usage (stdlib only, Debian's /usr/bin/python3):
  MIMALLOC_BENCH_GIT=... ../shared/peer/build.sh        # the suite's programs, in /tmp/peer/bin
  bazel build -c opt //core:libhakmem.so //experiments:libwhich_malloc.so //experiments:rss_exec
  /usr/bin/python3 experiments/thread_scaling.py [--threads 2,8,32] [--reps 3]
      [--only rptestN,xmalloc-testN] [--allocators hakmem,glibc,mimalloc,jemalloc,tcmalloc]
      [--hakmem PATH] [--suite-bin /tmp/peer/bin] [--bench-dir DIR] [--json PATH]

Each workload runs with every thread count under every allocator. For each (workload,
threads) it prints the median figure per allocator and each allocator's ratio to the best
peer (glibc, mimalloc, jemalloc, tcmalloc) of that row; then, per workload, how far hakmem
fell behind between the lowest thread count and each higher one (its ratio at N over its
ratio at the lowest). The question it answers: with more threads than cores, does hakmem
fall further behind the best peer than with as many threads as cores?

Why a separate driver: ../shared/peer/run.py fixes each program's thread count at 2 (these
machines have 2 cores); the thread count sits at a different place on each program's
command line, which the WORKLOADS table below spells out. The process runner, the proof of
which allocator served a run (the which_malloc probe, and hakmem's own exit line) and the
interleaving (rep -> workload -> threads -> allocator, allocator order rotated each rep)
are compare.py's.

Figures are "lower is better" throughout: seconds for programs timed by the wall clock,
and for the programs that score themselves, the inverse of their throughput (scaled to
read like seconds), as mimalloc-bench's bench.sh and run.py score them.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402  (the runner, the allocators and their proof)

PEER_NAMES = ["glibc", "mimalloc", "jemalloc", "tcmalloc"]
ALL_ALLOCATORS = ["hakmem"] + PEER_NAMES


def _search(pattern, scale):
    """A scorer: the first number `pattern` captures, as scale / number (or scale * number
    when scale is negative: the program reports a time)."""
    rx = re.compile(pattern, re.M)

    def score(out):
        m = rx.search(out)
        if not m:
            return None
        v = float(m.group(1))
        if scale < 0:
            return -scale * v
        return scale / v if v > 0 else None
    return score


# name -> (program, argv with {n} for the thread count, scorer or None for wall seconds).
# The arguments are the suite's (run.py) with the thread count made a parameter.
# Thread counts above a program's own limit (MAX_THREADS) are skipped and reported as such.
WORKLOADS = {
    "larsonN": ("larson", ["5", "8", "1000", "5000", "100", "4141", "{n}"],
                _search(r"relative time: ([0-9.]+)", -1)),
    "larsonN-sized": ("larson-sized", ["5", "8", "1000", "5000", "100", "4141", "{n}"],
                      _search(r"relative time: ([0-9.]+)", -1)),
    "mstressN": ("mstress", ["{n}", "50", "25"], None),
    "rptestN": ("rptest", ["{n}", "0", "1", "2", "500", "1000", "100", "8", "16000"],
                _search(r"\.?(\d+) memory ops", 2e6)),
    "alloc-testN": ("alloc-test", ["{n}"], None),
    "xmalloc-testN": ("xmalloc-test", ["-w", "{n}", "-t", "5", "-s", "64"],
                      _search(r"rtime: ([0-9.]+)", -1)),
    "cache-scratchN": ("cache-scratch", ["{n}", "1000", "1", "2000000", "{n}"], None),
    "cache-thrashN": ("cache-thrash", ["{n}", "1000", "1", "2000000", "{n}"], None),
    "glibc-thread": ("glibc-thread", ["{n}"], _search(r"^\s*([0-9.]+)", 1e9)),
}


# alloc-test keeps per-thread results in arrays of 32 indexed by the thread count, so 32
# threads write past them (it dies with SIGFPE).
MAX_THREADS = {"alloc-testN": 31}


die = compare.die


def parse_threads(value):
    try:
        counts = sorted({int(s) for s in value.split(",") if s.strip()})
    except ValueError:
        die("--threads: %r is not a comma-separated list of integers" % value)
    if not counts or counts[0] < 1 or counts[-1] > 1024:
        die("--threads: counts must be between 1 and 1024, got %r" % value)
    return counts


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="2,8,32", help="thread counts (default 2,8,32)")
    ap.add_argument("--reps", type=int, default=3, help="repeats, interleaved (default 3)")
    ap.add_argument("--only", default=None, help="subset of " + ",".join(WORKLOADS))
    ap.add_argument("--allocators", default=None,
                    help="subset of " + ",".join(ALL_ALLOCATORS))
    ap.add_argument("--hakmem", default=None,
                    help="the preload library (default bazel-bin/core/libhakmem.so)")
    ap.add_argument("--suite-bin", default="/tmp/peer/bin",
                    help="the suite's programs, as ../shared/peer/build.sh left them")
    ap.add_argument("--bench-dir", default=None,
                    help="where libwhich_malloc.so and rss_exec are (default bazel-bin/experiments)")
    ap.add_argument("--json", default=os.path.join(HERE, "results/thread_scaling.json"))
    a = ap.parse_args()
    if a.reps < 1:
        die("--reps must be at least 1, got %d" % a.reps)
    a.threads = parse_threads(a.threads)
    a.only = compare.split_list(a.only, list(WORKLOADS), "--only")
    a.allocators = compare.split_list(a.allocators, ALL_ALLOCATORS, "--allocators")
    if not os.path.isdir(a.suite_bin):
        die("--suite-bin %s: no such directory (build the suite with ../shared/peer/build.sh)"
            % a.suite_bin)
    for w in a.only:
        prog = os.path.join(a.suite_bin, WORKLOADS[w][0])
        if not os.access(prog, os.X_OK):
            die("%s: %s is missing or not executable" % (w, prog))
    a.bench_dir = a.bench_dir or compare.default_path("experiments")
    for f in ("libwhich_malloc.so", "rss_exec"):
        if not os.path.exists(os.path.join(a.bench_dir, f)):
            die("%s not found in %s (bazel build -c opt //experiments:all)" % (f, a.bench_dir))
    if "hakmem" in a.allocators:
        a.hakmem = a.hakmem or compare.default_path("core/libhakmem.so")
        if not os.path.exists(a.hakmem):
            die("--hakmem %s: no such file (bazel build -c opt //core:libhakmem.so)" % a.hakmem)
    return a


def make_allocators(a):
    out = []
    for name in a.allocators:
        if name == "hakmem":
            out.append(compare.Allocator("hakmem", os.path.abspath(a.hakmem)))
        elif name == "glibc":
            out.append(compare.Allocator("glibc", None))
        else:
            if not os.path.exists(compare.PEERS[name]):
                die("%s: %s is missing (tools/deps.sh bench installs it)"
                    % (name, compare.PEERS[name]))
            out.append(compare.Allocator(name, compare.PEERS[name]))
    return out


def run_one(a, probe, workload, n, alloc, tmp):
    prog, args, scorer = WORKLOADS[workload]
    argv = [os.path.join(a.suite_bin, prog)] + [s.format(n=n) for s in args]
    probe_file = os.path.join(tmp, "probe")
    if os.path.exists(probe_file):
        os.unlink(probe_file)
    env = alloc.env(probe, extra={"WHICH_MALLOC_OUT": probe_file})
    rc, so, se, wall, maxrss = compare.run_child(argv, env, timeout=900)
    rec = {"workload": workload, "threads": n, "allocator": alloc.name, "wall_s": wall,
           "peak_rss_mib": maxrss / 1024.0 if maxrss else None, "value": None}
    rec["proof"], rec["invalid"] = compare.probe_proof(alloc, probe_file, se)
    if rc != 0:
        rec["invalid"] = "%s: %s" % (compare.describe_exit(rc), compare.last_line(se))
    elif rec["invalid"] is None:
        rec["value"] = wall if scorer is None else scorer(so)
        if rec["value"] is None:
            rec["invalid"] = "no score in the program's output"
    return rec


def summarize(records, allocators, threads, workloads):
    med = {}
    for w in workloads:
        for n in threads:
            for al in allocators:
                vals = [r["value"] for r in records if r["workload"] == w and r["threads"] == n
                        and r["allocator"] == al and r["invalid"] is None]
                med[(w, n, al)] = statistics.median(vals) if vals else None
    ratio = {}
    for w in workloads:
        for n in threads:
            peers = [med[(w, n, p)] for p in PEER_NAMES if p in allocators and med[(w, n, p)]]
            best = min(peers) if peers else None
            for al in allocators:
                v = med[(w, n, al)]
                ratio[(w, n, al)] = v / best if v is not None and best else None
    return med, ratio


def fmt(x, spec="%.3f"):
    return "-" if x is None else spec % x


def report(records, allocators, threads, workloads):
    med, ratio = summarize(records, allocators, threads, workloads)
    lines = ["| workload | threads | " + " | ".join(allocators) + " |",
             "|---|---:|" + "---:|" * len(allocators)]
    for w in workloads:
        for n in threads:
            cells = ["%s (%s)" % (fmt(med[(w, n, al)], "%.4g"), fmt(ratio[(w, n, al)], "%.2fx"))
                     for al in allocators]
            lines.append("| %s | %d | %s |" % (w, n, " | ".join(cells)))
    lines.append("")
    lines.append("Cells: median figure (lower is better) and, in brackets, the ratio to the "
                 "best peer of that row.")
    if "hakmem" in allocators and len(threads) > 1:
        lo = threads[0]
        lines += ["", "hakmem's ratio to the best peer at N threads over its ratio at %d "
                  "(above 1: it fell further behind with more threads):" % lo, "",
                  "| workload | " + " | ".join("%d" % n for n in threads[1:]) + " |",
                  "|---|" + "---:|" * (len(threads) - 1)]
        for w in workloads:
            base = ratio[(w, lo, "hakmem")]
            cells = [fmt(ratio[(w, n, "hakmem")] / base if base and ratio[(w, n, "hakmem")]
                         else None, "%.2f") for n in threads[1:]]
            lines.append("| %s | %s |" % (w, " | ".join(cells)))
    bad = [r for r in records if r["invalid"]]
    if bad:
        lines += ["", "INVALID runs (left out of the medians):"]
        lines += ["- %s %d threads %s: %s" % (r["workload"], r["threads"], r["allocator"],
                                              r["invalid"]) for r in bad]
    return "\n".join(lines), med, ratio


def run_all(a, allocs, probe, tmp):
    records = []
    cells = [(w, n) for w in a.only for n in a.threads if n <= MAX_THREADS.get(w, n)]
    skipped = ["%s at %d threads (it supports at most %d)" % (w, n, MAX_THREADS[w])
               for w in a.only for n in a.threads if (w, n) not in cells]
    if skipped:
        print("skipped: " + "; ".join(skipped), flush=True)
    total = a.reps * len(allocs) * len(cells)
    for rep in range(a.reps):
        order = allocs[rep % len(allocs):] + allocs[:rep % len(allocs)]
        for w, n in cells:
            for alloc in order:
                r = run_one(a, probe, w, n, alloc, tmp)
                r["rep"] = rep
                records.append(r)
                print("[%d/%d] rep %d %-15s %3d threads %-9s %s" % (
                    len(records), total, rep, w, n, alloc.name,
                    fmt(r["value"], "%.4g") if not r["invalid"] else "INVALID: " +
                    r["invalid"]), flush=True)
    return records


def main():
    a = parse_args()
    allocs = make_allocators(a)
    a.bench_dir = os.path.abspath(a.bench_dir)
    compare.RSS_EXEC = os.path.join(a.bench_dir, "rss_exec")
    probe = os.path.abspath(os.path.join(a.bench_dir, "libwhich_malloc.so"))
    a.suite_bin, a.json = os.path.abspath(a.suite_bin), os.path.abspath(a.json)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="thread_scaling.") as tmp:
        os.chdir(tmp)  # rptest writes a file of its results into its working directory
        try:
            records = run_all(a, allocs, probe, tmp)
        finally:
            os.chdir(cwd)
    names = [al.name for al in allocs]
    text, med, ratio = report(records, names, a.threads, a.only)
    print()
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({"date": datetime.datetime.now().isoformat(timespec="seconds"),
                   "host": platform.node(), "cpus": os.cpu_count(), "argv": sys.argv,
                   "hakmem": a.hakmem, "threads": a.threads, "reps": a.reps,
                   "medians": [{"workload": w, "threads": n, "allocator": al, "median": m,
                                "ratio_to_best_peer": ratio[(w, n, al)]}
                               for (w, n, al), m in med.items()],
                   "runs": records}, f, indent=1)
    print("\nwrote " + a.json)
    return 1 if any(r["invalid"] for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""What telemetry costs a learning process: learn mode without telemetry, with
HAKMEM_TELEMETRY (written at exit), and with HAKMEM_TELEMETRY_INTERVAL_MS=100 as well
(a background thread sampling and rewriting the file), on the multi-site workload and on
random mixed, in fresh processes, configurations interleaved and rotated every rep.

Usage (Debian's /usr/bin/python3):
  bazel build -c opt //core:libhakmem.so //experiments:all
  /usr/bin/python3 experiments/telemetry_overhead.py [--reps 7] [--lib PATH] [--bench-dir DIR]

Prints, per benchmark and configuration, the median and range of the benchmark's own time (the
multi-site workload's busy time inside its sites; random mixed's loop time) and of the
process's wall time (which also holds the exit write and its symbolization), each as a
ratio to learn mode without telemetry. Every run must prove its allocator: the bench's
`allocator:` line names the library and hakmem's exit line is on stderr; a run that does
not is an error (exit status 1).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def configs(tmp):
    return [
        ("learn", {}),
        ("learn + telemetry at exit", {"HAKMEM_TELEMETRY": os.path.join(tmp, "exit.pb")}),
        ("learn + telemetry every 100 ms", {
            "HAKMEM_TELEMETRY": os.path.join(tmp, "periodic.pb"),
            "HAKMEM_TELEMETRY_INTERVAL_MS": "100"}),
    ]


def benches(bench_dir):
    return [
        ("multisite", [os.path.join(bench_dir, "bench_multisite")], "total_s"),
        ("random_mixed_w256", [os.path.join(bench_dir, "bench_random_mixed"), "--slots", "256"],
         "seconds"),
        ("random_mixed_w8192",
         [os.path.join(bench_dir, "bench_random_mixed"), "--slots", "8192"], "seconds"),
    ]


def run_one(argv, lib, extra, metric):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HAKMEM_") and k != "LD_PRELOAD"}
    env.update(LD_PRELOAD=lib, HAKMEM_MODE="learn", HAKMEM_VERBOSE="1", **extra)
    t0 = time.monotonic()
    p = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("%s failed (%d): %s" % (argv[0], p.returncode, p.stderr.strip()))
    m = re.search(r"^allocator: (.*)$", p.stdout, re.M)
    if not m or os.path.realpath(m.group(1).strip()) != os.path.realpath(lib):
        sys.exit("%s was not served by %s: %r" % (argv[0], lib, m and m.group(1)))
    if not re.search(r"^hakmem: exit pid=", p.stderr, re.M):
        sys.exit("%s: no hakmem exit line on stderr" % argv[0])
    v = re.search(metric + r"=([0-9.]+)", p.stdout)
    if not v:
        sys.exit("%s printed no %s" % (argv[0], metric))
    return float(v.group(1)), wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--lib", default=os.path.join(REPO, "bazel-out/k8-opt/bin/core/libhakmem.so"))
    ap.add_argument("--bench-dir", default=os.path.join(REPO, "bazel-out/k8-opt/bin/experiments"))
    a = ap.parse_args()
    if a.reps < 1:
        ap.error("--reps must be at least 1")
    for p in (a.lib, a.bench_dir):
        if not os.path.exists(p):
            ap.error("%s not found; bazel build -c opt //core:libhakmem.so //experiments:all" % p)
    lib = os.path.abspath(a.lib)
    with tempfile.TemporaryDirectory(prefix="hakmem-telemetry-overhead-") as tmp:
        cs, bs = configs(tmp), benches(a.bench_dir)
        res = {}
        for rep in range(a.reps):
            for name, argv, metric in bs:
                k = rep % len(cs)
                for cname, extra in cs[k:] + cs[:k]:
                    res.setdefault((name, cname), []).append(run_one(argv, lib, extra, metric))
            print("rep %d/%d done" % (rep + 1, a.reps), file=sys.stderr, flush=True)
    print("| benchmark | configuration | bench time (median) | range | vs learn | "
          "process wall (median) | vs learn |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, _, metric in bs:
        base = statistics.median(x[0] for x in res[(name, "learn")])
        basew = statistics.median(x[1] for x in res[(name, "learn")])
        for cname, _ in cs:
            xs = [x[0] for x in res[(name, cname)]]
            v = statistics.median(xs)
            w = statistics.median(x[1] for x in res[(name, cname)])
            print("| %s | %s | %.4f s (%s) | %.3f-%.3f | %.3f | %.3f s | %.3f |" % (
                name, cname, v, metric, min(xs), max(xs), v / base, w, w / basew))
    print("\n%d reps; hakmem %s" % (a.reps, lib))
    return 0


if __name__ == "__main__":
    sys.exit(main())

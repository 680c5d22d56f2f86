#!/usr/bin/python3
"""How long `hakmem.Engine` takes to replay a trace of a million events, alone and in a
sweep of 20 learner settings (`hakmem.sweep`).

Usage (Debian's /usr/bin/python3):
  bazel build -c opt //py:hakmem //core:libhakmem.so //experiments:bench_multisite
  /usr/bin/python3 experiments/engine_sweep.py [--rounds 5000] [--reps 3]

Records one learn run of the multi-site workload (--rounds rounds of 1 ms, which gives
about 1.1M trace records: every routed request and every free of a mapped block) with
HAKMEM_TRACE and HAKMEM_TELEMETRY, then replays it --reps times: once with the run's own
settings, and as a sweep of 20 settings (K in 4, 8, 16, 24, 48 by explore-every in 8, 16,
64, 256) on every CPU this process may use. Prints the medians, and whether the replay
with the run's settings reached the run's own decisions.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OPT = os.path.join(REPO, "bazel-out", "k8-opt", "bin")
sys.path.insert(0, os.path.join(REPO, "py"))
sys.path.insert(1, os.path.join(OPT, "py"))

import hakmem  # noqa: E402


def choices(loaded):
    out = {}
    for _, row in loaded.sites.iterrows():
        for band in ("middle", "large", "huge"):
            if isinstance(row["chosen_" + band], str):
                out[(int(row["key"]), band)] = row["chosen_" + band]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="hakmem-engine-")
    trace, telemetry = os.path.join(work, "run.trace"), os.path.join(work, "run.pb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAKMEM_")}
    env.update(LD_PRELOAD=os.path.join(OPT, "core", "libhakmem.so"), HAKMEM_MODE="learn",
               HAKMEM_TRACE=trace, HAKMEM_TELEMETRY=telemetry, HAKMEM_TRACE_RECORDS="4000000",
               HAKMEM_VERBOSE="1")
    p = subprocess.run([os.path.join(OPT, "experiments", "bench_multisite"),
                        "--rounds=%d" % args.rounds, "--period_ms=1"],
                       env=env, capture_output=True, text=True, check=True)
    assert "hakmem: exit pid=" in p.stderr, "the recorded run was not served by hakmem"
    header = hakmem.load_trace_header(trace)
    print("trace: %d records (%d dropped), %.1f MB" % (header["records"], header["dropped"],
                                                       os.path.getsize(trace) / 1e6))
    grid = [dict(k_factor=k, explore_every=e) for k in (4, 8, 16, 24, 48) for e in (8, 16, 64, 256)]
    one, sweep = [], []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        replayed = hakmem.Engine(trace, telemetry=telemetry).run(progress=False)
        one.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        hakmem.sweep(trace, grid, telemetry=telemetry, progress=False)
        sweep.append(time.perf_counter() - t0)
    same = choices(replayed) == choices(hakmem.load(telemetry))
    print("one replay: median %.2f s (%s)" % (statistics.median(one), " ".join("%.2f" % x for x in one)))
    print("sweep of %d settings on %d CPUs: median %.2f s (%s)"
          % (len(grid), len(os.sched_getaffinity(0)), statistics.median(sweep),
             " ".join("%.2f" % x for x in sweep)))
    print("replay with the run's settings reached the run's decisions: %s" % ("yes" if same else "no"))


if __name__ == "__main__":
    main()

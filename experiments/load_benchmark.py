#!/usr/bin/python3
"""How long `hakmem.load` takes to turn a large telemetry file into DataFrames.

Usage (Debian's /usr/bin/python3):
  bazel build -c opt //py:hakmem //learner:telemetry_py
  /usr/bin/python3 experiments/load_benchmark.py [--points 1000000] [--reps 5]

Writes a telemetry file of --points curve points (matches of three strategies each, over
100 sites in three bands, with decisions and a timeline alongside) with the generated
protobuf module, then loads it --reps times and prints the median time to read, validate
and build every DataFrame (runs, sites, curves, decisions, outcomes, timeline).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "py"))
sys.path.insert(1, os.path.join(REPO, "bazel-out", "k8-opt", "bin", "py"))
sys.path.insert(2, os.path.join(REPO, "bazel-out", "k8-opt", "bin"))

import hakmem  # noqa: E402
from learner import telemetry_pb2  # noqa: E402

SITES = 100


def write_file(path, points):
    t = telemetry_pb2.Telemetry()
    t.string_table.extend([b"", b"/usr/bin/bench", b"host", b"libbench.so"])
    r = t.runs.add(program_str=1, pid=1, host_str=2, start_unix_ns=1, end_unix_ns=2,
                   complete=True, hakmem_version="0.1.0", mode=telemetry_pb2.MODE_LEARN)
    r.drops.SetInParent()
    t.modules.add(id=1, build_id_hex="ab" * 20, path_str=3)
    for i in range(SITES):
        t.string_table.append(b"site_function_%d" % i)
        t.locations.add(id=i + 1, module_id=1, offset_bytes=0x1000 + 16 * i,
                        function_str=len(t.string_table) - 1)
        t.sites.add(id=i + 1, key=(1 << 62) | (i + 1), location_ids=[i + 1])
        t.choices.add(site_id=i + 1, band=i % 3, strategy=2, allocations=10 ** 6,
                      matches=points // 3 // SITES)
    matches = points // 3
    for m in range(matches):
        s = m % SITES
        match = t.matches.add(site_id=s + 1, band=s % 3, number=m // SITES + 1,
                              allocations=8 * (m + 1), time_ns=1000 * m, chosen=2)
        for strategy in (1, 2, 3):
            match.results.add(strategy=strategy, rating_elo=1500.0 + strategy, window_samples=8,
                              window_bytes=8 << 20, cost_ns=1000.0 * strategy,
                              time_ns=500.0 * strategy, fault_ns=500.0 * strategy)
    for m in range(matches // 10):
        d = t.decisions.add(site_id=m % SITES + 1, band=m % SITES % 3, kind=4, to=3,
                            time_ns=1000 * m, allocations=m)
        setattr(d, "from", 2)  # `from` is a Python keyword
    for k in range(4096):
        t.timeline.add(time_ns=k * 10 ** 6, mapped_bytes=1 << 30, resident_bytes=1 << 29)
    with open(path, "wb") as f:
        f.write(hakmem.telemetry_file(t.SerializeToString()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=1000000)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hakmem-load-") as tmp:
        path = os.path.join(tmp, "big.pb")
        t0 = time.monotonic()
        write_file(path, a.points)
        print("wrote %s: %.1f MiB, %d curve points, in %.1f s" % (
            path, os.path.getsize(path) / 2 ** 20, a.points // 3 * 3, time.monotonic() - t0))
        times = []
        for _ in range(a.reps):
            t0 = time.monotonic()
            r = hakmem.load(path)
            frames = [r.frame(t) for t in hakmem.TABLES]
            times.append(time.monotonic() - t0)
        print("hakmem.load + every DataFrame: median %.3f s over %d reps (min %.3f, max %.3f); "
              "curves: %d rows x %d columns" % (statistics.median(times), a.reps, min(times),
                                                max(times), len(frames[2]), frames[2].shape[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shadow mode end to end: a program with a clear best strategy at each of three sites
(learner/testdata/three_sites.cc: BigCache, the pool, direct mapping) runs under
HAKMEM_MODE=shadow. The learner must reach each site's choice from what the served
strategy cost and what the others would have cost (its counterfactual model), while
the band defaults serve every request: nothing it learns may change the program's run.

Arguments (from BUILD): LIBHAKMEM THREE_SITES
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

from learner import telemetry_pb2

LIB, PROG = (os.path.abspath(p) for p in sys.argv[1:3])
del sys.argv[1:3]

STRATEGY = {0: "none", 1: "pool", 2: "bigcache", 3: "mmap"}
BAND = {0: "middle", 1: "large", 2: "huge"}


def run(**settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAKMEM_")}
    # 4 KiB pages: RareSnapshots' one written byte is then one 4 KiB fault. With huge pages
    # it faults in 2 MiB, which costs more than 20 ms of 8 MiB idle, and BigCache rightly
    # wins there (tournament_test prices huge-page blocks).
    env.update(LD_PRELOAD=LIB, HAKMEM_VERBOSE="1", HAKMEM_HUGE_PAGES="0", **settings)
    return subprocess.run([PROG, "60"], env=env, capture_output=True, text=True, check=True)


def choices(path):
    """{(function, band): chosen strategy} from a telemetry file."""
    with open(path, "rb") as f:
        env = telemetry_pb2.TelemetryFile.FromString(f.read())
    t = telemetry_pb2.Telemetry.FromString(env.telemetry)
    names = {}
    for s in t.sites:
        if s.location_ids:
            loc = t.locations[s.location_ids[s.wrapper_frames] - 1]
            names[s.id] = t.string_table[loc.function_str].decode()
    out = {}
    for c in t.choices:
        name = names.get(c.site_id, "")
        for fn in ("CycleFrames", "ChurnBuffers", "RareSnapshots"):
            if fn in name:
                out[(fn, BAND[c.band])] = STRATEGY[c.strategy]
    return out


class ShadowTest(unittest.TestCase):
    def test_shadow_learns_every_sites_choice_and_changes_nothing(self):
        with tempfile.TemporaryDirectory() as tmp:
            telemetry = os.path.join(tmp, "shadow.pb")
            shadow = run(HAKMEM_MODE="shadow", HAKMEM_TELEMETRY=telemetry)
            off = run(HAKMEM_MODE="off")
            self.assertEqual(shadow.stdout, off.stdout)
            self.assertEqual(choices(telemetry), {
                ("CycleFrames", "large"): "bigcache",   # reuse saves 512 faults a block
                ("ChurnBuffers", "middle"): "pool",     # a list pop against a header
                ("RareSnapshots", "huge"): "mmap",      # 8 MiB held idle against 1 fault
            })
        # Nothing was published: every mapped block is BigCache's, the large bands'
        # default, though the learner chose direct mapping for RareSnapshots.
        exit_line = [l for l in shadow.stderr.splitlines() if l.startswith("hakmem: exit pid=")]
        self.assertEqual(len(exit_line), 1, shadow.stderr)
        counters = dict(re.findall(r"([a-z_]+)=([0-9]+)", exit_line[0]))
        self.assertEqual(counters["mmap_blocks"], "0", exit_line[0])
        self.assertGreater(int(counters["bigcache"]), 0, exit_line[0])
        others = [l for l in shadow.stderr.splitlines()
                  if l.startswith("hakmem:") and not re.match(r"hakmem: (start|exit) pid=", l)]
        self.assertEqual(others, [])


if __name__ == "__main__":
    unittest.main()

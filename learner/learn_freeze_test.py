"""Whole-process test of the learner's modes: learn in one process and freeze the table,
load it in new processes (ASLR on), and check that the choices come back, that every
mode leaves the program's output alone, and that a damaged table costs one stderr line
and nothing else.

Arguments (from BUILD): LIBHAKMEM TWO_SITES HAKMEM_TOOL
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

LIB, PROG, TOOL = (os.path.abspath(p) for p in sys.argv[1:4])
del sys.argv[1:4]
ROUNDS = "40"


def run(tmp, name, **env_extra):
    report = os.path.join(tmp, name + ".json")
    env = dict(os.environ, LD_PRELOAD=LIB, HAKMEM_SITE_REPORT=report, HAKMEM_VERBOSE="1")
    # A strategy forced for the whole suite (bazel test --test_env) would leave the learner
    # nothing to choose between: this test is about per-site choices, so it pins them.
    env.pop("HAKMEM_STRATEGY", None)
    env.update(env_extra)
    proc = subprocess.run([PROG, ROUNDS], env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError("%s run failed (%d): %s" % (name, proc.returncode, proc.stderr))
    with open(report) as f:
        doc = json.load(f)
    choices = {}
    for s in doc["sites"]:
        for fn in ("CycleFrames", "ChurnBuffers"):
            if s["symbol"] and fn in s["symbol"] and "strategy" in s:
                choices[fn] = s["strategy"]
    return proc, choices


class LearnFreezeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.table = os.path.join(cls.tmp, "table.pb")
        cls.off, _ = run(cls.tmp, "off", HAKMEM_MODE="off")
        cls.learn, cls.learned = run(cls.tmp, "learn", HAKMEM_MODE="learn",
                                     HAKMEM_FREEZE_TO=cls.table)

    def test_learn_finds_the_best_strategy_at_each_site(self):
        self.assertEqual(self.learned, {"CycleFrames": "bigcache", "ChurnBuffers": "pool"})

    def test_the_table_validates_with_the_tool(self):
        out = subprocess.run([TOOL, "validate", self.table], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_frozen_runs_reproduce_every_choice(self):
        for i in range(2):  # new processes: the sites' addresses differ, the keys do not
            proc, frozen = run(self.tmp, "frozen%d" % i, HAKMEM_MODE="frozen",
                               HAKMEM_FROZEN_TABLE=self.table)
            self.assertEqual(frozen, self.learned)
            self.assertNotIn("frozen table", proc.stderr)

    def test_every_mode_leaves_the_output_alone(self):
        proc, _ = run(self.tmp, "shadow", HAKMEM_MODE="shadow")
        for p in (self.learn, proc):
            self.assertEqual(p.stdout, self.off.stdout)

    def test_a_damaged_table_is_one_line_and_the_defaults(self):
        with open(self.table, "rb") as f:
            data = bytearray(f.read())
        cases = {"truncated": bytes(data[: len(data) // 2]),
                 "bit flip": bytes(data[:40]) + bytes([data[40] ^ 4]) + bytes(data[41:]),
                 "empty": b"",
                 "not a table": b"hello, world\n" * 10}
        for what, bad in cases.items():
            path = os.path.join(self.tmp, "bad.pb")
            with open(path, "wb") as f:
                f.write(bad)
            proc, choices = run(self.tmp, "bad", HAKMEM_MODE="frozen", HAKMEM_FROZEN_TABLE=path)
            lines = [l for l in proc.stderr.splitlines() if not l.startswith("hakmem: start")
                     and not l.startswith("hakmem: exit")]
            self.assertEqual(len(lines), 1, "%s: %r" % (what, proc.stderr))
            self.assertIn("using the default strategies", lines[0])
            self.assertEqual(proc.stdout, self.off.stdout, what)
            self.assertEqual(choices, {}, what)  # nothing was published


if __name__ == "__main__":
    unittest.main()

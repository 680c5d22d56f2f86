"""Whole-process test: hakmem keeps its settings when the program overwrites its
environment. redis, nginx and postgres set their process title by writing over the whole
argv + environ string area at the start of main; the files hakmem writes at exit
(HAKMEM_SITE_REPORT, HAKMEM_FREEZE_TO, HAKMEM_LEARN_LOG) must still be written, to the
paths that were set at start-up.

Runs testdata/proctitle_main.c twice (area zeroed; area filled with 'X's) under
LD_PRELOAD=libhakmem.so in learn mode, each in its own scratch directory (a stray
relative file from a garbled path lands there, not in the runfiles).

Arguments (from BUILD): LIBHAKMEM PROCTITLE_MAIN
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import unittest

LIB, PROG = (os.path.abspath(p) for p in sys.argv[1:3])
del sys.argv[1:3]

TABLE_MAGIC = b"\x0dHAKM"  # learner/README.md: a frozen table's first bytes
LEARN_LOG_HEADER = ["t_ms", "site", "symbol", "band"]  # the first columns, at least
LARGE_ALLOCS = 4 * 16  # proctitle_main's 1 MiB requests at AllocLarge


class ProcTitleTest(unittest.TestCase):
    def run_overwriting(self, how):
        tmp = tempfile.mkdtemp(prefix=how + ".", dir=os.environ.get("TEST_TMPDIR"))
        paths = {
            "HAKMEM_SITE_REPORT": os.path.join(tmp, "sites.json"),
            "HAKMEM_FREEZE_TO": os.path.join(tmp, "table.hkm"),
            "HAKMEM_LEARN_LOG": os.path.join(tmp, "learn.csv"),
        }
        env = dict(os.environ, LD_PRELOAD=LIB, HAKMEM_MODE="learn", HAKMEM_VERBOSE="1",
                   **paths)
        cwd = os.path.join(tmp, "cwd")
        os.mkdir(cwd)
        proc = subprocess.run([PROG, how], env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, "%s: exit %d: %s" % (how, proc.returncode,
                                                                  proc.stderr))
        # The preload served the process (its exit line).
        self.assertRegex(proc.stderr, r"(?m)^hakmem: exit pid=[0-9]+ .*bytes_from_os=[1-9]")
        stderr_tail = proc.stderr[-1500:]
        for name, path in paths.items():
            self.assertTrue(os.path.isfile(path),
                            "%s: %s=%s was not written; stderr ends:\n%s" % (how, name, path,
                                                                             stderr_tail))
        # ... and complained about nothing.
        self.assertNotIn("cannot write", proc.stderr)
        self.assertNotIn("ignoring", proc.stderr)
        return paths, proc

    def check_files(self, how):
        paths, proc = self.run_overwriting(how)

        with open(paths["HAKMEM_SITE_REPORT"]) as f:
            doc = json.load(f)
        self.assertTrue(doc["sites"], "%s: no sites in the report" % how)
        large = [s for s in doc["sites"] if s.get("symbol") and "AllocLarge" in s["symbol"]]
        self.assertTrue(large, "%s: no AllocLarge site in %s" % (
            how, sorted(str(s.get("symbol")) for s in doc["sites"])))
        self.assertEqual(sum(s["allocs"] for s in large), LARGE_ALLOCS)
        self.assertFalse(any(s["allocs_estimated"] for s in large))

        with open(paths["HAKMEM_FREEZE_TO"], "rb") as f:
            table = f.read()
        self.assertGreater(len(table), len(TABLE_MAGIC))
        self.assertEqual(table[:len(TABLE_MAGIC)], TABLE_MAGIC)

        with open(paths["HAKMEM_LEARN_LOG"], newline="") as f:
            rows = list(csv.reader(f))
        self.assertTrue(rows, "%s: empty learn log" % how)
        header = rows[0]
        self.assertEqual(header[:len(LEARN_LOG_HEADER)], LEARN_LOG_HEADER)
        for row in rows[1:]:
            self.assertEqual(len(row), len(header), "%s: bad learn log row %r" % (how, row))

        # Nothing else was written: no file under a garbled name in the scratch directory.
        self.assertEqual(os.listdir(os.path.join(os.path.dirname(paths["HAKMEM_LEARN_LOG"]),
                                                 "cwd")), [])

    def test_environment_zeroed(self):
        self.check_files("zero")

    def test_environment_filled_with_x(self):
        self.check_files("fill")


if __name__ == "__main__":
    unittest.main()

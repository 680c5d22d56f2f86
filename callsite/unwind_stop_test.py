"""Whole-process test of the preload's stop at the C runtime's entry frame
(callsite/unwind_stop.cc): runs testdata/unwind_stop_main under the preloaded hakmem and
checks which of glibc's unwind tables its unwinder asked for.

Arguments (from BUILD): LIBHAKMEM UNWIND_STOP_MAIN
"""
import os
import subprocess
import sys
import unittest

LIB, MAIN = (os.path.abspath(p) for p in sys.argv[1:3])
del sys.argv[1:3]


def run():
    env = dict(os.environ, LD_PRELOAD=LIB)
    proc = subprocess.run([MAIN], env=env, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError("unwind_stop_main failed (%d): %s" % (proc.returncode, proc.stderr))
    phases = {}
    for line in proc.stdout.splitlines():
        name, *fields = line.split()
        phases[name] = {k: int(v) for k, v in (f.split("=") for f in fields)}
    return phases


class UnwindStopTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.phases = run()

    def test_direct_calls_never_read_libc_tables(self):
        # main's caller is __libc_start_call_main: the context ends there unread.
        direct = self.phases["direct"]
        self.assertGreater(direct["lookups"], 0, "no unwinds seen: %s" % direct)
        self.assertEqual(direct["libc"], 0, direct)

    def test_a_thread_stops_at_start_thread(self):
        thread = self.phases["thread"]
        self.assertGreater(thread["lookups"], 0, "no unwinds seen: %s" % thread)
        self.assertEqual(thread["libc"], 0, thread)

    def test_a_walk_that_starts_in_libc_still_reads_its_tables(self):
        # strdup's frame is libc's and comes before the program's: the walk needs libc's
        # unwind data to get out of it. This also shows the counting sees libc lookups.
        via = self.phases["via_libc"]
        self.assertGreater(via["libc"], 0, via)


if __name__ == "__main__":
    unittest.main()

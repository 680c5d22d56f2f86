"""The harness itself (run_under_preload.py) fails for the right reasons: an unexpected
line of hakmem's own on stderr (here a warning about a bad setting), and an --expect that
does not hold over the exit line's counters; and passes when both are as they should be.

Arguments (from BUILD): RUNNER LIBHAKMEM
"""
import os
import subprocess
import sys
import unittest

RUNNER, LIB = sys.argv[1:3]
# A workload that allocates (so hakmem proves itself) and prints a fixed line.
CMD = ["--", "/usr/bin/python3", "-c", "print(len(bytearray(1 << 20)))"]


def harness(*args):
    # The harness is under test, not hakmem's settings: a suite-wide setting (the
    # README's `bazel test //... --test_env=HAKMEM_STRATEGY=pool`) must not reach the
    # workload, whose expected counters are the defaults'.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAKMEM_")}
    p = subprocess.run([sys.executable, RUNNER, "--lib=" + LIB, *args, *CMD],
                       capture_output=True, text=True, env=env)
    return p.returncode, p.stdout


class HarnessTest(unittest.TestCase):
    def test_passes_a_clean_run_and_its_expectations(self):
        rc, out = harness("--expect=bigcache + mmap_blocks > 0", "--expect=fallbacks == 0")
        self.assertEqual(rc, 0, out)
        self.assertIn("PASS: python3", out)
        self.assertIn("fallbacks == 0 holds", out)

    def test_an_unexpected_hakmem_line_fails(self):
        rc, out = harness("--env=HAKMEM_DECAY_MS=banana")
        self.assertEqual(rc, 1, out)
        self.assertIn("FAIL: python3", out)
        self.assertIn("unexpected line: \"hakmem: ignoring HAKMEM_DECAY_MS='banana'", out)

    def test_an_allowed_line_passes(self):
        rc, out = harness("--env=HAKMEM_DECAY_MS=banana",
                          "--allow-line=^hakmem: ignoring HAKMEM_DECAY_MS=")
        self.assertEqual(rc, 0, out)

    def test_an_expectation_that_does_not_hold_fails(self):
        rc, out = harness("--expect=mmap_blocks > 1000000")
        self.assertEqual(rc, 1, out)
        self.assertIn("expected mmap_blocks > 1000000 over the exit lines, but mmap_blocks=", out)
        rc, out = harness("--expect=no_such_counter == 0")
        self.assertEqual(rc, 1, out)
        self.assertIn("no counter no_such_counter", out)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])

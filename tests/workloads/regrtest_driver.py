"""Runs CPython's regression tests (test.libregrtest) in this process, with hakmem's
HAKMEM_VERBOSE taken out of the environment first.

This process was started with HAKMEM_VERBOSE=1, so it prints hakmem's start and exit
lines (the proof that hakmem served the tests, which run here: no -j). The processes the
tests start inherit LD_PRELOAD and every other hakmem setting, but not the verbose
lines: many tests assert that a child's stderr is empty, and they would fail for
hakmem's lines alone, on glibc never.

Usage: python3 regrtest_driver.py [regrtest arguments] test_a test_b ...
"""
import os
import sys

os.environ.pop("HAKMEM_VERBOSE", None)

from test.libregrtest import main  # noqa: E402

sys.argv = ["regrtest"] + sys.argv[1:]
main()

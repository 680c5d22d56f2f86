"""Bad input from outside: every HAKMEM_* variable given nonsense, and every file hakmem
writes sent to a path it cannot write (missing directory, a full disk simulated with
RLIMIT_FSIZE, a directory removed while the program runs). Each case must cost exactly
one `hakmem:` line naming the problem, leave no partial file, and leave the program's
output and exit status as they are without the bad setting.

The variables are read from the library itself (HAKMEM_VERBOSE=2 lists every option),
so a new setting is covered without editing this test.

Arguments (from BUILD): LIBHAKMEM
"""
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import unittest

LIB = os.path.abspath(sys.argv[1])
del sys.argv[1:]

# Allocates through every route band (64 KiB .. 8 MiB) and prints a fixed line; deletes
# the directory named by $VANISH, if set, before it exits.
PROGRAM = r"""
import os, sys
total = 0
for size in (64 << 10, 200 << 10, 1 << 20, 8 << 20):
    for _ in range(20):
        total += len(bytearray(size))
d = os.environ.get("VANISH")
if d:
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    os.rmdir(d)
print(total)
"""
EXPECTED_STDOUT = "%d\n" % (20 * ((64 << 10) + (200 << 10) + (1 << 20) + (8 << 20)))
PATH_OPTIONS = {  # the mode in which each path is used
    "HAKMEM_SITE_REPORT": "off",
    "HAKMEM_FROZEN_TABLE": "frozen",
    "HAKMEM_FREEZE_TO": "learn",
    "HAKMEM_LEARN_LOG": "learn",
    "HAKMEM_TELEMETRY": "learn",
    "HAKMEM_TRACE": "learn",
}


def run(env_extra, preexec=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAKMEM_")}
    env.update(LD_PRELOAD=LIB, **env_extra)
    p = subprocess.run(["/usr/bin/python3", "-c", PROGRAM], env=env, capture_output=True,
                       text=True, timeout=60, preexec_fn=preexec)
    return p.returncode, p.stdout, [l for l in p.stderr.splitlines() if l.startswith("hakmem:")]


def options():
    """{name: printed value} of every option, from the library."""
    _, _, lines = run({"HAKMEM_VERBOSE": "2"})
    found = dict(re.findall(r"^hakmem: option (HAKMEM_[A-Z_0-9]+)=(.*)$", "\n".join(lines), re.M))
    assert len(found) >= 20, lines
    return found


def full_disk():
    # Files may not grow past 512 bytes; a write past it fails with EFBIG (SIGXFSZ off).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))


class BadSettingsTest(unittest.TestCase):
    def assert_one_line(self, env, about, preexec=None):
        rc, out, lines = run(env, preexec)
        self.assertEqual(rc, 0, (env, lines))
        self.assertEqual(out, EXPECTED_STDOUT, env)
        self.assertEqual(len(lines), 1, (env, lines))
        self.assertIn(about, lines[0], env)
        return lines[0]

    def test_every_numeric_setting_given_nonsense_warns_once_and_runs_on(self):
        for name, value in options().items():
            if name in PATH_OPTIONS:
                continue
            for bad in ("nonsense!", "99999999999999999999999", "-3"):
                with self.subTest(option=name, value=bad):
                    line = self.assert_one_line({name: bad}, name)
                    self.assertIn("'%s'" % bad, line)
                    self.assertRegex(line, r"using the default")

    def test_every_path_setting_to_a_missing_directory_is_one_line(self):
        self.assertEqual(set(PATH_OPTIONS) - set(options()), set())
        for name, mode in PATH_OPTIONS.items():
            with self.subTest(option=name):
                self.assert_one_line({name: "/nonexistent-dir/sub/file", "HAKMEM_MODE": mode},
                                     "/nonexistent-dir/sub/file")

    def test_a_full_disk_is_one_line_and_leaves_no_partial_file(self):
        for name, mode in PATH_OPTIONS.items():
            if name == "HAKMEM_FROZEN_TABLE":
                continue  # read, not written
            with self.subTest(option=name), tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "out")
                self.assert_one_line({name: path, "HAKMEM_MODE": mode}, path, preexec=full_disk)
                self.assertEqual(os.listdir(d), [], "a partial or temporary file was left")

    def test_a_directory_removed_while_the_program_runs_is_one_line(self):
        for name, mode in PATH_OPTIONS.items():
            if name == "HAKMEM_FROZEN_TABLE":
                continue
            with self.subTest(option=name), tempfile.TemporaryDirectory() as top:
                d = os.path.join(top, "vanishing")
                os.mkdir(d)
                path = os.path.join(d, "out")
                self.assert_one_line({name: path, "HAKMEM_MODE": mode, "VANISH": d}, path)
                self.assertFalse(os.path.exists(d))


if __name__ == "__main__":
    unittest.main()

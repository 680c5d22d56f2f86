"""Whole-process tests of HAKMEM_TELEMETRY: what a learning run writes (read back with
libprotobuf's generated Python, independent of the nanopb encoder that wrote it), that
off mode writes the profile and the timeline, that periodic writes and a process killed
mid-run never leave a partial file, and that a file that cannot be written costs one
stderr line and nothing else.

Arguments (from BUILD): LIBHAKMEM TWO_SITES HAKMEM_TOOL
"""
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

from learner import telemetry_pb2

LIB, PROG, TOOL = (os.path.abspath(p) for p in sys.argv[1:4])
del sys.argv[1:4]

MAGIC = 0x544B4148


def fnv1a64(data):
    h = 14695981039346656037
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def read_telemetry(path):
    """Parses a telemetry file, checking the envelope as the tools do."""
    with open(path, "rb") as f:
        data = f.read()
    env = telemetry_pb2.TelemetryFile()
    env.ParseFromString(data)
    assert env.magic == MAGIC, hex(env.magic)
    assert env.format_version == 1, env.format_version
    assert fnv1a64(env.telemetry) == env.telemetry_fnv1a64, "checksum mismatch"
    # Nothing after the checksum: the file ends with field 4's 8 bytes.
    assert data[-9] == 0x21 and struct.unpack("<Q", data[-8:])[0] == env.telemetry_fnv1a64
    t = telemetry_pb2.Telemetry()
    t.ParseFromString(env.telemetry)
    return t


def env_for(**extra):
    env = dict(os.environ, LD_PRELOAD=LIB)
    for k in list(env):
        if k.startswith("HAKMEM_"):
            del env[k]  # a suite-wide forced strategy would leave nothing to learn
    env.update(extra)
    return env


def run(rounds, **extra):
    proc = subprocess.run([PROG, str(rounds)], env=env_for(**extra), capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError("run failed (%d): %s" % (proc.returncode, proc.stderr))
    return proc


def function_of(t, site):
    """The function named by a site's first frame past its wrappers."""
    if not site.location_ids:
        return t.string_table[site.name_str].decode()
    loc = t.locations[site.location_ids[site.wrapper_frames] - 1]
    return t.string_table[loc.function_str].decode()


def site_by_function(t, name):
    found = [s for s in t.sites if name in function_of(t, s)]
    assert len(found) == 1, (name, [function_of(t, s) for s in t.sites])
    return found[0]


class LearnRunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.path = os.path.join(cls.tmp, "learn.pb")
        cls.proc = run(40, HAKMEM_MODE="learn", HAKMEM_TELEMETRY=cls.path)
        cls.t = read_telemetry(cls.path)

    def test_interning_and_ids(self):
        t = self.t
        self.assertEqual(t.string_table[0], b"")
        self.assertEqual(len(set(t.string_table)), len(t.string_table))  # each once
        for kind in (t.modules, t.locations, t.sites):
            self.assertEqual([x.id for x in kind], list(range(1, len(kind) + 1)))
        for loc in t.locations:
            self.assertLessEqual(loc.module_id, len(t.modules))
            self.assertLess(loc.function_str, len(t.string_table))
        for s in t.sites:
            for l in s.location_ids:
                self.assertTrue(1 <= l <= len(t.locations))
            if s.location_ids:
                self.assertLess(s.wrapper_frames, len(s.location_ids))

    def test_the_run(self):
        self.assertEqual(len(self.t.runs), 1)
        r = self.t.runs[0]
        self.assertTrue(self.t.string_table[r.program_str].endswith(b"two_sites"))
        self.assertTrue(r.complete)
        self.assertEqual(r.mode, telemetry_pb2.MODE_LEARN)
        self.assertGreater(r.end_unix_ns, r.start_unix_ns)
        self.assertRegex(r.program_build_id_hex, "^[0-9a-f]{40}$")
        self.assertGreater(r.os_costs.fault_ns, 0)
        self.assertEqual(r.learn_params.elo_k_factor, 24)
        settings = {self.t.string_table[s.name_str].decode(): s for s in r.settings}
        self.assertEqual(self.t.string_table[settings["HAKMEM_TELEMETRY"].text_str].decode(),
                         self.path)
        self.assertTrue(settings["HAKMEM_MODE"].from_environment)
        self.assertEqual(settings["HAKMEM_MODE"].value, 1)
        self.assertFalse(settings["HAKMEM_DECAY_MS"].from_environment)
        self.assertEqual(settings["HAKMEM_DECAY_MS"].value, 250)
        self.assertEqual(r.drops, telemetry_pb2.Drops())  # nothing lost

    def test_sites_choices_and_outcomes(self):
        t = self.t
        chosen = {}
        for fn in ("CycleFrames", "ChurnBuffers"):
            s = site_by_function(t, fn)
            choices = [c for c in t.choices if c.site_id == s.id]
            self.assertEqual(len(choices), 1, fn)
            chosen[fn] = choices[0].strategy
            self.assertGreater(choices[0].matches, 0)
            prof = [p for p in t.site_profiles if p.site_id == s.id]
            self.assertEqual(len(prof), 1)
            if not prof[0].allocs_estimated:  # 64 KiB requests are sampled small ones
                self.assertEqual(prof[0].allocs, choices[0].allocations)
            outcomes = [o for o in t.outcomes if o.site_id == s.id]
            self.assertEqual(sum(o.tries for o in outcomes), choices[0].allocations)
            for o in outcomes:
                self.assertAlmostEqual(o.cost_ns, o.time_ns + o.fault_ns + o.idle_ns)
        # hakmem.table.Strategy: pool 1, bigcache 2, mmap 3.
        self.assertEqual(chosen, {"CycleFrames": 2, "ChurnBuffers": 1})

    def test_curves(self):
        t = self.t
        s = site_by_function(t, "CycleFrames")
        matches = [m for m in t.matches if m.site_id == s.id]
        self.assertGreater(len(matches), 0)
        self.assertEqual([m.number for m in matches], list(range(1, len(matches) + 1)))
        times = [m.time_ns for m in matches]
        self.assertEqual(times, sorted(times))
        for m in matches:
            self.assertEqual(len(m.results), 2)  # bigcache and mmap (large band)
            for r in m.results:
                self.assertGreaterEqual(r.window_samples, 8)
                self.assertAlmostEqual(r.cost_ns, r.time_ns + r.fault_ns + r.idle_ns)
        last = matches[-1]
        best = max(last.results, key=lambda r: r.rating_elo)
        self.assertEqual(best.strategy, last.chosen)
        # Fresh mappings fault on each of the 512 pages a 2 MiB block is touched on.
        mmap = [r for m in matches for r in m.results if r.strategy == 3]
        self.assertTrue(all(r.faults >= 512 * r.window_samples // 2 for r in mmap))

    def test_decisions(self):
        t = self.t
        for fn, strategy in (("CycleFrames", 2), ("ChurnBuffers", 1)):
            s = site_by_function(t, fn)
            kinds = [(d.kind, d.to) for d in t.decisions if d.site_id == s.id]
            self.assertEqual(kinds[0][0], telemetry_pb2.DECISION_TRIALS_BEGIN, fn)
            commits = [k for k in kinds if k[0] == telemetry_pb2.DECISION_COMMIT]
            self.assertEqual(len(commits), 1, fn)
            self.assertEqual(commits[0][1], strategy, fn)

    def test_timeline(self):
        self.assertGreaterEqual(len(self.t.timeline), 1)
        last = self.t.timeline[-1]
        self.assertGreater(last.mapped_bytes, 0)
        self.assertGreater(last.resident_bytes, 0)
        self.assertGreater(last.bigcache_hits, 0)  # CycleFrames reuses its frames
        self.assertGreater(len(last.size_classes), 0)
        sizes = [c.object_bytes for c in last.size_classes]
        self.assertEqual(sizes, sorted(sizes))


class OffModeTest(unittest.TestCase):
    def test_profile_without_learning(self):
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "off.pb")
        run(40, HAKMEM_TELEMETRY=path)
        t = read_telemetry(path)
        self.assertEqual(t.runs[0].mode, telemetry_pb2.MODE_OFF)
        self.assertFalse(t.runs[0].HasField("learn_params"))
        site_by_function(t, "CycleFrames")
        self.assertGreater(len(t.site_profiles), 0)
        self.assertEqual(len(t.matches), 0)
        self.assertEqual(len(t.outcomes), 0)
        self.assertGreaterEqual(len(t.timeline), 1)

    def test_pid_in_the_path(self):
        tmp = tempfile.mkdtemp()
        proc = subprocess.Popen([PROG, "40"], env=env_for(
            HAKMEM_TELEMETRY=os.path.join(tmp, "t.%p.pb")), stdout=subprocess.DEVNULL)
        self.assertEqual(proc.wait(timeout=60), 0)
        self.assertEqual(os.listdir(tmp), ["t.%d.pb" % proc.pid])
        self.assertEqual(read_telemetry(os.path.join(tmp, "t.%d.pb" % proc.pid)).runs[0].pid,
                         proc.pid)


class PeriodicTest(unittest.TestCase):
    def test_written_while_running(self):
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "p.pb")
        proc = subprocess.Popen([PROG, "20000"], env=env_for(
            HAKMEM_MODE="learn", HAKMEM_TELEMETRY=path, HAKMEM_TELEMETRY_INTERVAL_MS="20"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = None
        deadline = time.time() + 30
        while proc.poll() is None and time.time() < deadline:
            if os.path.exists(path):
                seen = read_telemetry(path)  # whole, whenever it is read
                if not seen.runs[0].complete:
                    break
            time.sleep(0.01)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIsNotNone(seen, "no periodic write seen while the program ran")
        self.assertFalse(seen.runs[0].complete)
        final = read_telemetry(path)
        self.assertTrue(final.runs[0].complete)
        self.assertGreater(final.runs[0].writes, 1)
        self.assertGreater(len(final.timeline), len(seen.timeline))
        times = [s.time_ns for s in final.timeline]
        self.assertEqual(times, sorted(times))
        self.assertEqual(err, "")

    def test_killed_mid_run_leaves_a_whole_file(self):
        # Each process is killed at a random moment after its first periodic write (the
        # file is there), so the kill lands between writes or in the middle of one.
        rng = random.Random(7)
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "k.pb")
        for i in range(12):
            proc = subprocess.Popen([PROG, "20000"], env=env_for(
                HAKMEM_MODE="learn", HAKMEM_TELEMETRY=path, HAKMEM_TELEMETRY_INTERVAL_MS="5"),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 20
            while not os.path.exists(path) and time.time() < deadline:
                time.sleep(0.002)
            self.assertTrue(os.path.exists(path), "no periodic write within 20 s")
            time.sleep(rng.uniform(0, 0.3))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            self.assertEqual(proc.returncode, -signal.SIGKILL, "the run ended before the kill")
            t = read_telemetry(path)  # raises on a partial or corrupt file
            self.assertFalse(t.runs[0].complete)
            self.assertEqual(t.runs[0].pid, proc.pid, "a file from an earlier run")
            os.unlink(path)


class BoundTest(unittest.TestCase):
    def test_first_half_and_most_recent_are_kept_and_the_rest_counted(self):
        # Decisions come often (every exploration is one), so 16 are soon too few.
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "b.pb")
        run(400, HAKMEM_MODE="learn", HAKMEM_TELEMETRY=path, HAKMEM_TELEMETRY_POINTS="16",
            HAKMEM_LEARN_EXPLORE_EVERY="4")
        t = read_telemetry(path)
        self.assertEqual(len(t.decisions), 16)
        self.assertGreater(t.runs[0].drops.decisions, 0)
        first, recent = t.decisions[:8], t.decisions[8:]
        # The first half is how learning began: every band's trials begin there.
        begun = {(d.site_id, d.band) for d in first if d.kind == telemetry_pb2.DECISION_TRIALS_BEGIN}
        self.assertEqual(begun, {(c.site_id, c.band) for c in t.choices})
        times = [d.time_ns for d in t.decisions]
        self.assertEqual(times, sorted(times))
        # The rest are the most recent: at a band with decisions in both halves, every
        # recent one came later in the band's allocations than every first one (the
        # counts are per band, so only a band's own compare).
        last_first = {}
        for d in first:
            last_first[(d.site_id, d.band)] = max(d.allocations, last_first.get((d.site_id, d.band), 0))
        for d in recent:
            if (d.site_id, d.band) in last_first:
                self.assertGreater(d.allocations, last_first[(d.site_id, d.band)])


class ToolsReadTheRealThingTest(unittest.TestCase):
    """The preload's own files through every command that reads telemetry."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.learn = os.path.join(cls.tmp, "learn.pb")
        run(40, HAKMEM_MODE="learn", HAKMEM_TELEMETRY=cls.learn)

    def tool(self, *args, status=0):
        env = dict(os.environ, HOME=self.tmp, GOCACHE=os.path.join(self.tmp, "go"),
                   PPROF_TMPDIR=self.tmp)
        proc = subprocess.run([TOOL] + list(args), capture_output=True, text=True, env=env)
        self.assertEqual(proc.returncode, status, proc.stderr)
        return proc

    def test_report(self):
        out = self.tool("report", self.learn).stdout
        self.assertIn("CycleFrames", out)
        self.assertIn("large band: chose bigcache", out)
        self.assertIn("drops: none", out)

    def test_freeze_then_frozen_reproduces_the_choices(self):
        table = os.path.join(self.tmp, "table.pb")
        self.tool("freeze", self.learn, "-o", table)
        frozen = os.path.join(self.tmp, "frozen.pb")
        run(40, HAKMEM_MODE="frozen", HAKMEM_FROZEN_TABLE=table, HAKMEM_TELEMETRY=frozen)
        t, f = read_telemetry(self.learn), read_telemetry(frozen)
        for fn in ("CycleFrames", "ChurnBuffers"):
            a, b = site_by_function(t, fn), site_by_function(f, fn)
            self.assertEqual(a.key, b.key, fn)  # the same key in a new process (ASLR)
            learned = {c.band: c.strategy for c in t.choices if c.site_id == a.id}
            shipped = {c.band: c.strategy for c in f.choices if c.site_id == b.id}
            self.assertEqual(shipped, learned, fn)
        out = self.tool("diff", self.learn, frozen).stdout
        self.assertNotIn("chosen", out)

    def test_merge_of_two_runs(self):
        second = os.path.join(self.tmp, "second.pb")
        run(40, HAKMEM_MODE="learn", HAKMEM_TELEMETRY=second)
        ab, ba = os.path.join(self.tmp, "ab.pb"), os.path.join(self.tmp, "ba.pb")
        self.tool("merge", self.learn, second, "-o", ab)
        self.tool("merge", second, self.learn, "-o", ba)
        with open(ab, "rb") as x, open(ba, "rb") as y:
            self.assertEqual(x.read(), y.read())
        m = read_telemetry(ab)
        self.assertEqual(len(m.runs), 2)
        self.assertEqual(len([s for s in m.sites if "CycleFrames" in function_of(m, s)]), 1)
        self.assertIn("no changes", self.tool("diff", self.learn, self.learn).stdout)

    def test_pprof_read_by_go_tool_pprof(self):
        out = os.path.join(self.tmp, "p.pb.gz")
        self.tool("pprof", self.learn, "-o", out)
        env = dict(os.environ, HOME=self.tmp, GOCACHE=os.path.join(self.tmp, "go"),
                   PPROF_TMPDIR=self.tmp)
        top = subprocess.run(["go", "tool", "pprof", "-top", "-sample_index=alloc_space", out],
                             capture_output=True, text=True, env=env)
        self.assertEqual(top.returncode, 0, top.stderr)
        self.assertIn("CycleFrames", top.stdout)
        # 40 rounds of 4 frames of 2 MiB each: 320 MiB allocated at CycleFrames.
        line = next(l for l in top.stdout.splitlines() if "CycleFrames" in l)
        self.assertIn("320MB", line.replace(" ", ""))


class BadPathTest(unittest.TestCase):
    def check(self, path, **extra):
        plain = run(40, HAKMEM_MODE="learn", **extra)
        bad = run(40, HAKMEM_MODE="learn", HAKMEM_TELEMETRY=path, **extra)
        self.assertEqual(bad.stdout, plain.stdout)
        lines = bad.stderr.splitlines()
        self.assertEqual(len(lines), 1, bad.stderr)
        self.assertIn("cannot write HAKMEM_TELEMETRY='%s'" % path, lines[0])
        return lines[0]

    def test_missing_directory(self):
        self.assertIn("No such file or directory", self.check("/nonexistent-dir/t.pb"))

    def test_parent_is_a_file(self):
        self.assertIn("Not a directory", self.check("/proc/version/t.pb"))

    def test_periodic_writes_complain_once(self):
        self.check("/nonexistent-dir/t.pb", HAKMEM_TELEMETRY_INTERVAL_MS="1")


if __name__ == "__main__":
    unittest.main()

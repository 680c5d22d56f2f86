"""Whole-process test of call-site profiling: runs testdata/sites_main under the preloaded
hakmem with HAKMEM_SITE_REPORT and checks the report against what the program did.

Arguments (from BUILD): LIBHAKMEM SITES_MAIN PLUGIN_SO
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

LIB, MAIN, PLUGIN = (os.path.abspath(p) for p in sys.argv[1:4])
del sys.argv[1:4]

# 4 KiB mean interval: a 100-byte request is sampled with p = 1 - exp(-100/4096) ~ 2.4%,
# so 200k of them give ~4.8k samples and a relative standard error of ~1.4%. The
# tolerance below is over 5 standard errors: a correct estimator fails it about never,
# a biased one (say, weights of 1/p computed for the class size) fails it at once.
SAMPLE_BYTES = 4096
TOLERANCE = 0.08


def run(extra_env=None, threads=None, report=True):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sites.json")
        env = dict(os.environ, LD_PRELOAD=LIB, HAKMEM_SAMPLE_BYTES=str(SAMPLE_BYTES))
        if report:
            env["HAKMEM_SITE_REPORT"] = path
        env.update(extra_env or {})
        cmd = [MAIN, PLUGIN] + (["--threads", str(threads)] if threads else [])
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise AssertionError("sites_main failed (%d): %s" % (proc.returncode, proc.stderr))
        doc = None
        if report and os.path.exists(path):
            with open(path) as f:
                doc = json.load(f)
        return proc, doc


def by_symbol(doc):
    return {s["symbol"]: s for s in doc["sites"] if s["symbol"]}


def key(site):
    return (site["module"], site["build_id"], site["offset"])


class SiteReportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc1, cls.doc1 = run()
        cls.proc2, cls.doc2 = run()
        cls.sites1 = by_symbol(cls.doc1)
        cls.sites2 = by_symbol(cls.doc2)

    def assertNear(self, actual, expected, what):
        self.assertLessEqual(abs(actual - expected), TOLERANCE * expected,
                             "%s: estimated %s, true %s" % (what, actual, expected))

    def test_every_known_site_is_reported(self):
        for name in ("AllocSmallA", "AllocLargeB", "PluginAlloc", "test.named"):
            self.assertIn(name, self.sites1, "missing site %s; have %s" % (name, sorted(self.sites1)))

    def test_large_allocations_are_counted_exactly(self):
        s = self.sites1["AllocLargeB"]
        self.assertFalse(s["allocs_estimated"])
        self.assertEqual(s["allocs"], 300)
        self.assertEqual(s["frees"], 300)
        self.assertEqual(s["bytes"], 300 * 300 * 1024)
        self.assertEqual(s["size_histogram"], {str((1 << 19) - 1): 300})
        self.assertEqual(sum(s["lifetime_histogram"].values()), 300)
        self.assertEqual(s["peak_live_bytes"], 300 * 1024)  # one block live at a time

    def test_small_allocations_are_sampled_and_scaled(self):
        s = self.sites1["AllocSmallA"]
        self.assertTrue(s["allocs_estimated"])
        self.assertNear(s["allocs"], 200000, "AllocSmallA allocs")
        self.assertNear(s["bytes"], 200000 * 100, "AllocSmallA bytes")
        self.assertNear(s["frees"], 200000, "AllocSmallA frees")
        self.assertEqual(list(s["size_histogram"]), ["112"])  # 100 bytes -> the 112 class

    def test_dlopened_module_has_its_own_key(self):
        s = self.sites1["PluginAlloc"]
        self.assertTrue(s["module"].endswith("libplugin.so"), s["module"])
        self.assertRegex(s["build_id"] or "", r"^[0-9a-f]{16,}$")
        self.assertNear(s["allocs"], 50000, "PluginAlloc allocs")
        main = self.sites1["AllocSmallA"]
        self.assertTrue(main["module"].endswith("sites_main"), main["module"])
        self.assertNotEqual(main["build_id"], s["build_id"])

    def test_named_site(self):
        s = self.sites1["test.named"]
        self.assertEqual(s["module"], "(named)")
        self.assertEqual(s["allocs"], 10)  # 512 KiB each: above the large threshold, exact

    def test_symbols_have_file_and_line_from_debug_info(self):
        s = self.sites1["AllocSmallA"]
        self.assertTrue((s["file"] or "").endswith("sites_main.cc"), s["file"])
        self.assertGreater(s["line"], 0)

    def test_keys_are_stable_across_runs_under_aslr(self):
        addr1 = [l for l in self.proc1.stdout.splitlines() if l.startswith("address")]
        addr2 = [l for l in self.proc2.stdout.splitlines() if l.startswith("address")]
        self.assertNotEqual(addr1, addr2, "ASLR seems off: the functions did not move")
        for name in ("AllocSmallA", "AllocLargeB", "PluginAlloc", "test.named"):
            self.assertEqual(key(self.sites1[name]), key(self.sites2[name]), name)

    def test_no_sites_dropped(self):
        self.assertEqual(self.doc1["dropped_sites"], 0)


class ConcurrencyTest(unittest.TestCase):
    def test_many_threads_exact_large_counts_and_unbiased_estimates(self):
        threads = 4
        _, doc = run(threads=threads)
        sites = by_symbol(doc)
        large = sites["AllocLargeB"]
        self.assertEqual(large["allocs"], 300 * threads)
        self.assertEqual(large["frees"], 300 * threads)
        self.assertEqual(large["cross_thread_frees"], 0)
        small = sites["AllocSmallA"]
        self.assertLessEqual(abs(small["allocs"] - 200000 * threads), TOLERANCE * 200000 * threads,
                             "estimated %s" % small["allocs"])
        self.assertEqual(sites["test.named"]["allocs"], 10 * threads)


class SettingsTest(unittest.TestCase):
    def test_profiling_off_records_nothing(self):
        _, doc = run({"HAKMEM_PROFILE_SITES": "0"})
        self.assertEqual(doc["sites"], [])

    def test_unwritable_report_path_is_one_line_and_harmless(self):
        baseline, _ = run(report=False)
        proc, _ = run({"HAKMEM_SITE_REPORT": "/nonexistent-dir/sites.json"}, report=False)
        lines = [l for l in proc.stderr.splitlines() if "HAKMEM_SITE_REPORT" in l]
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertIn("/nonexistent-dir/sites.json", lines[0])
        # Output is the program's own, apart from the function addresses ASLR moves.
        strip = lambda out: [l for l in out.splitlines() if not l.startswith("address")]
        self.assertEqual(strip(proc.stdout), strip(baseline.stdout))


if __name__ == "__main__":
    unittest.main()

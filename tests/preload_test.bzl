"""One set of whole-process tests against one preloadable allocator.

Each test runs a workload twice through run_under_preload.py (glibc, then LD_PRELOAD=lib)
and requires identical stdout and exit status plus the allocator's proof line on stderr.
The suite is instantiated for hakmem in BUILD.bazel, and once more for a known-good system
allocator (tagged manual) so that a failure can be told apart from a harness bug.
"""

def _test(name, size, data, args, tags):
    native.py_test(
        name = name,
        size = size,
        srcs = [
            "hakmem_run.py",
            "run_under_preload.py",
        ],
        main = "run_under_preload.py",
        python_version = "PY3",
        data = data,
        args = args,
        # Real programs under the preload: never under a sanitizer (build_defs.bzl).
        tags = tags + ["whole_process"],
    )

def preload_suite(
        prefix,
        lib_arg,
        lib_data,
        proof_regex,
        proof_env,
        stress_args = [],
        stress_min_processes = 2,
        extra_env = [],
        expect = [],
        own_prefix = "hakmem:",
        tags = []):
    """Defines <prefix>{python,sqlite,lua,stress}_preload_test.

    Args:
      prefix: prepended to every target name.
      lib_arg: path of the library, as the runner sees it (a $(rootpath) or absolute path).
      lib_data: labels the library path needs in runfiles ([] for a system path).
      proof_regex: regex the preloaded stderr must match; a (?P<pid>...) group enables the
        per-process checks of the runner.
      proof_env: VAR=VALUE that makes the allocator print its proof.
      stress_args: extra arguments for the stress program.
      stress_min_processes: processes expected to print a proof line in the stress test
        (the parent and its forked child).
      extra_env: VAR=VALUE settings for every run of every test (e.g. HAKMEM_STRATEGY).
      expect: conditions over the counters of the command's own exit line that every test
        requires, e.g. "mmap_blocks == 0" when BigCache is forced.
      own_prefix: the allocator's own stderr lines; any but its proof lines fail a test.
      tags: added to every test.
    """
    common_args = [
        "--lib=" + lib_arg,
        # Quoted: Bazel splits args like a shell, and the regex may contain spaces.
        "'--proof-regex=" + proof_regex + "'",
        "--proof-env=" + proof_env,
        "--own-prefix=" + own_prefix,
    ] + ["--env=" + e for e in extra_env] + ["'--expect=" + e + "'" for e in expect]

    _test(
        prefix + "python_preload_test",
        "medium",
        lib_data + ["workloads/alloc_heavy.py"],
        common_args + [
            # Route every object through malloc, not pymalloc's arenas; fix str hashing.
            "--env=PYTHONMALLOC=malloc",
            "--env=PYTHONHASHSEED=0",
            "--timeout=100",
            "--",
            "/usr/bin/python3",
            "$(rootpath workloads/alloc_heavy.py)",
        ],
        tags,
    )
    _test(
        prefix + "sqlite_preload_test",
        "small",
        lib_data + ["workloads/sqlite_script.sql"],
        common_args + [
            "--stdin=$(rootpath workloads/sqlite_script.sql)",
            "--timeout=25",
            "--",
            "/usr/bin/sqlite3",
            ":memory:",
        ],
        tags,
    )
    _test(
        prefix + "lua_preload_test",
        "small",
        lib_data + ["workloads/churn.lua"],
        common_args + [
            "--timeout=25",
            "--",
            "/usr/bin/lua5.4",
            "$(rootpath workloads/churn.lua)",
        ],
        tags,
    )
    _test(
        prefix + "stress_preload_test",
        "medium",
        lib_data + [":stress"],
        common_args + [
            "--min-processes=%d" % stress_min_processes,
            "--timeout=100",
            "--",
            "$(rootpath :stress)",
        ] + stress_args,
        tags,
    )

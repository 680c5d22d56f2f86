"""Whole-process tests of real programs and of the reliability workloads under hakmem, in
its modes and with each strategy forced. See README.md in this folder."""

def _hakmem_run_test(name, main, size, args, data, configs, scale, tags):
    """A test run by MAIN through hakmem_run.py in each configuration (CONFIGS, or all)."""
    args = args + [
        "--lib=$(rootpath //core:libhakmem.so)",
        "--hakmem=$(rootpath //tools:hakmem)",
        "--scale=" + scale,
    ]
    if configs:
        args.append("--configs=" + ",".join(configs))
    native.py_test(
        name = name,
        size = size,
        srcs = [
            "hakmem_run.py",
            main,
        ],
        main = main,
        python_version = "PY3",
        args = args,
        data = data + [
            "//core:libhakmem.so",
            "//tools:hakmem",
        ],
        tags = tags + ["whole_process"],
    )

def reliability_test(name, case, size, configs = None, scale = "quick", tags = []):
    """One case of reliability.cc, run by reliability_test.py in each configuration."""
    _hakmem_run_test(
        name = name,
        main = "reliability_test.py",
        size = size,
        args = [
            "--program=$(rootpath :reliability)",
            "--plugin=$(rootpath :libreliability_plugin.so)",
            "--case=" + case,
        ],
        data = [
            ":libreliability_plugin.so",
            ":reliability",
        ],
        configs = configs,
        scale = scale,
        tags = tags,
    )

def real_program_test(name, program, size, configs = None, scale = "quick", tags = []):
    """One real program (real_programs_test.py) under hakmem in each configuration."""
    _hakmem_run_test(
        name = name,
        main = "real_programs_test.py",
        size = size,
        args = [
            "--program=" + program,
            "--workloads=tests/workloads",
            "--source=$(rootpath reliability.cc)",
        ],
        data = [
            "reliability.cc",
            "stress.cc",
            "testdata/fail.h",
            "testdata/pattern.h",
            "workloads/regrtest_driver.py",
            "workloads/sqlite_blobs.sql",
            "workloads/tables.lua",
            "//learner:frozen_table.proto",
            "//learner:telemetry.proto",
        ],
        configs = configs,
        scale = scale,
        tags = tags,
    )

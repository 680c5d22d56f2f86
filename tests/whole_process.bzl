"""Whole-process tests of real programs and of the reliability workloads under hakmem, in
its modes and with each strategy forced. See README.md in this folder."""

_TOOLS = [
    "//core:libhakmem.so",
    "//tools:hakmem",
]

def reliability_test(name, case, size, configs = None, scale = "quick", tags = []):
    """One case of reliability.cc, run by reliability_test.py in each configuration."""
    args = [
        "--lib=$(rootpath //core:libhakmem.so)",
        "--hakmem=$(rootpath //tools:hakmem)",
        "--program=$(rootpath :reliability)",
        "--plugin=$(rootpath :libreliability_plugin.so)",
        "--case=" + case,
        "--scale=" + scale,
    ]
    if configs:
        args.append("--configs=" + ",".join(configs))
    native.py_test(
        name = name,
        size = size,
        srcs = [
            "hakmem_run.py",
            "reliability_test.py",
        ],
        main = "reliability_test.py",
        python_version = "PY3",
        args = args,
        data = _TOOLS + [
            ":libreliability_plugin.so",
            ":reliability",
        ],
        tags = tags + ["whole_process"],
    )

def real_program_test(name, program, size, configs = None, scale = "quick", tags = []):
    """One real program (real_programs_test.py) under hakmem in each configuration."""
    args = [
        "--lib=$(rootpath //core:libhakmem.so)",
        "--hakmem=$(rootpath //tools:hakmem)",
        "--program=" + program,
        "--scale=" + scale,
        "--workloads=tests/workloads",
        "--source=$(rootpath reliability.cc)",
    ]
    if configs:
        args.append("--configs=" + ",".join(configs))
    native.py_test(
        name = name,
        size = size,
        srcs = [
            "hakmem_run.py",
            "real_programs_test.py",
        ],
        main = "real_programs_test.py",
        python_version = "PY3",
        args = args,
        data = _TOOLS + [
            "reliability.cc",
            "stress.cc",
            "testdata/pattern.h",
            "workloads/regrtest_driver.py",
            "workloads/sqlite_blobs.sql",
            "workloads/tables.lua",
            "//learner:frozen_table.proto",
            "//learner:telemetry.proto",
        ],
        tags = tags + ["whole_process"],
    )

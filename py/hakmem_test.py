"""pytest tests of the Python module `hakmem`: the preload's own telemetry and frozen
table loaded as DataFrames (columns and dtypes), errors as exceptions with the command
line's messages, and merge_bytes equal to `hakmem merge`.

Arguments (from BUILD): LIBHAKMEM TWO_SITES HAKMEM_TOOL
"""
import json
import os
import re
import subprocess
import sys

# Bazel puts the workspace root on sys.path, where this directory (py/) would pass for
# the `py` library that pytest imports.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _ROOT]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import hakmem  # noqa: E402

LIB, PROG, TOOL = (os.path.abspath(p) for p in sys.argv[1:4])


def run_two_sites(tmp, rounds=40, **settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAKMEM_")}
    env.update(LD_PRELOAD=LIB, **settings)
    subprocess.run([PROG, str(rounds)], env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    learn, table = str(tmp / "learn.pb"), str(tmp / "table.pb")
    report = str(tmp / "report.json")
    run_two_sites(tmp, HAKMEM_MODE="learn", HAKMEM_TELEMETRY=learn, HAKMEM_FREEZE_TO=table,
                  HAKMEM_SITE_REPORT=report)
    second = str(tmp / "second.pb")
    run_two_sites(tmp, HAKMEM_MODE="learn", HAKMEM_TELEMETRY=second)
    with open(report) as f:
        report = json.load(f)
    return {"learn": learn, "table": table, "second": second, "tmp": tmp, "report": report}


def site(frame, name):
    rows = frame[frame["symbol"].astype(str).str.contains(name)]
    assert len(rows) == 1, frame["symbol"].tolist()
    return rows.iloc[0]


def test_telemetry_tables_and_dtypes(files):
    r = hakmem.load(files["learn"])
    assert r.kind == "telemetry"
    for table in hakmem.TABLES:
        assert isinstance(r.frame(table), pd.DataFrame)
    s = r.sites
    assert s["symbol"].dtype == "category"
    assert s["key"].dtype == np.uint64
    for col in ("allocs", "bytes", "live_bytes", "peak_live_bytes", "line", "lifetime_p50_ns"):
        assert s[col].dtype == np.int64, col
    assert s["allocs_estimated"].dtype == bool
    # What the learner chose is the learner's (learn_freeze_test checks it; on a loaded
    # machine ChurnBuffers may end the run undecided). What is checked here is that the
    # module reads what the process itself reported at exit, site by site.
    reported = {int(x["key"], 16): x["strategy"] for x in files["report"]["sites"]}
    read = dict(zip(s["key"].astype(int), s["strategy"].astype(str)))
    assert len(reported) >= 2 and {k: read.get(k) for k in reported} == reported
    assert site(s, "CycleFrames")["strategy"] == "bigcache"  # 2 MiB reuse: wins by ~70x
    assert site(s, "CycleFrames")["allocs"] == 160  # 40 rounds of 4: routed, so exact
    c = r.curves
    assert list(c.columns[:8]) == ["run", "site", "symbol", "band", "strategy", "match",
                                   "allocations", "time_ns"]
    assert c["rating"].dtype == np.float64 and c["time_ns"].dtype == np.int64
    np.testing.assert_allclose(c["cost_ns"], c["alloc_time_ns"] + c["fault_ns"] + c["idle_ns"])
    cycle = c[c["symbol"].astype(str).str.contains("CycleFrames")]
    assert set(cycle["strategy"]) == {"bigcache", "mmap"}  # the large band's two
    d = r.decisions
    kinds = set(d[d["symbol"].astype(str).str.contains("CycleFrames")]["kind"])
    assert {"trials_begin", "commit"} <= kinds
    assert len(r.timeline) >= 1 and r.timeline["mapped_bytes"].iloc[-1] > 0
    assert r.runs["mode"].iloc[0] == "learn" and bool(r.runs["complete"].iloc[0])
    o = r.outcomes
    assert (o.groupby(["site", "band"], observed=True)["tries"].sum() > 0).all()
    # Learn mode prices direct mapping by the model before it maps a block live: the first
    # window's samples of it at CycleFrames are modelled ones, counted apart from tries.
    assert o["modelled"].dtype == np.int64 and (o["modelled"] <= o["samples"]).all()
    cycle_mmap = o[o["symbol"].astype(str).str.contains("CycleFrames") & (o["strategy"] == "mmap")]
    assert len(cycle_mmap) == 1 and cycle_mmap["modelled"].iloc[0] >= 8


def test_arrays_are_numpy_without_python_objects(files):
    arrays = hakmem.load(files["learn"]).arrays("curves")
    for name, value in arrays.items():
        if isinstance(value, tuple):
            codes, categories = value
            assert codes.dtype == np.int64 and isinstance(categories, list), name
        else:
            assert isinstance(value, np.ndarray) and value.dtype != object, name
    with pytest.raises(hakmem.Error, match="no table 'nope'"):
        hakmem.load(files["learn"]).arrays("nope")


def test_frozen_table(files):
    t = hakmem.load(files["table"])
    assert t.kind == "frozen_table"
    # The module's rows are `hakmem show`'s, chosen strategy for chosen strategy.
    shown = subprocess.run([TOOL, "show", files["table"]], check=True, capture_output=True,
                           text=True).stdout
    rows = re.findall(r"^ +\d+ +(\S+) +(small|middle|large) +(\S+)", shown, re.M)
    assert len(rows) == len(t.sites) >= 2
    assert sorted((re.sub(r"\[[0-9a-f]+\]", "", sym), band, "none" if c == "-" else c)
                  for sym, band, c in rows) == \
        sorted(zip(t.sites["symbol"].astype(str), t.sites["band"].astype(str),
                   t.sites["strategy"].astype(str)))
    assert "bigcache" in set(t.sites["strategy"])  # CycleFrames, as above
    assert {"site", "symbol", "band", "strategy", "samples", "rating",
            "mean_cost_ns"} <= set(t.outcomes.columns)
    assert len(t.curves) == 0 and len(t.timeline) == 0


def cli_error(*args):
    p = subprocess.run([TOOL] + list(args), capture_output=True, text=True)
    assert p.returncode == 1
    return p.stderr.strip().split(": ", 1)[1]  # without "hakmem diff: "


@pytest.mark.parametrize("content", [b"", b"not a hakmem file at all", None, "truncated"])
def test_bad_files_raise_with_the_command_lines_message(files, content):
    path = str(files["tmp"] / "bad.pb")
    if content == "truncated":
        with open(files["learn"], "rb") as f:
            content = f.read()[:100]
    if content is None:
        path = str(files["tmp"] / "missing.pb")
    else:
        with open(path, "wb") as f:
            f.write(content)
    with pytest.raises(hakmem.FileError) as e:
        hakmem.load(path)
    # `hakmem diff` reads both kinds, as load does: the same reader, the same message.
    assert str(e.value) == cli_error("diff", path, path)
    assert isinstance(e.value, hakmem.Error)


def test_merge_bytes_is_hakmem_merge(files):
    out = str(files["tmp"] / "merged.pb")
    subprocess.run([TOOL, "merge", files["learn"], files["second"], "-o", out], check=True,
                   capture_output=True)
    parts = []
    for p in (files["second"], files["learn"]):
        with open(p, "rb") as f:
            parts.append(f.read())
    with open(out, "rb") as f:
        assert hakmem.merge_bytes(parts) == f.read()
    with pytest.raises(hakmem.FileError, match="input 1: bad magic"):
        hakmem.merge_bytes([parts[0], b"junk"])


def test_trace_pairs_every_mapped_block_with_its_free(files):
    path = str(files["tmp"] / "trace.bin")
    telemetry = str(files["tmp"] / "traced.pb")
    run_two_sites(files["tmp"], HAKMEM_MODE="learn", HAKMEM_TRACE=path, HAKMEM_TELEMETRY=telemetry)
    header = hakmem.load_trace_header(path)
    t = hakmem.load_trace(path)
    assert t.dtype == hakmem.trace_dtype() and len(t) == header["records"] > 0
    assert header["dropped"] == 0
    assert np.all(np.diff(t["time_ns"].astype(np.int64)) >= 0) or len(set(t["thread"])) > 1
    cycle = site(hakmem.load(telemetry).sites, "CycleFrames")
    allocs = t[(t["kind"] == 1) & (t["site"] == cycle["key"])]
    assert len(allocs) == 160 and set(allocs["size"]) == {2 << 20}
    assert set(allocs["band"]) == {1} and set(allocs["strategy"]) <= {2, 3}
    # CycleFrames writes every page of its 2 MiB buffers: their frees found them resident.
    frees = t[(t["kind"] == 2) & (t["size"] == 2 << 20)]
    assert len(frees) == 160 and set(frees["touched_pages"]) == {512}
    assert set(t[t["kind"] == 1]["touched_pages"]) == {0}
    live = {}
    for r in t:
        if r["kind"] == 1:
            live[int(r["address"])] = r
        elif r["kind"] == 2:
            assert int(r["address"]) in live, "a free of a block never allocated"
            assert r["size"] == live.pop(int(r["address"]))["size"]
    # Pool-served blocks have no free record; every mapped block was freed.
    assert all(r["strategy"] == 1 for r in live.values())


def test_trace_bound_and_bad_files(files):
    path = str(files["tmp"] / "small.bin")
    run_two_sites(files["tmp"], HAKMEM_MODE="learn", HAKMEM_TRACE=path, HAKMEM_TRACE_RECORDS="16")
    header = hakmem.load_trace_header(path)
    assert header["records"] == 16 and header["dropped"] > 0
    with open(path, "rb") as f:
        data = f.read()
    cut = str(files["tmp"] / "cut.bin")
    with open(cut, "wb") as f:
        f.write(data[:-5])
    with pytest.raises(hakmem.FileError, match="but the header says 16 records"):
        hakmem.load_trace(cut)
    with pytest.raises(hakmem.FileError, match="bad magic"):
        hakmem.load_trace(files["learn"])


if __name__ == "__main__":
    args = [__file__, "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
            "--rootdir", os.path.dirname(os.path.abspath(__file__))]
    if "TEST_TMPDIR" in os.environ:  # under bazel test: its scratch directory
        args += ["--basetemp", os.path.join(os.environ["TEST_TMPDIR"], "pytest")]
    sys.exit(pytest.main(args))

"""pytest tests of hakmem.Engine and hakmem.sweep: a live `learn` run's trace replayed
through the learner's tournament reproduces the run's decisions; replays are
deterministic; the frozen table a replay writes is one the preload accepts; bad settings
and bad files raise hakmem.Error / hakmem.FileError with one-line messages.

Arguments (from BUILD): LIBHAKMEM THREE_SITES HAKMEM_TOOL MULTISITE
"""
import os
import subprocess
import sys

# Bazel puts the workspace root on sys.path, where this directory (py/) would pass for
# the `py` library that pytest imports.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _ROOT]

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import hakmem  # noqa: E402

LIB, THREE_SITES, TOOL, MULTISITE = (os.path.abspath(p) for p in sys.argv[1:5])


def run(prog, args, **settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAKMEM_")}
    env.update(LD_PRELOAD=LIB, **settings)
    return subprocess.run([prog] + args, env=env, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Live learn runs with their traces and telemetry."""
    tmp = tmp_path_factory.mktemp("recorded")
    out = {"tmp": tmp}
    # three_sites with 4 KiB pages: its RareSnapshots site writes one byte of 8 MiB blocks,
    # a clear win for direct mapping there. With huge pages that byte zeroes 2 MiB, and
    # the two strategies come within noise of each other (learner/shadow_test.py too).
    for name, prog, args, pages in (
            ("three_sites", THREE_SITES, ["60"], "0"),
            ("multisite", MULTISITE, ["--rounds=500", "--period_ms=10"], "1")):
        trace, telemetry = str(tmp / (name + ".trace")), str(tmp / (name + ".pb"))
        run(prog, args, HAKMEM_MODE="learn", HAKMEM_TRACE=trace, HAKMEM_TELEMETRY=telemetry,
            HAKMEM_HUGE_PAGES=pages)
        out[name] = (trace, telemetry)
    return out


def choices(loaded):
    """{(site key, band): chosen strategy} from a telemetry-like result's sites table."""
    s = loaded.sites
    out = {}
    for _, row in s.iterrows():
        for band in ("middle", "large", "huge"):
            c = row["chosen_" + band]
            if isinstance(c, str):
                out[(int(row["key"]), band)] = c
    return out


def test_replay_reproduces_the_live_runs_decisions(recorded):
    # three_sites has a clear best strategy at each site, one of each. (The multi-site
    # workload's snapshot site is a close call, decided late or not at all: a replay
    # cannot reproduce which way a coin fell.)
    trace, telemetry = recorded["three_sites"]
    live = choices(hakmem.load(telemetry))
    replayed = hakmem.Engine(trace, telemetry=telemetry).run(progress=False)
    assert choices(replayed) == live
    # Every strategy won somewhere, so the comparison is not of undecided to undecided.
    assert {"pool", "bigcache", "mmap"} <= set(live.values())
    # The replay ran the recorded run's parameters and prices.
    run_row = hakmem.load(telemetry).runs.iloc[0]
    assert replayed.runs.iloc[0]["fault_ns"] == pytest.approx(run_row["fault_ns"])


def test_replay_tables_have_the_load_columns(recorded):
    trace, telemetry = recorded["three_sites"]
    live = hakmem.load(telemetry)
    r = hakmem.Engine(trace, telemetry=telemetry).run(progress=False)
    for table in ("runs", "sites", "curves", "decisions", "outcomes"):
        assert list(r.frame(table).columns) == list(live.frame(table).columns), table
        assert list(r.frame(table).dtypes) == list(live.frame(table).dtypes), table
    assert len(r.curves) > 0 and len(r.decisions) > 0
    rep = r.replay
    assert {"site", "key", "symbol", "band", "chosen", "allocations", "first_commit_allocations",
            "cost_ns", "alloc_time_ns", "fault_ns", "idle_ns"} <= set(rep.columns)
    frames = rep[rep["symbol"].astype(str).str.contains("CycleFrames")].iloc[0]
    assert frames["allocations"] == 240 and frames["chosen"] == "bigcache"
    assert frames["bigcache_allocations"] + frames["mmap_allocations"] == 240
    assert 0 < frames["first_commit_allocations"] < 240


def test_replay_is_deterministic_and_the_seed_matters(recorded):
    trace, telemetry = recorded["three_sites"]

    def tables(engine):
        r = engine.run(progress=False)
        return {t: r.frame(t) for t in ("sites", "curves", "decisions", "outcomes")} | {"replay": r.replay}

    a = tables(hakmem.Engine(trace, telemetry=telemetry, explore_every=1, seed=7))
    stepped = hakmem.Engine(trace, telemetry=telemetry, explore_every=1, seed=7)
    while not stepped.step(37):  # other chunks than run()'s
        pass
    b = tables(stepped)
    for t in a:
        pd.testing.assert_frame_equal(a[t], b[t])
    c = tables(hakmem.Engine(trace, telemetry=telemetry, explore_every=1, seed=8))
    explores = lambda d: d[d["kind"] == "explore"][["site", "allocations", "to"]].values.tolist()
    assert explores(a["decisions"]) and explores(a["decisions"]) != explores(c["decisions"])


def test_learned_costs_no_more_than_the_worst_fixed_strategy(recorded):
    trace, telemetry = recorded["multisite"]
    cost = {}
    for mode, strategy in (("learn", None), ("fixed", "bigcache"), ("fixed", "mmap")):
        r = hakmem.Engine(trace, telemetry=telemetry, mode=mode, strategy=strategy).run(progress=False)
        cost[strategy or mode] = r.replay["cost_ns"].sum()
        if strategy == "mmap":
            mapped = r.replay[r.replay["band"] != "middle"]
            assert (mapped["mmap_allocations"] == mapped["allocations"]).all()
    assert cost["learn"] < max(cost["bigcache"], cost["mmap"])
    shadow = hakmem.Engine(trace, telemetry=telemetry, mode="shadow").run(progress=False).replay
    middle = shadow[shadow["band"] == "middle"]
    assert (middle["pool_allocations"] == middle["allocations"]).all()  # defaults serve


def test_freeze_writes_a_table_the_preload_accepts(recorded):
    trace, telemetry = recorded["three_sites"]
    table = str(recorded["tmp"] / "replayed_table.pb")
    hakmem.Engine(trace, telemetry=telemetry).freeze(table)
    shown = subprocess.run([TOOL, "show", table], check=True, capture_output=True, text=True).stdout
    assert "status: ok" in shown
    frozen = hakmem.load(table)
    assert frozen.kind == "frozen_table"
    assert set(frozen.sites["strategy"].astype(str)) >= {"bigcache", "pool", "mmap"}
    # Production loads it: in frozen mode the route's decisions come from the table alone,
    # and telemetry reports them.
    served = str(recorded["tmp"] / "served.pb")
    p = run(THREE_SITES, ["10"], HAKMEM_MODE="frozen", HAKMEM_FROZEN_TABLE=table,
            HAKMEM_TELEMETRY=served)
    assert "checksum=" in p.stdout and "hakmem:" not in p.stderr
    c = choices(hakmem.load(served))
    live = choices(hakmem.load(telemetry))
    assert {k: v for k, v in c.items() if v != "none"} == {k: v for k, v in live.items() if v != "none"}
    with pytest.raises(hakmem.Error, match="freezing needs the recorded run's telemetry"):
        hakmem.Engine(trace).freeze(str(recorded["tmp"] / "never.pb"))
    assert not os.path.exists(recorded["tmp"] / "never.pb")


def test_sweep_gives_one_row_per_setting_and_band(recorded):
    trace, telemetry = recorded["three_sites"]
    grid = [dict(k_factor=k, explore_every=e) for k in (8, 32) for e in (16, 256)]
    df = hakmem.sweep(trace, grid, telemetry=telemetry, workers=2, progress=False)
    bands = len(hakmem.Engine(trace, telemetry=telemetry).run(progress=False).replay)
    assert len(df) == len(grid) * bands
    assert sorted(df["setting"].unique()) == list(range(len(grid)))
    assert set(df["k_factor"]) == {8, 32} and set(df["explore_every"]) == {16, 256}
    one = hakmem.Engine(trace, telemetry=telemetry, **grid[3]).run(progress=False).replay
    pd.testing.assert_frame_equal(
        df[df["setting"] == 3][list(one.columns)].reset_index(drop=True), one)
    with pytest.raises(TypeError, match="unknown setting k"):
        hakmem.sweep(trace, [dict(k=3)])


def test_bad_settings_and_files(recorded, tmp_path):
    trace, telemetry = recorded["three_sites"]
    other_trace, other_telemetry = recorded["multisite"]
    cases = [
        (dict(mode="guess"), hakmem.Error, "mode: 'guess' is not learn, shadow or fixed"),
        (dict(k_factor=-1.0), hakmem.Error, "k_factor: must be a positive number"),
        (dict(min_samples=0), hakmem.Error, "min_samples: must be at least 1"),
        (dict(mode="fixed"), hakmem.Error, "mode 'fixed' needs a strategy"),
        (dict(mode="fixed", strategy="heap"), hakmem.Error, "'heap' is not pool, bigcache or mmap"),
        (dict(strategy="mmap"), hakmem.Error, "strategy: only with mode='fixed'"),
    ]
    for kwargs, exc, message in cases:
        with pytest.raises(exc, match=message):
            hakmem.Engine(trace, telemetry=telemetry, **kwargs)
    missing = str(tmp_path / "missing.trace")
    with pytest.raises(hakmem.FileError, match="missing.trace: No such file or directory"):
        hakmem.Engine(missing)
    with open(trace, "rb") as f:
        data = f.read()
    cut = str(tmp_path / "cut.trace")
    with open(cut, "wb") as f:
        f.write(data[:-7])
    with pytest.raises(hakmem.FileError, match="cut.trace: .* but the header says"):
        hakmem.Engine(cut)
    with pytest.raises(hakmem.FileError, match="bad magic"):
        hakmem.Engine(telemetry)  # telemetry where the trace goes
    with pytest.raises(hakmem.FileError, match="no run with the trace's pid"):
        hakmem.Engine(trace, telemetry=other_telemetry)
    table = str(tmp_path / "t.pb")
    hakmem.Engine(other_trace, telemetry=other_telemetry).freeze(table)
    with pytest.raises(hakmem.FileError, match="a frozen table, not telemetry"):
        hakmem.Engine(other_trace, telemetry=table)
    # One line each.
    try:
        hakmem.Engine(cut)
    except hakmem.FileError as e:
        assert "\n" not in str(e)


if __name__ == "__main__":
    args = [__file__, "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
            "--rootdir", os.path.dirname(os.path.abspath(__file__))]
    if "TEST_TMPDIR" in os.environ:  # under bazel test: its scratch directory
        args += ["--basetemp", os.path.join(os.environ["TEST_TMPDIR"], "pytest")]
    sys.exit(pytest.main(args))

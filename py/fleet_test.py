"""hakmem.fleet.merge on Dask's local scheduler equals the sequential merge, byte for byte,
for a few hundred small telemetry files (variants of one real run with their own pids and
numbers), and a bad file raises hakmem.FileError.

Arguments (from BUILD): LIBHAKMEM TWO_SITES
"""
import os
import random
import subprocess
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _ROOT]
sys.path.append(_ROOT)  # for `learner.telemetry_pb2`, after `py` (pytest's) is imported

import pytest  # noqa: E402

import hakmem  # noqa: E402
import hakmem.fleet  # noqa: E402

LIB, PROG = (os.path.abspath(p) for p in sys.argv[1:3])


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    from learner import telemetry_pb2
    tmp = tmp_path_factory.mktemp("fleet")
    real = str(tmp / "real.pb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAKMEM_")}
    env.update(LD_PRELOAD=LIB, HAKMEM_MODE="learn", HAKMEM_TELEMETRY=real)
    subprocess.run([PROG, "20"], env=env, check=True, capture_output=True)
    with open(real, "rb") as f:
        envelope = telemetry_pb2.TelemetryFile.FromString(f.read())
    base = telemetry_pb2.Telemetry.FromString(envelope.telemetry)
    rng = random.Random(11)
    paths = []
    for i in range(300):
        t = telemetry_pb2.Telemetry()
        t.CopyFrom(base)
        t.runs[0].pid = 100000 + i  # another process of the same program
        for p in t.site_profiles:
            p.allocs += rng.randrange(1000)
        path = str(tmp / ("f%03d.pb" % i))
        with open(path, "wb") as f:
            f.write(hakmem.telemetry_file(t.SerializeToString()))
        paths.append(path)
    return tmp, paths


def test_dask_tree_equals_the_sequential_merge(fleet):
    tmp, paths = fleet
    parts = []
    for p in paths:
        with open(p, "rb") as f:
            parts.append(f.read())
    sequential = hakmem.merge_bytes(parts)
    out = str(tmp / "fleet.pb")
    merged = hakmem.fleet.merge(reversed(paths), out=out, split_every=4, partition_size=7)
    assert merged == sequential
    loaded = hakmem.load(out)
    assert len(loaded.runs) == 300
    assert set(loaded.runs["pid"]) == set(range(100000, 100300))


def test_progress_bar_counts_every_task(fleet, capsys):
    tmp, paths = fleet
    merged = hakmem.fleet.merge(paths[:40], progress=True, split_every=4, partition_size=5)
    assert merged == hakmem.fleet.merge(paths[:40], progress=False)
    err = capsys.readouterr().err
    assert "hakmem.fleet.merge" in err and "task" in err


def test_a_bad_file_raises(fleet):
    tmp, paths = fleet
    bad = str(tmp / "bad.pb")
    with open(bad, "wb") as f:
        f.write(b"junk")
    with pytest.raises(hakmem.FileError, match="bad magic"):
        hakmem.fleet.merge(paths[:5] + [bad])


if __name__ == "__main__":
    args = [__file__, "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
            "--rootdir", os.path.dirname(os.path.abspath(__file__))]
    if "TEST_TMPDIR" in os.environ:
        args += ["--basetemp", os.path.join(os.environ["TEST_TMPDIR"], "pytest")]
    sys.exit(pytest.main(args))

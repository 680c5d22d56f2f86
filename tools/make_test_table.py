#!/usr/bin/python3
"""Test helper for hakmem_cli_test.sh: writes small learner states as frozen table files,
and prints tables back, both with the generated Python module (Debian's python3-protobuf).

  make_test_table.py write NAME OUT   NAME: a key of STATES (version2: state_a, format 2)
  make_test_table.py dump FILE        one line per entry: key band chosen per-strategy stats
"""
import sys

from learner import frozen_table_pb2 as pb

MAGIC = 0x4D4B4148
FORMAT_VERSION = 1


def fnv1a64(data):
    h = 14695981039346656037
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def params(p):
    p.elo_initial_rating = 1500
    p.elo_k_factor = 24
    p.elo_scale_points = 400
    p.draw_margin_fraction = 0.05
    p.min_samples = 16
    p.commit_margin_points = 50
    p.explore_rate_fraction = 1 / 64
    p.weight_time = 1
    p.weight_faults = 1
    p.weight_idle_ns_per_mib_second = 1e6
    p.fault_cost_ns = 250


def entry(t, band, strategy, stats, build_id="", path=b"", offset=0, name=b""):
    e = t.entries.add()
    e.module_build_id_hex = build_id
    e.module_path = path
    e.offset_bytes = offset
    e.site_name = name
    e.size_band = band
    e.strategy = strategy
    for s, rating, samples, cost in stats:
        st = e.stats.add()
        st.strategy = s
        st.rating_elo = rating
        st.samples = samples
        st.mean_cost_ns = cost


LIBA = dict(build_id="aa" * 20, offset=0x10)


def state_a(t):
    t.runs.add(program_path=b"/usr/bin/app", pid=100, start_unix_ms=1700000000000,
               duration_ms=1500)
    entry(t, pb.SIZE_BAND_MIDDLE, pb.STRATEGY_NONE,
          [(pb.STRATEGY_POOL, 1600, 10, 100), (pb.STRATEGY_BIGCACHE, 1500, 10, 200),
           (pb.STRATEGY_MMAP, 1400, 10, 900)], path=b"/usr/lib/liba.so", **LIBA)
    entry(t, pb.SIZE_BAND_HUGE, pb.STRATEGY_MMAP,
          [(pb.STRATEGY_BIGCACHE, 1450, 100, 7000), (pb.STRATEGY_MMAP, 1550, 100, 5000)],
          name=b"decoder")


def state_b(t):
    t.runs.add(program_path=b"/usr/bin/app", pid=200, start_unix_ms=1700000100000,
               duration_ms=2500)
    # liba.so again, installed elsewhere: the same build-id, so the same module.
    entry(t, pb.SIZE_BAND_MIDDLE, pb.STRATEGY_NONE,
          [(pb.STRATEGY_POOL, 1640, 30, 80), (pb.STRATEGY_BIGCACHE, 1480, 30, 220),
           (pb.STRATEGY_MMAP, 1380, 30, 1000)], path=b"/opt/lib/liba.so", **LIBA)
    # A module without a build-id, and a path that is not UTF-8.
    entry(t, pb.SIZE_BAND_LARGE, pb.STRATEGY_NONE, [(pb.STRATEGY_BIGCACHE, 1500, 5, 10)],
          path=b"/opt/app/bin-\xff", offset=0x99)


def ineligible(t):
    # The pool cannot serve the large band: production must refuse the table.
    entry(t, pb.SIZE_BAND_LARGE, pb.STRATEGY_POOL, [(pb.STRATEGY_POOL, 1600, 10, 100)],
          path=b"/usr/lib/libc.so.6", offset=0x20)


STATES = {"state_a": state_a, "state_b": state_b, "ineligible": ineligible,
          "version2": state_a}


def write(name, out):
    t = pb.FrozenTable(hakmem_version="0.1.0", created_unix_ms=1700000200000)
    params(t.params)
    STATES[name](t)
    table = t.SerializeToString()
    version = 2 if name == "version2" else FORMAT_VERSION
    f = pb.FrozenTableFile(magic=MAGIC, format_version=version, table=table,
                           table_fnv1a64=fnv1a64(table))
    with open(out, "wb") as fh:
        fh.write(f.SerializeToString())


def dump(path):
    f = pb.FrozenTableFile()
    with open(path, "rb") as fh:
        f.ParseFromString(fh.read())
    assert f.magic == MAGIC and f.table_fnv1a64 == fnv1a64(f.table), "bad file"
    t = pb.FrozenTable()
    t.ParseFromString(f.table)
    print("runs", " ".join(str(r.pid) for r in t.runs))
    print("params min_samples=%d commit_margin_points=%g" %
          (t.params.min_samples, t.params.commit_margin_points))
    for e in t.entries:
        key = e.site_name.decode() or (e.module_build_id_hex[:8] or
                                       e.module_path.decode(errors="backslashreplace"))
        stats = " ".join("%s=%g/%d/%g" % (pb.Strategy.Name(s.strategy), s.rating_elo, s.samples,
                                          s.mean_cost_ns) for s in e.stats)
        print(key, "0x%x" % e.offset_bytes, pb.SizeBand.Name(e.size_band),
              pb.Strategy.Name(e.strategy), stats)


def main(argv):
    if len(argv) == 4 and argv[1] == "write" and argv[2] in STATES:
        write(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "dump":
        dump(argv[2])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

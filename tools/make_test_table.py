#!/usr/bin/python3
"""Test helper for hakmem_cli_test.sh: writes small learner states as frozen table files,
and prints tables back, both with the generated Python module (Debian's python3-protobuf).

  make_test_table.py write NAME OUT   NAME: a key of STATES (version1, version3: state_a
                                      under format version 1 or 3)
  make_test_table.py dump FILE        the runs, the params, the modules, then one line per
                                      entry: site band chosen per-strategy stats
"""
import sys

from learner import frozen_table_pb2 as pb

MAGIC = 0x4D4B4148
FORMAT_VERSION = 2


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


def module(t, build_id="", path=b""):
    """Adds a module and returns its id (ids are positions plus one)."""
    m = t.modules.add(id=len(t.modules) + 1, build_id_hex=build_id, path=path)
    return m.id


def entry(t, band, strategy, stats, frames=(), name=b""):
    """frames: (module id, offset) pairs, innermost first."""
    e = t.entries.add()
    for module_id, offset in frames:
        e.frames.add(module_id=module_id, offset_bytes=offset)
    e.site_name = name
    e.size_band = band
    e.strategy = strategy
    for s, rating, samples, cost in stats:
        st = e.stats.add()
        st.strategy = s
        st.rating_elo = rating
        st.samples = samples
        st.mean_cost_ns = cost


LIBA_BUILD_ID = "aa" * 20


def state_a(t):
    t.runs.add(program_path=b"/usr/bin/app", pid=100, start_unix_ms=1700000000000,
               duration_ms=1500)
    liba = module(t, LIBA_BUILD_ID, b"/usr/lib/liba.so")
    app = module(t, path=b"/usr/bin/app")  # no build-id: keyed by path
    # An allocation in liba.so (a wrapper, say) called from app+0x500.
    entry(t, pb.SIZE_BAND_MIDDLE, pb.STRATEGY_NONE,
          [(pb.STRATEGY_POOL, 1600, 10, 100), (pb.STRATEGY_BIGCACHE, 1500, 10, 200),
           (pb.STRATEGY_MMAP, 1400, 10, 900)], frames=[(liba, 0x10), (app, 0x500)])
    entry(t, pb.SIZE_BAND_HUGE, pb.STRATEGY_MMAP,
          [(pb.STRATEGY_BIGCACHE, 1450, 100, 7000), (pb.STRATEGY_MMAP, 1550, 100, 5000)],
          name=b"decoder")


def state_b(t):
    t.runs.add(program_path=b"/usr/bin/app", pid=200, start_unix_ms=1700000100000,
               duration_ms=2500)
    # The modules in another order, so with other ids than state_a gives them; liba.so
    # installed elsewhere: the same build-id, so the same module.
    app = module(t, path=b"/usr/bin/app")
    bin_ff = module(t, path=b"/opt/app/bin-\xff")  # a path that is not UTF-8
    liba = module(t, LIBA_BUILD_ID, b"/opt/lib/liba.so")
    # state_a's context: merged with it.
    entry(t, pb.SIZE_BAND_MIDDLE, pb.STRATEGY_NONE,
          [(pb.STRATEGY_POOL, 1640, 30, 80), (pb.STRATEGY_BIGCACHE, 1480, 30, 220),
           (pb.STRATEGY_MMAP, 1380, 30, 1000)], frames=[(liba, 0x10), (app, 0x500)])
    # The same allocation call from another caller: another site.
    entry(t, pb.SIZE_BAND_MIDDLE, pb.STRATEGY_NONE,
          [(pb.STRATEGY_POOL, 1650, 20, 50), (pb.STRATEGY_BIGCACHE, 1500, 20, 100),
           (pb.STRATEGY_MMAP, 1300, 20, 500)], frames=[(liba, 0x10), (app, 0x700)])
    entry(t, pb.SIZE_BAND_LARGE, pb.STRATEGY_NONE, [(pb.STRATEGY_BIGCACHE, 1500, 5, 10)],
          frames=[(bin_ff, 0x99)])


def ineligible(t):
    # The pool cannot serve the large band: production must refuse the table.
    libc = module(t, path=b"/usr/lib/libc.so.6")
    entry(t, pb.SIZE_BAND_LARGE, pb.STRATEGY_POOL, [(pb.STRATEGY_POOL, 1600, 10, 100)],
          frames=[(libc, 0x20)])


def dangling(t):
    # A frame naming a module the table does not have.
    module(t, path=b"/usr/bin/app")
    entry(t, pb.SIZE_BAND_LARGE, pb.STRATEGY_NONE, [(pb.STRATEGY_MMAP, 1500, 1, 1)],
          frames=[(1, 0x20), (2, 0x30)])


STATES = {"state_a": state_a, "state_b": state_b, "ineligible": ineligible,
          "dangling": dangling, "version1": state_a, "version3": state_a}
VERSIONS = {"version1": 1, "version3": 3}


def write(name, out):
    t = pb.FrozenTable(hakmem_version="0.1.0", created_unix_ms=1700000200000)
    params(t.params)
    STATES[name](t)
    table = t.SerializeToString()
    version = VERSIONS.get(name, FORMAT_VERSION)
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
    names = {}  # module id -> build-id prefix, else path
    for m in t.modules:
        names[m.id] = m.build_id_hex[:8] or m.path.decode(errors="backslashreplace")
    print("modules", " ".join("%d:%s" % (i, n) for i, n in names.items()))
    for e in t.entries:
        site = e.site_name.decode() or "<-".join(
            "%s+0x%x" % (names.get(f.module_id, "?"), f.offset_bytes) for f in e.frames)
        stats = " ".join("%s=%g/%d/%g" % (pb.Strategy.Name(s.strategy), s.rating_elo, s.samples,
                                          s.mean_cost_ns) for s in e.stats)
        print(site, pb.SizeBand.Name(e.size_band), pb.Strategy.Name(e.strategy), stats)


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

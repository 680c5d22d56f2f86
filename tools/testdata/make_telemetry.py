#!/usr/bin/python3
"""Writes the telemetry files the tools' tests read, with the generated Python module
(//learner:telemetry_py, Debian's python3-protobuf). Deterministic: the same bytes on
every run, so tests can compare outputs with expectations.

  make_telemetry.py all DIR          every file below into DIR (NAME.hakt)
  make_telemetry.py write NAME OUT   one of them
  make_telemetry.py dump FILE        the decoded Telemetry, as protobuf text

The files describe one program (/usr/bin/app, a shared library without a build-id,
libc) in realistic shape: calling contexts of three frames that share a wrapper frame
(xmalloc), a context through a library and a JIT frame (code in no module), an explicit
site, the overflow site, size and lifetime histograms, the learner's choices, outcomes,
matches and decisions, and the allocator's timeline.

  a        two runs (pids 4242, 4243 on build-1)
  b        one run on build-2 (pid 977), its entities declared in another order (other
           ids), a site no other file has, and a symbol for a location `a` has none for
  c        a periodic write of a's second run (earlier end, incomplete, other counts) and
           a shadow-mode run (pid 5000)
  d        a's first run again, byte for byte, and a frozen-mode run (pid 6000) whose
           executable is installed elsewhere (the same build-id, another path)
  changed  `a` with what `hakmem diff` should find: parse_tokens' middle band chooses
           bigcache, decode_frame's mmap costs half as much again, the explicit site is
           gone, __strdup's middle band is new
  drops    one run that lost data (non-zero Drops)
  small    one short run with a record of every kind, in under a kilobyte (for tests that
           try every truncation and bit flip)
"""
import sys

from learner import telemetry_pb2 as pb
from learner import frozen_table_pb2 as tpb

MAGIC = 0x544B4148
FORMAT_VERSION = 1
T0 = 1700000000 * 10**9  # 2023-11-14 22:13:20 UTC
MS = 10**6
S = 10**9


def fnv1a64(data):
    h = 14695981039346656037
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


APP_BUILD_ID = "3f1c9a0e5b7d2468ace013579bdf2468ace01357"
LIBC_BUILD_ID = "9a0e3f1c2468ace013579bdf5b7d2468ace01357"

# name: (build-id, path). `dec` has no build-id: its path is its identity.
MODULES = {
    "app": (APP_BUILD_ID, b"/usr/bin/app"),
    "libc": (LIBC_BUILD_ID, b"/usr/lib/x86_64-linux-gnu/libc.so.6"),
    "dec": ("", b"/opt/app/lib/libdecoder.so"),
}

# name: (module or None for JIT code, offset, function, file, line)
LOCATIONS = {
    "xmalloc": ("app", 0x1A40, b"xmalloc", b"src/mem.c", 40),
    "parse": ("app", 0x2B10, b"parse_tokens", b"src/parse.cc", 88),
    "config": ("app", 0x2F00, b"load_config", b"src/config.cc", 12),
    "main": ("app", 0x1200, b"main", b"src/main.cc", 31),
    "decode": ("dec", 0x5F0, b"decode_frame", b"", 0),
    "decloop": ("dec", 0x910, b"", b"", 0),
    "anon": ("app", 0x4C00, b"", b"", 0),
    "jit": (None, 0x7F3A00001000, b"", b"", 0),
    "strdup": ("libc", 0x9A3E0, b"__strdup", b"string/strdup.c", 42),
}

# name: frames (innermost first) and wrapper frames, or an explicit name, or overflow.
SITES = {
    "parse": dict(frames=["xmalloc", "parse", "main"], wrapper=1),
    "config": dict(frames=["xmalloc", "config", "main"], wrapper=1),
    "decode": dict(frames=["decode", "decloop"], wrapper=0),
    "named": dict(name=b"decoder.frames"),
    "overflow": dict(overflow=True),
    "anon": dict(frames=["anon", "jit"], wrapper=0),
    "strdup": dict(frames=["strdup", "config", "main"], wrapper=0),
}


def module_identity(name):
    build_id, path = MODULES[name]
    return ("b:" + build_id).encode() if build_id else b"p:" + path


def site_key(name):
    """A stand-in for callsite::ContextKeyOf / NamedSiteKey: a hash of what identifies
    the site, with bit 62 (contexts) or 63 (explicit sites) set, 0 for overflow."""
    s = SITES[name]
    if s.get("overflow"):
        return 0
    if "name" in s:
        return (1 << 63) | (fnv1a64(s["name"]) >> 1)
    ident = b""
    for f in s["frames"]:
        mod, off = LOCATIONS[f][0], LOCATIONS[f][1]
        ident += (module_identity(mod) if mod else b"-") + b"+%x;" % off
    return (1 << 62) | (fnv1a64(ident) >> 2)


class Builder:
    """One Telemetry: strings, modules, locations and sites interned on first use, so
    the order things are first used in decides their ids."""

    def __init__(self, symbols=None, module_paths=None):
        self.t = pb.Telemetry()
        self.strings = {}
        self.s(b"")
        self.modules, self.locations, self.sites = {}, {}, {}
        self.symbols = symbols or {}  # location name -> function, overriding LOCATIONS
        self.module_paths = module_paths or {}  # module name -> path, overriding MODULES

    def s(self, value):
        if isinstance(value, str):
            value = value.encode()
        if value not in self.strings:
            self.strings[value] = len(self.t.string_table)
            self.t.string_table.append(value)
        return self.strings[value]

    def module(self, name):
        if name not in self.modules:
            build_id, path = MODULES[name]
            path = self.module_paths.get(name, path)
            m = self.t.modules.add(id=len(self.t.modules) + 1, build_id_hex=build_id,
                                   path_str=self.s(path))
            self.modules[name] = m.id
        return self.modules[name]

    def location(self, name):
        if name not in self.locations:
            mod, offset, function, file, line = LOCATIONS[name]
            function = self.symbols.get(name, function)
            loc = self.t.locations.add(id=len(self.t.locations) + 1,
                                       module_id=self.module(mod) if mod else 0,
                                       offset_bytes=offset, function_str=self.s(function),
                                       file_str=self.s(file), line=line)
            self.locations[name] = loc.id
        return self.locations[name]

    def site(self, name):
        if name not in self.sites:
            spec = SITES[name]
            site = self.t.sites.add(id=len(self.t.sites) + 1, key=site_key(name))
            for f in spec.get("frames", []):
                site.location_ids.append(self.location(f))
            site.wrapper_frames = spec.get("wrapper", 0)
            if "name" in spec:
                site.name_str = self.s(spec["name"])
            site.overflow = spec.get("overflow", False)
            self.sites[name] = site.id
        return self.sites[name]

    def declare(self, names):
        for n in names:
            self.site(n)

    def run(self, pid, host, start_ns, duration_ns, mode=pb.MODE_LEARN, complete=True,
            writes=0, program=b"/usr/bin/app"):
        r = self.t.runs.add(program_str=self.s(program), program_build_id_hex=APP_BUILD_ID,
                            pid=pid, host_str=self.s(host), start_unix_ns=start_ns,
                            end_unix_ns=start_ns + duration_ns, complete=complete,
                            hakmem_version="0.1.0", mode=mode, context_depth=4,
                            sample_bytes=1 << 20, writes=writes)
        for name, value, unit in [("HAKMEM_MODE", mode, "mode"),
                                  ("HAKMEM_DECAY_MS", 250, "ms"),
                                  ("HAKMEM_SAMPLE_BYTES", 1 << 20, "bytes")]:
            r.settings.add(name_str=self.s(name), value=value, unit_str=self.s(unit),
                           from_environment=name == "HAKMEM_MODE")
        r.settings.add(name_str=self.s("HAKMEM_TELEMETRY"), text_str=self.s("/tmp/app.hakt"),
                       unit_str=self.s("path"), from_environment=True)
        r.os_costs.fault_ns = 1100.5
        r.os_costs.map_call_ns = 2400.0
        r.os_costs.unmap_call_ns = 1800.25
        r.os_costs.unmap_page_ns = 95.0
        p = r.learn_params
        p.elo_initial_rating = 1500
        p.elo_k_factor = 24
        p.elo_scale_points = 400
        p.draw_margin_fraction = 0.05
        p.min_samples = 8
        p.commit_margin_points = 50
        p.explore_rate_fraction = 1 / 64
        p.weight_time = 1
        p.weight_faults = 1
        p.weight_idle_ns_per_mib_second = 1e6
        p.fault_cost_ns = 1100.5
        return len(self.t.runs) - 1


def lifetimes(counts):
    """counts: {log2 of the bucket's max + 1: count}."""
    return [pb.LifetimeBucket(max_ns=(1 << k) - 1, count=c) for k, c in sorted(counts.items())]


def sizes(counts):
    return [pb.SizeBucket(max_bytes=m, count=c) for m, c in sorted(counts.items())]


def profile(b, run, site, allocs, bytes_, live, peak, frees=None, estimated=True,
            size_counts=None, life_counts=None, cross=0):
    b.t.site_profiles.add(
        run=run, site_id=b.site(site), allocs=allocs, allocs_estimated=estimated,
        records=max(1, allocs // 50), frees=allocs - allocs // 100 if frees is None else frees,
        cross_thread_frees=cross, allocated_bytes=bytes_, live_bytes=live, peak_live_bytes=peak,
        sizes=sizes(size_counts or {}), lifetimes=lifetimes(life_counts or {}))


def outcome(b, run, site, band, strategy, samples, mean_cost, rating, faults=0, idle=0.0):
    cost = samples * mean_cost
    fault_ns = faults * 1100.5
    idle_ns = idle * 1e6
    b.t.outcomes.add(run=run, site_id=b.site(site), band=band, strategy=strategy,
                     tries=samples + samples // 4, samples=samples, rating_elo=rating,
                     cost_ns=cost, time_ns=cost - fault_ns - idle_ns, fault_ns=fault_ns,
                     idle_ns=idle_ns, faults=faults, idle_mib_seconds=idle,
                     sample_bytes=samples * 131072)


def learned(b, run, site, band, chosen, stats, allocations, start_ns=0):
    """stats: [(strategy, samples, mean cost, rating)]. Adds the choice, the outcomes, a
    match per 8 samples of the first strategy (at most 3) and the decisions."""
    b.t.choices.add(run=run, site_id=b.site(site), band=band, strategy=chosen,
                    allocations=allocations, matches=min(3, stats[0][1] // 8))
    for strategy, samples, cost, rating in stats:
        outcome(b, run, site, band, strategy, samples, cost, rating,
                faults=samples * 8 if strategy == tpb.STRATEGY_MMAP else 0,
                idle=0.25 if strategy == tpb.STRATEGY_BIGCACHE else 0.0)
    for n in range(1, min(3, stats[0][1] // 8) + 1):
        m = b.t.matches.add(run=run, site_id=b.site(site), band=band, number=n,
                            allocations=allocations * n // 4, time_ns=start_ns + n * 40 * MS,
                            chosen=chosen if n == 3 else tpb.STRATEGY_NONE)
        for strategy, samples, cost, rating in stats:
            m.results.add(strategy=strategy, rating_elo=1500 + (rating - 1500) * n / 3,
                          window_samples=8, window_bytes=8 * 131072, cost_ns=8 * cost,
                          time_ns=8 * cost, fault_ns=0.0, idle_ns=0.0, faults=0,
                          idle_mib_seconds=0.0)
    b.t.decisions.add(run=run, site_id=b.site(site), band=band,
                      kind=pb.DECISION_TRIALS_BEGIN, to=stats[0][0], time_ns=start_ns + 1 * MS,
                      allocations=1)
    if chosen != tpb.STRATEGY_NONE:
        b.t.decisions.add(run=run, site_id=b.site(site), band=band, kind=pb.DECISION_COMMIT,
                          to=chosen, time_ns=start_ns + 120 * MS, allocations=allocations // 2)
        loser = next(s[0] for s in stats if s[0] != chosen)
        setattr(b.t.decisions.add(run=run, site_id=b.site(site), band=band,
                                  kind=pb.DECISION_EXPLORE, to=loser,
                                  time_ns=start_ns + 300 * MS, allocations=allocations - 1),
                "from", chosen)


def timeline(b, run, duration_ns, scale=1):
    for i, t in enumerate([duration_ns // 3, 2 * duration_ns // 3, duration_ns]):
        s = b.t.timeline.add(run=run, time_ns=t, mapped_bytes=(8 + 4 * i) * scale << 20,
                             resident_bytes=(20 + 5 * i) * scale << 20,
                             heap_span_bytes=(6 + 2 * i) * scale << 20,
                             heap_free_bytes=(1 + i) << 19, returned_bytes=i * (3 << 20),
                             large_live_bytes=(2 + i) << 20, large_allocs=100 * (i + 1) * scale,
                             bigcache_hits=40 * (i + 1) * scale, bigcache_misses=9 * (i + 1),
                             bigcache_evictions=i * 2, bigcache_held_bytes=(i + 1) << 21,
                             mmap_calls=30 + i, munmap_calls=10 + i, madvise_calls=5 * i)
        for obj in (16, 48, 112):
            s.size_classes.add(object_bytes=obj, spans=1 + i, span_bytes=(1 + i) << 16,
                               objects_out=obj * (i + 1))


POOL, BIGCACHE, MMAP = tpb.STRATEGY_POOL, tpb.STRATEGY_BIGCACHE, tpb.STRATEGY_MMAP
MIDDLE, LARGE, HUGE = tpb.SIZE_BAND_MIDDLE, tpb.SIZE_BAND_LARGE, tpb.SIZE_BAND_HUGE


def standard_run(b, pid, host, start, duration, scale=1, mode=pb.MODE_LEARN, complete=True,
                 variant=None, writes=0):
    """One run's records over the usual sites. `variant` changes what `changed` needs."""
    r = b.run(pid, host, start, duration, mode=mode, complete=complete, writes=writes)
    k = scale
    profile(b, r, "parse", 200113 * k, 20011300 * k, 24300, 81200 * k,
            size_counts={112: 150000 * k, 65536: 113 * k, 131072: 50000 * k},
            life_counts={11: 120000 * k, 12: 60000 * k, 14: 19870 * k, 20: 243 * k})
    profile(b, r, "config", 5200 * k, 640000 * k, 4096, 65536, cross=3,
            size_counts={48: 4000 * k, 256: 1200 * k}, life_counts={17: 5000 * k, 27: 200 * k})
    profile(b, r, "decode", 800 * k, 838860800 * k, 2 << 20, 12 << 20, estimated=False,
            size_counts={1048576: 800 * k}, life_counts={22: 790 * k})
    if variant != "changed":
        profile(b, r, "named", 40 * k, 335544320 * k, 8 << 20, 16 << 20, estimated=False,
                size_counts={8388608: 40 * k}, life_counts={25: 40 * k})
    profile(b, r, "anon", 1000 * k, 64000 * k, 0, 6400, size_counts={64: 1000 * k},
            life_counts={9: 1000 * k})
    profile(b, r, "overflow", 300 * k, 30000 * k, 512, 2048, size_counts={112: 300 * k})
    if variant == "changed":
        profile(b, r, "strdup", 900 * k, 90000 * k, 800, 1600, size_counts={96: 900 * k},
                life_counts={13: 900 * k})
    if mode in (pb.MODE_LEARN, pb.MODE_SHADOW):
        if variant == "changed":
            learned(b, r, "parse", MIDDLE, BIGCACHE,
                    [(POOL, 40 * k, 85.0, 1585.0), (BIGCACHE, 40 * k, 80.0, 1630.0),
                     (MMAP, 40 * k, 975.0, 1385.0)], 50113 * k)
        else:
            learned(b, r, "parse", MIDDLE, POOL,
                    [(POOL, 40 * k, 85.0, 1630.0), (BIGCACHE, 40 * k, 215.0, 1485.0),
                     (MMAP, 40 * k, 975.0, 1385.0)], 50113 * k)
        mmap_cost = 9000.0 if variant == "changed" else 6000.0
        learned(b, r, "decode", LARGE, MMAP,
                [(BIGCACHE, 64 * k, 7000.0, 1450.0), (MMAP, 64 * k, mmap_cost, 1550.0)], 800 * k)
        if variant != "changed":
            learned(b, r, "named", HUGE, BIGCACHE,
                    [(BIGCACHE, 20 * k, 30000.0, 1560.0), (MMAP, 20 * k, 90000.0, 1440.0)],
                    40 * k)
        else:
            learned(b, r, "strdup", MIDDLE, tpb.STRATEGY_NONE,
                    [(POOL, 4, 60.0, 1510.0), (BIGCACHE, 4, 70.0, 1490.0), (MMAP, 4, 900.0, 1500.0)],
                    12)
    elif mode == pb.MODE_FROZEN:
        b.t.choices.add(run=r, site_id=b.site("parse"), band=MIDDLE, strategy=POOL,
                        allocations=50113 * k)
        b.t.choices.add(run=r, site_id=b.site("decode"), band=LARGE, strategy=MMAP,
                        allocations=800 * k)
    timeline(b, r, duration, scale)
    return r


USUAL = ["parse", "config", "decode", "named", "overflow", "anon"]


def file_a():
    b = Builder()
    b.declare(USUAL)
    standard_run(b, 4242, "build-1", T0, 1500 * MS)
    standard_run(b, 4243, "build-1", T0 + 60 * S, 2500 * MS, scale=2)
    return b.t


def file_b():
    # Another order: other ids for the same modules, locations and sites; a symbol for
    # the decoder's loop, which `a` could not name.
    b = Builder(symbols={"decloop": b"decode_loop"})
    b.declare(["strdup"] + USUAL[::-1])
    r = standard_run(b, 977, "build-2", T0 + 30 * S, 1000 * MS)
    profile(b, r, "strdup", 700, 70000, 700, 1400, size_counts={96: 700}, life_counts={13: 700})
    return b.t


def file_c():
    b = Builder()
    b.declare(["decode", "parse", "anon", "overflow", "config", "named"])
    # The second run of `a`, written periodically before its end: fewer records.
    standard_run(b, 4243, "build-1", T0 + 60 * S, 1200 * MS, scale=1, complete=False, writes=1)
    standard_run(b, 5000, "build-1", T0 + 120 * S, 2000 * MS, mode=pb.MODE_SHADOW)
    return b.t


def file_d():
    # The executable installed elsewhere: the same build-id, so the same module.
    b = Builder(module_paths={"app": b"/srv/app/bin/app"})
    b.declare(USUAL)
    standard_run(b, 4242, "build-1", T0, 1500 * MS)
    standard_run(b, 6000, "build-3", T0 + 90 * S, 800 * MS, mode=pb.MODE_FROZEN)
    return b.t


def file_changed():
    b = Builder()
    b.declare(["parse", "config", "decode", "overflow", "anon", "strdup"])
    standard_run(b, 4242, "build-1", T0, 1500 * MS, variant="changed")
    standard_run(b, 4243, "build-1", T0 + 60 * S, 2500 * MS, scale=2, variant="changed")
    return b.t


def file_drops():
    b = Builder()
    b.declare(USUAL)
    r = standard_run(b, 7000, "build-1", T0 + 200 * S, 500 * MS)
    d = b.t.runs[r].drops
    d.sites = 12
    d.contexts = 3
    d.matches = 40
    d.failed_writes = 1
    return b.t


def file_small():
    # Every kind of record once or twice, in few bytes: for tests that try every
    # truncation and bit flip of a file.
    b = Builder()
    r = b.run(8000, "build-1", T0 + 300 * S, 100 * MS)
    profile(b, r, "parse", 1000, 100000, 300, 900, size_counts={112: 1000},
            life_counts={11: 990, 14: 10})
    profile(b, r, "named", 4, 33554432, 0, 16 << 20, estimated=False,
            size_counts={8388608: 4})
    profile(b, r, "overflow", 10, 1000, 0, 100)
    learned(b, r, "parse", MIDDLE, POOL, [(POOL, 16, 85.0, 1560.0), (BIGCACHE, 16, 215.0, 1440.0)],
            100)
    s = b.t.timeline.add(run=r, time_ns=100 * MS, mapped_bytes=8 << 20, resident_bytes=20 << 20,
                         bigcache_hits=3, bigcache_misses=1, bigcache_held_bytes=1 << 20)
    s.size_classes.add(object_bytes=112, spans=1, span_bytes=1 << 16, objects_out=100)
    b.t.runs[r].drops.matches = 2
    return b.t


FILES = {"a": file_a, "b": file_b, "c": file_c, "d": file_d, "changed": file_changed,
         "drops": file_drops, "small": file_small}


def envelope(t):
    payload = t.SerializeToString(deterministic=True)
    f = pb.TelemetryFile(magic=MAGIC, format_version=FORMAT_VERSION, telemetry=payload,
                         telemetry_fnv1a64=fnv1a64(payload))
    return f.SerializeToString(deterministic=True)


def write(name, out):
    with open(out, "wb") as fh:
        fh.write(envelope(FILES[name]()))


def dump(path):
    f = pb.TelemetryFile()
    with open(path, "rb") as fh:
        f.ParseFromString(fh.read())
    assert f.magic == MAGIC and f.telemetry_fnv1a64 == fnv1a64(f.telemetry), "bad file"
    t = pb.Telemetry()
    t.ParseFromString(f.telemetry)
    print(t)


def main(argv):
    if len(argv) == 3 and argv[1] == "all":
        for name in FILES:
            write(name, "%s/%s.hakt" % (argv[2], name))
    elif len(argv) == 4 and argv[1] == "write" and argv[2] in FILES:
        write(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "dump":
        dump(argv[2])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

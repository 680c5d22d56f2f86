#!/usr/bin/python3
"""Learner experiment: bench_multisite under fixed strategies, without and with learning;
the whole learn -> freeze -> ship loop (`./run main` runs it).

Usage (from anywhere; run with Debian's /usr/bin/python3):
  bazel build -c opt //core:libhakmem.so //experiments:all //tools:hakmem //learner:telemetry_py
  /usr/bin/python3 experiments/learner_experiment.py [--reps 3] [--plot ratings.png]
      [--out DIR] [--json PATH] [--configs pool,bigcache,...] [--bench-args '--rounds 200']

The loop, per rep: learn (HAKMEM_MODE=learn) writes telemetry (HAKMEM_TELEMETRY, the
protobuf format of learner/telemetry.proto) and a learn log; `hakmem freeze` turns the
telemetry into a frozen table; a new process runs frozen with that table. The report then
says, per site, what learn chose and why (each strategy's rating, samples, mean cost and
its parts, when it committed: read from the telemetry), how learn and frozen compare with
each fixed strategy in time and peak RSS, and ends with `hakmem report` of the learn run.

Configurations, each in fresh processes, `--reps` times, in an order rotated every rep:
  pool, bigcache, mmap  HAKMEM_STRATEGY forces one strategy for every request of 64 KiB
                        and up (pool cannot serve 256 KiB and up: those go to bigcache).
  oracle                a reference, not a learner: pool forced, with BigCache capped at
                        4 MiB, so the 2 MiB frames are still cached but the 6-13 MiB
                        snapshots are mapped directly: every site on its best strategy.
  off                   HAKMEM_MODE=off: the bands' defaults, no learning.
  learn                 HAKMEM_MODE=learn, writing telemetry (HAKMEM_TELEMETRY) and its
                        ratings log (HAKMEM_LEARN_LOG); then `hakmem freeze` makes the
                        table from the telemetry.
  frozen                HAKMEM_MODE=frozen with the table made from that rep's learn run;
                        it always runs right after that learn run.
  shadow                (only with --configs) HAKMEM_MODE=shadow, with a ratings log.

Prints: total busy time (the bench's time inside its three sites), wall time and peak RSS
per configuration, with ratios to the best fixed strategy; each site's time under every
configuration; each site's strategy in learn and in frozen (from the site reports) and
whether frozen reproduced learn; and a summary of the learn log's ratings over time.
Artifacts (every run's stdout, stderr, site report; the tables and logs) go to --out.

Every run must prove its allocator: the bench's `allocator:` line names the hakmem copy
under test, and hakmem's `hakmem: exit pid=... bytes_from_os=N` line is on stderr.
Runs without it are INVALID and left out of the medians (exit status 1).
"""
import argparse
import contextlib
import csv
import datetime
import importlib.util
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
# The generated telemetry module (bazel build -c opt //learner:telemetry_py).
sys.path.insert(1, os.path.join(REPO, "bazel-out", "k8-opt", "bin"))
import compare  # noqa: E402  (the launcher, snapshots and proof helpers, shared)

PROG = "learner_experiment.py"
BUILD_HINT = "run `bazel build -c opt //core:libhakmem.so //experiments:all`"

# The workload's sites (bench_multisite.cc), the band each allocates in, and the strategy
# that serves it best, with the reason (experiments/README.md has the long form).
SITES = ["CycleFrameBuffers", "ChurnMessages", "HoldSnapshots"]
EXPECTED = {
    "CycleFrameBuffers": ("large", "bigcache", "reuse: no mmap/munmap, no 512 faults per buffer"),
    "ChurnMessages": ("middle", "pool", "a free-list pop: no header, no syscall"),
    "HoldSnapshots": ("huge", "mmap", "never reused; a cache only holds it idle (RSS)"),
}
STRATEGIES = ["pool", "bigcache", "mmap"]
STRATEGY_CODE = {"pool": "1", "bigcache": "2", "mmap": "3"}  # HAKMEM_STRATEGY's echo

FIXED = ["pool", "bigcache", "mmap"]
CONFIG_ORDER = ["pool", "bigcache", "mmap", "oracle", "off", "learn", "frozen", "shadow"]
DEFAULT_CONFIGS = ["pool", "bigcache", "mmap", "oracle", "off", "learn", "frozen"]
MODE_CONFIGS = {"off", "learn", "frozen", "shadow"}

LEARN_LOG_HEADER = ("t_ms,site,symbol,band,pool_rating,bigcache_rating,mmap_rating,"
                    "pool_samples,bigcache_samples,mmap_samples,chosen,context_key,context")
RESULT_RE = re.compile(r"^result: (.*)$", re.M)
ALLOCATOR_RE = re.compile(r"^allocator: (.*)$", re.M)
START_RE = re.compile(r"^hakmem: start pid=[0-9]+ version=(\S+)", re.M)
OPTION_RE = re.compile(r"^hakmem: option (HAKMEM_[A-Z_]+)=(.*)$", re.M)


def die(msg):
    print(PROG + ": error: " + msg, file=sys.stderr)
    sys.exit(2)


def warn(msg):
    print(PROG + ": warning: " + msg, file=sys.stderr)


# ---------------------------------------------------------------- configurations

def config_env(name, art):
    """The HAKMEM_* settings of configuration `name`; `art` maps artifact kinds to paths."""
    if name in FIXED:
        return {"HAKMEM_STRATEGY": name}
    if name == "oracle":
        return {"HAKMEM_STRATEGY": "pool", "HAKMEM_BIGCACHE_BYTES": "4m"}
    if name == "off":
        return {"HAKMEM_MODE": "off"}
    if name == "learn":
        return {"HAKMEM_MODE": "learn", "HAKMEM_TELEMETRY": art["telemetry"],
                "HAKMEM_LEARN_LOG": art["log"]}
    if name == "frozen":
        return {"HAKMEM_MODE": "frozen", "HAKMEM_FROZEN_TABLE": art["table"],
                "HAKMEM_TELEMETRY": art["telemetry"]}
    if name == "shadow":
        return {"HAKMEM_MODE": "shadow", "HAKMEM_LEARN_LOG": art["log"]}
    raise ValueError(name)


def run_env(settings, lib, report):
    # Nothing inherited may change what a configuration means: every HAKMEM_* variable
    # and any preload of the caller's are dropped first.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HAKMEM_") and k not in ("LD_PRELOAD", "RSS_EXEC_LD_PRELOAD")}
    env["LD_PRELOAD"] = lib
    env["HAKMEM_VERBOSE"] = "2"  # the exit line (proof) and every option's effective value
    env["HAKMEM_SITE_REPORT"] = report
    env.update(settings)
    return env


# ---------------------------------------------------------------- one run

class Run:
    def __init__(self, config, rep):
        self.config, self.rep = config, rep
        self.values = {}        # from the result: line
        self.wall_s = None      # process wall time, launcher included
        self.rss_mib = None
        self.invalid = None     # reason, or None
        self.skipped = None     # why the run was not started (frozen without a table)
        self.notes = []         # degradations that do not invalidate the run
        self.options = {}       # hakmem's echo of its effective options
        self.version = None     # from hakmem's start line
        self.sites = {}         # site name -> its site report entry
        self.artifacts = {}

    def as_dict(self):
        return {"config": self.config, "rep": self.rep, "values": self.values,
                "process_wall_s": self.wall_s, "peak_rss_mib": self.rss_mib,
                "invalid": self.invalid, "skipped": self.skipped, "notes": self.notes,
                "sites": {s: site_choice(e) for s, e in self.sites.items()},
                "artifacts": self.artifacts}


def parse_result(stdout):
    m = RESULT_RE.findall(stdout)
    if not m:
        return {}
    out = {}
    for kv in m[-1].split():
        k, _, v = kv.partition("=")
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


def site_of(symbol):
    """The workload site a reported symbol belongs to (mangled or not), else None."""
    for s in SITES:
        if symbol and s in symbol:
            return s
    return None


def read_site_report(path):
    """Site name -> the report's entry for it (the busiest, if a name has several)."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return None, "site report %s unreadable: %s" % (path, e)
    found = {}
    for e in doc.get("sites", []):
        s = site_of(e.get("symbol"))
        if s and (s not in found or e.get("allocs", 0) > found[s].get("allocs", 0)):
            found[s] = e
    return found, None


def site_choice(entry):
    """What a site report entry says the learner chose, rated and sampled."""
    return {"strategy": entry.get("strategy"), "ratings": entry.get("ratings"),
            "samples": entry.get("samples"), "allocs": entry.get("allocs"),
            "offset": entry.get("offset"), "symbol": entry.get("symbol")}


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def run_one(ctx, config, rep):
    r = Run(config, rep)
    d = os.path.join(ctx.out, "rep%d" % (rep + 1))
    os.makedirs(d, exist_ok=True)
    art = {"report": os.path.join(d, config + ".sites.json"),
           "stdout": os.path.join(d, config + ".stdout"),
           "stderr": os.path.join(d, config + ".stderr"),
           "table": os.path.join(d, "table.pb"),
           "telemetry": os.path.join(d, config + ".telemetry.pb"),
           "log": os.path.join(d, config + ".learn.csv")}
    if config == "frozen" and not os.path.isfile(art["table"]):
        r.skipped = "the learn run of rep %d wrote no table at %s" % (rep + 1, art["table"])
        return r
    # A stale file from an earlier experiment must never pass for this run's output.
    for k in ("report", "stdout", "stderr", "log", "telemetry") + (
            ("table",) if config == "learn" else ()):
        remove(art[k])
    settings = config_env(config, art)
    env = run_env(settings, ctx.lib, art["report"])
    rc, so, se, wall, maxrss = compare.run_child([ctx.bench] + ctx.bench_args, env)
    for k, text in (("stdout", so), ("stderr", se)):
        with open(art[k], "w") as f:
            f.write(text)
    r.artifacts = {k: os.path.relpath(v, ctx.out) for k, v in art.items()
                   if os.path.exists(v)}
    r.wall_s = wall
    r.rss_mib = maxrss / 1024.0 if maxrss else None
    r.options = dict(OPTION_RE.findall(se))
    m = START_RE.search(se)
    r.version = m.group(1) if m else None
    if rc != 0:
        r.invalid = "%s: %s" % (compare.describe_exit(rc), compare.last_line(se))
        return r
    m = ALLOCATOR_RE.search(so)
    if not m:
        r.invalid = "no 'allocator:' line in output"
    elif os.path.realpath(m.group(1).strip()) != os.path.realpath(ctx.lib):
        r.invalid = "served by %s, expected %s" % (m.group(1).strip(), ctx.lib)
    elif not compare.HAKMEM_EXIT_RE.search(se):
        r.invalid = "no 'hakmem: exit pid=... bytes_from_os=N>0' line on stderr"
    r.values = parse_result(so)
    missing = [k for k in [s + "_s" for s in SITES] + ["total_s"] if k not in r.values]
    if missing and not r.invalid:
        r.invalid = "result: line lacks %s" % ",".join(missing)
    check_settings(r, settings)
    sites, err = read_site_report(art["report"])
    if err:
        r.notes.append(err)
    else:
        r.sites = sites
        absent = [s for s in SITES if s not in sites]
        if absent:
            r.notes.append("site report has no entry for %s" % ",".join(absent))
    if config == "learn":
        check_log(r, art["log"])
        freeze(ctx, r, art)
    if config == "shadow":
        check_log(r, art["log"])
    return r


def freeze(ctx, r, art):
    """The learn run's telemetry -> the frozen table the frozen run loads, with the tool."""
    if not os.path.isfile(art["telemetry"]):
        r.notes.append("HAKMEM_MODE=learn wrote no telemetry to HAKMEM_TELEMETRY")
        return
    proc = subprocess.run([ctx.tool, "freeze", art["telemetry"], "-o", art["table"]],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        r.notes.append("hakmem freeze failed (%d): %s" % (proc.returncode, proc.stderr.strip()))
    r.artifacts["table"] = os.path.relpath(art["table"], ctx.out)
    r.artifacts["telemetry"] = os.path.relpath(art["telemetry"], ctx.out)


def check_settings(r, settings):
    """Did hakmem take the settings? Its option echo (HAKMEM_VERBOSE=2) says."""
    if not r.options:
        r.notes.append("no 'hakmem: option' echo on stderr; settings not verified")
        return
    for k, v in settings.items():
        if k not in r.options:
            r.notes.append("%s is unknown to this libhakmem.so (not in its option echo)" % k)
        elif k == "HAKMEM_STRATEGY" and r.options[k] != STRATEGY_CODE.get(v, v):
            r.invalid = r.invalid or "HAKMEM_STRATEGY=%s echoed as %s" % (v, r.options[k])


def check_log(r, path):
    try:
        with open(path) as f:
            header = f.readline().strip()
    except OSError:
        r.notes.append("no learn log written to HAKMEM_LEARN_LOG")
        return
    if header != LEARN_LOG_HEADER:
        r.notes.append("learn log header is %r, expected %r" % (header, LEARN_LOG_HEADER))


# ---------------------------------------------------------------- learn log

def read_learn_log(path):
    """Rows of the learn log for the workload's sites: {site: [row dict, ...]}."""
    rows = {}
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                s = site_of(row.get("symbol"))
                if s is None:
                    continue
                rec = {"t_ms": num(row.get("t_ms")), "band": row.get("band"),
                       "chosen": row.get("chosen") or None}
                for st in STRATEGIES:
                    rec[st + "_rating"] = num(row.get(st + "_rating"))
                    rec[st + "_samples"] = num(row.get(st + "_samples"))
                rows.setdefault(s, []).append(rec)
    except (OSError, csv.Error):
        return None
    for s in rows:
        rows[s].sort(key=lambda x: x["t_ms"] if x["t_ms"] is not None else 0)
    return rows


def num(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def summarize_log(rows):
    """Per site: when it first committed, to what, how often the choice changed, last ratings."""
    out = {}
    for s, rs in rows.items():
        commit = next((x for x in rs if x["chosen"]), None)
        changes = sum(1 for a, b in zip(rs, rs[1:]) if a["chosen"] != b["chosen"])
        last = rs[-1]
        out[s] = {
            "rows": len(rs), "band": last["band"],
            "first_commit_ms": commit["t_ms"] if commit else None,
            "first_commit": commit["chosen"] if commit else None,
            "choice_changes": changes, "final_chosen": last["chosen"],
            "final_ratings": {st: last[st + "_rating"] for st in STRATEGIES},
            "final_samples": {st: last[st + "_samples"] for st in STRATEGIES},
        }
    return out


def plot_log(rows, path, title, end_ms=None):
    """One panel per site: each strategy's rating at every log row (steps), carried on to
    the end of the run (`end_ms`) as a dotted line, and a mark where the site committed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sites = [s for s in SITES if s in rows]
    fig, axes = plt.subplots(len(sites), 1, figsize=(8, 2.6 * len(sites)), sharex=True,
                             squeeze=False)
    colors = {"pool": "tab:green", "bigcache": "tab:blue", "mmap": "tab:red"}
    for ax, s in zip(axes[:, 0], sites):
        rs = rows[s]
        for st in STRATEGIES:
            pts = [(x["t_ms"] / 1000.0, x[st + "_rating"]) for x in rs
                   if x["t_ms"] is not None and x[st + "_rating"] is not None]
            if not pts:
                continue
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            ax.plot(xs, ys, label=st, color=colors[st], drawstyle="steps-post", marker="o",
                    markersize=3)
            if end_ms is not None and end_ms / 1000.0 > xs[-1]:
                ax.plot([xs[-1], end_ms / 1000.0], [ys[-1], ys[-1]], color=colors[st],
                        linestyle=":")
        commit = next((x for x in rs if x["chosen"]), None)
        if commit and commit["t_ms"] is not None:
            ax.axvline(commit["t_ms"] / 1000.0, color="grey", linestyle="--", linewidth=0.8,
                       label="commits to %s" % commit["chosen"])
        band, best, _ = EXPECTED[s]
        ax.set_title("%s (%s band; expected best: %s)" % (s, band, best), fontsize=10)
        ax.set_ylabel("Elo rating")
        ax.legend(fontsize=8, loc="best")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time since start (s)")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- telemetry

STRATEGY_NAMES = {1: "pool", 2: "bigcache", 3: "mmap"}  # hakmem.table.Strategy
BAND_NAMES = {0: "middle", 1: "large", 2: "huge"}       # hakmem.table.SizeBand


def load_telemetry(path):
    """(Telemetry message, None) or (None, why). Reads with the generated Python module
    (//learner:telemetry_py), after checking the envelope's checksum."""
    try:
        from learner import telemetry_pb2
    except ImportError as e:
        return None, "cannot import learner.telemetry_pb2 (%s); build //learner:telemetry_py" % e
    try:
        with open(path, "rb") as f:
            data = f.read()
        env = telemetry_pb2.TelemetryFile()
        env.ParseFromString(data)
        h = 14695981039346656037
        for b in env.telemetry:
            h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
        if env.magic != 0x544B4148 or h != env.telemetry_fnv1a64:
            return None, "%s: not a whole telemetry file" % path
        t = telemetry_pb2.Telemetry()
        t.ParseFromString(env.telemetry)
        return t, None
    except (OSError, Exception) as e:  # protobuf's DecodeError is an Exception
        return None, "%s: %s" % (path, e)


def telemetry_sites(t):
    """Workload site name -> the telemetry's Site, found by its naming frame's function."""
    out = {}
    for site in t.sites:
        if not site.location_ids:
            continue
        loc = t.locations[site.location_ids[site.wrapper_frames] - 1]
        name = site_of(t.string_table[loc.function_str].decode(errors="replace"))
        if name:
            out[name] = site
    return out


def why(t):
    """Per workload site: its band's choice and, per strategy, what the learner saw."""
    out = {}
    sites = telemetry_sites(t)
    for name in SITES:
        site = sites.get(name)
        if site is None:
            continue
        band = EXPECTED[name][0]
        choice = next((c for c in t.choices if c.site_id == site.id
                       and BAND_NAMES[c.band] == band), None)
        commit = next((d for d in t.decisions if d.site_id == site.id
                       and BAND_NAMES[d.band] == band and d.kind == 2), None)
        rows = []
        for o in t.outcomes:
            if o.site_id != site.id or BAND_NAMES[o.band] != band:
                continue
            n = o.samples or 1
            rows.append({"strategy": STRATEGY_NAMES[o.strategy], "rating": o.rating_elo,
                         "samples": o.samples, "tries": o.tries,
                         "mean_cost_us": o.cost_ns / n / 1e3, "time_us": o.time_ns / n / 1e3,
                         "fault_us": o.fault_ns / n / 1e3, "idle_us": o.idle_ns / n / 1e3,
                         "faults_per_alloc": o.faults / n})
        out[name] = {
            "band": band,
            "chosen": STRATEGY_NAMES.get(choice.strategy) if choice else None,
            "allocations": choice.allocations if choice else 0,
            "matches": choice.matches if choice else 0,
            "commit_ms": commit.time_ns / 1e6 if commit else None,
            "commit_allocations": commit.allocations if commit else None,
            "strategies": sorted(rows, key=lambda x: -x["rating"]),
        }
    return out


def duration(us):
    """Microseconds for people: ns, µs or ms, three significant digits."""
    if us == 0:
        return "0"
    for scale, unit in ((1e3, "ms"), (1.0, "µs"), (1e-3, "ns")):
        if us >= scale:
            return "%.3g %s" % (us / scale, unit)
    return "%.3g ns" % (us * 1e3)


def print_why(w, rep):
    print("\n## Why learn chose what it chose (rep %d's telemetry)\n" % (rep + 1))
    print("Mean cost per allocation, in time equivalents: the allocator's own time, "
          "first-touch page\nfaults at the measured fault price, and memory held idle at "
          "1 ms per MiB-second.\n")
    print("| site | band | chose | committed after | strategy | rating | samples | "
          "cost | time | faults | idle |")
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|")
    for name in SITES:
        x = w.get(name)
        if x is None:
            print("| %s | - | (not in the telemetry) | | | | | | | | |" % name)
            continue
        committed = ("%s allocs, %.0f ms" % (x["commit_allocations"], x["commit_ms"])
                     if x["commit_ms"] is not None else "not committed")
        for i, r in enumerate(x["strategies"]):
            head = ((name, x["band"], (x["chosen"] or "none") + (
                " ✓" if x["chosen"] == EXPECTED[name][1] else " (expected %s)" % EXPECTED[name][1]),
                committed) if i == 0 else ("", "", "", ""))
            print("| %s | %s | %s | %s | %s | %.0f | %d | %s | %s | %s | %s |" % (
                head + (r["strategy"], r["rating"], r["samples"], duration(r["mean_cost_us"]),
                        duration(r["time_us"]), duration(r["fault_us"]),
                        duration(r["idle_us"]))))


# ---------------------------------------------------------------- summary

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(configs, runs):
    rows = {}
    for c in configs:
        ok = [r for r in runs if r.config == c and not r.invalid and not r.skipped]
        rows[c] = {
            "config": c, "runs": sum(1 for r in runs if r.config == c and not r.skipped),
            "valid_runs": len(ok),
            "total_s": median([r.values.get("total_s") for r in ok]),
            "wall_s": median([r.values.get("wall_s") for r in ok]),
            "peak_rss_mib": median([r.rss_mib for r in ok]),
            "sites_s": {s: median([r.values.get(s + "_s") for r in ok]) for s in SITES},
            "late_rounds": median([r.values.get("late_rounds") for r in ok]),
        }
    fixed = [c for c in FIXED if c in rows and rows[c]["total_s"] is not None]
    best = min(fixed, key=lambda c: rows[c]["total_s"]) if fixed else None
    for row in rows.values():
        b = rows[best] if best else None
        row["time_ratio_vs_best_fixed"] = ratio(row["total_s"], b and b["total_s"])
        row["rss_ratio_vs_best_fixed"] = ratio(row["peak_rss_mib"], b and b["peak_rss_mib"])
    return rows, best


def best_fixed_for_site(rows, site):
    """The fixed strategy with the least time in `site`, among those that can serve its band."""
    band = EXPECTED[site][0]
    t = {c: rows[c]["sites_s"][site] for c in FIXED
         if c in rows and rows[c]["sites_s"][site] is not None
         and (c != "pool" or band == "middle")}
    return min(t, key=t.get) if t else None


def ratio(a, b):
    return a / b if a is not None and b else None


def choices(configs, runs):
    """Per site and rep: the strategy the learn and frozen runs' site reports name."""
    out = {}
    for s in SITES:
        per = []
        reps = sorted({r.rep for r in runs})
        for rep in reps:
            got = {}
            for c in ("learn", "frozen"):
                r = next((x for x in runs if x.config == c and x.rep == rep), None)
                if r is None or r.invalid or r.skipped or s not in r.sites:
                    got[c] = None
                else:
                    got[c] = r.sites[s].get("strategy")
            per.append({"rep": rep + 1, "learn": got["learn"], "frozen": got["frozen"],
                        "reproduced": (got["learn"] == got["frozen"]
                                       if got["learn"] and got["frozen"] else None)})
        out[s] = per
    return out


def fmt(x, spec="%.3f"):
    return "-" if x is None else spec % x


def print_report(configs, rows, best, runs, picks, logs):
    print("\n## Configurations (medians over valid runs)\n")
    print("| config | valid | busy total s | vs best fixed | wall s | peak RSS MiB | "
          "vs best fixed | late rounds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for c in configs:
        w = rows[c]
        print("| %s%s | %d/%d | %s | %s | %s | %s | %s | %s |" % (
            c, " (best fixed)" if c == best else "", w["valid_runs"], w["runs"],
            fmt(w["total_s"]), fmt(w["time_ratio_vs_best_fixed"], "%.2f"),
            fmt(w["wall_s"], "%.2f"), fmt(w["peak_rss_mib"], "%.1f"),
            fmt(w["rss_ratio_vs_best_fixed"], "%.2f"), fmt(w["late_rounds"], "%.0f")))
    print("\nbusy total = time inside the three site functions; wall includes the sleep "
          "that paces rounds.")

    print("\n## Seconds inside each site (medians; * = best fixed strategy for the site)\n")
    print("| site | band | expected best | " + " | ".join(configs) + " |")
    print("|---|---|---|" + "---:|" * len(configs))
    for s in SITES:
        band, exp, _ = EXPECTED[s]
        fbest = best_fixed_for_site(rows, s)
        cells = []
        for c in configs:
            v = rows[c]["sites_s"][s]
            mark = "*" if c == fbest else ("†" if c == "pool" and band != "middle" else "")
            cells.append(fmt(v, "%.4f") + mark)
        print("| %s | %s | %s | %s |" % (s, band, exp, " | ".join(cells)))
    print("\n† the pool cannot serve this band: forced pool served it with bigcache.")
    print("A site's time includes any decay pass its requests happen to run; under pool and "
          "bigcache those\nunmap idle cached snapshots, mostly inside CycleFrameBuffers "
          "(it runs first in each round).")

    if "learn" in configs:
        print("\n## Strategy per site: learn vs frozen (from each run's site report)\n")
        print("| site | expected | learn (per rep) | frozen (per rep) | frozen reproduced learn |")
        print("|---|---|---|---|---|")
        for s in SITES:
            per = picks[s]
            learned = ",".join(p["learn"] or "-" for p in per)
            frozen = ",".join(p["frozen"] or "-" for p in per)
            rep_ok = [p["reproduced"] for p in per if p["reproduced"] is not None]
            same = ("%d/%d" % (sum(rep_ok), len(rep_ok))) if rep_ok else "-"
            print("| %s | %s | %s | %s | %s |" % (s, EXPECTED[s][1], learned, frozen, same))
        if not any(p["learn"] for s in SITES for p in picks[s]):
            print("\n(no site report names a strategy: the learner has not written one; "
                  "see the notes below)")

    if logs:
        print("\n## Learn log: ratings over time (per rep: first commit, changes, final)\n")
        for rep, summ in logs:
            for s in SITES:
                if s not in summ:
                    print("  rep %d %-17s no rows" % (rep + 1, s))
                    continue
                x = summ[s]
                ratings = " ".join("%s=%s/%s" % (st, fmt(x["final_ratings"][st], "%.0f"),
                                                 fmt(x["final_samples"][st], "%.0f"))
                                   for st in STRATEGIES)
                print("  rep %d %-17s %-6s rows=%-5d commit=%s at %s ms, changes=%d, "
                      "final=%s  rating/samples: %s" % (
                          rep + 1, s, x["band"] or "?", x["rows"], x["first_commit"] or "-",
                          fmt(x["first_commit_ms"], "%.0f"), x["choice_changes"],
                          x["final_chosen"] or "-", ratings))


# ---------------------------------------------------------------- driver

def resolve(path, default_rel):
    if path is None:
        return os.path.join(REPO, default_rel)
    return os.path.abspath(path)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", default=None,
                    help="hakmem preload library (default bazel-out/k8-opt/bin/core/libhakmem.so)")
    ap.add_argument("--bench", default=None,
                    help="the workload (default bazel-out/k8-opt/bin/experiments/bench_multisite)")
    ap.add_argument("--tool", default=None,
                    help="the hakmem command line (default bazel-out/k8-opt/bin/tools/hakmem)")
    ap.add_argument("--rss-exec", default=None,
                    help="the peak-RSS launcher (default: rss_exec next to --bench)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3; 1 with --quick)")
    ap.add_argument("--configs", default=None,
                    help="comma-separated subset of %s (default: all but shadow)"
                    % ",".join(CONFIG_ORDER))
    ap.add_argument("--bench-args", default="",
                    help="extra bench_multisite flags, e.g. '--rounds 200 --seed 7'")
    ap.add_argument("--quick", action="store_true",
                    help="1 rep of 100 rounds: checks the plumbing, numbers mean little")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "learner_experiment"),
                    help="directory for artifacts (default: %(default)s)")
    ap.add_argument("--json", default=None,
                    help="also write the machine-readable summary here ('-': stdout, "
                         "and the human report goes to stderr); <out>/summary.json always")
    ap.add_argument("--plot", default=None, help="write the learn log's ratings as a PNG here")
    a = ap.parse_args()
    a.lib = resolve(a.lib, "bazel-out/k8-opt/bin/core/libhakmem.so")
    a.bench = resolve(a.bench, "bazel-out/k8-opt/bin/experiments/bench_multisite")
    a.tool = resolve(a.tool, "bazel-out/k8-opt/bin/tools/hakmem")
    a.rss_exec = (os.path.abspath(a.rss_exec) if a.rss_exec
                  else os.path.join(os.path.dirname(a.bench), "rss_exec"))
    for what, p, x in (("hakmem library", a.lib, False), ("bench", a.bench, True),
                       ("launcher", a.rss_exec, True), ("hakmem tool", a.tool, True)):
        if not os.path.isfile(p) or (x and not os.access(p, os.X_OK)):
            die("%s %s not found; %s" % (what, p, BUILD_HINT))
    if a.reps is None:
        a.reps = 1 if a.quick else 3
    if a.reps < 1:
        die("--reps must be >= 1, got %d" % a.reps)
    try:
        a.bench_args = shlex.split(a.bench_args)
    except ValueError as e:
        die("--bench-args: %s" % e)
    if a.quick and "--rounds" not in " ".join(a.bench_args):
        a.bench_args += ["--rounds", "100"]
    if a.configs is None:
        a.configs = list(DEFAULT_CONFIGS)
    else:
        items = [c.strip() for c in a.configs.split(",") if c.strip()]
        bad = [c for c in items if c not in CONFIG_ORDER]
        if bad or not items:
            die("--configs: unknown name(s) %s; choose from %s" % (
                ",".join(bad) or "''", ",".join(CONFIG_ORDER)))
        a.configs = [c for c in CONFIG_ORDER if c in items]
    if "frozen" in a.configs and "learn" not in a.configs:
        die("--configs: frozen needs learn (it loads the table learn writes)")
    if a.plot:
        if importlib.util.find_spec("matplotlib") is None:
            die("--plot needs matplotlib for %s (Debian: apt-get install python3-matplotlib)"
                % sys.executable)
    return a


def schedule(configs, rep):
    """This rep's run order: the configurations rotated by rep, frozen right after learn."""
    units = [[c] for c in configs if c not in ("learn", "frozen")]
    if "learn" in configs:
        units.append(["learn"] + (["frozen"] if "frozen" in configs else []))
    k = rep % len(units)
    return [c for u in units[k:] + units[:k] for c in u]


class Ctx:
    pass


class _NoBar:
    """Stands in for tqdm when stderr is not a terminal or tqdm is missing."""
    def set_description(self, _):
        pass

    def update(self, _):
        pass

    def write(self, text, file=None):
        print(text, file=file, flush=True)

    def close(self):
        pass


def progress(total):
    """A progress bar on stderr (Debian's python3-tqdm) while runs go by."""
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit="run", file=sys.stderr, leave=False,
                disable=not sys.stderr.isatty(), dynamic_ncols=True)


def main():
    a = parse_args()
    report_out = sys.stderr if a.json == "-" else sys.stdout
    os.makedirs(a.out, exist_ok=True)
    tmpobj = tempfile.TemporaryDirectory(prefix="hakmem-learner-")
    ctx = Ctx()
    ctx.out = os.path.abspath(a.out)
    ctx.bench_args = a.bench_args
    started = datetime.datetime.now().isoformat(timespec="seconds")
    runs = []
    with tmpobj as tmp:
        # Private copies: a concurrent bazel build cannot swap them mid-experiment, and
        # learn and frozen load the very same binary (the table is keyed by its build-id).
        ctx.lib = compare.snapshot(a.lib, tmp)
        ctx.tool = a.tool
        ctx.bench = compare.snapshot(a.bench, tmp)
        compare.RSS_EXEC = compare.snapshot(a.rss_exec, tmp)
        # The version comes from hakmem's own start line: the preload cannot be dlopen'ed
        # (its initial-exec TLS does not fit a dlopen'ed library's static TLS block).
        lib_info = {"path": a.lib, "sha256": compare.sha256(ctx.lib), "version": None}
        bench_info = {"path": a.bench, "sha256": compare.sha256(ctx.bench),
                      "args": a.bench_args}
        with contextlib.redirect_stdout(report_out):
            print("hakmem: %s (sha256 %s)" % (a.lib, lib_info["sha256"][:12]))
            print("bench: %s %s; configs: %s; reps: %d; artifacts: %s" % (
                a.bench, " ".join(a.bench_args), ",".join(a.configs), a.reps,
                os.path.relpath(ctx.out)))
            plan = [(rep, c) for rep in range(a.reps) for c in schedule(a.configs, rep)]
            bar = progress(len(plan))
            for rep, c in plan:
                bar.set_description("rep %d %s" % (rep + 1, c))
                r = run_one(ctx, c, rep)
                bar.update(1)
                runs.append(r)
                if lib_info["version"] is None and r.version:
                    lib_info["version"] = r.version
                    print("hakmem version: %s" % r.version)
                status = ("skipped: " + r.skipped if r.skipped else
                          "INVALID: " + r.invalid if r.invalid else "ok")
                bar.write("  rep %d %-8s busy %8s s  wall %6s s  rss %6s MiB  %s%s" % (
                    rep + 1, c, fmt(r.values.get("total_s")),
                    fmt(r.values.get("wall_s"), "%.2f"), fmt(r.rss_mib, "%.1f"), status,
                    "".join("\n      note: " + n for n in r.notes)), file=sys.stdout)
            bar.close()

    rows, best = summarize(a.configs, runs)
    picks = choices(a.configs, runs)
    logs, log_rows = [], {}
    for r in runs:
        if r.config == "learn" and not r.invalid and "log" in r.artifacts:
            lr = read_learn_log(os.path.join(ctx.out, r.artifacts["log"]))
            if lr is not None:
                logs.append((r.rep, summarize_log(lr)))
                log_rows.setdefault(r.rep, lr)
    notes = sorted({n for r in runs for n in r.notes} |
                   {"%s skipped: %s" % (r.config, r.skipped) for r in runs if r.skipped})
    whys = []
    for r in runs:
        if r.config == "learn" and not r.invalid and "telemetry" in r.artifacts:
            t, err = load_telemetry(os.path.join(ctx.out, r.artifacts["telemetry"]))
            if err:
                r.notes.append(err)
            else:
                whys.append((r.rep, why(t)))
    with contextlib.redirect_stdout(report_out):
        if whys:
            print_why(whys[0][1], whys[0][0])
        print_report(a.configs, rows, best, runs, picks, logs)
        if notes:
            print("\n## Notes\n")
            for n in notes:
                print("  - " + n)
            if any("HAKMEM_MODE is unknown" in n for n in notes):
                print("  => this libhakmem.so has no learner yet: the off/learn/frozen rows ran "
                      "with the bands' defaults, and there are no learned choices to show.")
        invalid = [r for r in runs if r.invalid]
        if invalid:
            print("\n%d INVALID run(s) excluded from medians:" % len(invalid))
            for r in invalid:
                print("  %s rep %d: %s" % (r.config, r.rep + 1, r.invalid))
        first_learn = next((r for r in runs if r.config == "learn" and not r.invalid
                            and "telemetry" in r.artifacts), None)
        if first_learn is not None:
            path = os.path.join(ctx.out, first_learn.artifacts["telemetry"])
            print("\n## `hakmem report %s --top 8`\n" % os.path.relpath(path))
            sys.stdout.flush()
            proc = subprocess.run([ctx.tool, "report", path, "--top", "8"],
                                  capture_output=True, text=True)
            print(proc.stdout.rstrip() if proc.returncode == 0 else
                  "hakmem report failed (%d): %s" % (proc.returncode, proc.stderr.strip()))
        if a.plot:
            if log_rows:
                rep = min(log_rows)
                learn_run = next(r for r in runs if r.config == "learn" and r.rep == rep)
                wall = learn_run.values.get("wall_s")
                plot_log(log_rows[rep], a.plot,
                         "hakmem learner, bench_multisite, learn run of rep %d" % (rep + 1),
                         end_ms=wall * 1000.0 if isinstance(wall, float) else None)
                print("\nwrote %s (ratings over time, rep %d)" % (a.plot, rep + 1))
            else:
                print("\nno learn log with rows for the workload's sites; %s not written" % a.plot)

    doc = {
        "started": started, "host": platform.node(), "kernel": platform.release(),
        "cpus": os.cpu_count(), "reps": a.reps, "configs": a.configs,
        "hakmem": lib_info, "bench": bench_info,
        "expected_best": {s: {"band": b, "strategy": st, "why": why}
                          for s, (b, st, why) in EXPECTED.items()},
        "best_fixed": best, "summary": [rows[c] for c in a.configs],
        "best_fixed_per_site": {s: best_fixed_for_site(rows, s) for s in SITES},
        "choices": picks, "learn_log": [{"rep": rep + 1, "sites": s} for rep, s in logs],
        "why": [{"rep": rep + 1, "sites": w} for rep, w in whys],
        "notes": notes, "runs": [r.as_dict() for r in runs],
    }
    with open(os.path.join(ctx.out, "summary.json"), "w") as f:
        json.dump(doc, f, indent=1)
    if a.json == "-":
        json.dump(doc, sys.stdout, indent=1)
        print()
    elif a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)
    return 1 if any(r.invalid for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())

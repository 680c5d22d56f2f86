#!/usr/bin/python3
"""Runs one case of the reliability program (reliability.cc) under hakmem in each of its
configurations (hakmem_run.py: modes and forced strategies) and checks every run.

  reliability_test.py --lib=LIBHAKMEM --hakmem=TOOL --program=RELIABILITY
                      [--plugin=LIB] --case=NAME [--configs=a,b,...] [--scale=full]
                      [--seconds=N]

Every run must exit 0, print hakmem's exit line from its own pid (and from every process
it forks), nothing else of hakmem's on stderr, and write every file its configuration
asked for, valid. Cases whose output is deterministic are also run once without hakmem,
and every run's stdout must equal that one's. `frozen` loads the table the case's
`learn` run froze. --scale=full runs the long versions (the manual targets, soak.sh).
"""

import argparse
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hakmem_run as hr  # noqa: E402

# name: (arguments, full-scale arguments, default configurations, compare with glibc,
#        processes that print an exit line, what the case needs checked beyond the rules)
CASES = {
    "handoff": (["handoff"], ["handoff", "--threads=256", "--items=4000"],
                hr.ALL_CONFIGS, True, 1),
    "larson": (["larson", "--rounds=800", "--generations=6"],
               ["larson", "--threads=64", "--generations=20", "--rounds=5000"],
               ("off", "learn", "mmap"), True, 1),
    # Parent, three children and a grandchild: every mode, each process its own files.
    "fork": (["fork"], ["fork", "--forks=12", "--workers=16"], hr.ALL_CONFIGS, True, 5),
    # Eight children, each publishing route decisions into every slot after the fork.
    "fork-publish": (["fork-publish"], ["fork-publish", "--forks=64"], ("off", "learn"), True, 9),
    "dlopen": (["dlopen", "--cycles=16"], ["dlopen", "--cycles=600"],
               ("off", "learn", "frozen", "bigcache"), True, 1),
    "threads": (["threads", "--count=2000", "--batch=100"],
                ["threads", "--count=20000", "--batch=400"], ("off", "learn"), True, 1),
    "bigheap": (["bigheap", "--mib=1024"], ["bigheap", "--mib=6144"], ("off",), False, 1),
    "sites": (["sites", "--count=100000"], ["sites", "--count=400000"], ("learn",), False, 1),
    "contexts": (["contexts", "--fanout=48"], ["contexts", "--fanout=48", "--rounds=3"],
                 ("learn", "frozen"), False, 1),
    # Eight children exit at once, writing the same files (no %p); the parent ends in
    # _exit and prints nothing.
    "exit-together": (["exit-together", "--children=8"], ["exit-together", "--children=32"],
                      ("learn",), False, 8),
    # Two heavy/light cycles; the full version cycles for five minutes (soak.sh).
    "soak": (["soak", "--seconds=1", "--heavy-mib=128", "--heavy-ops=30000"],
             ["soak", "--seconds=300"], ("learn",), False, 1),
}

# Settings a case adds to every run: the soak rewrites its telemetry every second, as a
# long-running service would, so the periodic writer runs all along.
# The fork case has the writer rewrite every 20 ms, so that forks find it mid-write.
EXTRA_ENV = {"soak": {"HAKMEM_TELEMETRY_INTERVAL_MS": "1000"},
             "fork": {"HAKMEM_TELEMETRY_INTERVAL_MS": "20"}}

# Cases whose processes each write their own files (%p in every path).
PID_PATHS = {"fork"}
# How often the case runs in each configuration: concurrent writers tear a file only now
# and then, so the test that guards atomic writes tries more than once.
REPEATS = {"exit-together": 3}


def check_case(name, config, files, exits, stderr):
    """What a case needs beyond the common rules."""
    context = "%s [%s]" % (name, config)
    if name == "sites":
        for doc in files.get("HAKMEM_SITE_REPORT", []):
            # 100k explicit sites into a table of 4096: the rest counted, never lost.
            if doc["dropped_sites"] < 10000:
                raise hr.RunError("%s: dropped_sites=%d with 100k sites" % (context,
                                                                         doc["dropped_sites"]))
            if not any(s.get("name") == "(overflow)" for s in doc["sites"]):
                raise hr.RunError("%s: no (overflow) site in the report" % context)
    if name == "contexts":
        for doc in files.get("HAKMEM_SITE_REPORT", []):
            if doc["dropped_contexts"] < 10000:
                raise hr.RunError("%s: dropped_contexts=%d with 110k contexts"
                                  % (context, doc["dropped_contexts"]))
            unnamed = [s["key"] for s in doc["sites"] if not s["context"] and not s["name"]]
            if unnamed:
                raise hr.RunError("%s: sites with neither a context nor a name: %s"
                                  % (context, unnamed[:5]))
    if name == "bigheap":
        m = re.search(r"maps_peak=([0-9]+) max_map_count=([0-9]+)", stderr)
        if not m:
            raise hr.RunError("%s: no mapping count in the program's notes" % context)
        print("  %s: %s mappings at the peak (vm.max_map_count %s)" % (context, m.group(1),
                                                                      m.group(2)))
    if name == "soak":
        print("  %s: %s" % (context, "; ".join(re.findall(r"soak (phase=.*)", stderr))))


def run_case(args, tools, tmp):
    name = args.case
    small, full, default_configs, compare, processes = CASES[name]
    cmd_args = list(full if args.scale == "full" else small)
    if name == "soak" and args.seconds:
        cmd_args = [a for a in cmd_args if not a.startswith("--seconds=")]
        cmd_args.append("--seconds=%d" % args.seconds)
    if name == "dlopen":
        cmd_args.append("--plugin=" + os.path.abspath(args.plugin))
    cmd = [os.path.abspath(args.program)] + cmd_args
    configs = args.configs.split(",") if args.configs else list(default_configs)
    if "frozen" in configs and "learn" not in configs:
        configs.insert(0, "learn")  # frozen loads what learn froze
    configs.sort(key=lambda c: c == "frozen")  # learn before frozen
    timeout = 3600 if args.scale == "full" or name == "soak" else 300

    baseline = None
    if compare:
        t0 = time.time()
        _, rc, out, err = hr.run(cmd, hr.clean_env(), timeout, context=name + " [glibc]")
        if rc != 0:
            raise hr.RunError("%s: the run without hakmem failed (%s): the workload itself is "
                              "broken\n%s" % (name, hr.describe_status(rc), hr.tail(err)))
        if "hakmem:" in err:
            raise hr.RunError("%s: hakmem lines without hakmem: the proof proves nothing" % name)
        baseline = out
        print("%-14s %-9s %5.1f s  %d stdout lines" % (name, "glibc", time.time() - t0,
                                                      out.count(b"\n")))

    table = None
    for config_name in configs:
        for rep in range(REPEATS.get(name, 1)):
            workdir = os.path.join(tmp, "%s.%d" % (config_name, rep))
            config = hr.Config(config_name, workdir, table=table if config_name == "frozen"
                               else None, pid_in_paths=name in PID_PATHS)
            context = "%s [%s]" % (name, config_name)
            t0 = time.time()
            env = config.env(tools.lib)
            env.update(EXTRA_ENV.get(name, {}))
            pid, rc, out, err = hr.run(cmd, env, timeout, cwd=workdir, context=context)
            exits = hr.parse_stderr(err, context)
            if rc != 0:
                raise hr.RunError("%s: %s\n%s" % (context, hr.describe_status(rc), hr.tail(err)))
            if name != "exit-together":
                hr.prove(exits, pid, err, context)
            if len(exits) < processes:
                raise hr.RunError("%s: %d processes printed an exit line, expected %d\n%s"
                                  % (context, len(exits), processes, hr.tail(err)))
            for p in exits:
                hr.prove(exits, p, err, context)
            if baseline is not None and out != baseline:
                raise hr.RunError("%s: stdout differs from the run without hakmem at %s"
                                  % (context, hr.describe_difference(baseline, out)))
            if config.strategy:
                hr.check_forced(exits[pid], config.strategy, routed_large=True, context=context)
            files = tools.check_files(config, list(exits), context)
            check_case(name, config_name, files, exits, err)
            if config_name == "learn" and table is None:
                table = config.path_for("HAKMEM_FREEZE_TO", pid)
                if tools.check_table(table, context) == 0:
                    raise hr.RunError("%s: the learn run froze an empty table" % context)
            print("%-14s %-9s %5.1f s  %d processes proved, files: %s"
                  % (name, config_name, time.time() - t0, len(exits),
                     ", ".join(sorted(v[len("HAKMEM_"):].lower() for v in config.files)) or "-"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lib", required=True)
    parser.add_argument("--hakmem", required=True, help="the hakmem command line tool")
    parser.add_argument("--program", required=True, help="the reliability program")
    parser.add_argument("--plugin", help="the library the dlopen case loads")
    parser.add_argument("--case", required=True, choices=sorted(CASES))
    parser.add_argument("--configs", help="comma-separated: %s" % ", ".join(hr.ALL_CONFIGS))
    parser.add_argument("--scale", choices=("quick", "full"), default="quick")
    parser.add_argument("--seconds", type=int, help="soak: how long")
    args = parser.parse_args()
    tools = hr.Tools(args.lib, args.hakmem)
    with tempfile.TemporaryDirectory(prefix="reliability.",
                                     dir=os.environ.get("TEST_TMPDIR")) as tmp:
        try:
            run_case(args, tools, tmp)
        except hr.RunError as e:
            print("FAIL: %s" % e)
            return 1
    print("PASS: %s" % args.case)
    return 0


if __name__ == "__main__":
    sys.exit(main())

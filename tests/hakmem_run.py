"""Running programs under hakmem in each mode, and checking what such a run must show.

Shared by the whole-process tests (real_programs_test.py, reliability_test.py, soak.sh
through reliability_test.py). What a run under hakmem must show:

  * the proof: hakmem's exit line (HAKMEM_VERBOSE=1) from the process's own pid, with
    bytes_from_os > 0, once per process;
  * nothing else of hakmem's on stderr: its expected lines are `hakmem: start ...` and
    `hakmem: exit pid=...`; any other line starting with `hakmem:` (a complaint about a
    setting, a file it could not write, a foreign free) fails the run;
  * with HAKMEM_STRATEGY forced, exit-line counters that show the forced strategy served
    the routed requests (check_forced);
  * every file the settings asked for, written where they said and valid: telemetry read
    by `hakmem report` (text and --json), a frozen table by `hakmem validate`, the site
    report as JSON, the learn log as CSV with its header.

A configuration is a mode (off, learn, shadow, frozen) or a forced strategy (pool,
bigcache, mmap; mode off). `learn` asks for all four files; `shadow` for telemetry, the
site report and the learn log; `frozen` loads the table a learn run froze and writes
telemetry.
"""

import csv
import json
import os
import re
import signal
import subprocess

MODES = ("off", "learn", "shadow", "frozen")
STRATEGIES = ("pool", "bigcache", "mmap")
ALL_CONFIGS = MODES + STRATEGIES

EXIT_LINE = re.compile(r"^hakmem: exit pid=(?P<pid>[0-9]+) (?P<rest>.*)$")
START_LINE = re.compile(r"^hakmem: start pid=(?P<pid>[0-9]+) version=\S+$")
LEARN_LOG_HEADER = ["t_ms", "site", "symbol", "band", "pool_rating", "bigcache_rating",
                    "mmap_rating", "pool_samples", "bigcache_samples", "mmap_samples",
                    "chosen", "context_key", "context"]
TABLE_MAGIC = b"\x0dHAKM"
TELEMETRY_MAGIC = b"\x0dHAKT"


class RunError(AssertionError):
    """A run that broke one of the rules above; the message says which and shows stderr."""


def tail(text, lines=15):
    return "\n".join(text.splitlines()[-lines:])


def describe_status(rc):
    if rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit %d" % rc


def clean_env(extra=None):
    """The test's environment without any hakmem setting or preload: a suite run with
    --test_env=HAKMEM_STRATEGY=... must not leak into runs that choose their own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HAKMEM_") and k != "LD_PRELOAD"}
    env.update(extra or {})
    return env


class Config:
    """One way to run a program under hakmem, with the files it writes in `workdir`."""

    def __init__(self, name, workdir, table=None, pid_in_paths=False):
        if name not in ALL_CONFIGS:
            raise ValueError("unknown configuration %r (want one of %s)" % (name, ALL_CONFIGS))
        self.name = name
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.mode = name if name in MODES else "off"
        self.strategy = name if name in STRATEGIES else None
        self.table = table
        if self.mode == "frozen" and not table:
            raise ValueError("frozen needs the table a learn run froze")
        p = "%p." if pid_in_paths else ""
        self.files = {}
        if self.mode == "learn":
            self.files = {"HAKMEM_FREEZE_TO": "table." + p + "pb",
                          "HAKMEM_SITE_REPORT": "sites." + p + "json",
                          "HAKMEM_TELEMETRY": "telemetry." + p + "hakt",
                          "HAKMEM_LEARN_LOG": "learn." + p + "csv"}
        elif self.mode == "shadow":
            self.files = {"HAKMEM_SITE_REPORT": "sites." + p + "json",
                          "HAKMEM_TELEMETRY": "telemetry." + p + "hakt",
                          "HAKMEM_LEARN_LOG": "learn." + p + "csv"}
        elif self.mode == "frozen":
            self.files = {"HAKMEM_TELEMETRY": "telemetry." + p + "hakt"}
        self.files = {k: os.path.join(workdir, v) for k, v in self.files.items()}

    def env(self, lib, base=None, verbose=True):
        env = dict(base if base is not None else clean_env())
        env["LD_PRELOAD"] = lib
        env["HAKMEM_MODE"] = self.mode
        if verbose:
            env["HAKMEM_VERBOSE"] = "1"
        if self.strategy:
            env["HAKMEM_STRATEGY"] = self.strategy
        if self.table:
            env["HAKMEM_FROZEN_TABLE"] = self.table
        env.update(self.files)
        return env

    def path_for(self, var, pid):
        """Where `var`'s file of process `pid` is."""
        return self.files[var].replace("%p", str(pid))

    def __str__(self):
        return self.name


def parse_stderr(stderr, context=""):
    """{pid: {counter: int}} from hakmem's exit lines; raises RunError for a second exit
    line of one pid or for any hakmem line that is neither a start nor an exit line."""
    exits = {}
    for line in stderr.splitlines():
        if not line.startswith("hakmem:"):
            continue
        m = EXIT_LINE.match(line)
        if m:
            pid = int(m.group("pid"))
            if pid in exits:
                raise RunError("%s: pid %d printed two exit lines (a pid cached across fork?)"
                               "\n%s" % (context, pid, tail(stderr)))
            counters = {}
            for field in m.group("rest").split():
                key, _, value = field.partition("=")
                if value.isdigit():
                    counters[key] = int(value)
            exits[pid] = counters
        elif not START_LINE.match(line):
            raise RunError("%s: hakmem printed an unexpected line: %r\n%s"
                           % (context, line, tail(stderr)))
    return exits


def prove(exits, pid, stderr, context=""):
    """The process `pid` was served by hakmem: its exit line, with memory from the OS."""
    if pid not in exits:
        raise RunError("%s: no hakmem exit line from pid %d (pids seen: %s): did the preload "
                       "load, or did the process fall back to glibc?\n%s"
                       % (context, pid, sorted(exits), tail(stderr)))
    if exits[pid].get("bytes_from_os", 0) <= 0:
        raise RunError("%s: pid %d's exit line shows no memory from the OS\n%s"
                       % (context, pid, tail(stderr)))
    return exits[pid]


def check_forced(counters, strategy, routed_large, context=""):
    """The exit line of a process run with HAKMEM_STRATEGY=strategy shows that strategy
    served the routed requests (64 KiB and up). `routed_large`: the process is known to
    make requests of 256 KiB and up (which pool cannot serve). Sampled small blocks are
    BigCache mappings too: `sampled_blocks`, when the exit line has it, tells them apart;
    without it the BigCache count is only bounded."""
    bigcache = counters.get("bigcache", 0)
    mmap = counters.get("mmap_blocks", 0)
    fallbacks = counters.get("fallbacks", 0)
    sampled = counters.get("sampled_blocks")
    problems = []
    if strategy == "mmap":
        if fallbacks != 0:
            problems.append("fallbacks=%d (mmap serves every size)" % fallbacks)
        if routed_large and mmap == 0:
            problems.append("mmap_blocks=0: no routed request was mapped")
        if sampled is not None and bigcache != sampled:
            problems.append("bigcache=%d but only %d sampled blocks" % (bigcache, sampled))
    elif strategy == "bigcache":
        # BigCache holds blocks up to 64 MiB: a bigger one is mapped, as a fallback.
        if mmap != fallbacks:
            problems.append("mmap_blocks=%d but fallbacks=%d (only blocks past BigCache's "
                            "largest bin may be mapped directly)" % (mmap, fallbacks))
        own = bigcache - (sampled or 0)
        if routed_large and own <= 0:
            problems.append("bigcache=%d: no routed request went to BigCache" % bigcache)
    elif strategy == "pool":
        # Pool serves 64 KiB .. 256 KiB; every mapped block past that is a fallback.
        if sampled is not None:
            if bigcache - sampled + mmap != fallbacks:
                problems.append("bigcache=%d - sampled_blocks=%d + mmap_blocks=%d != "
                                "fallbacks=%d" % (bigcache, sampled, mmap, fallbacks))
        elif not mmap <= fallbacks <= bigcache + mmap:
            problems.append("fallbacks=%d outside [mmap_blocks=%d, bigcache + mmap_blocks=%d]"
                            % (fallbacks, mmap, bigcache + mmap))
        if routed_large and fallbacks == 0:
            problems.append("fallbacks=0 though the program makes requests pool cannot serve")
    else:
        raise ValueError(strategy)
    if problems:
        raise RunError("%s: HAKMEM_STRATEGY=%s: %s (exit line counters: %s)"
                       % (context, strategy, "; ".join(problems), counters))


class Tools:
    def __init__(self, lib, hakmem):
        self.lib = os.path.abspath(lib)
        self.hakmem = os.path.abspath(hakmem)
        if not os.path.isfile(self.lib):
            raise RunError("preload library %s does not exist" % self.lib)

    def tool(self, *args):
        proc = subprocess.run([self.hakmem] + list(args), capture_output=True, text=True,
                              timeout=120, env=clean_env())
        return proc

    @staticmethod
    def check_magic(path, magic, what, context=""):
        with open(path, "rb") as f:
            head = f.read(len(magic))
        if head != magic:
            raise RunError("%s: %s does not start with %s: %r" % (context, path, what, head))

    def check_telemetry(self, path, context=""):
        """`hakmem report` reads the file whole (text and --json); returns the JSON."""
        self.check_magic(path, TELEMETRY_MAGIC, "the telemetry magic", context)
        text = self.tool("report", path, "--top", "5")
        if text.returncode != 0:
            raise RunError("%s: hakmem report %s failed: %s" % (context, path, text.stderr))
        js = self.tool("report", path, "--json")
        if js.returncode != 0:
            raise RunError("%s: hakmem report --json %s failed: %s" % (context, path, js.stderr))
        return json.loads(js.stdout)

    def check_table(self, path, context=""):
        """`hakmem validate` accepts the frozen table; returns its entry count."""
        self.check_magic(path, TABLE_MAGIC, "a frozen table's magic", context)
        proc = self.tool("validate", path)
        m = re.match(r"ok: ([0-9]+) entr", proc.stdout)
        if proc.returncode != 0 or not m:
            raise RunError("%s: hakmem validate %s: %s%s" % (context, path, proc.stdout,
                                                             proc.stderr))
        return int(m.group(1))

    @staticmethod
    def check_site_report(path, context=""):
        try:
            with open(path) as f:
                doc = json.load(f)
        except ValueError as e:
            raise RunError("%s: the site report %s is not JSON: %s" % (context, path, e))
        for key in ("sample_bytes", "sites", "dropped_sites", "dropped_contexts"):
            if key not in doc:
                raise RunError("%s: the site report %s has no %r" % (context, path, key))
        return doc

    @staticmethod
    def check_learn_log(path, context=""):
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows or rows[0] != LEARN_LOG_HEADER:
            raise RunError("%s: the learn log %s has no header (first row %r)"
                           % (context, path, rows[:1]))
        for i, row in enumerate(rows[1:], 2):
            if len(row) != len(LEARN_LOG_HEADER):
                raise RunError("%s: the learn log %s: row %d has %d fields, not %d"
                               % (context, path, i, len(row), len(LEARN_LOG_HEADER)))
        return rows[1:]

    def freeze(self, config, out, context=""):
        """`hakmem freeze` of every table the processes of a learn run wrote; returns
        (out, number of tables). The result must validate and hold entries."""
        pattern = os.path.basename(config.files["HAKMEM_FREEZE_TO"]).split("%p")
        tables = sorted(os.path.join(config.workdir, n) for n in os.listdir(config.workdir)
                        if n.startswith(pattern[0]) and n.endswith(pattern[-1]))
        if not tables:
            raise RunError("%s: no frozen table written in %s" % (context, config.workdir))
        proc = self.tool("freeze", "-o", out, *tables)
        if proc.returncode != 0:
            raise RunError("%s: hakmem freeze %s: %s" % (context, tables, proc.stderr))
        if self.check_table(out, context) == 0:
            raise RunError("%s: the learn run's tables froze into an empty table" % context)
        return out, len(tables)

    def check_files(self, config, pids, context=""):
        """Every file `config` asked for, of every pid in `pids` (one path without %p),
        exists and is valid. Returns {var: [parsed, ...]}."""
        found = {}
        for var in config.files:
            paths = sorted({config.path_for(var, pid) for pid in pids})
            for path in paths:
                if not os.path.isfile(path):
                    listing = sorted(os.listdir(os.path.dirname(path)))
                    raise RunError("%s: %s=%s was not written (the directory holds %s)"
                                   % (context, var, path, listing))
                if var == "HAKMEM_TELEMETRY":
                    parsed = self.check_telemetry(path, context)
                elif var == "HAKMEM_FREEZE_TO":
                    parsed = self.check_table(path, context)
                elif var == "HAKMEM_SITE_REPORT":
                    parsed = self.check_site_report(path, context)
                else:
                    parsed = self.check_learn_log(path, context)
                found.setdefault(var, []).append(parsed)
        # No temporary file left behind by an atomic write.
        leftovers = [n for n in os.listdir(config.workdir) if ".tmp." in n]
        if leftovers:
            raise RunError("%s: temporary files left in %s: %s" % (context, config.workdir,
                                                                  leftovers))
        return found


def run(cmd, env, timeout, stdin=None, cwd=None, context=""):
    """Runs cmd to completion; returns (pid, returncode, stdout bytes, stderr text)."""
    stdin_f = open(stdin, "rb") if stdin else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, env=env, stdin=stdin_f, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=cwd)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise RunError("%s: %s timed out after %d s\n%s"
                           % (context, cmd[0], timeout, tail(err.decode("utf-8", "replace"))))
    finally:
        if stdin:
            stdin_f.close()
    return proc.pid, proc.returncode, out, err.decode("utf-8", "replace")


def first_difference(a, b):
    """(1-based line number, line of a, line of b) of the first differing line, or None."""
    la, lb = a.split(b"\n"), b.split(b"\n")
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else b"<end of output>"
        y = lb[i] if i < len(lb) else b"<end of output>"
        if x != y:
            return i + 1, x, y
    return None


def describe_difference(a, b):
    line, x, y = first_difference(a, b)
    return "line %d: %r vs %r" % (line, x[:200], y[:200])

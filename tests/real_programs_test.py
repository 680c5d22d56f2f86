#!/usr/bin/python3
"""Real programs under hakmem, in its modes and with each strategy forced.

  real_programs_test.py --lib=LIBHAKMEM --hakmem=TOOL --program=NAME
                        [--configs=a,b,...] [--scale=full] [--workloads=DIR] [--source=FILE]

Programs (Debian's own binaries):
  redis   redis-server on 127.0.0.1 (a free port), driven by redis-cli and
          redis-benchmark (bounded request counts): known values of 5 B .. 5 MiB set,
          read back intact before and after the benchmark, a BGSAVE (a fork of the
          server) and DEBUG RELOAD (the dataset saved and loaded back); the server stopped
          by its pid (SIGTERM).
  sqlite  sqlite3 :memory: < sqlite_blobs.sql (rows, indexes, JSON, values of 64 KiB to
          3 MiB); stdout compared with the run without hakmem.
  python  CPython's own regression tests (Debian's libpython3.11-testsuite), in one
          process with PYTHONMALLOC=malloc; every test case's outcome compared with the
          run without hakmem.
  lua     lua5.4 tables.lua (hash and array parts, big strings, closures); stdout compared.
  gxx     g++ -O1 -S of a real C++ source (tests/stress.cc): the driver and cc1plus, the
          assembly compared.
  protoc  protoc --cpp_out and --descriptor_set_out for telemetry.proto and the frozen
          table's schema: the generated files compared.

Every run must show hakmem's exit line from the program's pid, no other hakmem line on
stderr, with a forced strategy counters that show it served the routed requests, and
every file its configuration asked for written and valid (hakmem_run.py). Redis
rewrites its argv and environment for its process title: its files must still land.
"""

import argparse
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hakmem_run as hr  # noqa: E402

# Modules of CPython's test suite that stress allocation. The quick set runs in the
# default suite; the full set behind the manual targets.
PY_QUICK = ["test_dict", "test_list", "test_set", "test_unicode", "test_bytes", "test_gc",
            "test_json", "test_collections", "test_re"]
PY_FULL = PY_QUICK + ["test_threading", "test_weakref", "test_pickle", "test_deque",
                      "test_array", "test_sort", "test_tuple", "test_memoryview",
                      "test_itertools", "test_heapq", "test_dictviews", "test_struct",
                      "test_bigmem", "test_functools", "test_copy", "test_string"]


def sha(data):
    return hashlib.sha256(data).hexdigest()[:16]


class Program:
    """A program run once without hakmem (the expected result) and once per config."""
    name = ""
    routed_large = False  # makes requests of 256 KiB and up (the pool cannot serve them)
    min_processes = 1
    timeout = 300

    def __init__(self, args):
        self.args = args

    def baseline(self, workdir):
        return None

    def run(self, config, tools, workdir, expected):
        raise NotImplementedError

    def check_run(self, config, tools, pid, rc, err, context):
        """The common rules; returns the exit lines."""
        exits = hr.parse_stderr(err, context)
        if rc != 0:
            raise hr.RunError("%s: %s\n%s" % (context, hr.describe_status(rc), hr.tail(err)))
        counters = hr.prove(exits, pid, err, context)
        if len(exits) < self.min_processes:
            raise hr.RunError("%s: %d processes printed an exit line, expected %d or more\n%s"
                              % (context, len(exits), self.min_processes, hr.tail(err)))
        for p in exits:
            hr.prove(exits, p, err, context)
        if config.strategy:
            hr.check_forced(counters, config.strategy, self.routed_large, context)
        tools.check_files(config, list(exits), context)
        return exits


class Command(Program):
    """A command whose stdout (and output files) must equal the run without hakmem."""
    outputs = ()  # files the command writes in its working directory

    def command(self, workdir):
        raise NotImplementedError

    def stdin(self):
        return None

    def extra_env(self):
        return {}

    def result(self, out, workdir):
        files = {}
        for name in self.outputs:
            with open(os.path.join(workdir, name), "rb") as f:
                files[name] = f.read()
        return out, files

    def baseline(self, workdir):
        os.makedirs(workdir, exist_ok=True)
        _, rc, out, err = hr.run(self.command(workdir), hr.clean_env(self.extra_env()),
                                 self.timeout, stdin=self.stdin(), cwd=workdir,
                                 context=self.name + " [glibc]")
        if rc != 0:
            raise hr.RunError("%s: the run without hakmem failed (%s): the workload itself "
                              "is broken\n%s" % (self.name, hr.describe_status(rc), hr.tail(err)))
        return self.result(out, workdir)

    def run(self, config, tools, workdir, expected):
        context = "%s [%s]" % (self.name, config)
        env = config.env(tools.lib, hr.clean_env(self.extra_env()))
        pid, rc, out, err = hr.run(self.command(workdir), env, self.timeout,
                                   stdin=self.stdin(), cwd=workdir, context=context)
        exits = self.check_run(config, tools, pid, rc, err, context)
        got_out, got_files = self.result(out, workdir)
        want_out, want_files = expected
        if got_out != want_out:
            raise hr.RunError("%s: stdout differs from the run without hakmem at %s"
                              % (context, hr.describe_difference(want_out, got_out)))
        for name, data in want_files.items():
            if got_files[name] != data:
                raise hr.RunError("%s: %s differs from the run without hakmem (%s vs %s)"
                                  % (context, name, sha(data), sha(got_files[name])))
        return "%d processes, stdout %d bytes identical%s" % (
            len(exits), len(got_out), ", %d files identical" % len(got_files) if got_files else "")


class Sqlite(Command):
    name = "sqlite"
    routed_large = True

    def command(self, workdir):
        return ["/usr/bin/sqlite3", ":memory:"]

    def stdin(self):
        return os.path.join(self.args.workloads, "sqlite_blobs.sql")


class Lua(Command):
    name = "lua"
    routed_large = True

    def command(self, workdir):
        return ["/usr/bin/lua5.4", os.path.join(self.args.workloads, "tables.lua")]


class Gxx(Command):
    name = "gxx"
    min_processes = 2  # the driver and cc1plus

    def command(self, workdir):
        # The stress program's source (threads, atomics, the C++ allocation API): a real
        # file, and half the compile time of the reliability program's.
        root = os.path.dirname(os.path.dirname(os.path.abspath(self.args.source)))
        src = os.path.join(root, "tests", "stress.cc")
        # -I the source root: stress.cc includes tests/testdata/pattern.h by its workspace path.
        return ["/usr/bin/g++", "-std=c++17", "-O1", "-I" + root, "-S", "-o", "-", src]


class Protoc(Command):
    name = "protoc"
    outputs = ("out/learner/telemetry.pb.cc", "out/learner/telemetry.pb.h",
               "out/learner/frozen_table.pb.cc", "out/learner/frozen_table.pb.h",
               "out/descriptors.pb")

    def command(self, workdir):
        os.makedirs(os.path.join(workdir, "out"), exist_ok=True)
        root = os.path.dirname(os.path.dirname(os.path.abspath(self.args.source)))
        return ["/usr/bin/protoc", "-I" + root, "--cpp_out=out",
                "--descriptor_set_out=out/descriptors.pb", "--include_imports",
                "--include_source_info", "learner/telemetry.proto",
                "learner/frozen_table.proto"]


class Python(Program):
    """CPython's regression tests in one process; outcomes per test case compared."""
    name = "python"
    routed_large = True
    timeout = 900

    def modules(self):
        return PY_FULL if self.args.scale == "full" else PY_QUICK

    def command(self, xml):
        return ["/usr/bin/python3", os.path.join(self.args.workloads, "regrtest_driver.py"),
                "--junit-xml=" + xml] + self.modules()

    @staticmethod
    def env_extra():
        # Every object through malloc (not pymalloc's arenas); fixed string hashing.
        return {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}

    def outcomes(self, xml, context):
        """{module: {test case: outcome}} from regrtest's JUnit XML (suites in run order)."""
        try:
            root = ET.parse(xml).getroot()
        except (OSError, ET.ParseError) as e:
            raise hr.RunError("%s: no readable JUnit XML from regrtest: %s" % (context, e))
        suites = list(root)
        if len(suites) != len(self.modules()):
            raise hr.RunError("%s: %d test modules reported, %d run"
                              % (context, len(suites), len(self.modules())))
        result = {}
        for module, suite in zip(self.modules(), suites):
            cases = {}
            for case in suite:
                kinds = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
                key = case.get("name")
                while key in cases:
                    key += "'"
                cases[key] = kinds[0] if kinds else "passed"
            result[module] = cases
        return result

    def run_tests(self, env, workdir, context):
        os.makedirs(workdir, exist_ok=True)
        xml = os.path.join(workdir, "regrtest.xml")
        pid, rc, out, err = hr.run(self.command(xml), env, self.timeout, cwd=workdir,
                                   context=context)
        return pid, rc, out, err, xml

    def baseline(self, workdir):
        _, rc, out, err, xml = self.run_tests(hr.clean_env(self.env_extra()), workdir,
                                              self.name + " [glibc]")
        outcomes = self.outcomes(xml, self.name + " [glibc]")
        return rc, outcomes

    def run(self, config, tools, workdir, expected):
        context = "%s [%s]" % (self.name, config)
        want_rc, want = expected
        env = config.env(tools.lib, hr.clean_env(self.env_extra()))
        pid, rc, out, err, xml = self.run_tests(env, workdir, context)
        if rc != want_rc:
            raise hr.RunError("%s: regrtest exited %d, without hakmem %d\n%s"
                              % (context, rc, want_rc, hr.tail(out.decode("utf-8", "replace"))))
        exits = self.check_run(config, tools, pid, 0, err, context)
        got = self.outcomes(xml, context)
        for module in self.modules():
            if got[module] != want[module]:
                diff = sorted(k for k in set(want[module]) | set(got[module])
                              if want[module].get(k) != got[module].get(k))
                raise hr.RunError("%s: %s: %d test cases differ from the run without hakmem, "
                                  "e.g. %s: %s vs %s" % (context, module, len(diff), diff[0],
                                                        want[module].get(diff[0]),
                                                        got[module].get(diff[0])))
        cases = sum(len(c) for c in got.values())
        passed = sum(v == "passed" for c in got.values() for v in c.values())
        return "%d processes proved, %d modules, %d test cases (%d passed) as without hakmem" % (
            len(exits), len(got), cases, passed)


class Redis(Program):
    """redis-server under hakmem; redis-cli and redis-benchmark (on glibc) drive it."""
    name = "redis"
    routed_large = True
    # Known values, set before the benchmark and read back after it, after a BGSAVE and
    # after DEBUG RELOAD: 5 B .. 5 MiB, each size band of the route.
    VALUES = {"k:small": 5, "k:1k": 1000, "k:70k": 70 * 1024, "k:300k": 300 * 1024,
              "k:1m": 1 << 20, "k:5m": 5 << 20}

    @staticmethod
    def value(key, size):
        seed = hashlib.sha256(key.encode()).hexdigest().encode()
        return (seed * (size // len(seed) + 1))[:size]

    def requests(self):
        return 20000 if self.args.scale == "full" else 2000

    @staticmethod
    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def cli(self, port, *args, stdin=None, timeout=60):
        proc = subprocess.run(["/usr/bin/redis-cli", "-h", "127.0.0.1", "-p", str(port)] +
                              list(args), input=stdin, capture_output=True, timeout=timeout,
                              env=hr.clean_env())
        if proc.returncode != 0:
            raise hr.RunError("redis-cli %s: exit %d: %s" % (" ".join(args), proc.returncode,
                                                             proc.stderr.decode()))
        return proc.stdout

    def check_values(self, port, when, context):
        for key, size in sorted(self.VALUES.items()):
            got = self.cli(port, "--raw", "GET", key)
            want = self.value(key, size) + b"\n"
            if got != want:
                raise hr.RunError("%s: %s %s: read back %d bytes (%s), wrote %d (%s)"
                                  % (context, when, key, len(got) - 1, sha(got[:-1]), size,
                                     sha(want[:-1])))
            if self.cli(port, "STRLEN", key).strip() != str(size).encode():
                raise hr.RunError("%s: %s STRLEN %s is not %d" % (context, when, key, size))

    def wait_ready(self, proc, port, log, context):
        deadline = time.time() + 30
        while time.time() < deadline:
            if proc.poll() is not None:
                return False
            try:
                if self.cli(port, "PING", timeout=5).strip() == b"PONG":
                    return True
            except (hr.RunError, subprocess.TimeoutExpired):
                pass
            time.sleep(0.05)
        proc.kill()
        raise hr.RunError("%s: redis-server did not answer PING in 30 s\n%s" % (context, log()))

    def benchmark(self, port, context, *args):
        cmd = ["/usr/bin/redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "--csv"] + list(args)
        proc = subprocess.run(cmd, capture_output=True, timeout=300, env=hr.clean_env())
        if proc.returncode != 0:
            raise hr.RunError("%s: redis-benchmark %s: exit %d: %s" % (
                context, " ".join(args), proc.returncode, proc.stderr.decode()[-500:]))
        rows = [l for l in proc.stdout.decode().splitlines()[1:] if l.strip()]
        tests = [t for t in args[args.index("-t") + 1].split(",")]
        if len(rows) < len(tests):
            raise hr.RunError("%s: redis-benchmark ran %d of %d tests: %s"
                              % (context, len(rows), len(tests), proc.stdout.decode()))
        return len(rows)

    def serve(self, env, workdir, context, drive):
        """Starts redis-server under env, runs drive(port), stops it by its pid."""
        os.makedirs(workdir, exist_ok=True)
        out_path, err_path = os.path.join(workdir, "redis.out"), os.path.join(workdir, "redis.err")

        def log():
            with open(out_path, errors="replace") as o, open(err_path, errors="replace") as e:
                return "--- redis stdout ---\n%s\n--- stderr ---\n%s" % (hr.tail(o.read()),
                                                                         hr.tail(e.read()))
        for attempt in range(3):
            port = self.free_port()
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                proc = subprocess.Popen(
                    ["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--dir", workdir,
                     "--daemonize", "no", "--enable-debug-command", "local",
                     "--dbfilename", "dump.rdb"],
                    env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=workdir)
            if self.wait_ready(proc, port, log, context):
                break
            proc.wait()
            with open(out_path, errors="replace") as o:
                if "Address already in use" not in o.read():
                    raise hr.RunError("%s: redis-server exited at start (%s)\n%s"
                                      % (context, hr.describe_status(proc.returncode), log()))
        else:
            raise hr.RunError("%s: no free port in 3 tries" % context)
        try:
            summary = drive(port)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        proc.send_signal(signal.SIGTERM)  # stopped by its pid
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise hr.RunError("%s: redis-server did not stop in 60 s after SIGTERM\n%s"
                              % (context, log()))
        with open(err_path, errors="replace") as e:
            err = e.read()
        if rc != 0:
            raise hr.RunError("%s: redis-server %s\n%s" % (context, hr.describe_status(rc), log()))
        return proc.pid, err, summary

    def drive(self, port, context):
        for key, size in sorted(self.VALUES.items()):
            self.cli(port, "-x", "SET", key, stdin=self.value(key, size))
        self.check_values(port, "before the benchmark", context)
        n = self.requests()
        rows = self.benchmark(port, context, "-n", str(n), "-c", "8", "-r", "10000", "-t",
                              "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,"
                              "lrange_100,mset")
        # Values of 100 KiB: the route's middle band, in lists and strings.
        rows += self.benchmark(port, context, "-n", str(n // 8), "-c", "4", "-d", "100000",
                               "-t", "set,get,lpush,lpop")
        self.check_values(port, "after the benchmark", context)
        # A fork of the server (the child writes the dump and leaves with _exit).
        self.cli(port, "BGSAVE")
        deadline = time.time() + 120
        while b"rdb_bgsave_in_progress:1" in self.cli(port, "INFO", "persistence"):
            if time.time() > deadline:
                raise hr.RunError("%s: BGSAVE still running after 120 s" % context)
            time.sleep(0.05)
        if b"rdb_last_bgsave_status:ok" not in self.cli(port, "INFO", "persistence"):
            raise hr.RunError("%s: BGSAVE failed: %s" % (context, self.cli(port, "INFO",
                                                                          "persistence")))
        # The whole dataset saved and loaded back, in the server process.
        if self.cli(port, "DEBUG", "RELOAD").strip() != b"OK":
            raise hr.RunError("%s: DEBUG RELOAD failed" % context)
        self.check_values(port, "after DEBUG RELOAD", context)
        keys = int(self.cli(port, "DBSIZE").strip())
        return "%d benchmark tests of %d requests, %d keys, values intact" % (rows, n, keys)

    def baseline(self, workdir):
        context = self.name + " [glibc]"
        _, err, summary = self.serve(hr.clean_env(), workdir, context,
                                     lambda port: self.drive(port, context))
        if "hakmem:" in err:
            raise hr.RunError("%s: hakmem lines without hakmem" % context)
        return summary

    def run(self, config, tools, workdir, expected):
        context = "%s [%s]" % (self.name, config)
        pid, err, summary = self.serve(config.env(tools.lib), workdir, context,
                                       lambda port: self.drive(port, context))
        exits = self.check_run(config, tools, pid, 0, err, context)
        return "%d processes proved, %s" % (len(exits), summary)


PROGRAMS = {p.name: p for p in (Redis, Sqlite, Python, Lua, Gxx, Protoc)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lib", required=True)
    parser.add_argument("--hakmem", required=True, help="the hakmem command line tool")
    parser.add_argument("--program", required=True, choices=sorted(PROGRAMS))
    parser.add_argument("--configs", default=",".join(hr.ALL_CONFIGS),
                        help="comma-separated: %s" % ", ".join(hr.ALL_CONFIGS))
    parser.add_argument("--scale", choices=("quick", "full"), default="quick")
    parser.add_argument("--workloads", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "workloads"))
    parser.add_argument("--source", help="a file one level below the workspace root "
                        "(tests/reliability.cc): gxx and protoc find their inputs from it")
    args = parser.parse_args()
    args.workloads = os.path.abspath(args.workloads)
    tools = hr.Tools(args.lib, args.hakmem)
    program = PROGRAMS[args.program](args)
    configs = args.configs.split(",")
    if "frozen" in configs and "learn" not in configs:
        configs.insert(0, "learn")  # frozen loads what learn froze
    configs.sort(key=lambda c: c == "frozen")
    with tempfile.TemporaryDirectory(prefix="real.", dir=os.environ.get("TEST_TMPDIR")) as tmp:
        try:
            t0 = time.time()
            expected = program.baseline(os.path.join(tmp, "glibc"))
            print("%-7s %-9s %5.1f s" % (program.name, "glibc", time.time() - t0), flush=True)
            table = None
            for name in configs:
                # Each process its own files (%p): programs that run others (g++ runs
                # cc1plus, tests run python3) would otherwise leave the last one's.
                config = hr.Config(name, os.path.join(tmp, name), pid_in_paths=True,
                                   table=table if name == "frozen" else None)
                t0 = time.time()
                summary = program.run(config, tools, config.workdir, expected)
                if name == "learn":
                    # What users do: every process's table merged into one with `hakmem
                    # freeze`, which the frozen run's processes each find theirs in.
                    table = tools.freeze(config, os.path.join(tmp, "frozen.pb"),
                                         program.name + " [learn]")
                    summary += "; %d tables frozen into one" % table[1]
                    table = table[0]
                print("%-7s %-9s %5.1f s  %s" % (program.name, name, time.time() - t0, summary),
                      flush=True)
        except hr.RunError as e:
            print("FAIL: %s" % e)
            return 1
    print("PASS: %s in %s" % (program.name, ", ".join(configs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Writes core/hot_functions.txt: the functions of libhakmem.so that ordinary runs execute.

The preload is linked with these first (lld's --symbol-ordering-file, core/BUILD.bazel),
right after its read-only data, so that a process runs hakmem's code from a few
contiguous pages instead of from every part of the library: the kernel maps a file's
pages 64 KiB around each fault, so code spread over the whole text made all of it
resident in every process (224 KiB of peak RSS; README.md, "What the preload costs
a process").

The list comes from callgrind (exact: every function that executed), over runs of the
experiments' benchmarks that reach the paths a program reaches: start-up and exit, the
small-object fast and slow paths, sampling and the call-site profiler, cross-thread frees
and several shards, large blocks and BigCache. Regenerate it after renaming or adding
functions on those paths (core:hot_functions_test fails when a listed name is gone):

    bazel build -c opt //core:libhakmem.so //experiments/...
    /usr/bin/python3 tools/hot_functions.py > core/hot_functions.txt
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

RUNS = [
    # (arguments, extra environment)
    (["bench_random_mixed", "--slots", "256", "--steps", "200000"], {}),
    (["bench_random_mixed", "--slots", "8192", "--steps", "100000"], {"HAKMEM_SAMPLE_BYTES": "4096"}),
    (["bench_larson", "--threads", "4", "--rounds", "4", "--ops-per-round", "5000"], {}),
    (["bench_large", "--cycles", "300"], {}),
    (["bench_large", "--cycles", "3000"], {"HAKMEM_DECAY_MS": "1"}),  # decay's release paths
    # realloc (Lua allocates through it alone), usable size, a real program's start and exit
    (["/usr/bin/lua5.4", "-e", "local t = {} for i = 1, 20000 do t[i] = string.rep('x', i % 300) end "
      "for i = 1, 20000, 2 do t[i] = nil end collectgarbage()"], {}),
]


def die(msg):
    sys.stderr.write("hot_functions.py: %s\n" % msg)
    sys.exit(1)


def executed_functions(profile, library):
    """Names (as linked, not demangled) of the functions of `library` in a callgrind file."""
    objects, names, found = {}, {}, set()
    current_object = None
    with open(profile, errors="replace") as f:
        for line in f:
            m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if m:
                kind, key, name = m.groups()
                if name:
                    objects[key] = name
                if kind == "ob":
                    current_object = objects.get(key)
                continue
            # Names are compressed: a function's first mention, as callee (cfn) or as
            # function (fn), gives its name; later ones only its number.
            m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if m:
                kind, key, name = m.groups()
                if name:
                    names[key] = name
                if kind == "fn" and current_object and os.path.basename(current_object) == library:
                    found.add(names[key])
    return found


def defined_functions(so):
    out = subprocess.run(["nm", "--defined-only", so], check=True, capture_output=True,
                         text=True).stdout
    return {p[2] for p in (l.split() for l in out.splitlines()) if len(p) == 3 and p[1] in "tTwW"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # The optimized build's outputs, whatever was built last (bazel-bin follows the last
    # build's mode, and a fastbuild library has other functions).
    ap.add_argument("--lib", default="bazel-out/k8-opt/bin/core/libhakmem.so")
    ap.add_argument("--bench-dir", default="bazel-out/k8-opt/bin/experiments")
    a = ap.parse_args()
    # (os.path.join keeps an absolute program path, such as Lua's, as it is.)
    for path in [a.lib] + [os.path.join(a.bench_dir, r[0][0]) for r in RUNS]:
        if not os.access(path, os.R_OK):
            die("%s not found; build with: bazel build -c opt //core:libhakmem.so //experiments/..."
                % path)
    lib = os.path.abspath(a.lib)
    hot = set()
    with tempfile.TemporaryDirectory(prefix="hakmem-hot-") as tmp:
        for i, (argv, env) in enumerate(RUNS):
            out = os.path.join(tmp, "callgrind.%d" % i)
            cmd = ["valgrind", "--tool=callgrind", "--demangle=no", "--callgrind-out-file=" + out,
                   os.path.join(a.bench_dir, argv[0])] + argv[1:]
            e = dict(os.environ, LD_PRELOAD=lib, **env)
            r = subprocess.run(cmd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
            if r.returncode != 0:
                die("%s failed:\n%s" % (" ".join(cmd), r.stderr[-2000:]))
            hot |= executed_functions(out, os.path.basename(lib))
    # Only the library's own functions can be placed (not PLT stubs or libc's).
    hot &= defined_functions(lib)
    if len(hot) < 50:
        die("only %d functions of %s executed: was it preloaded?" % (len(hot), lib))
    sys.stdout.write("".join(name + "\n" for name in sorted(hot)))


if __name__ == "__main__":
    main()

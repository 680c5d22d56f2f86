#!/usr/bin/python3
"""The preload's code layout (core/BUILD.bazel; README.md, "What the preload costs a process").

Checks that every function core/hot_functions.txt names still exists in libhakmem.so (a
renamed one silently loses its place: regenerate the list with tools/hot_functions.py),
and that the linker placed them together at the start of the text, right after the
read-only data, with the PLT in front of them, which is what keeps a process's resident share of the library small.

Usage: hot_functions_test.py LIBRARY.so HOT_FUNCTIONS.txt
"""
import subprocess
import sys


def main():
    lib, listing = sys.argv[1], sys.argv[2]
    hot = [l.strip() for l in open(listing) if l.strip()]
    out = subprocess.run(["nm", "-S", "--defined-only", lib], check=True, capture_output=True,
                         text=True).stdout
    functions = {}
    for line in out.splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "tTwW":
            functions.setdefault(p[3], (int(p[0], 16), int(p[1], 16)))
    # Clones the optimizer made (name.part.0, name.constprop.0, ...) exist only in an
    # optimized build; elsewhere the function they came from stands for them.
    bases = {n.split(".")[0] for n in functions}
    gone = [name for name in hot if name not in functions and name.split(".")[0] not in bases]
    if gone:
        print("FAIL: %d functions in %s are not in %s; regenerate the list "
              "(tools/hot_functions.py): %s" % (len(gone), listing, lib, " ".join(gone[:10])))
        return 1
    sections = subprocess.run(["readelf", "-SW", lib], check=True, capture_output=True,
                              text=True).stdout
    text = [l.split() for l in sections.splitlines() if " .text " in l]
    if not text:
        print("FAIL: %s has no .text section" % lib)
        return 1
    fields = text[0][text[0].index(".text") + 1:]  # type, address, offset, size, ...
    text_start = int(fields[1], 16)
    hot_bases = {name.split(".")[0] for name in hot}
    placed = [name for name in hot if name in functions]
    end = max(functions[name][0] + functions[name][1] for name in placed)
    # hakmem's own functions are compiled one section each, so the linker can put every
    # hot one before every other one. (libgcc's unwinder comes as whole objects: its
    # hot functions bring their neighbours along, which is why this compares order, not
    # the span's size.)
    cold_below = sorted((a, n) for n, (a, size) in functions.items()
                        if n.startswith("_ZN6hakmem") and a < end
                        and n.split(".")[0] not in hot_bases)
    if cold_below:
        print("FAIL: the hot functions are not together at the start of .text (0x%x, they end "
              "at 0x%x): %d other hakmem functions lie among them, e.g. %s"
              % (text_start, end, len(cold_below),
                 " ".join("%s@0x%x" % (n, a) for a, n in cold_below[:5])))
        return 1
    # Every run calls through the PLT (memset, memcpy, and the unwinder's _dl_find_object):
    # at the end of the text, as lld puts it by default, it faults in a window of cold code
    # (36 KiB). plt_first.lds moves it in front of the hot functions.
    plt = [l.split() for l in sections.splitlines() if " .plt " in l]
    if plt:
        plt_start = int(plt[0][plt[0].index(".plt") + 2], 16)
        if plt_start > text_start:
            print("FAIL: .plt at 0x%x lies after the start of .text (0x%x): it belongs before "
                  "the hot functions (core/plt_first.lds)" % (plt_start, text_start))
            return 1
    hot_bytes = end - text_start
    print("ok: %d hot functions in [0x%x, 0x%x), %d bytes" % (len(placed), text_start, end, hot_bytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())

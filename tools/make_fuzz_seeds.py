#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora from real files of a learn run.

    tools/make_fuzz_seeds.py RUN.hakt RUN.trace STATE.pb FROZEN.pb [MORE.hakt ...]

Also writes core/malloc_fuzz's programs (made up, not taken from a run). RUN.hakt,
RUN.trace and STATE.pb come from one run of //learner:two_sites under the
preload (HAKMEM_MODE=learn, HAKMEM_TELEMETRY, HAKMEM_TRACE, HAKMEM_FREEZE_TO), FROZEN.pb
from `hakmem freeze RUN.hakt`; tools/fuzz.sh --seeds does all of it. Each file goes in
whole, and so does its payload (the serialized message inside the envelope), which the
table and telemetry targets wrap in a valid envelope themselves; traces are cut to a
few records, with the header's count made to match. Files of bugs found are kept beside
the seeds (named bug_*) and are not touched here.
"""
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def varint(data, i):
    v, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def payload(envelope):
    """Field 3 (bytes) of a FrozenTableFile / TelemetryFile."""
    i = 5  # the magic field: tag + fixed32
    while i < len(envelope):
        tag, i = varint(envelope, i)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            _, i = varint(envelope, i)
        elif wire == 1:
            i += 8
        elif wire == 2:
            n, i = varint(envelope, i)
            if field == 3:
                return envelope[i:i + n]
            i += n
        else:
            raise ValueError("unexpected wire type %d" % wire)
    return b""


def write(target_dir, name, data):
    d = os.path.join(ROOT, target_dir)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def trace_cut(trace, records):
    header, body = trace[:64], trace[64:]
    n = min(records, len(body) // 56)
    kept = body[:56 * n]
    return header[:16] + struct.pack("<Q", n) + header[24:] + kept


def malloc_seeds():
    """Programs for core/malloc_fuzz.cc: each operation on every kind of size, the size
    classes churned, realloc across the bands, every alignment, impossible requests, a
    release with blocks live, and random bytes (fixed seed)."""
    import random

    def size(how, x):  # how: malloc_fuzz.cc Size()'s selector (31: impossible sizes)
        return bytes([how]) + struct.pack("<I", x)[:3]

    def op(o, slot, *args):
        return bytes([o, slot]) + b"".join(args)

    seeds = {}
    p = b""
    for o in range(13):
        for how in range(0, 32, 2):
            p += op(o, (o * 3 + how) % 16, size(how, 1000 * how + 17), size(how, 77))
    seeds["every_op"] = p
    seeds["small_churn"] = b"".join(
        op(0, i % 16, size(14, i * 541)) + (op(7, (i * 5) % 16) if i % 3 == 0 else b"")
        for i in range(120))
    p = op(0, 0, size(3, 100))
    for how in (6, 14, 17, 20, 24, 26, 27, 28, 26, 20, 14, 6, 0):
        p += op(2, 0, size(how, 4000))
    seeds["realloc_across_bands"] = p
    p = b""
    for a in list(range(23)) + [0xF0, 0xF3, 0xFF]:
        for o in (4, 5, 6, 9):
            p += op(o, a % 16, bytes([a]), size(a % 29, 3000))
    seeds["alignments"] = p
    seeds["impossible_requests"] = b"".join(
        op(0, 1, size(31, x)) + op(1, 2, bytes([0]), size(31, x), size(28, 5)) +
        op(3, 3, struct.pack("<H", 599), size(31, x)) for x in range(6))
    p = b"".join(op(0, i, size(how, 12345)) for i, how in enumerate((0, 6, 12, 17, 20, 24, 26, 27, 28)))
    p += op(12, 0) + op(7, 2) + op(12, 0) + op(11, 4, struct.pack("<H", 300), bytes([1])) + op(10, 5)
    seeds["release_with_live_blocks"] = p
    rng = random.Random(12)
    for k in range(4):
        seeds["random_%d" % k] = bytes(rng.randrange(256) for _ in range(600))
    for name, data in seeds.items():
        write("core/testdata/fuzz/malloc_fuzz", name, data)


def main(argv):
    if len(argv) < 5:
        sys.exit("usage: make_fuzz_seeds.py RUN.hakt RUN.trace STATE.pb FROZEN.pb [MORE.hakt ...]")
    malloc_seeds()
    hakt, trace, state, frozen = (open(p, "rb").read() for p in argv[1:5])
    tel = "tools/testdata/fuzz/telemetry_file_fuzz"
    write(tel, "run.hakt", hakt)
    write(tel, "run.payload", payload(hakt))
    for p in argv[5:]:
        data = open(p, "rb").read()
        name = os.path.basename(p)
        write(tel, name, data)
        write(tel, os.path.splitext(name)[0] + ".payload", payload(data))
    tab = "learner/testdata/fuzz/table_codec_fuzz"
    for name, data in (("state.pb", state), ("frozen.pb", frozen)):
        write(tab, name, data)
        write(tab, os.path.splitext(name)[0] + ".payload", payload(data))
    tr = "py/testdata/fuzz/trace_fuzz"
    for n in (0, 1, 12, 40):
        write(tr, "run_%d.trace" % n, trace_cut(trace, n))
    # One record of each kind, from the run (allocations, frees, resizes if any).
    body = trace[64:]
    by_kind = {}
    for k in range(len(body) // 56):
        rec = body[56 * k:56 * (k + 1)]
        by_kind.setdefault(rec[52], rec)
    write(tr, "run_kinds.trace",
          trace[:16] + struct.pack("<Q", len(by_kind)) + trace[24:64] +
          b"".join(by_kind[k] for k in sorted(by_kind)))


if __name__ == "__main__":
    main(sys.argv)

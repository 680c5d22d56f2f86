"""Allocation-heavy CPython workload with deterministic output.

Run with PYTHONMALLOC=malloc (the BUILD target sets it) so every object, not just the ones
above pymalloc's 512-byte limit, comes from the preloaded malloc/realloc/free. Output is
digests of the results only: no ids, addresses, timings or hash-order-dependent iteration,
so glibc and the allocator under test must print the same bytes.
"""

import hashlib
import json
import random
import sys


def digest(obj):
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]


def report(name, value):
    print("%-16s %s" % (name, value))


def main():
    rng = random.Random(12345)  # seeded: the same sequence on every run

    # Many small objects: tuples, ints, floats in a dict of lists, rebuilt and dropped.
    buckets = {}
    for i in range(200_000):
        key = "k%d" % rng.randrange(5000)
        buckets.setdefault(key, []).append((i, rng.random(), -i))
    total = sum(len(v) for v in buckets.values())
    report("buckets", "%d keys %d items %s" % (len(buckets), total,
                                                digest(sorted((k, len(v)) for k, v in buckets.items()))))
    del buckets

    # String building: growing str via join and +=, which reallocs in place or moves.
    parts = []
    s = ""
    for i in range(50_000):
        word = "".join(chr(97 + (i * 7 + j) % 26) for j in range(1 + i % 23))
        parts.append(word)
        s += word[:3]
    joined = "-".join(parts)
    report("strings", "%d %d %s" % (len(joined), len(s),
                                    hashlib.sha256((joined + s).encode()).hexdigest()[:16]))

    # JSON round trips of nested structures.
    doc = [{"id": i, "name": "item%05d" % i, "tags": ["t%d" % (i % 7), "u%d" % (i % 11)],
            "vals": [rng.randrange(1000) for _ in range(i % 17)], "nested": {"x": i * 0.5}}
           for i in range(20_000)]
    for _ in range(3):
        text = json.dumps(doc, sort_keys=True)
        doc = json.loads(text)
    report("json", "%d bytes %s" % (len(text), hashlib.sha256(text.encode()).hexdigest()[:16]))

    # Sorting with keys: allocates key lists and temporary tuples.
    rows = [(rng.randrange(100), "r%06d" % rng.randrange(10**6), rng.random())
            for _ in range(150_000)]
    rows.sort(key=lambda r: (r[0], r[1]))
    report("sort", "%s %s %s" % (rows[0][:2], rows[-1][:2], digest(rows[::997])))

    # Sets and dicts churned: insert, delete, resize.
    live = set()
    table = {}
    for i in range(300_000):
        x = rng.randrange(40_000)
        if x in live:
            live.discard(x)
            table.pop(x, None)
        else:
            live.add(x)
            table[x] = str(x) * (1 + x % 5)
    report("churn", "%d %d %d" % (len(live), sum(live), sum(len(v) for v in table.values())))

    # Big bytes objects (mmap-sized blocks) built, sliced, concatenated and freed.
    acc = hashlib.sha256()
    blobs = []
    for i in range(40):
        size = (1 << 18) + i * 37_777  # 256 KiB .. ~1.7 MiB
        b = bytes((i + j) & 0xFF for j in range(256)) * (size // 256)
        blobs.append(b)
        if len(blobs) > 6:
            old = blobs.pop(0)
            acc.update(old[::4096])
        ba = bytearray(b)
        ba.extend(b[: size // 3])  # bytearray growth via realloc
        acc.update(ba[-4096:])
    big = b"".join(blobs)
    acc.update(big[::8192])
    report("bytes", "%d %s" % (len(big), acc.hexdigest()[:16]))

    # Class instances with __dict__, garbage cycles collected by gc.
    class Node:
        def __init__(self, v):
            self.v = v
            self.peer = None
            self.data = [v] * (v % 9)

    ring_sum = 0
    for round_ in range(30):
        nodes = [Node(round_ * 1000 + i) for i in range(1000)]
        for a, b in zip(nodes, nodes[1:] + nodes[:1]):
            a.peer = b  # a cycle, freed by the collector
        ring_sum += sum(n.peer.v for n in nodes)
    report("objects", "%d" % ring_sum)

    print("alloc_heavy: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

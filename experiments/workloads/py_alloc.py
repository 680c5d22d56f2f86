"""Allocation-heavy pure-Python workload for allocator comparison.

Usage: python3 py_alloc.py [SCALE]   (SCALE: positive int, default 40)

Builds and drops dicts, lists, strings, tuples and small class instances of
mixed sizes and lifetimes (short-lived temporaries plus a rolling retained
window, so the heap both churns and holds a working set). Deterministic: no
randomness, so every allocator does identical work.

CPython's pymalloc serves objects <= 512 bytes itself, which would hide the
allocator under test; compare.py therefore runs this with PYTHONMALLOC=malloc so
every object allocation reaches malloc/free.
"""
import sys


class Node:
    __slots__ = ("key", "value", "children")

    def __init__(self, key, value):
        self.key = key
        self.value = value
        self.children = []


class Record:  # ordinary __dict__-backed instance, unlike Node
    def __init__(self, i):
        self.id = i
        self.name = "rec%d" % i
        self.tags = ["t%d" % (i % 7), "u%d" % (i % 11)]


def churn_dicts(n):
    total = 0
    for i in range(n):
        d = {"id": i, "name": "item-%d" % i, "vals": [i, i + 1, i + 2]}
        d["extra%d" % (i % 13)] = str(i) * (1 + i % 5)
        total += len(d) + len(d["name"])
    return total


def strings(n):
    parts = []
    total = 0
    for i in range(n):
        s = ("abc" * (1 + i % 40)) + str(i)
        parts.append(s.upper())
        if len(parts) >= 256:
            joined = "|".join(parts)
            total += len(joined.split("|"))
            parts = []
    return total


def trees(n):
    total = 0
    for t in range(n // 2000):
        root = Node(0, "root")
        level = [root]
        k = 1
        while k < 2000:
            nxt = []
            for parent in level:
                for _ in range(3):
                    child = Node(k, (k, str(k)))
                    parent.children.append(child)
                    nxt.append(child)
                    k += 1
            level = nxt
        total += k + len(level)
    return total


def retained_window(n, window=20000):
    # A rolling window keeps ~window live objects so frees interleave with a
    # populated heap instead of always emptying it.
    ring = [None] * window
    total = 0
    for i in range(n):
        obj = Record(i) if i % 3 else {"k": i, "v": [i] * (i % 9)}
        ring[i % window] = obj
        total += i % 3
    return total + len(ring)


def list_ops(n):
    total = 0
    for i in range(n // 100):
        lst = [(j, str(j)) for j in range(100 + i % 200)]
        lst.sort(key=lambda t: t[1])
        total += len(lst[::2]) + len(set(t[0] % 50 for t in lst))
    return total


def main():
    scale = 40
    if len(sys.argv) > 2:
        sys.exit("py_alloc.py: error: expected at most one argument (SCALE)")
    if len(sys.argv) == 2:
        try:
            scale = int(sys.argv[1])
        except ValueError:
            scale = 0
        if scale <= 0:
            sys.exit("py_alloc.py: error: SCALE must be a positive integer, got %r" % sys.argv[1])
    n = 10000 * scale
    checksum = (churn_dicts(n) + strings(n) + trees(n) + retained_window(2 * n)
                + list_ops(n))
    print("py_alloc scale=%d checksum=%d" % (scale, checksum))


if __name__ == "__main__":
    main()

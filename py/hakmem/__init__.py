"""hakmem's telemetry and frozen tables for notebooks: pandas DataFrames and numpy arrays.

    import hakmem
    run = hakmem.load("learn.telemetry.pb")   # telemetry (HAKMEM_TELEMETRY) or a frozen table
    run.sites        # one row per site, summed over runs
    run.curves       # the learning curves, tidy: one row per (match, strategy)
    run.decisions    # trials begin, commits, switches, explorations, over time
    run.outcomes     # per (run, site, band, strategy): what the strategy cost in total
    run.timeline     # the allocator's totals over time
    run.runs         # the processes the file describes
    run.arrays("curves")["rating"]   # the same columns as numpy arrays

Columns are built in C++ (py/frames.cc) and handed over as arrays; strings are pandas
categoricals. py/README.md lists every column with its unit. Errors are hakmem.Error
(hakmem.FileError for files that are missing, truncated, corrupt or of another format),
with the command line's one-line message.

From the build output: `bazel build //py:hakmem`, then
`PYTHONPATH=py:bazel-bin/py /usr/bin/python3`.
"""
import os
import pkgutil

# The compiled half (_native.so) is built into bazel-bin/py/hakmem/, beside the sources'
# twin: let the package span both directories on sys.path.
__path__ = pkgutil.extend_path(__path__, __name__)

from ._native import (Error, FileError, load_frames, merge_bytes, telemetry_file,  # noqa: E402
                      trace_header)

__all__ = ["Engine", "Error", "FileError", "Loaded", "load", "load_trace", "load_trace_header",
           "merge_bytes", "sweep", "telemetry_file", "trace_dtype"]

TABLES = ("runs", "sites", "curves", "decisions", "outcomes", "timeline")


def _frame(columns):
    import pandas as pd
    data = {}
    for name, value in columns.items():
        if isinstance(value, tuple):  # (codes, categories): a string column
            codes, categories = value
            data[name] = pd.Categorical.from_codes(codes, categories=categories)
        else:
            data[name] = value
    return pd.DataFrame(data)


class Loaded:
    """A telemetry file or frozen table as tables (see the module's doc)."""

    def __init__(self, path, native):
        self.path = path
        self.kind = native["kind"]  # "telemetry" or "frozen_table"
        self._columns = {t: native[t] for t in TABLES}
        self._frames = {}

    def arrays(self, table):
        """{column: numpy array} of `table`; string columns as (codes, categories)."""
        if table not in self._columns:
            raise Error("no table %r; the tables are %s" % (table, ", ".join(TABLES)))
        return self._columns[table]

    def frame(self, table):
        if table not in self._frames:
            self._frames[table] = _frame(self.arrays(table))
        return self._frames[table]

    runs = property(lambda self: self.frame("runs"))
    sites = property(lambda self: self.frame("sites"))
    curves = property(lambda self: self.frame("curves"))
    decisions = property(lambda self: self.frame("decisions"))
    outcomes = property(lambda self: self.frame("outcomes"))
    timeline = property(lambda self: self.frame("timeline"))

    def __repr__(self):
        def rows(t):
            first = next(iter(self._columns[t].values()), ())
            return len(first[0] if isinstance(first, tuple) else first)
        counts = ", ".join("%s=%d" % (t, rows(t)) for t in TABLES if self._columns[t])
        return "<hakmem.Loaded %s %s: %s>" % (self.kind, self.path, counts)


def load(path):
    """Reads a telemetry file (HAKMEM_TELEMETRY, `hakmem merge`) or a frozen table."""
    return Loaded(os.fspath(path), load_frames(os.fspath(path)))


def trace_dtype():
    """The numpy dtype of a trace record (learner/trace.h)."""
    import numpy as np
    return np.dtype([("time_ns", "<u8"), ("site", "<u8"), ("size", "<u8"), ("address", "<u8"),
                     ("old_address", "<u8"), ("touched_pages", "<u8"), ("thread", "<u4"),
                     ("kind", "u1"), ("band", "u1"), ("strategy", "u1"), ("reserved", "u1")])


TRACE_KINDS = {1: "alloc", 2: "free", 3: "resize"}


def load_trace(path):
    """A HAKMEM_TRACE file (learner/trace.h) as a numpy structured array mapped from the
    file (no copy): fields time_ns, site, size, address, old_address, touched_pages, thread,
    kind (1 alloc, 2 free, 3 resize), band, strategy (1 pool, 2 bigcache, 3 mmap).
    load_trace_header gives the header. Raises FileError for a file that is not a whole
    trace."""
    import numpy as np
    header = load_trace_header(path)
    if not header["records"]:
        return np.zeros(0, trace_dtype())
    return np.memmap(os.fspath(path), dtype=trace_dtype(), mode="r",
                     offset=header["header_bytes"], shape=(header["records"],))


def load_trace_header(path):
    """The trace file's header as a dict (records, dropped, start_unix_ns, pid,
    record_bytes, header_bytes), after checking the whole file as the engine does; raises
    FileError with a one-line reason for a file that is not a whole trace."""
    return trace_header(os.fspath(path))


from .engine import Engine, sweep  # noqa: E402

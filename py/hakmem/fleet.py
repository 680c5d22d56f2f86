"""Merging a fleet's telemetry files with Dask.

    import hakmem.fleet
    merged = hakmem.fleet.merge(paths)                   # local threads
    merged = hakmem.fleet.merge(paths, client=client)    # a dask.distributed cluster
    hakmem.fleet.merge(paths, out="fleet.pb")            # and write it (atomically)

Files are read and merged as a tree (dask.bag's reduction: `split_every` inputs per
merge), with the same merge as `hakmem merge`, which is associative and commutative, so
the tree's shape cannot change the result: it is byte for byte the sequential merge.
Returns the merged telemetry file's bytes; `hakmem.load` reads it once written, and
`hakmem freeze` turns it into a frozen table.
"""
import os
import tempfile

from . import merge_bytes

__all__ = ["merge"]


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _merge(parts):
    parts = list(parts)
    return parts[0] if len(parts) == 1 else merge_bytes(parts)


class _TqdmCallback:
    """Dask's scheduler callbacks driving a tqdm bar (Debian's python3-tqdm): one tick per
    finished task (reads and merges)."""

    def __init__(self, total):
        from dask.callbacks import Callback
        from tqdm import tqdm

        bar = tqdm(total=total, unit="task", desc="hakmem.fleet.merge", leave=False)

        class Ticks(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):
                bar.update(1)

            def _finish(self, dsk, state, errored):
                bar.close()

        self.callback = Ticks()


def merge(paths, client=None, out=None, split_every=8, partition_size=16, progress=None):
    """Merges telemetry files as a tree on Dask: `client` (dask.distributed) if given,
    else the local threaded scheduler. Returns the merged file's bytes and writes them
    to `out` if given. Raises hakmem.FileError for a file that is not valid telemetry.

    `progress`: a tqdm bar on stderr for the local scheduler (default: when stderr is a
    terminal or a notebook is running). Ctrl-C stops the merge (KeyboardInterrupt) and
    leaves `out` untouched."""
    import sys

    import dask.bag as db

    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("hakmem.fleet.merge: no files to merge")
    bag = db.from_sequence(paths, partition_size=partition_size).map(_read)
    tree = bag.reduction(_merge, _merge, split_every=split_every)
    if client is not None:
        merged = client.compute(tree).result()
    else:
        if progress is None:
            progress = sys.stderr.isatty() or "ipykernel" in sys.modules
        if progress:
            with _TqdmCallback(len(tree.__dask_graph__())).callback:
                merged = tree.compute(scheduler="threads")
        else:
            merged = tree.compute(scheduler="threads")
    if out is not None:
        out = os.fspath(out)
        fd, tmp = tempfile.mkstemp(prefix=os.path.basename(out) + ".", dir=os.path.dirname(out) or ".")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(merged)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, out)
        except BaseException:
            os.unlink(tmp)
            raise
    return merged

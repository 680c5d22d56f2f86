"""Replaying a recorded run through the learner with other settings.

    import hakmem
    eng = hakmem.Engine("run.trace", telemetry="run.pb", k_factor=12, explore_every=32)
    res = eng.run()          # a hakmem.Loaded: sites, curves, decisions, outcomes, runs
    res.replay               # per (site, band): the modelled cost of every request, first commit
    eng.freeze("table.pb")   # a frozen table the preload accepts (HAKMEM_FROZEN_TABLE)

    grid = [dict(k_factor=k, explore_every=e) for k in (8, 16, 24, 32) for e in (16, 64, 256)]
    df = hakmem.sweep("run.trace", grid, telemetry="run.pb")   # one row per setting x (site, band)

The trace is a HAKMEM_TRACE file; the telemetry, the same run's HAKMEM_TELEMETRY file,
gives the prices (the run's measured fault, mmap and munmap costs, BigCache-hit and pool
costs), the learner's parameters, the BigCache capacity and decay period, and the site
names. Each keyword left as None takes the recorded run's value. The replay runs the
preload's own tournament code (learner/tournament.h) on a cost model (py/replay.h says
what it models and what it cannot know); the same trace, telemetry, settings and seed give
the same tables.

Modes: "learn" (the engine chooses each request's strategy as the preloaded learner
would), "shadow" (band defaults serve; the others are estimated as shadow mode does) and
"fixed" (every request gets `strategy`, where the band allows it: the baseline a learned
run is measured against).
"""
import os
import sys
import threading

from . import Loaded, _frame
from ._native import Replay

__all__ = ["Engine", "Replayed", "sweep"]

SETTINGS = ("mode", "strategy", "k_factor", "commit_margin", "explore_every", "min_samples",
            "idle_weight", "bigcache_bytes", "decay_ms", "seed")

# Records per native step: about 20-50 ms of work, so a progress bar moves and Ctrl-C
# answers at once.
CHUNK = 1 << 16


def _want_progress(progress):
    if progress is None:
        return sys.stderr.isatty() or "ipykernel" in sys.modules
    return bool(progress)


class Replayed(Loaded):
    """What a replay learned: the tables of hakmem.load (runs, sites, curves, decisions,
    outcomes; timeline is empty), and `replay`, one row per (site, band) with what every
    modelled request cost (cost_ns and its parts, not only the requests the tournament
    followed), the strategies that served them, and the first commit (allocations and
    time, -1 if none)."""

    def __init__(self, label, native, summary, settings):
        super().__init__(label, native)
        self._summary = summary
        self.settings = settings

    @property
    def replay(self):
        if "replay" not in self._frames:
            self._frames["replay"] = _frame(self._summary)
        return self._frames["replay"]


class Engine:
    """A trace replayed through the learner's tournament (see the module's doc).

    Raises hakmem.Error for a setting out of range and hakmem.FileError for a trace or
    telemetry file that is missing, truncated, corrupt, of another kind, or of another
    process."""

    def __init__(self, trace, telemetry=None, mode="learn", strategy=None, k_factor=None,
                 commit_margin=None, explore_every=None, min_samples=None, idle_weight=None,
                 bigcache_bytes=None, decay_ms=None, seed=0):
        self.trace = os.fspath(trace)
        self.telemetry = os.fspath(telemetry) if telemetry is not None else None
        self.settings = dict(mode=mode, strategy=strategy, k_factor=k_factor,
                             commit_margin=commit_margin, explore_every=explore_every,
                             min_samples=min_samples, idle_weight=idle_weight,
                             bigcache_bytes=bigcache_bytes, decay_ms=decay_ms, seed=seed)
        self._native = Replay(self.trace, self.telemetry or "", mode, strategy or "", k_factor,
                              commit_margin, explore_every, min_samples, idle_weight,
                              bigcache_bytes, decay_ms, seed)

    @property
    def events(self):
        """Records in the trace."""
        return self._native.events

    @property
    def position(self):
        """Records played so far."""
        return self._native.position

    def step(self, n=CHUNK):
        """Plays up to n more records; True once the whole trace is played."""
        return self._native.step(n)

    def run(self, progress=None, _stop=None, _bar=None):
        """Plays the rest of the trace and returns the result (Replayed). `progress`: a
        tqdm bar (default: when stderr is a terminal or a notebook is running). Ctrl-C
        stops between chunks (KeyboardInterrupt); run() again goes on from there."""
        bar = _bar
        if bar is None and _want_progress(progress):
            from tqdm.auto import tqdm
            bar = tqdm(total=self.events, initial=self.position, unit="event",
                       unit_scale=True, desc="hakmem.Engine", leave=False)
        try:
            while True:
                before = self._native.position
                done = self._native.step(CHUNK)
                if bar is not None:
                    bar.update(self._native.position - before)
                if done:
                    break
                if _stop is not None and _stop.is_set():
                    raise KeyboardInterrupt
        finally:
            if bar is not None and _bar is None:
                bar.close()
        return self.result()

    def result(self):
        """What the replay learned from the records played so far (Replayed)."""
        label = "replay of %s (%s)" % (self.trace, ", ".join(
            "%s=%s" % (k, v) for k, v in self.settings.items() if v is not None))
        return Replayed(label, self._native.frames(), self._native.summary(), dict(self.settings))

    def freeze(self, path):
        """Plays the rest of the trace, then writes what was learned as a frozen table
        (atomically), as `hakmem freeze` does for telemetry. Needs `telemetry`."""
        if self.position < self.events:
            self.run(progress=False)
        self._native.freeze(os.fspath(path))


def sweep(trace, settings, telemetry=None, workers=None, progress=None):
    """Replays `trace` once per dict of Engine keywords in `settings`, `workers` at a time
    (default: the CPUs this process may use), and returns one pandas DataFrame: the
    `replay` rows of every run, with the setting's keywords as columns and `setting`, its
    index in `settings`. Ctrl-C stops every replay (KeyboardInterrupt)."""
    import concurrent.futures

    import pandas as pd

    settings = [dict(s) for s in settings]
    for s in settings:
        unknown = set(s) - set(SETTINGS)
        if unknown:
            raise TypeError("hakmem.sweep: unknown setting %s; the settings are %s"
                            % (", ".join(sorted(unknown)), ", ".join(SETTINGS)))
    engines = [Engine(trace, telemetry=telemetry, **s) for s in settings]
    if workers is None:
        workers = len(os.sched_getaffinity(0))
    bar = None
    if _want_progress(progress):
        from tqdm.auto import tqdm
        bar = tqdm(total=sum(e.events for e in engines), unit="event", unit_scale=True,
                   desc="hakmem.sweep", leave=False)
    stop = threading.Event()
    lock = threading.Lock()

    class LockedBar:  # tqdm's update from several threads, one at a time
        def update(self, n):
            with lock:
                bar.update(n)

    results = [None] * len(engines)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(e.run, False, stop, LockedBar() if bar else None): i
                       for i, e in enumerate(engines)}
            try:
                pending = set(futures)
                while pending:
                    done, pending = concurrent.futures.wait(pending, timeout=0.2)
                    for f in done:
                        results[futures[f]] = f.result()
            except BaseException:
                stop.set()
                raise
    finally:
        if bar is not None:
            bar.close()
    frames = []
    for i, r in enumerate(results):
        df = r.replay.copy()
        df.insert(0, "setting", i)
        for k, v in settings[i].items():
            df[k] = v
        frames.append(df)
    return pd.concat(frames, ignore_index=True)

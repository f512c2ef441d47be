"""The store snapshot a service reads from: `DatasetCache`, and `upserted` to apply a write to it.

`DatasetCache` holds `perfml.store.read_dataset(engine)` and the per-pipeline feature frames built from
it, so scoring by id, alert refreshes and KPI runs do not re-read the store per request. Writes in
this process (ingest, reviews) update the snapshot incrementally through `DatasetCache.update`;
a `perfml import` from another process shows up within `max_age` seconds. A cache that follows the
store (`follow=True`: several workers) instead applies every process's writes from the store's change
feed (`perfml.store.changes`), by key: `DatasetCache.follow`, every few seconds in a thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import pandas as pd

from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.metrics import employee_period_metrics
from perfml.schema import TABLES
from perfml.store import engine_for, read_changes, read_dataset_at
from perfml.store.changes import KEEP, prune_changes
from perfml.validation import parse_table

R = TypeVar("R")  # what a write returns

log = logging.getLogger("perfml.serving")


ALL_TABLES: frozenset[str] | None = None
"""`DatasetCache.derived(tables=ALL_TABLES)`: the frame may read any table (dropped on every change)."""


@dataclass(frozen=True)
class _Snapshot:
    dataset: Dataset
    generation: int
    built: float  # time.monotonic() of the store read it started from
    position: int  # the change feed's last id it includes (when built by a read or moved by `follow`)


@dataclass
class _Derived:
    generation: int
    tables: frozenset[str] | None
    value: object


def _key_values(frame: pd.DataFrame, key: list[str]) -> list:
    return frame[key[0]].tolist() if len(key) == 1 else list(zip(*(frame[k].tolist() for k in key), strict=True))


def upserted(dataset, changes: Mapping[str, pd.DataFrame], keys: dict[str, set] | None = None):
    """A new `Dataset`: `dataset` with the typed rows of `changes` upserted by each table's key (inputs untouched).

    `keys`: table -> set of the keys `dataset` holds (a key is a value, or a tuple for composite
    keys), kept across calls by the caller: finding the replaced rows then costs the batch, not the
    table. The sets of the changed tables are updated in place to the keys of the result.
    """
    tables = {name: dataset.table(name) for name in dataset.rows()}
    for name, new in changes.items():
        if new is None or new.empty:
            continue
        old = tables.get(name)
        if old is None or old.empty:
            tables[name] = new.reset_index(drop=True)
            if keys is not None:
                keys[name] = set(_key_values(new, list(TABLES[name].key)))
            continue
        key = list(TABLES[name].key)
        if keys is not None:
            known = keys.get(name)
            if known is None:  # built once per table and line of snapshots
                known = keys[name] = set(_key_values(old, key))
            batch = _key_values(new, key)
            hit = not known.isdisjoint(batch)
            known.update(batch)
        else:
            hit = True
        if not hit:
            kept = old  # only new keys (the usual ingest): nothing to scan
        else:
            if len(key) == 1:
                replaced = old[key[0]].isin(new[key[0]])
            else:
                replaced = pd.MultiIndex.from_frame(old[key]).isin(pd.MultiIndex.from_frame(new[key]))
            kept = old[~replaced] if replaced.any() else old
        merged = pd.concat([kept, new], ignore_index=True)
        if TABLES[name].keep_attr_columns:
            # HR attribute columns are typed from the whole column (numeric or categorical): re-type
            # the merged table as validation would (small: one row per employee).
            merged, _ = parse_table(TABLES[name], merged.astype(object).where(merged.notna(), None))
        tables[name] = merged
    return Dataset(tables, source=dataset.source, untracked=dataset.untracked)


class DatasetCache:
    """A versioned snapshot of the store (`perfml.store.read_dataset(engine)`) and frames derived from it.

    - The first reader builds the snapshot from ONE read transaction (`perfml.store.read_tables`).
    - Writers in this process go through `update(write, changes)`: the write commits, then its
      typed rows are upserted into a NEW snapshot by key (tens of ms, not a rebuild); the store's
      constraints already checked them at commit. Writes and their updates are serialised here,
      so the snapshot always equals some committed state of the store.
    - Derived frames (`derived(key, build, tables=...)`) are kept per snapshot; a change keeps
      those that do not read the changed tables and drops the others, rebuilt by the next reader
      (display-only ones, `stale_ok`, in the background while readers get the previous value).
    - After `max_age` seconds (to pick up writes from other processes, e.g. `perfml import`) the
      snapshot is rebuilt in a background thread while readers keep using the current one;
      writes committed during that rebuild are replayed onto it.
    - `follow=True` (several workers over one store): the snapshot equals the store as of a position
      of its change feed. `follow()` reads the rows written after it (any process's, this one's
      included) and upserts them by key; `update` commits and then follows, and a bulk write
      (an import) makes it re-read the store in the background. `start_following(seconds)` polls.
    A reader holds a snapshot object, never a lock, while it works: readers never wait for writers.
    """

    MAX_DERIVED = 32  # feature frames for distinct as-of dates are kept LRU, not without bound
    STALE_REBUILD_S = 2.0  # a `stale_ok` frame is rebuilt at most this often (seconds) while writes stream in

    PRUNE_EVERY_S = 60.0  # a following thread deletes feed rows older than `perfml.store.changes.KEEP` this often

    def __init__(self, engine, *, max_age: float = 300.0, follow: bool = False):
        self.engine = engine_for(engine)
        self.max_age = max_age
        self.follows = follow
        self._followed = 0.0  # time.monotonic() when `follow` last read the feed
        self._stop = threading.Event()
        self._follower: threading.Thread | None = None
        self._lock = threading.Lock()  # guards the fields below; held only for pointer swaps
        self._build_lock = threading.Lock()  # one full rebuild at a time
        self._write_lock = threading.RLock()  # one in-process write + snapshot update at a time
        self._snap: _Snapshot | None = None
        self._replay: list[Mapping[str, pd.DataFrame]] | None = None  # changes seen while a rebuild reads
        self._refreshing = False
        self._generation = 0
        self._derived: OrderedDict[tuple, _Derived] = OrderedDict()
        self._key_locks: dict[tuple, threading.Lock] = {}
        self._stale: dict[tuple, tuple[float, object]] = {}  # (built at, value) per key, for `stale_ok` readers
        self._keys: dict[str, set] = {}  # keys per table of the snapshot of generation `_keys_of` (writers only)
        self._keys_of = -1

    @property
    def generation(self) -> int:
        """Increases with every new snapshot (rebuild or update)."""
        return self._generation

    # -- the snapshot ------------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Forget the snapshot (e.g. after a bulk import in this process); the next reader rebuilds it."""
        with self._lock:
            self._snap = None
            self._derived.clear()
            self._stale.clear()
            self._generation += 1

    def _current(self) -> _Snapshot:
        snap = self._snap
        if snap is None:
            return self._rebuild()
        if time.monotonic() - snap.built > self.max_age:
            self._refresh_in_background()
        return snap

    def dataset(self):
        """The store as a validated `Dataset`: the current snapshot (built on first use)."""
        return self._current().dataset

    def _rebuild(self, *, force: bool = False) -> _Snapshot:
        with self._build_lock:
            snap = self._snap
            if not force and snap is not None and time.monotonic() - snap.built <= self.max_age:
                return snap  # another thread built it while this one waited
            with self._lock:
                self._replay = []
            started = time.monotonic()
            try:
                ds, position = read_dataset_at(self.engine)
            except BaseException:
                with self._lock:
                    self._replay = None
                raise
            with self._lock:
                for changes in self._replay or ():
                    ds = upserted(ds, changes)  # idempotent when the read already saw the write
                self._replay = None
                self._generation += 1
                self._snap = _Snapshot(ds, self._generation, started, position)
                self._derived.clear()
                return self._snap

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True

        def run() -> None:
            try:
                self._rebuild(force=True)
            except Exception:
                log.exception("refreshing the store snapshot failed; the previous one keeps serving")
            finally:
                with self._lock:
                    self._refreshing = False

        threading.Thread(target=run, name="perfml-snapshot", daemon=True).start()

    # -- writes ----------------------------------------------------------------------------------
    def update(
        self,
        write: Callable[[], R],
        changes: Mapping[str, pd.DataFrame] | Callable[[R], Mapping[str, pd.DataFrame]],
    ) -> R:
        """Run `write()` (it commits) and upsert the rows it wrote into the snapshot; return its result.

        `changes`: table -> typed rows (as `Dataset` types them), or a function of `write`'s result
        giving them. When `write` raises, the snapshot is untouched. Once it committed, the caller
        gets its result whatever happens here: a failed update drops the snapshot (re-read on next use).
        """
        with self._write_lock:
            result = write()
            try:
                if self.follows:
                    self.follow()  # the feed has this write (and any other committed before it), by key
                else:
                    self.apply(changes(result) if callable(changes) else changes)
            except Exception:
                log.exception("updating the store snapshot after a write failed; it is read again on next use")
                self.invalidate()
        return result

    def apply(self, changes: Mapping[str, pd.DataFrame]) -> None:
        """Upsert committed typed rows into the snapshot (a new snapshot; readers keep the one they hold)."""
        with self._write_lock:
            with self._lock:
                if self._replay is not None:
                    self._replay.append(changes)
                base = self._snap
            if base is not None:  # else nothing cached: the next reader reads the store, write included
                self._install(base, changes, base.position)

    def follow(self) -> int:
        """Apply the rows written to the store since the snapshot's feed position (by any process); return
        how many rows were applied. A bulk write (an import) starts a re-read of the store instead."""
        with self._write_lock:  # one follow or in-process write at a time: rows are applied in commit order
            base = self._snap
            if base is None:
                return 0  # nothing cached: the next reader reads the store as it is
            if time.monotonic() - max(self._followed, base.built) > KEEP.total_seconds() / 2:
                # Away longer than the feed is sure to be kept (e.g. the store was down): changes may be pruned.
                self._refresh_in_background()
                return 0
            position, rows = read_changes(self.engine, base.position)
            self._followed = time.monotonic()
            if rows is None:
                self._refresh_in_background()
                return 0
            if position != base.position:
                # Not replayed onto a rebuild that is reading now: that one continues from its own position.
                self._install(base, rows, position)
            return sum(len(frame) for frame in rows.values())

    def _install(self, base: _Snapshot, changes: Mapping[str, pd.DataFrame], position: int) -> None:
        """A new snapshot: `base` with `changes` upserted, at feed `position` (unless `base` was replaced meanwhile)."""
        changed = frozenset(name for name, frame in changes.items() if frame is not None and not frame.empty)
        if not changed:
            with self._lock:
                if self._snap is base and position != base.position:  # same data, same generation: only the position
                    self._snap = _Snapshot(base.dataset, base.generation, base.built, position)
            return
        if self._keys_of != base.generation:
            self._keys = {}
        ds = upserted(base.dataset, changes, self._keys)
        with self._lock:
            if self._snap is not base:
                self._keys_of = -1  # the sets describe a snapshot that is no longer current
                return  # rebuilt or invalidated meanwhile: read after the commit or replayed `changes`
            self._generation += 1
            self._keys_of = self._generation
            self._snap = _Snapshot(ds, self._generation, base.built, position)
            for key, entry in list(self._derived.items()):
                if entry.tables is not None and not entry.tables & changed and entry.generation == base.generation:
                    entry.generation = self._generation  # reads none of the changed tables: still valid
                else:
                    del self._derived[key]

    # -- following the store ---------------------------------------------------------------------
    def start_following(self, interval: float) -> None:
        """Poll the store's change feed every `interval` seconds in a thread (`follow`); `stop_following` ends it."""
        if self._follower is not None:
            return
        self._stop.clear()
        self._follower = threading.Thread(target=self._poll, args=(interval,), name="perfml-follow", daemon=True)
        self._follower.start()

    def stop_following(self) -> None:
        """Stop the polling thread (waits for a poll in progress)."""
        self._stop.set()
        if self._follower is not None:
            self._follower.join(timeout=30)
            self._follower = None

    def _poll(self, interval: float) -> None:
        pruned = time.monotonic()
        while not self._stop.wait(interval):
            try:
                self.follow()
                if time.monotonic() - pruned > self.PRUNE_EVERY_S:
                    with self.engine.begin() as conn:
                        prune_changes(conn)
                    pruned = time.monotonic()
            except Exception:
                log.exception("following the store failed; the snapshot keeps serving and the next poll retries")

    # -- derived frames ----------------------------------------------------------------------------
    def derived(
        self,
        key: tuple,
        build: Callable[[Dataset], object],
        *,
        tables: Iterable[str] | None = ALL_TABLES,
        stale_ok: bool = False,
    ):
        """`build(dataset)` cached under `key` for the current snapshot (the newest `MAX_DERIVED` kept).

        `tables`: the tables `build` reads; a change to other tables keeps the cached value.
        `stale_ok`: after a change, answer the previous value at once and rebuild it in the
        background, at most every `STALE_REBUILD_S` seconds (display-only frames: they may lag the
        newest write by that much plus one build).
        """
        snap = self._current()
        entry = self._derived.get(key)
        if entry is not None and entry.generation == snap.generation:
            return entry.value
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
            stale = self._stale.get(key) if stale_ok else None
        if stale is not None:
            if time.monotonic() - stale[0] < self.STALE_REBUILD_S:
                return stale[1]  # built moments ago: under a stream of writes, rebuild at most this often
            if key_lock.acquire(blocking=False):  # nobody is building it: this thread starts the rebuild
                threading.Thread(
                    target=self._build_derived,
                    args=(key, build, tables, True, key_lock),
                    name="perfml-derived",
                    daemon=True,
                ).start()
            return stale[1]
        with key_lock:  # one build per key at a time; others wait for it, not for unrelated work
            return self._build_derived(key, build, tables, stale_ok)

    def _build_derived(
        self,
        key: tuple,
        build: Callable[[Dataset], object],
        tables: Iterable[str] | None,
        keep: bool,
        release: threading.Lock | None = None,
    ):
        try:
            snap = self._current()
            entry = self._derived.get(key)
            if entry is not None and entry.generation == snap.generation:
                return entry.value
            started = time.monotonic()
            value = build(snap.dataset)
            with self._lock:
                if keep:
                    self._stale[key] = (started, value)
                if snap is self._snap:
                    self._derived[key] = _Derived(snap.generation, None if tables is None else frozenset(tables), value)
                    self._derived.move_to_end(key)
                    while len(self._derived) > self.MAX_DERIVED:
                        self._derived.popitem(last=False)
                if len(self._key_locks) > 4 * self.MAX_DERIVED:
                    self._key_locks = {k: v for k, v in self._key_locks.items() if k in self._derived or k == key}
            return value
        except Exception:
            if release is None:
                raise
            log.exception("rebuilding %s in the background failed; the next reader retries", key)
        finally:
            if release is not None:
                release.release()

    def features(self, spec, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
        """The pipeline's scoring frame at `as_of` (None: every unit at its own cut-off / latest snapshot).

        `PerfmlError` when `as_of` is not after the first record: there is nothing to build from.
        """
        if as_of is not None:
            start, _ = self.dataset().date_range()
            if pd.isna(start) or pd.Timestamp(as_of) <= start:
                first = "no records" if pd.isna(start) else f"the first record is from {start.date()}"
                raise PerfmlError(f"nothing to score as of {pd.Timestamp(as_of).date()}: {first}")

        def build(ds):
            try:
                frame = spec.build_features(ds, as_of=as_of)
            except (ValueError, PerfmlError) as exc:
                if as_of is None:
                    raise
                # e.g. an as-of inside the first month: too little history to build from
                raise PerfmlError(f"{spec.name}: nothing to score as of {pd.Timestamp(as_of).date()} ({exc})") from None
            return spec.scoring_rows(frame, as_of).reset_index(drop=True)

        return self.derived(("features", spec.name, None if as_of is None else pd.Timestamp(as_of)), build)

    def employees(self) -> pd.DataFrame:
        """Employees indexed by employee_id (team lookups for scoping)."""
        return self.derived(
            ("employees",),
            lambda ds: ds.employees.set_index("employee_id", drop=False).rename_axis(None),
            tables=("employees",),
        )

    def team_of(self, employee_ids: Iterable) -> list[str | None]:
        """Team of each employee id (None when unknown)."""
        teams = self.employees()["team_id"]
        return [None if e is None or pd.isna(e) or e not in teams.index else str(teams[e]) for e in employee_ids]

    def monthly(self) -> pd.DataFrame:
        """The metrics layer: one row per employee and month of the data (trajectories)."""

        def build(ds):
            _, end = ds.date_range()
            if pd.isna(end):
                return pd.DataFrame(columns=["employee_id", "period"])
            return employee_period_metrics(ds)

        # Trajectories are for display: after a write they may lag it by one build rather than wait.
        return self.derived(("monthly",), build, stale_ok=True)


__all__ = ["ALL_TABLES", "DatasetCache", "upserted"]

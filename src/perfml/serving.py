"""Serving: the champions held in memory, scored and explained on numpy arrays, and a store snapshot.

The fast path (measured by `benchmarks/bench_api.py`): each champion is loaded ONCE (through `perfml.modeling.registry
.load_model`, the one place that loads models) and kept as a `ServedModel` - booster, feature
order and a name -> column index map. A request's rows become one float64 matrix and go through
`perfml.explain.explain` (TreeSHAP via the booster's own `pred_contrib`); nothing is rebuilt per
request; small requests run on one OpenMP thread, big batches in chunks whose TreeSHAP overlaps
the Python work on the previous chunk. `ServingModels.load()` re-resolves the `champion` alias
and swaps in a new version only when the alias moved; a version that fails to load (a corrupted
artifact: its checksum is verified before LightGBM sees it) is reported with a clear message
(no file paths), the previous version (if any) keeps serving, and the same broken version is not
retried until the alias moves again or an explicit reload asks - never a crash loop. A model with
no champion at all is `degraded`: its pipeline's baseline rule answers (`ServingModels.scorer`
returns None; `perfml.scoring` does the rest) and the status says why.

`DatasetCache` holds `perfml.store.read_dataset()` and the per-pipeline feature frames built from it,
so scoring by id, alert refreshes and KPI runs do not re-read the store per request. Writes in
this process (ingest, reviews) update the snapshot incrementally through `DatasetCache.update`;
a `perfml import` from another process shows up within `max_age` seconds.
"""
from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import lightgbm as lgb
import numpy as np
import pandas as pd

from perfml import catalog
from perfml.config import Settings
from perfml.errors import PerfmlError
from perfml.explain import Explanations, explain
from perfml.modeling.model import TrainedModel
from perfml.store import read_dataset, utcnow

log = logging.getLogger(__name__)


class ModelUnavailable(PerfmlError):
    """A known model has no loaded champion (not trained yet, or its artifact failed to load)."""


class UnknownModel(PerfmlError):
    """A name that is not one of the served pipelines."""


class UnknownFeatures(PerfmlError):
    """Feature rows name columns the model does not have: `problems` = [(row index, name), ...]."""

    def __init__(self, problems: list[tuple[int, str]], features: Sequence[str]):
        self.problems = problems
        self.features = list(features)
        shown = ", ".join(f"rows[{i}].{n}" for i, n in problems[:5])
        super().__init__(f"unknown feature(s): {shown}; the model's features are listed at /v1/models/<name>")


# -- the served models -------------------------------------------------------------------------------
CHUNK_ROWS = 100
"""Rows per TreeSHAP chunk of a big batch (see `ServedModel.explain_chunks`)."""
PREFETCH_DEPTH = os.cpu_count() or 2
_PREFETCH = ThreadPoolExecutor(max_workers=PREFETCH_DEPTH, thread_name_prefix="perfml-shap")


@dataclass(frozen=True)
class ServedModel:
    """One loaded champion: the booster and what scoring needs, fixed for its lifetime."""

    name: str
    version: str
    model: TrainedModel
    loaded_at: datetime
    index: Mapping[str, int] = field(repr=False)

    @property
    def features(self) -> list[str]:
        return self.model.features

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def threshold(self) -> float:
        return float(self.model.threshold)

    def matrix(self, rows: Sequence[Mapping[str, float | None]]) -> np.ndarray:
        """Feature rows (name -> value; missing or None = NaN) as the booster's float64 matrix."""
        M = np.full((len(rows), len(self.index)), np.nan, dtype=np.float64)
        index = self.index
        unknown: list[tuple[int, str]] = []
        for i, row in enumerate(rows):
            for name, value in row.items():
                j = index.get(name)
                if j is None:
                    unknown.append((i, name))
                elif value is not None:
                    M[i, j] = value
        if unknown:
            raise UnknownFeatures(unknown, self.features)
        return M

    def explain(self, X: np.ndarray | pd.DataFrame) -> Explanations:
        """TreeSHAP explanations (and so scores) for a matrix or a frame with the model's columns."""
        return explain(self.model, X)

    def explain_chunks(self, X: np.ndarray, rows: int = CHUNK_ROWS) -> Iterator[Explanations]:
        """`explain` in chunks of `rows`, in order, the next chunks computed while the caller handles this one.

        LightGBM releases the GIL, so TreeSHAP of the next chunks (helper threads, one OpenMP
        thread each: small chunks, see `SMALL_BATCH`) overlaps the Python work on this one
        (factors, reasons, JSON) instead of following it. Single-threaded chunks side by side
        share the cores without OpenMP's barrier spinning, which collapses when oversubscribed.
        """
        starts = list(range(0, len(X), rows)) or [0]
        pending: deque = deque()
        ahead = 0
        for k in range(len(starts)):
            while ahead < len(starts) and ahead <= k + PREFETCH_DEPTH - 1:
                pending.append(_PREFETCH.submit(self.explain, X[starts[ahead]:starts[ahead] + rows]))
                ahead += 1
            yield pending.popleft().result()


SMALL_BATCH = 256
"""Up to this many rows a prediction runs on one thread: OpenMP's start-up and, on a busy host,
its spinning cost more than the work (measured here: 0.8 ms against 2-25 ms for one explained row)."""


class _ServingBooster(lgb.Booster):
    """A private copy of a champion's booster that picks its thread count per call by batch size."""

    def predict(self, data, *args, **kwargs):  # type: ignore[override]
        if "num_threads" not in kwargs and getattr(data, "shape", (SMALL_BATCH + 1,))[0] <= SMALL_BATCH:
            kwargs["num_threads"] = 1
        return super().predict(data, *args, **kwargs)


def _served(model: TrainedModel, name: str) -> ServedModel:
    # Own booster (same trees, from the model text): the registry's cached object stays untouched.
    booster = _ServingBooster(model_str=model.booster.model_to_string())
    own = TrainedModel(booster, list(model.features), kind=model.kind, threshold=model.threshold, name=model.name,
                       version=model.version, extra=dict(model.extra))
    return ServedModel(name, str(model.version), own, utcnow(), {f: j for j, f in enumerate(model.features)})


def champion_version(name: str, *, settings: Settings | None = None) -> str | None:
    """The version the `champion` alias points at in the registry of `settings` (None when there is none)."""
    from mlflow.exceptions import MlflowException

    from perfml.modeling import registry

    try:
        return str(registry.client(settings=settings).get_model_version_by_alias(name, registry.CHAMPION).version)
    except MlflowException:
        return None


def _check_loadable(model: TrainedModel) -> None:
    """A loaded booster must answer: one all-missing row through predict and pred_contrib."""
    if not model.features:
        raise PerfmlError("the model has no features")
    row = np.full((1, len(model.features)), np.nan)
    raw = model.booster.predict(row, raw_score=True)
    contrib = model.booster.predict(row, pred_contrib=True)
    if raw.shape != (1,) or contrib.shape != (1, len(model.features) + 1) or not np.isfinite(contrib).all():
        raise PerfmlError("the booster's predictions are malformed")


@dataclass
class ModelState:
    """What the service knows about one model: the served version, the last load error, and - when
    there is no champion - why, while the pipeline's baseline rule answers instead (`degraded`)."""

    name: str
    served: ServedModel | None = None
    champion: str | None = None
    error: str | None = None
    failed_version: str | None = None
    checked_at: datetime | None = None
    degraded: str | None = None

    @property
    def source(self) -> str | None:
        """Who answers scoring requests: "model", "baseline" (no champion) or None (loading or broken)."""
        if self.served is not None:
            return "model"
        return "baseline" if self.degraded is not None else None

    def to_dict(self) -> dict:
        return {"name": self.name, "loaded": self.served is not None,
                "version": self.served.version if self.served else None, "champion": self.champion,
                "kind": self.served.kind if self.served else None,
                "threshold": self.served.threshold if self.served else None,
                "loaded_at": self.served.loaded_at.isoformat() if self.served else None,
                "error": self.error, "checked_at": self.checked_at.isoformat() if self.checked_at else None,
                "source": self.source, "degraded": self.degraded}


_ABSOLUTE_PATH = re.compile(r"(?:[A-Za-z]:)?(?:/[^/\s'\"(),;]+){2,}/?")


def without_paths(text: str) -> str:
    """`text` with absolute file paths cut to their last component (a status must not reveal the layout)."""
    return _ABSOLUTE_PATH.sub(lambda m: ".../" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


ChangeHook = Callable[[str, str | None, str, str], None]  # (name, old version, new version, by)


class ServingModels:
    """The champions of `names` in the registry of `settings` (default: the process-wide one),
    loaded once, swapped when the alias moves (thread-safe)."""

    def __init__(self, names: Iterable[str] | None = None, *, on_change: ChangeHook | None = None,
                 loader: Callable[[str, str], TrainedModel] | None = None, settings: Settings | None = None):
        from perfml.pipelines import PIPELINE_NAMES

        self.names: tuple[str, ...] = tuple(names or PIPELINE_NAMES)
        self.on_change = on_change
        self.settings = settings
        self._loader = loader
        self._states = {n: ModelState(n) for n in self.names}
        self._load_lock = threading.Lock()
        self._attempted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- loading ---------------------------------------------------------------------------------
    def _load_one(self, name: str, version: str) -> TrainedModel:
        if self._loader is not None:
            return self._loader(name, version)
        from perfml.modeling.registry import load_model

        return load_model(name, version, settings=self.settings)

    def load(self, *, by: str = "system", force: bool = False, retry_failed: bool = False) -> dict[str, dict]:
        """Resolve every champion and load the versions that moved; return the status.

        `retry_failed` also retries a version that failed before; `force` reloads every version.
        """
        with self._load_lock:
            for name in self.names:
                self._refresh(name, by=by, force=force, retry_failed=retry_failed or force)
            self._attempted.set()
        return self.status()

    def _refresh(self, name: str, *, by: str, force: bool, retry_failed: bool = False) -> None:
        state = self._states[name]
        state.checked_at = utcnow()
        try:
            version = champion_version(name, settings=self.settings)
        except Exception as exc:  # registry unreachable: keep serving what we have
            state.error = without_paths(f"model {name!r}: the registry cannot be read ({type(exc).__name__}: {exc})")
            log.error(state.error)
            return
        state.champion = version
        if version is None:
            if state.served is None:  # nothing earned champion: the baseline rule answers, and we say why
                state.error = None
                state.degraded = self._why_no_champion(name)
            return
        state.degraded = None
        if state.served is not None and state.served.version == version and not force:
            state.error = None
            return
        if version == state.failed_version and not retry_failed:
            return  # already reported; retried when the alias moves or on an explicit reload
        try:
            model = self._load_one(name, version)
            _check_loadable(model)
        except Exception as exc:
            detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            state.failed_version = version
            keep = f"; still serving version {state.served.version}" if state.served else ""
            state.error = without_paths(
                f"model {name!r} version {version} failed to load ({type(exc).__name__}: {detail}); "
                f"its artifact may be corrupted - restore it and reload, retrain, or move the champion alias{keep}")
            log.error(state.error)
            return
        old = state.served.version if state.served else None
        state.served = _served(model, name)
        state.error, state.failed_version = None, None
        if old != version and self.on_change is not None:
            try:
                self.on_change(name, old, version, by)
            except Exception:  # an audit hiccup must not unload a model
                log.exception("model change hook failed")

    def _why_no_champion(self, name: str) -> str:
        from perfml.pipelines import get_pipeline

        try:
            from perfml.modeling.registry import why_no_champion

            why = why_no_champion(name, settings=self.settings)
        except Exception as exc:  # the reason is a courtesy; the registry answered the alias already
            why = f"no champion ({type(exc).__name__})"
        try:
            rule = get_pipeline(name).baseline_description
        except Exception:
            rule = ""
        return without_paths(f"no champion ({why}); scores come from the baseline rule"
                             + (f": {rule}" if rule else ""))

    # -- background start and watching -------------------------------------------------------
    def start(self, *, background: bool = True, watch_interval: float | None = 30.0) -> "ServingModels":
        """Load now (or in a thread) and, with `watch_interval`, re-check the alias periodically."""
        if not background:
            self.load()
        if self._thread is None and (background or watch_interval):
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, args=(background, watch_interval),
                                            name="perfml-models", daemon=True)
            self._thread.start()
        return self

    def _run(self, load_first: bool, interval: float | None) -> None:
        if load_first:
            try:
                self.load()
            except Exception:
                log.exception("loading models failed")
                self._attempted.set()
        while interval and not self._stop.wait(interval):
            try:
                self.load()
            except Exception:
                log.exception("checking the champion aliases failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the first load attempt finished; return whether every model is loaded."""
        self._attempted.wait(timeout)
        return self.ready

    # -- reading ---------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Every model answers: its champion is loaded, or it has none and its baseline rule serves.
        A champion that fails to load (or models still loading) is not ready."""
        return self._attempted.is_set() and all(s.source is not None for s in self._states.values())

    @property
    def degraded(self) -> dict[str, str]:
        """name -> why, for every model served by its baseline rule."""
        return {n: s.degraded for n, s in self._states.items() if s.served is None and s.degraded is not None}

    def status(self) -> dict[str, dict]:
        return {n: s.to_dict() for n, s in self._states.items()}

    def get(self, name: str) -> ServedModel:
        """The served champion; `UnknownModel` for a name not served, `ModelUnavailable` if not loaded."""
        state = self._states.get(name)
        if state is None:
            raise UnknownModel(f"unknown model {name!r}; served models: {', '.join(self.names)}")
        if state.served is None:
            why = state.error or "models are still loading"
            raise ModelUnavailable(f"model {name!r} is not available: {why}")
        return state.served

    def scorer(self, name: str) -> ServedModel | None:
        """The served champion, or None when the model has none and its baseline rule answers;
        `UnknownModel` / `ModelUnavailable` (loading, or a champion that failed to load) otherwise."""
        state = self._states.get(name)
        if state is not None and state.served is None and state.degraded is not None:
            return None
        return self.get(name)

    def loaded(self) -> dict[str, TrainedModel]:
        """name -> TrainedModel of every loaded champion."""
        return {n: s.served.model for n, s in self._states.items() if s.served is not None}


# -- explained results -------------------------------------------------------------------------------
def explained(ex: Explanations, *, top_k: int = 3, lang: catalog.Lang = "en", threshold: float | None = None,
              ids: Sequence[str | None] | None = None, rules: Sequence[str | None] | None = None) -> list[dict]:
    """JSON-ready results: score, raw score, base value, top-k factors and the rest of the contributions.

    For every row `base_value + sum(factor contributions) + other_contribution == raw_score`.
    Factors are `Explanations.top_indices` (largest |contribution| first, zeros left out) with the
    catalog's display name and one-line reason, built column-wise (this loop is the batch path's
    Python cost, so no per-factor objects). A reason is the catalog's documented
    "<describe_value>: <contribution:+.2f>"; the value part is rendered once per feature and value.
    `rules`: per row the reason of the pipeline's rule alert or None (`PipelineSpec.rule_alerts`); a
    row is alerted at the threshold or by its rule, and `rule_alert` carries the reason.
    """
    n = len(ex)
    if n == 0:
        return []
    raw, score, base = ex.raw_score, ex.score, ex.base_value
    top = ex.top_indices(top_k)
    contrib = np.take_along_axis(ex.contributions, top, axis=1)
    values = np.take_along_axis(ex.values, top, axis=1)
    other = raw - base - contrib.sum(axis=1)
    feats = [catalog.get(f) for f in ex.feature_names]
    names = [(f.name, f.display(lang), f.unit) for f in feats]
    rule_list = [None] * n if rules is None else [None if pd.isna(r) else str(r) for r in rules]
    alerts = [None] * n if threshold is None else [
        bool(a) or r is not None for a, r in zip((score >= threshold).tolist(), rule_list)]
    id_list = [None] * n if ids is None else list(ids)
    described: dict[tuple[int, float | None], str] = {}
    out = []
    for row_j, row_c, row_v, s_, r_, b_, o_, a_, id_, rule in zip(
            top.tolist(), contrib.tolist(), values.tolist(), score.tolist(), raw.tolist(), base.tolist(),
            other.tolist(), alerts, id_list, rule_list):
        factors = []
        for j, c, v in zip(row_j, row_c, row_v):
            if c == 0.0:
                continue
            name, display, unit = names[j]
            value = None if v != v or v in (math.inf, -math.inf) else v
            text = described.get((j, value))
            if text is None:
                text = described[(j, value)] = feats[j].describe_value(value, lang)
            factors.append({"feature": name, "display_name": display, "value": value, "unit": unit,
                            "contribution": c, "direction": "up" if c > 0 else "down",
                            "reason": f"{text}: {c:+.2f}"})
        out.append({"id": id_, "score": s_, "raw_score": r_, "base_value": b_, "other_contribution": o_,
                    "alert": a_, "rule_alert": rule, "factors": factors, "source": "model"})
    return out


def render_factors(factors: Iterable[Mapping], lang: catalog.Lang = "en") -> list[dict]:
    """Stored factors (feature, value, contribution) with display names and reasons in `lang`."""
    out = []
    for f in factors:
        feat = catalog.get(str(f["feature"]))
        value = f.get("value")
        c = float(f["contribution"])
        out.append({"feature": feat.name, "display_name": feat.display(lang), "value": value, "unit": feat.unit,
                    "contribution": c, "direction": "up" if c > 0 else "down", "reason": feat.reason(value, c, lang)})
    return out


# -- the store snapshot --------------------------------------------------------------------------------
ALL_TABLES: frozenset[str] | None = None
"""`DatasetCache.derived(tables=ALL_TABLES)`: the frame may read any table (dropped on every change)."""


@dataclass(frozen=True)
class _Snapshot:
    dataset: object  # perfml.dataset.Dataset
    generation: int
    built: float  # time.monotonic() of the store read it started from


@dataclass
class _Derived:
    generation: int
    tables: frozenset[str] | None
    value: object


def _key_values(frame: pd.DataFrame, key: list[str]) -> list:
    return frame[key[0]].tolist() if len(key) == 1 else list(zip(*(frame[k].tolist() for k in key)))


def upserted(dataset, changes: Mapping[str, pd.DataFrame], keys: dict[str, set] | None = None):
    """A new `Dataset`: `dataset` with the typed rows of `changes` upserted by each table's key (inputs untouched).

    `keys`: table -> set of the keys `dataset` holds (a key is a value, or a tuple for composite
    keys), kept across calls by the caller: finding the replaced rows then costs the batch, not the
    table. The sets of the changed tables are updated in place to the keys of the result.
    """
    from perfml.dataset import Dataset
    from perfml.schema import TABLES
    from perfml.validation import parse_table

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
            hit = known.intersection(batch)
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
    """A versioned snapshot of the store (`perfml.store.read_dataset()`) and frames derived from it.

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
    A reader holds a snapshot object, never a lock, while it works: readers never wait for writers.
    """

    MAX_DERIVED = 32  # feature frames for distinct as-of dates are kept LRU, not without bound
    STALE_REBUILD_S = 2.0  # a `stale_ok` frame is rebuilt at most this often (seconds) while writes stream in

    def __init__(self, engine=None, *, max_age: float = 300.0):
        from perfml.store import engine_for

        self.engine = engine_for(engine)
        self.max_age = max_age
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
                ds = read_dataset(self.engine)
            except BaseException:
                with self._lock:
                    self._replay = None
                raise
            with self._lock:
                for changes in self._replay or ():
                    ds = upserted(ds, changes)  # idempotent when the read already saw the write
                self._replay = None
                self._generation += 1
                self._snap = _Snapshot(ds, self._generation, started)
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
    def update(self, write: Callable[[], object],
               changes: Mapping[str, pd.DataFrame] | Callable[[object], Mapping[str, pd.DataFrame]]):
        """Run `write()` (it commits) and upsert the rows it wrote into the snapshot; return its result.

        `changes`: table -> typed rows (as `Dataset` types them), or a function of `write`'s result
        giving them. When `write` raises, the snapshot is untouched. Once it committed, the caller
        gets its result whatever happens here: a failed update drops the snapshot (re-read on next use).
        """
        with self._write_lock:
            result = write()
            try:
                self.apply(changes(result) if callable(changes) else changes)
            except Exception:
                log.exception("updating the store snapshot after a write failed; it is read again on next use")
                self.invalidate()
        return result

    def apply(self, changes: Mapping[str, pd.DataFrame]) -> None:
        """Upsert committed typed rows into the snapshot (a new snapshot; readers keep the one they hold)."""
        changed = frozenset(name for name, frame in changes.items() if frame is not None and not frame.empty)
        if not changed:
            return
        with self._write_lock:
            with self._lock:
                if self._replay is not None:
                    self._replay.append(changes)
                base = self._snap
            if base is None:
                return  # nothing cached: the next reader reads the store, write included
            if self._keys_of != base.generation:
                self._keys = {}
            ds = upserted(base.dataset, changes, self._keys)
            with self._lock:
                if self._snap is not base:
                    self._keys_of = -1  # the sets describe a snapshot that is no longer current
                    return  # rebuilt or invalidated meanwhile: read after the commit or replayed `changes`
                self._generation += 1
                self._keys_of = self._generation
                self._snap = _Snapshot(ds, self._generation, base.built)
                for key, entry in list(self._derived.items()):
                    if entry.tables is not None and not entry.tables & changed and entry.generation == base.generation:
                        entry.generation = self._generation  # reads none of the changed tables: still valid
                    else:
                        del self._derived[key]

    # -- derived frames ----------------------------------------------------------------------------
    def derived(self, key: tuple, build: Callable[[object], object], *, tables: Iterable[str] | None = ALL_TABLES,
                stale_ok: bool = False):
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
                threading.Thread(target=self._build_derived, args=(key, build, tables, True, key_lock),
                                 name="perfml-derived", daemon=True).start()
            return stale[1]
        with key_lock:  # one build per key at a time; others wait for it, not for unrelated work
            return self._build_derived(key, build, tables, stale_ok)

    def _build_derived(self, key: tuple, build: Callable[[object], object], tables: Iterable[str] | None,
                       keep: bool, release: threading.Lock | None = None):
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
                    self._derived[key] = _Derived(snap.generation, None if tables is None else frozenset(tables),
                                                  value)
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
        return self.derived(("employees",),
                            lambda ds: ds.employees.set_index("employee_id", drop=False).rename_axis(None),
                            tables=("employees",))

    def team_of(self, employee_ids: Iterable) -> list[str | None]:
        """Team of each employee id (None when unknown)."""
        teams = self.employees()["team_id"]
        return [None if e is None or pd.isna(e) or e not in teams.index else str(teams[e]) for e in employee_ids]

    def monthly(self) -> pd.DataFrame:
        """The metrics layer: one row per employee and month of the data (trajectories)."""
        def build(ds):
            from perfml.metrics import employee_period_metrics

            _, end = ds.date_range()
            if pd.isna(end):
                return pd.DataFrame(columns=["employee_id", "period"])
            return employee_period_metrics(ds)

        # Trajectories are for display: after a write they may lag it by one build rather than wait.
        return self.derived(("monthly",), build, stale_ok=True)


__all__ = ["ALL_TABLES", "ChangeHook", "DatasetCache", "ModelState", "ModelUnavailable", "ServedModel", "ServingModels",
           "UnknownFeatures", "UnknownModel", "champion_version", "explained", "render_factors", "upserted"]

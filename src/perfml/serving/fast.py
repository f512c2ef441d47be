"""The fast scoring path: a champion held as a `ServedModel`, scored and explained on numpy arrays.

Each champion is loaded ONCE (through `perfml.modeling.registry.load_model`, the one place that
loads models; `perfml.serving.champions` decides when) and kept as a `ServedModel` - booster,
feature order and a name -> column index map. A request's rows become one float64 matrix and go
through `perfml.explain.explain` (TreeSHAP via the booster's own `pred_contrib`); nothing is
rebuilt per request; small requests run on one OpenMP thread, big batches in chunks whose
TreeSHAP overlaps the Python work on the previous chunk.
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import lightgbm as lgb
import numpy as np
import pandas as pd

from perfml.errors import PerfmlError
from perfml.explain import Explanations, explain
from perfml.modeling.model import TrainedModel
from perfml.store import utcnow


class UnknownFeatures(PerfmlError):
    """Feature rows name columns the model does not have: `problems` = [(row index, name), ...]."""

    def __init__(self, problems: list[tuple[int, str]], features: Sequence[str]):
        self.problems = problems
        self.features = list(features)
        shown = ", ".join(f"rows[{i}].{n}" for i, n in problems[:5])
        super().__init__(f"unknown feature(s): {shown}; the model's features are listed at /v1/models/<name>")


CHUNK_ROWS = 100
"""Rows per TreeSHAP chunk of a big batch (see `ServedModel.explain_chunks`)."""
PREFETCH_DEPTH = os.cpu_count() or 2


@functools.cache
def _prefetch() -> ThreadPoolExecutor:
    """The helper threads of `ServedModel.explain_chunks`, started by the first big batch."""
    return ThreadPoolExecutor(max_workers=PREFETCH_DEPTH, thread_name_prefix="perfml-shap")


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
                pending.append(_prefetch().submit(self.explain, X[starts[ahead] : starts[ahead] + rows]))
                ahead += 1
            yield pending.popleft().result()


SMALL_BATCH = 256
"""Up to this many rows a prediction runs on one thread: OpenMP's start-up and, on a busy host,
its spinning cost more than the work (measured here: 0.8 ms against 2-25 ms for one explained row)."""


class _ServingBooster(lgb.Booster):
    """A private copy of a champion's booster that picks its thread count per call by batch size."""

    def predict(self, data, *args, **kwargs):
        if "num_threads" not in kwargs and getattr(data, "shape", (SMALL_BATCH + 1,))[0] <= SMALL_BATCH:
            kwargs["num_threads"] = 1
        return super().predict(data, *args, **kwargs)


def served_copy(model: TrainedModel, name: str) -> ServedModel:
    """`model` as a `ServedModel` named `name`, on its own booster copy."""
    # Own booster (same trees, from the model text): the registry's cached object stays untouched.
    booster = _ServingBooster(model_str=model.booster.model_to_string())
    own = TrainedModel(
        booster,
        list(model.features),
        kind=model.kind,
        threshold=model.threshold,
        name=model.name,
        version=model.version,
        extra=dict(model.extra),
    )
    return ServedModel(name, str(model.version), own, utcnow(), {f: j for j, f in enumerate(model.features)})


def check_loadable(model: TrainedModel) -> None:
    """A loaded booster must answer: one all-missing row through predict and pred_contrib."""
    if not model.features:
        raise PerfmlError("the model has no features")
    row = np.full((1, len(model.features)), np.nan)
    # a dense row: both answers are ndarrays already (asarray states it for the type checker)
    raw = np.asarray(model.booster.predict(row, raw_score=True))
    contrib = np.asarray(model.booster.predict(row, pred_contrib=True))
    if raw.shape != (1,) or contrib.shape != (1, len(model.features) + 1) or not np.isfinite(contrib).all():
        raise PerfmlError("the booster's predictions are malformed")


__all__ = ["CHUNK_ROWS", "SMALL_BATCH", "ServedModel", "UnknownFeatures", "check_loadable", "served_copy"]

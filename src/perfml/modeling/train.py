"""LightGBM fitting with lean defaults: serving explains every prediction, so models stay small.

`fit_lgbm(X, y)` trains a binary classifier; `fit_soft(X, targets)` trains on soft targets in
[0, 1] (cross-entropy) - how unsupervised scorers are distilled into a booster so they share the
scoring and explanation path. Both return a `lightgbm.Booster` fitted on a float64 numpy matrix
(feature names kept), capped at `MAX_TREES` trees of `MAX_LEAVES` leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

import lightgbm as lgb
import numpy as np
import pandas as pd

from perfml.modeling.model import to_matrix

MAX_TREES = 200
MAX_LEAVES = 31
LEAN_PARAMS: dict = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": 1,  # small data: one thread is as fast, and never fights the service for cores
    "verbose": -1,
}
NUM_ROUNDS = 150


def lean_params(params: Mapping | None = None, *, seed: int = 0) -> dict:
    """`LEAN_PARAMS` updated with `params` and `seed`; refuses more than `MAX_LEAVES` leaves."""
    out = {**LEAN_PARAMS, **(params or {}), "seed": seed}
    if int(out["num_leaves"]) > MAX_LEAVES:
        raise ValueError(f"num_leaves {out['num_leaves']} > {MAX_LEAVES}: keep models lean for serving")
    return out


Trainer = Callable[[pd.DataFrame, np.ndarray, dict, int, "np.ndarray | None"], lgb.Booster]
"""(X, targets, LightGBM params, rounds, weights) -> booster: where the boosting itself runs."""


def train_here(X: pd.DataFrame, y: np.ndarray, params: dict, num_rounds: int, weight=None) -> lgb.Booster:
    """The default trainer: `lightgbm.train` in this process."""
    names = [str(c) for c in X.columns]
    data = lgb.Dataset(
        to_matrix(X),
        label=np.asarray(y, dtype=np.float64),
        weight=weight,
        feature_name=names,
        free_raw_data=True,
        params={"verbose": -1},
    )
    return lgb.train(params, data, num_boost_round=num_rounds)


_TRAINER: ContextVar[Trainer] = ContextVar("perfml_trainer", default=train_here)


@contextmanager
def use_trainer(trainer: Trainer) -> Iterator[None]:
    """Within the block, every `fit_lgbm`/`fit_soft` boosts with `trainer` (e.g. on a Dask cluster,
    `perfml.scale`): the pipelines' own `fit` (masks, teachers, thresholds) stays the one definition."""
    token = _TRAINER.set(trainer)
    try:
        yield
    finally:
        _TRAINER.reset(token)


def _train(X: pd.DataFrame, y: np.ndarray, params: dict, num_rounds: int, weight=None) -> lgb.Booster:
    if num_rounds > MAX_TREES:
        raise ValueError(f"num_rounds {num_rounds} > {MAX_TREES}: keep models lean for serving")
    return _TRAINER.get()(X, y, params, num_rounds, weight)


def fit_lgbm(
    X: pd.DataFrame, y, *, params: Mapping | None = None, num_rounds: int = NUM_ROUNDS, seed: int = 0, weight=None
) -> lgb.Booster:
    """A lean binary LightGBM booster on numeric features `X` and 0/1 labels `y`."""
    y = np.asarray(y, dtype=np.float64)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0/1 without missing values")
    return _train(X, y, lean_params(params, seed=seed), num_rounds, weight)


def fit_soft(
    X: pd.DataFrame, targets, *, params: Mapping | None = None, num_rounds: int = NUM_ROUNDS, seed: int = 0
) -> lgb.Booster:
    """A lean booster regressing soft targets in [0, 1] with cross-entropy (raw output = log-odds)."""
    t = np.asarray(targets, dtype=np.float64)
    if np.isnan(t).any() or (t < 0).any() or (t > 1).any():
        raise ValueError("soft targets must be in [0, 1]")
    return _train(X, t, lean_params({"objective": "cross_entropy", **(params or {})}, seed=seed), num_rounds)

"""Lean LightGBM fitting: caps, determinism, soft targets."""

import numpy as np
import pandas as pd
import pytest

from perfml.modeling.model import TrainedModel
from perfml.modeling.train import MAX_LEAVES, MAX_TREES, fit_lgbm, fit_soft


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    X.loc[::7, "c"] = np.nan
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * X["a"] - X["b"])))).astype(float)
    return X, y


def test_same_data_same_seed_same_predictions():
    X, y = _data()
    p1 = TrainedModel(fit_lgbm(X, y, seed=3), list(X.columns)).predict(X)
    p2 = TrainedModel(fit_lgbm(X, y, seed=3), list(X.columns)).predict(X)
    np.testing.assert_array_equal(p1, p2)
    assert ((p1 >= 0) & (p1 <= 1)).all()


def test_caps_keep_models_lean():
    X, y = _data()
    with pytest.raises(ValueError, match="lean"):
        fit_lgbm(X, y, num_rounds=MAX_TREES + 1)
    with pytest.raises(ValueError, match="lean"):
        fit_lgbm(X, y, params={"num_leaves": MAX_LEAVES + 1})
    booster = fit_lgbm(X, y)
    assert booster.num_trees() <= MAX_TREES
    with pytest.raises(ValueError, match="0/1"):
        fit_lgbm(X, y * 2)


def test_dataframe_columns_matched_by_name():
    X, y = _data()
    model = TrainedModel(fit_lgbm(X, y), list(X.columns))
    np.testing.assert_allclose(model.predict(X[["d", "c", "b", "a"]]), model.predict(X.to_numpy()))


def test_fit_soft_tracks_targets():
    X, _ = _data()
    target = pd.Series(X["a"]).rank(pct=True).to_numpy()
    model = TrainedModel(fit_soft(X, target), list(X.columns), kind="unsupervised")
    assert np.corrcoef(model.predict(X), target)[0, 1] > 0.95
    with pytest.raises(ValueError):
        fit_soft(X, target + 1)

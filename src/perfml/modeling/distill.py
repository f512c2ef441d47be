"""Distillation: a lean LightGBM student learns a teacher's soft scores over every training unit.

With tens of labelled positives, boosted trees fitted on the labels directly overfit a few
thresholds; a linear teacher (L2 logistic regression on rank-transformed features) adds up many
weak signs, and the student carries its ranking over to the booster that serving and TreeSHAP
see (measured in `src/perfml/pipelines/transfer_anomaly/pipeline.py`'s docstring).
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import QuantileTransformer

from perfml.modeling.train import fit_soft

TEACHER_CS = (0.01, 0.03, 0.1, 0.3, 1.0)


def logistic_teacher(
    X: pd.DataFrame, y: np.ndarray, *, cs: Sequence[float] = TEACHER_CS, seed: int = 0
) -> tuple[Pipeline, float]:
    """(fitted sklearn pipeline, chosen C): L2 logistic regression on rank-transformed features
    (NaN -> median plus a missing flag), C chosen by stratified k-fold average precision."""
    model = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True),
        QuantileTransformer(n_quantiles=max(2, min(100, len(y) // 2)), random_state=seed),  # <= a fold's rows
        LogisticRegression(C=max(cs), max_iter=5000),
    )
    M = X.to_numpy(dtype="float64", na_value=np.nan)
    folds = int(min(5, np.sum(y == 1), np.sum(y == 0)))
    if folds < 2:  # one example of a class: nothing to cross-validate, take the weakest penalty offered
        return model.fit(M, y), float(max(cs))
    search = GridSearchCV(
        model,
        {"logisticregression__C": list(cs)},
        scoring="average_precision",
        cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
    ).fit(M, y)
    return search.best_estimator_, float(search.best_params_["logisticregression__C"])


def distil_logistic(
    X: pd.DataFrame,
    y: pd.Series,
    *,
    cs: Sequence[float] = TEACHER_CS,
    params: dict | None = None,
    num_rounds: int,
    seed: int = 0,
) -> tuple[lgb.Booster, float]:
    """(student booster, teacher's C): the teacher fits the labelled rows of `y` (NaN = unlabelled),
    the student its probabilities over every row of `X`, labelled or not."""
    mask = y.notna().to_numpy()
    teacher, c = logistic_teacher(X[mask], y[mask].to_numpy(), cs=cs, seed=seed)
    soft = teacher.predict_proba(X.to_numpy(dtype="float64", na_value=np.nan))[:, 1]
    return fit_soft(X, soft, params=params, num_rounds=num_rounds, seed=seed), c

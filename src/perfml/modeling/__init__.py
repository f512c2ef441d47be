"""Shared ML infrastructure for the three perfml models (one implementation, not three).

Modules (each answers one question):
- `split`    - `time_split(times, gap=, test_size=, cutoff=, known_at=, labelled=) -> TimeSplit`
               (train < cutoff, test >= cutoff + gap; never random).
- `train`    - `fit_lgbm(X, y, seed=)` / `fit_soft(X, targets)` -> lean `lightgbm.Booster`
               (`LEAN_PARAMS`, at most `MAX_TREES`=200 trees of `MAX_LEAVES`=31 leaves).
- `model`    - `TrainedModel(booster, features, kind, threshold)`: `.predict(X)` in [0, 1],
               `.raw_score(X)`, `.matrix(X)`; `sigmoid`, `to_matrix`.
- `evaluate` - `binary_metrics`, `side_by_side(y, model_score, baseline_score)` (keys `model_*`,
               `baseline_*`: roc_auc, pr_auc, brier, precision_at_top5), `write_report(...)` PNGs.
- `registry` - MLflow: `log_and_register`, `load_model(name, version=None)` (champion by default;
               the one place that loads models; checksum verified first), `list_versions`, `client`.
- `unsupervised` - `EvidenceScorer(signs).fit(X).score_samples(X)`: warning signs (`Sign`) counted,
               ties broken by a directional tail score; for pipelines without labels.
- `spec`     - `PipelineSpec`: the contract each pipeline implements (features, labels, baseline).
- `gate`     - `evidence_gate(...)` -> `GateOutcome`: may a run become champion, and why not.
- `distill`  - `logistic_teacher`, `distil_logistic`: a lean booster learns a linear teacher's scores.

Explanations live in `perfml.explain`, feature names in `perfml.catalog`, the pipeline registry
and the runner (`train_pipeline`, `score_pipeline`, `explain_pipeline`) in `perfml.pipelines`.
"""

from perfml.modeling.evaluate import binary_metrics, side_by_side, write_report
from perfml.modeling.model import TrainedModel, sigmoid, to_matrix
from perfml.modeling.spec import PipelineSpec
from perfml.modeling.split import TimeSplit, time_split
from perfml.modeling.train import LEAN_PARAMS, MAX_LEAVES, MAX_TREES, fit_lgbm, fit_soft

__all__ = [
    "LEAN_PARAMS",
    "MAX_LEAVES",
    "MAX_TREES",
    "PipelineSpec",
    "TimeSplit",
    "TrainedModel",
    "binary_metrics",
    "fit_lgbm",
    "fit_soft",
    "side_by_side",
    "sigmoid",
    "time_split",
    "to_matrix",
    "write_report",
]

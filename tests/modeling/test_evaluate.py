"""Evaluation metrics, side by side, and the report PNGs."""

import numpy as np
import pytest

from perfml.modeling.evaluate import binary_metrics, precision_at_top, side_by_side, write_report


def test_binary_metrics_known_values():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0] * 2)
    s = np.array([0.9, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1] * 2)
    m = binary_metrics(y, s)
    assert m["n"] == 20 and m["positives"] == 4 and m["prevalence"] == pytest.approx(0.2)
    assert m["roc_auc"] == pytest.approx(60 / 64)  # 0.9s beat all 16 negatives, 0.7s beat the 14 at 0.1
    assert 0 < m["pr_auc"] <= 1
    assert m["brier"] == pytest.approx(np.mean((s - y) ** 2))
    assert m["precision_at_top5"] == 1.0  # top 1 of 20 is a 0.9 positive


def test_precision_at_top_splits_ties():
    # a 0/1 rule flagging 10 rows of which 5 positive: top 5% of 40 = 2 rows, expected precision 0.5
    y = np.array([1] * 5 + [0] * 5 + [0] * 30)
    s = np.array([1.0] * 10 + [0.0] * 30)
    assert precision_at_top(y, s, 0.05) == pytest.approx(0.5)
    assert precision_at_top(y[::-1], s[::-1], 0.05) == pytest.approx(0.5)  # order does not matter


def test_side_by_side_keys_and_single_class_nan():
    y = np.array([0, 1, 0, 1])
    out = side_by_side(y, [0.1, 0.9, 0.2, 0.8], [0, 1, 1, 0])
    assert out["model_roc_auc"] == 1.0 and out["baseline_roc_auc"] == 0.5
    assert "baseline_n" not in out and "model_n" in out
    m = binary_metrics([0, 0, 0], [0.1, 0.2, 0.3])
    assert np.isnan(m["roc_auc"]) and np.isnan(m["pr_auc"])


def test_write_report_pngs(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.clip(y * 0.5 + rng.random(300) * 0.5, 0, 1)
    contrib = rng.normal(size=(300, 4))
    paths = write_report(
        tmp_path,
        y,
        s,
        (s > 0.5).astype(float),
        contributions=contrib,
        values=rng.random((300, 4)),
        feature_names=list("abcd"),
        lead_times=rng.integers(0, 4, 50),
        title="t",
    )
    names = sorted(p.name for p in paths)
    assert names == ["calibration.png", "lead_time.png", "pr.png", "roc.png", "shap_summary.png"]
    assert all(p.stat().st_size > 1000 for p in paths)

"""Model CLI: train/score/models/audit/profile exit codes and outputs (MLflow in a temporary home)."""

import pandas as pd
from typer.testing import CliRunner

from perfml.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_score_models_audit(perfml_home, small_dir, tmp_path):
    from perfml.modeling import registry

    registry.clear_cache()
    r = _run("train", "transfer-anomaly", "--data", small_dir)
    assert r.exit_code == 0, r.output
    assert "version 1" in r.output and "promoted to champion" in r.output
    r = _run("train", "transfer-anomaly", "--data", small_dir)  # same data, same metric: not better
    assert r.exit_code == 0 and "champion stays version 1" in r.output
    r = _run("train", "transfer-anomaly", "--data", small_dir, "--force")
    assert r.exit_code == 0 and "version 3" in r.output and "promoted to champion" in r.output
    r = _run("models")
    assert r.exit_code == 0 and "transfer-anomaly" in r.output
    report = {p.name for p in (perfml_home / "mlartifacts").rglob("report/*.png")}
    assert {"roc.png", "pr.png", "calibration.png", "shap_summary.png"} <= report

    out = tmp_path / "scores.csv"
    r = _run("score", "transfer-anomaly", "--data", small_dir, "--out", out)
    assert r.exit_code == 0, r.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["change_id", "score", "reasons", "source", "state", "state_reason"]
    assert scores["score"].between(0, 1).all() and len(scores) > 100
    assert (scores["source"] == "model").all() and (scores["state"] == "scored").all()
    r = _run("score", "transfer-anomaly", "--data", small_dir, "--out", out, "--as-of", "2025-06-01", "--lang", "zh")
    assert r.exit_code == 0, r.output
    early = pd.read_csv(out)
    assert 0 < len(early) < len(scores)

    audit_csv = tmp_path / "audit.csv"
    r = _run("audit", "transfer-anomaly", "--data", small_dir, "--out", audit_csv)
    assert r.exit_code == 0, r.output
    table = pd.read_csv(audit_csv)
    assert {"column", "group", "selection_rate", "impact_ratio", "flagged"} <= set(table.columns)


def test_exit_codes(perfml_home, small_dir, tmp_path):
    from perfml.modeling import registry

    registry.clear_cache()
    assert _run("train", "bogus", "--data", small_dir).exit_code == 2  # usage error
    assert _run("score", "all", "--data", small_dir, "--out", tmp_path / "x.csv").exit_code == 2
    assert (
        _run(
            "score", "transfer-anomaly", "--data", small_dir, "--out", tmp_path / "x.csv", "--as-of", "not-a-date"
        ).exit_code
        == 2
    )
    assert _run("train", "transfer-anomaly", "--data", tmp_path / "missing").exit_code == 1  # data error
    # no champion: the baseline rule scores, and the output says so (column and message)
    r = _run("score", "transfer-anomaly", "--data", small_dir, "--out", tmp_path / "x.csv")
    assert r.exit_code == 0 and "has no champion (never trained" in " ".join(r.output.split())
    assert set(pd.read_csv(tmp_path / "x.csv")["source"]) == {"baseline"}
    assert _run("models").exit_code == 0


def test_audit_needs_demographics(home, small_dataset, tmp_path):
    from perfml.dataset import Dataset
    from perfml.modeling import registry
    from perfml.pipelines.run import train_pipeline

    registry.clear_cache()
    train_pipeline("transfer-anomaly", small_dataset, report=False, home=home)
    data = tmp_path / "nodemo"
    Dataset({k: v for k, v in small_dataset.tables.items() if k != "demographics" and small_dataset.has(k)}).save(data)
    r = _run("audit", "transfer-anomaly", "--data", data)
    assert r.exit_code == 1 and "demographics" in r.output

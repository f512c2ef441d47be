"""Evidence gates: a run that loses to its baseline, has too little evidence or predicts a constant is logged
but not promoted, and says why; --force promotes and is recorded; untracked tables' features are left out;
a missing input table is named before anything is built."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from perfml import catalog
from perfml.dataset import Dataset
from perfml.errors import ModelNotFoundError, PerfmlError
from perfml.modeling import registry
from perfml.modeling.gate import is_constant
from perfml.modeling.spec import PipelineSpec
from perfml.pipelines.run import score_pipeline, train_pipeline

catalog.register(
    catalog.Feature(
        "toy_survey_score",
        "Toy survey score",
        "玩具满意度",
        "score",
        "Test-only feature computed from surveys.",
        tables=("surveys",),
    )
)


class Toy(PipelineSpec):
    """A synthetic pipeline: `signal` predicts the label when `learnable`; the baseline reads `hint`."""

    name: ClassVar[str] = "toy"
    key: ClassVar[tuple[str, ...]] = ("unit_id",)
    time_column: ClassVar[str] = "t"
    horizon: ClassVar[pd.Timedelta] = pd.Timedelta(0)
    features: ClassVar[tuple[str, ...]] = ("signal", "noise", "toy_survey_score")
    test_metric: ClassVar[str] = "model_roc_auc"
    baseline_features: ClassVar[tuple[str, ...]] = ("hint",)
    baseline_description: ClassVar[str] = "the hint is the score"

    def __init__(
        self,
        n: int = 600,
        *,
        learnable: bool = True,
        baseline_perfect: bool = False,
        constant: bool = False,
        units: int = 40,
    ):
        rng = np.random.default_rng(0)
        y = (rng.random(n) < 0.3).astype(float)
        signal = y * 2 + rng.normal(size=n) if learnable else rng.normal(size=n)
        self.frame = pd.DataFrame(
            {
                "unit_id": [f"U{i}" for i in range(n)],
                "t": pd.date_range("2024-01-01", periods=n, freq="h"),
                "employee_id": [f"E{i % units}" for i in range(n)],
                "signal": np.ones(n) if constant else signal,
                "noise": np.ones(n) if constant else rng.normal(size=n),
                "toy_survey_score": np.ones(n) if constant else rng.normal(size=n),
                "hint": y if baseline_perfect else rng.random(n),
            }
        )
        self.y = pd.Series(y)

    def build_features(self, dataset, as_of=None):
        return self.frame.copy()

    def build_labels(self, dataset, features):
        return self.y.copy()

    def baseline(self, features):
        return features["hint"].to_numpy(dtype=float)


def _run_tags(run_id, home):
    run = registry.client(home=home).get_run(run_id)
    return run.data.tags, run.data.params


def test_losing_model_is_logged_not_promoted_and_says_why(home, small_dataset):
    registry.clear_cache()
    result = train_pipeline(Toy(baseline_perfect=True), small_dataset, report=False, home=home)
    assert result.gate is not None and not result.gate.passed and not result.promoted
    m = result.metrics
    assert m["baseline_roc_auc"] == pytest.approx(1.0) and m["model_roc_auc"] < 1.0
    assert f"model ROC-AUC {m['model_roc_auc']:.3f} does not beat its baseline's 1.000" in result.not_promoted
    tags, params = _run_tags(result.run_id, home)
    assert tags["perfml.gate"] == "failed" and "does not beat its baseline" in tags["perfml.not_promoted"]
    assert "does not beat its baseline" in params["not_promoted"]
    with pytest.raises(ModelNotFoundError):  # registered, but not champion
        registry.load_model("toy", home=home)
    assert registry.why_no_champion("toy", home=home).startswith("version 1 was not promoted: model ROC-AUC")
    # scoring without a champion: the baseline rule, labelled, with its own reasons
    out = score_pipeline(Toy(baseline_perfect=True), small_dataset, model=None)
    assert (out["source"] == "baseline").all() and (out["state"] == "scored").all()
    np.testing.assert_array_equal(out["score"].to_numpy(), Toy(baseline_perfect=True).y.to_numpy())
    assert out["reasons"].iloc[0].startswith("baseline rule (the hint is the score): Hint: ")


def test_thin_evidence_names_counts_and_needs(perfml_home, small_dataset):
    registry.clear_cache()
    result = train_pipeline(Toy(n=60, units=4), small_dataset, register=False)
    reason = result.not_promoted
    n_test, pos = int(result.metrics["n_test_labelled"]), int(result.metrics["model_positives"])
    assert n_test < 30 and f"{n_test} labelled test rows (30 needed)" in reason, reason
    assert f"{pos} positives on the test side (5 needed)" in reason or pos >= 5
    assert "4 distinct employees on the test side (10 needed)" in reason
    # like the 44-row real export: too few training rows for a single split, so every score is the same
    assert "test predictions are constant" in reason
    # enough rows to learn from but still 4 employees: only the units check fails, and settings move it
    from perfml.config import Settings

    four = train_pipeline(Toy(n=300, units=4), small_dataset, register=False)
    assert four.gate.reasons == ("too little evidence: 4 distinct employees on the test side (10 needed)",)
    lenient = Settings(home=perfml_home, gate_min_test_units=2)
    assert train_pipeline(Toy(n=300, units=4), small_dataset, register=False, settings=lenient).gate.passed


def test_constant_predictions_are_never_promoted(home, small_dataset):
    assert is_constant([0.7] * 50) and is_constant(np.full(50, 0.7) + np.arange(50) * 1e-9)
    assert not is_constant([0.1, 0.2] * 25)
    registry.clear_cache()
    result = train_pipeline(Toy(constant=True), small_dataset, report=False, home=home)
    assert result.test["score"].nunique() == 1 and not result.promoted
    assert "test predictions are constant (1 distinct score(s))" in result.not_promoted
    assert result.gate.evidence["distinct_test_scores"] == 1


def test_force_promotes_and_is_recorded(home, small_dataset):
    registry.clear_cache()
    result = train_pipeline(Toy(constant=True), small_dataset, force=True, report=False, home=home)
    assert result.promoted and result.forced
    tags, _ = _run_tags(result.run_id, home)
    assert tags["perfml.forced"].startswith("true (over: ") and "constant" in tags["perfml.forced"]
    assert registry.load_model("toy", home=home).version == result.version
    # a later good run still has to beat the (forced) champion on the primary metric
    good = train_pipeline(Toy(), small_dataset, report=False, home=home)
    assert good.gate.passed and good.promoted


def test_untracked_tables_features_are_left_out(home, small_dataset):
    registry.clear_cache()
    untracked = Dataset({k: v for k, v in small_dataset.tables.items() if small_dataset.has(k)}, untracked={"surveys"})
    result = train_pipeline(Toy(), untracked, report=False, home=home)
    assert result.dropped_features == ["toy_survey_score"]
    assert "toy_survey_score" not in result.features and "toy_survey_score" not in result.model.features
    assert result.model.features == ["signal", "noise"]
    tags, params = _run_tags(result.run_id, home)
    assert tags["perfml.dropped_features"] == "toy_survey_score" and params["dropped_features"] == "toy_survey_score"
    tracked = train_pipeline(Toy(), small_dataset, register=False)
    assert "toy_survey_score" in tracked.model.features and tracked.dropped_features == []


def test_missing_input_table_is_named_before_training(small_dataset):
    tables = {k: v for k, v in small_dataset.tables.items() if small_dataset.has(k)}
    no_changes = Dataset({**tables, "ownership_changes": tables["ownership_changes"].head(0)})
    with pytest.raises(PerfmlError, match="transfer-anomaly cannot train: ownership_changes has no rows"):
        train_pipeline("transfer-anomaly", no_changes, register=False)
    untracked = Dataset({k: v for k, v in tables.items() if k != "ownership_changes"}, untracked={"ownership_changes"})
    with pytest.raises(PerfmlError, match="ownership_changes is not tracked by this dataset"):
        train_pipeline("transfer-anomaly", untracked, register=False)


def _fake_pipelines(monkeypatch, get_pipeline) -> None:
    """Resolve pipeline names with `get_pipeline` wherever a name is resolved (the registry and the runner)."""
    import perfml.pipelines
    import perfml.pipelines.run

    for module in (perfml.pipelines, perfml.pipelines.run):
        monkeypatch.setattr(module, "get_pipeline", get_pipeline)


def test_train_all_names_the_missing_table_and_trains_the_rest(perfml_home, small_dataset, tmp_path, monkeypatch):
    """`perfml train all` on an export without ownership changes: transfer-anomaly is not trained and the output
    says why; the other pipelines still train; the exit code is 1."""
    import perfml.pipelines
    from perfml.cli import app

    registry.clear_cache()
    data = tmp_path / "no-changes"
    tables = {k: v for k, v in small_dataset.tables.items() if small_dataset.has(k) and k != "transfer_labels"}
    Dataset({**tables, "ownership_changes": tables["ownership_changes"].head(0)}).save(data)  # header only
    real = perfml.pipelines.get_pipeline
    _fake_pipelines(monkeypatch, lambda name, settings=None: Toy() if name != "transfer-anomaly" else real(name))
    r = CliRunner().invoke(app, ["train", "all", "--data", str(data)])
    text = " ".join(r.output.split())
    assert r.exit_code == 1
    assert "not trained: transfer-anomaly cannot train: ownership_changes has no rows" in text
    assert text.count("toy: run ") == 2  # decline and high-performer slots both trained


def test_cli_says_what_is_missing_and_force_is_recorded(perfml_home, small_dir, monkeypatch, tmp_path):
    """`perfml train` prints the refusal in plain words; --force promotes."""
    from perfml.cli import app

    registry.clear_cache()
    _fake_pipelines(monkeypatch, lambda name, settings=None: Toy(n=60, units=4, baseline_perfect=True))
    r = CliRunner().invoke(app, ["train", "decline", "--data", str(small_dir)])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "NOT promoted - too little evidence:" in text and "(30 needed)" in text
    assert "4 distinct employees on the test side (10 needed)" in text
    assert "does not beat its baseline's 1.000" in text and "no champion: scoring uses the baseline rule" in text
    r = CliRunner().invoke(app, ["models"])
    assert r.exit_code == 0 and "degraded: decline scores with its baseline rule (the hint is the score)" in " ".join(
        r.output.split()
    )
    out = tmp_path / "scores.csv"
    r = CliRunner().invoke(app, ["score", "decline", "--data", str(small_dir), "--out", str(out)])
    assert r.exit_code == 0 and "scores come from its baseline rule" in " ".join(r.output.split())
    csv = pd.read_csv(out)
    assert (csv["source"] == "baseline").all() and len(csv) == 60
    assert csv["reasons"].str.startswith("baseline rule (the hint is the score): Hint: ").all()
    r = CliRunner().invoke(app, ["train", "decline", "--data", str(small_dir), "--force"])
    assert r.exit_code == 0 and "promoted to champion (forced over: too little evidence" in " ".join(r.output.split())


class ToyWithStates(Toy):
    """Every fifth unit has too little history: it must get no score, its state and the reason."""

    def build_features(self, dataset, as_of=None):
        frame = super().build_features(dataset, as_of)
        short = frame.index % 5 == 0
        frame["state"] = np.where(short, "insufficient_history", "scored")
        frame["state_reason"] = np.where(short, "2 data months before the cut-off; 3 needed", "")
        return frame


@pytest.mark.parametrize("with_model", [True, False])
def test_units_not_in_state_scored_get_no_score(perfml_home, small_dataset, with_model):
    spec = ToyWithStates()
    model = train_pipeline(Toy(), small_dataset, register=False).model if with_model else None
    out = score_pipeline(spec, small_dataset, model=model)
    short = out["state"] == "insufficient_history"
    assert short.sum() == 120 and out.loc[short, "score"].isna().all()
    assert (out.loc[short, "state_reason"] == "2 data months before the cut-off; 3 needed").all()
    assert (out.loc[short, "reasons"] == "2 data months before the cut-off; 3 needed").all()
    assert out.loc[~short, "score"].between(0, 1).all() and (out.loc[~short, "state_reason"] == "").all()
    assert (out["source"] == ("model" if with_model else "baseline")).all()

"""MLflow registry: runs are logged with their evidence; champion moves only when better (or forced)."""

import json

import numpy as np
import pandas as pd
import pytest

from perfml.errors import ModelNotFoundError
from perfml.modeling import registry
from perfml.modeling.model import TrainedModel
from perfml.modeling.train import fit_lgbm


@pytest.fixture
def tiny_model():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    y = (X["a"] + rng.normal(size=300) > 0).astype(float)
    return TrainedModel(fit_lgbm(X, y, num_rounds=20), ["a", "b", "c"], threshold=0.7), X


def _log(model, X, pr, home, force=False):
    return registry.log_and_register(
        "toy-model",
        model,
        params={"p": 1},
        metrics={"model_pr_auc": pr, "odd": float("nan")},
        fingerprint="abc123",
        input_example=X,
        test_metric="model_pr_auc",
        force=force,
        home=home,
    )


def test_champion_moves_only_when_better_or_forced(perfml_home, home, tiny_model):
    registry.clear_cache()
    model, X = tiny_model
    with pytest.raises(ModelNotFoundError):
        registry.load_model("toy-model", home=home)
    r1 = _log(model, X, 0.50, home)
    assert r1.promoted and r1.previous_champion is None
    r2 = _log(model, X, 0.40, home)
    assert not r2.promoted and r2.previous_champion == r1.version and r2.previous_metric == pytest.approx(0.5)
    r3 = _log(model, X, 0.50, home)
    assert not r3.promoted  # a tie is not better
    r4 = _log(model, X, 0.60, home)
    assert r4.promoted
    r5 = _log(model, X, 0.10, home, force=True)
    assert r5.promoted
    loaded = registry.load_model("toy-model", home=home)
    assert loaded.version == r5.version and loaded.features == ["a", "b", "c"]
    assert loaded.threshold == pytest.approx(0.7) and loaded.kind == "supervised"
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=0, atol=1e-12)
    assert registry.load_model("toy-model", version=r1.version, home=home).version == r1.version
    versions = registry.list_versions(home=home)
    assert versions["version"].tolist() == [5, 4, 3, 2, 1]
    assert versions.loc[versions["champion"], "version"].tolist() == [5]
    assert versions.set_index("version").loc[4, "model_pr_auc"] == pytest.approx(0.6)
    # the run carries its evidence
    run = registry.client(home=home).get_run(r4.run_id)
    assert run.data.params["data_fingerprint"] == "abc123"
    assert run.data.tags["perfml.kind"] == "supervised"
    art = perfml_home / "mlartifacts"
    features = next(art.rglob("features.json"))
    assert json.loads(features.read_text())["features"] == ["a", "b", "c"]
    assert any(p.name == "input_example.json" for p in art.rglob("*"))


def test_explicit_settings_choose_the_home(perfml_home, home, new_home, tiny_model):
    """A model registered under home A loads from A only - whatever the process-wide settings and
    MLflow's global URIs point at (here: the empty `perfml_home`)."""
    import mlflow

    from perfml.home import Home

    registry.clear_cache()
    model, X = tiny_model
    home_a, home_b = Home.at(new_home("a")), Home.at(new_home("b"))
    reg = registry.log_and_register(
        "toy-model",
        model,
        params={},
        metrics={"model_pr_auc": 0.5},
        fingerprint="abc",
        input_example=X,
        test_metric="model_pr_auc",
        home=home_a,
    )
    # point MLflow's globals away from A so loading cannot lean on them
    mlflow.set_tracking_uri(home.mlflow_uri)
    mlflow.set_registry_uri(home.mlflow_uri)

    loaded = registry.load_model("toy-model", home=home_a)
    assert loaded.version == reg.version
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=0, atol=1e-12)
    for other in (home_b, home):  # an empty home, and the process-wide one
        with pytest.raises(ModelNotFoundError):
            registry.load_model("toy-model", home=other)
    assert registry.list_versions(home=home_a)["version"].tolist() == [int(reg.version)]
    assert registry.list_versions(home=home_b).empty and registry.list_versions(home=home).empty

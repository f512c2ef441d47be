"""Two homes in one process: each trains, registers, lists and loads only its own models; separate stores."""

from __future__ import annotations

import mlflow
import pytest
import sqlalchemy as sa

from perfml.dataset import Dataset
from perfml.errors import ModelNotFoundError
from perfml.home import Home
from perfml.modeling import registry
from perfml.pipelines.run import train_pipeline
from perfml.services.ingest import import_dataset
from perfml.services.scoring import score_dataset
from perfml.store import table_counts


def test_two_homes_side_by_side(small_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("PERFML_HOME", raising=False)
    monkeypatch.chdir(tmp_path)  # a fallback to the default home would show up here, as ./models
    registry.clear_cache()
    a, b = Home.at(tmp_path / "a"), Home.at(tmp_path / "b")
    assert a.engine is not b.engine and a.mlflow_uri != b.mlflow_uri

    # stores: A gets the whole company, B only its employees
    import_dataset(home=a, dataset=small_dataset)
    import_dataset(home=b, dataset=Dataset({"employees": small_dataset.employees}))
    assert table_counts(a.engine)["orders"] == len(small_dataset.orders) > 0
    assert table_counts(b.engine)["orders"] == 0 and table_counts(b.engine)["employees"] == len(small_dataset.employees)

    # registries: A trains decline, B transfer-anomaly; each sees only its own model
    before = mlflow.get_tracking_uri()
    trained_a = train_pipeline("decline", small_dataset, home=a, report=False)
    trained_b = train_pipeline("transfer-anomaly", small_dataset, home=b, report=False)
    assert trained_a.promoted and trained_b.promoted and trained_a.version == trained_b.version == "1"
    assert mlflow.get_tracking_uri() == before  # a logged run leaves MLflow's globals as it found them
    assert registry.list_versions(home=a)["model"].tolist() == ["decline"]
    assert registry.list_versions(home=b)["model"].tolist() == ["transfer-anomaly"]
    assert registry.load_model("decline", home=a).version == "1"
    assert registry.load_model("transfer-anomaly", home=b).version == "1"
    with pytest.raises(ModelNotFoundError):
        registry.load_model("transfer-anomaly", home=a)
    with pytest.raises(ModelNotFoundError):
        registry.load_model("decline", home=b)

    # scoring through the service: A's champion answers in A, B has none and falls back to the rule
    scored_a, why_a = score_dataset(home=a, name="decline", dataset=small_dataset)
    scored_b, why_b = score_dataset(home=b, name="decline", dataset=small_dataset)
    assert why_a is None and set(scored_a["source"]) == {"model"}
    assert why_b is not None and why_b.startswith("never trained") and set(scored_b["source"]) == {"baseline"}

    # nothing went to a default home or the process environment
    assert not (tmp_path / "models").exists()
    with a.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM employees")).scalar_one() == len(small_dataset.employees)

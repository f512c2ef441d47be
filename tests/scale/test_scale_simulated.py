"""A company the simulator writes division by division is read by `--engine dask` as is (no conversion)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from perfml.cli import app
from perfml.scale import load_dataset, score, train
from perfml.scale.layout import read_layout

runner = CliRunner()
AS_OF = "2025-11-17"


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """`perfml simulate --scale small --times 2 --format partitioned-parquet`, 4 buckets per division. Read-only."""
    out = tmp_path_factory.mktemp("simulated") / "company"
    r = _run("simulate", "--out", out, "--scale", "small", "--times", 2, "--format", "partitioned-parquet", "--seed", 3)
    assert r.exit_code == 0, r.output
    return out


def test_a_simulated_company_trains_and_scores_on_dask_as_on_pandas(perfml_home, simulated, dask_client, tmp_path):
    from perfml.modeling import registry

    registry.clear_cache()
    layout = read_layout(simulated)
    assert layout["divisions"] == 2 and layout["buckets"] == 32
    assert layout["rows"] == load_dataset(simulated).rows()
    address = dask_client.scheduler.address
    r = _run("train", "decline", "--data", simulated, "--engine", "dask", "--scheduler", address, "--force")
    assert r.exit_code == 0, r.output
    assert "version 1" in r.output and "promoted to champion" in r.output
    assert not (perfml_home / "partitioned").exists()  # read in place, never converted

    on_dask, on_pandas = tmp_path / "dask.csv", tmp_path / "pandas.csv"
    for engine, out in (("dask", on_dask), ("pandas", on_pandas)):  # pandas: Dataset.load reads the folder too
        extra = ("--scheduler", address) if engine == "dask" else ()
        r = _run("score", "decline", "--data", simulated, "--out", out, "--as-of", AS_OF, "--engine", engine, *extra)
        assert r.exit_code == 0, r.output
    key = ["employee_id", "as_of"]
    dask_scores = pd.read_csv(on_dask).sort_values(key).reset_index(drop=True)
    pandas_scores = pd.read_csv(on_pandas).sort_values(key).reset_index(drop=True)
    # both divisions are scored: employees of division 1 carry its tag
    assert (pandas_scores["source"] == "model").all() and pandas_scores["employee_id"].str.startswith("E1-").sum() > 20
    pd.testing.assert_frame_equal(dask_scores, pandas_scores)


def test_the_api_trains_the_high_performer_model_on_a_simulated_company(simulated, dask_client):
    result = train("high-performer", simulated, client=dask_client, register=False)
    assert result.metrics["model_n"] > 20 and 0.5 < result.metrics["model_roc_auc"] <= 1.0
    scores = score("high-performer", simulated, client=dask_client, model=result.model, as_of=AS_OF)
    assert scores["employee_id"].str.startswith("E1-").any() and scores["employee_id"].str.match(r"E\d{4}$").any()
    assert (scores["source"] == "model").all()

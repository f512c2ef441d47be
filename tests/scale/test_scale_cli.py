"""`perfml train|score --engine dask`: on the session's cluster by address, the export converted once under the home."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from perfml.cli import app
from perfml.scale.layout import LAYOUT_FILE

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_and_score_on_a_cluster_by_address(perfml_home, small_dir, dask_client, tmp_path):
    from perfml.modeling import registry

    registry.clear_cache()
    address = dask_client.scheduler.address
    r = _run("train", "decline", "--data", small_dir, "--engine", "dask", "--scheduler", address, "--force")
    assert r.exit_code == 0, r.output
    assert "version 1" in r.output and "promoted to champion" in r.output
    caches = list((perfml_home / "partitioned").glob(f"*/{LAYOUT_FILE}"))
    assert len(caches) == 1  # converted once ...
    stamp = caches[0].stat().st_mtime_ns

    on_dask, on_pandas = tmp_path / "dask.csv", tmp_path / "pandas.csv"
    for engine, out in (("dask", on_dask), ("pandas", on_pandas)):
        extra = ("--scheduler", address) if engine == "dask" else ()
        r = _run(
            "score", "decline", "--data", small_dir, "--out", out, "--as-of", "2025-11-17", "--engine", engine, *extra
        )
        assert r.exit_code == 0, r.output
    assert caches[0].stat().st_mtime_ns == stamp  # ... and read again, not rewritten
    key = ["employee_id", "as_of"]
    dask_scores = pd.read_csv(on_dask).sort_values(key).reset_index(drop=True)
    pandas_scores = pd.read_csv(on_pandas).sort_values(key).reset_index(drop=True)
    assert (pandas_scores["source"] == "model").all() and len(pandas_scores) > 20
    pd.testing.assert_frame_equal(dask_scores, pandas_scores)


def test_a_scheduler_needs_the_dask_engine(perfml_home, small_dir, tmp_path):
    r = _run("score", "decline", "--data", small_dir, "--out", tmp_path / "x.csv", "--scheduler", "tcp://127.0.0.1:1")
    assert r.exit_code == 2 and "--engine dask" in r.output
    r = _run("score", "decline", "--data", small_dir, "--out", tmp_path / "x.csv", "--engine", "spark")
    assert r.exit_code == 2 and "pandas, dask" in r.output

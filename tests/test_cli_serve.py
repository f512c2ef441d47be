"""`perfml demo` prints the README's `mlflow ui` command for the default home."""

from __future__ import annotations

from perfml.cli.serve import _shown_uri


def test_mlflow_ui_command_is_relative_under_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _shown_uri(f"sqlite:///{tmp_path / 'models' / 'mlflow.db'}") == "sqlite:///models/mlflow.db"
    assert _shown_uri("sqlite:////elsewhere/mlflow.db") == "sqlite:////elsewhere/mlflow.db"
    assert _shown_uri("http://mlflow.internal:5000") == "http://mlflow.internal:5000"

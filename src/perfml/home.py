"""One perfml home: its settings, store engine, MLflow registry and artifact root, passed down explicitly.

A `Home` is built once at the edge - `perfml` commands (`Home.at(folder)` or, without `--home`,
from the environment) and the app factory (`api.main.create_app(home)`) - and handed to the
services, which hand its engine to the store and the home itself to the model registry. Nothing
below the services reads process-wide settings, so homes of different folders live side by side
in one process. Building one is cheap: the engine and the MLflow client are made on first use
(engines are cached per URL by `perfml.store.get_engine`).

    home = Home.at("models")
    import_dataset(dataset, home.engine)
    registry.load_model("decline", home=home)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy.engine import Engine

from perfml.config import Settings
from perfml.store import get_engine


@dataclass(frozen=True, eq=False)
class Home:
    """Settings, store engine, MLflow tracking/registry URI and artifact root of one perfml home."""

    settings: Settings

    @classmethod
    def at(cls, folder: str | Path, **settings) -> Home:
        """The home in `folder` (other settings as given, else their `PERFML_*` variables or defaults)."""
        return cls(Settings(home=Path(folder), **settings))

    @property
    def dir(self) -> Path:
        """The home folder, absolute (created on first use)."""
        return self.settings.home_dir

    @property
    def store_url(self) -> str:
        """SQLAlchemy URL of the store."""
        return self.settings.store

    @cached_property
    def engine(self) -> Engine:
        """The store's engine (one per URL in the process)."""
        return get_engine(self.store_url)

    @property
    def mlflow_uri(self) -> str:
        """MLflow tracking and registry URI."""
        return self.settings.mlflow_tracking_uri

    @property
    def artifacts_dir(self) -> Path:
        """Where this home's MLflow runs keep their artifacts."""
        return self.settings.artifacts_dir

    @cached_property
    def mlflow_client(self):
        """An `MlflowClient` on this home's tracking and registry store (MLflow's global URIs untouched)."""
        # Importing MLflow takes 1-2 s here (`python -X importtime`): commands that never need it skip it.
        from mlflow.tracking import MlflowClient

        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # read by MLflow itself, once per process
        return MlflowClient(tracking_uri=self.mlflow_uri, registry_uri=self.mlflow_uri)

    def __repr__(self) -> str:
        return f"Home({str(self.settings.home)!r})"


__all__ = ["Home"]

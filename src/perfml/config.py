"""One settings class for perfml; every value can be set by a `PERFML_*` environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where perfml keeps its state. Defaults are embedded: SQLite files under `home`."""

    model_config = SettingsConfigDict(env_prefix="PERFML_", env_file=".env", extra="ignore")

    home: Path = Field(Path("models"), description="Folder for the store, the MLflow tracking DB and artifacts.")
    store_url: str | None = Field(None, description="SQLAlchemy URL of the store; default sqlite:///<home>/perfml.db.")
    mlflow_uri: str | None = Field(None, description="MLflow tracking URI; default sqlite:///<home>/mlflow.db.")
    audit_retention_days: int = Field(180, ge=1, description="Audit log rows older than this are purged.")
    api_max_batch: int = Field(1000, ge=1, description="Largest batch one API request may score or ingest.")
    api_max_body_bytes: int = Field(10_000_000, ge=1024, description="Largest request body the API accepts.")
    session_seconds: int = Field(8 * 3600, ge=60, description="How long a page session lasts after sign-in (s).")
    snapshot_poll_seconds: float | None = Field(
        None,
        gt=0,
        description="How often (s) the service's store snapshot applies other processes' writes from the store's "
        "change feed; unset: only this process's writes (one worker). `perfml serve --workers N` sets 1.",
    )
    reason_keywords: Path | None = Field(
        None,
        description="YAML file of the company's ownership-change reason keywords (default: the shipped en/zh lists).",
    )
    handover_policy: Path | None = Field(
        None, description="YAML file of the company's designed hand-over flows (default: none declared)."
    )
    dask_scheduler: str | None = Field(
        None, description="Dask scheduler address (tcp://HOST:PORT) of `--engine dask`; none: a local cluster."
    )
    dask_workers: int = Field(2, ge=1, description="Worker processes of the local Dask cluster (1 thread each).")
    dask_worker_memory: str = Field("6GB", description="Memory limit of each local Dask worker (Dask's size text).")
    # Evidence a training run must show on its test side before it may become champion. With 5
    # positives among 30 rows a ROC-AUC still has a standard error near 0.1 (Hanley-McNeil): enough
    # to tell a useful model from a coin, not less. The medium simulated company's smallest test
    # side (high-performer: one hire cohort, 45 rows, 8 positives) passes.
    gate_min_test_rows: int = Field(30, ge=1, description="Labelled test rows a champion needs.")
    gate_min_test_positives: int = Field(5, ge=1, description="Positive labels on the test side a champion needs.")
    gate_min_test_units: int = Field(
        10, ge=1, description="Distinct subjects (employees) among the labelled test rows."
    )
    gate_min_data_months: int = Field(
        6, ge=1, description="Distinct calendar months with records in the pipeline's input tables."
    )

    @property
    def home_dir(self) -> Path:
        """The home folder, absolute and created on first use."""
        path = self.home.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def store(self) -> str:
        return self.store_url or f"sqlite:///{self.home_dir / 'perfml.db'}"

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.mlflow_uri or f"sqlite:///{self.home_dir / 'mlflow.db'}"

    @property
    def artifacts_dir(self) -> Path:
        return self.home_dir / "mlartifacts"


DEFAULTS = Settings.model_construct()
"""Every setting at its documented default, read from no environment or file (e.g. the evidence
gate of a training run that registers nothing and so has no home)."""


@lru_cache
def get_settings() -> Settings:
    """The settings the environment describes: how the edge (a `perfml` command without `--home`,
    the app factory's default) builds its `perfml.home.Home`. Nothing else reads them."""
    return Settings()

"""The service's long-lived state, built once by `create_app` and reached through `api.deps`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from api.metrics import ServiceMetrics
from perfml.audit_log import AuditBuffer
from perfml.config import Settings
from perfml.home import Home
from perfml.serving.champions import ServingModels
from perfml.serving.snapshot import DatasetCache


@dataclass
class ServiceContext:
    """One app's home (settings, store engine, registry), served models, store snapshot, audit writer and metrics."""

    home: Home
    models: ServingModels
    data: DatasetCache
    audit: AuditBuffer
    metrics: ServiceMetrics
    refresh_lock: threading.Lock = field(default_factory=threading.Lock)
    warm: threading.Event = field(default_factory=threading.Event)  # store snapshot and scoring frames built

    @property
    def settings(self) -> Settings:
        return self.home.settings

    @property
    def engine(self) -> Engine:
        return self.home.engine

    def store_ok(self) -> bool:
        """Whether the store answers a trivial query."""
        import sqlalchemy as sa

        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            return False

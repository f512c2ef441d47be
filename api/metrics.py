"""Prometheus metrics of one app instance (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,  # noqa: F401  (re-exported for /metrics)
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ServiceMetrics:
    """Request counts and latency per route, predictions per model, model and readiness gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "perfml_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "perfml_http_request_duration_seconds",
            "Time to answer a request (seconds).",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter("perfml_predictions", "Rows scored and explained, by model.", ["model"], registry=r)
        self.model_version = Gauge(
            "perfml_model_loaded", "1 for the model version being served.", ["model", "version"], registry=r
        )
        self.ready = Gauge("perfml_ready", "1 when every model is loaded and the store answers.", registry=r)
        self.audit_queue = Gauge("perfml_audit_backlog", "Audit entries waiting to be written.", registry=r)
        # Several workers answer on one port, each with its own registry: the pid says whose numbers these are.
        self.worker = Gauge("perfml_worker_pid", "Process id of the worker that answered.", registry=r)
        self.worker.set(os.getpid())

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def set_models(self, status: dict[str, dict]) -> None:
        self.model_version.clear()
        for name, s in status.items():
            if s.get("version"):
                self.model_version.labels(name, str(s["version"])).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)

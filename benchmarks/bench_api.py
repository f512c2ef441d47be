"""Benchmark the HTTP fast path: uvicorn on loopback in a subprocess, an httpx keep-alive client here.

Measures:
- p50 / p99 latency of ONE explained score (`POST /v1/scores/transfer-anomaly`, one feature row,
  top-3 factors with reasons), over the wire, end to end;
- rows per second of a 1,000-row explained batch;
- the ratio of that throughput to raw in-process `booster.predict(X, pred_contrib=True)` on the
  same rows (targets: p50 <= 5 ms, ratio >= 0.70).
Rows are real feature rows of the simulated company (tiled to 1,000 when there are fewer).

    python benchmarks/bench_api.py [--quick] [--home DIR]

Without `--home` it builds a throw-away home: simulate (small with --quick, else medium), import,
train the transfer-anomaly model. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "transfer-anomaly"
BATCH = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(home: Path, port: int) -> subprocess.Popen:
    """uvicorn serving the app factory over `home` on 127.0.0.1:`port`, in a subprocess."""
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PERFML_HOME": str(home)})


def _build_home(home: Path, scale: str) -> Path:
    """Simulate, import and train the benchmarked model into `home`; return the dataset directory."""
    from perfml.dataset import Dataset
    from perfml.home import Home
    from perfml.services import models
    from perfml.services.ingest import import_dataset
    from perfml.simulate import simulate

    data = home / "data"
    simulate(data, seed=1, scale=scale)
    ds = Dataset.load(data)
    where = Home.at(home)
    import_dataset(home=where, dataset=ds)
    models.train(home=where, name=MODEL, dataset=ds)
    return data


def _rows(home: Path, data: Path | None, features: list[str]) -> list[dict]:
    import numpy as np

    from perfml.dataset import Dataset
    from perfml.home import Home
    from perfml.pipelines import get_pipeline
    from perfml.store import read_dataset

    ds = read_dataset(Home.at(home).engine) if data is None else Dataset.load(data)
    frame = get_pipeline(MODEL).build_features(ds).reindex(columns=features).astype("float64")
    M = np.resize(frame.to_numpy(), (BATCH, len(features)))
    return [{f: (None if np.isnan(v) else float(v)) for f, v in zip(features, row, strict=True)} for row in M]


def _wait(client, base: str, headers: dict, timeout: float = 300.0) -> dict:
    """The benchmarked model's status, once it is loaded and the server has finished warming up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ready = client.get(f"{base}/readyz").json()
            status = {m["name"]: m for m in ready["models"]}[MODEL]
            if status["loaded"] and ready["warm"]:
                return status
        except Exception:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the server did not load {MODEL} and warm up within {timeout:.0f} s")


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: small data, fewer requests.")
    parser.add_argument("--home", type=Path, help="An existing perfml home with a trained transfer-anomaly model.")
    args = parser.parse_args()
    singles, batches = (200, 7) if args.quick else (2000, 21)

    tmp = None
    if args.home is None:
        tmp = tempfile.TemporaryDirectory(prefix="perfml-bench-api-")
        home = Path(tmp.name) / "home"
    else:
        home = args.home
    os.environ["PERFML_HOME"] = str(home)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    t0 = time.perf_counter()
    data = _build_home(home, "small" if args.quick else "medium") if args.home is None else None
    build_s = time.perf_counter() - t0

    import httpx
    import pandas as pd

    from perfml.home import Home
    from perfml.keys import create_key
    from perfml.modeling.registry import load_model

    where = Home.at(home)
    key = create_key(role="hr_system", label="bench_api", created_by="bench", engine=where.engine).key
    headers = {"Authorization": f"Bearer {key}"}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(home, port)
    try:
        with httpx.Client(timeout=60.0) as client:
            info = _wait(client, base, headers)
            model = load_model(MODEL, home=where)
            rows = _rows(home, data, model.features)
            X = model.matrix(pd.DataFrame(rows))
            url = f"{base}/v1/scores/{MODEL}"

            # Bodies are encoded before the clock starts and responses are not decoded: the client's
            # JSON work is not the service's. Single rows as objects, the batch column-wise.
            json_headers = {**headers, "Content-Type": "application/json"}
            singles_body = [json.dumps({"rows": [rows[i % BATCH]]}).encode() for i in range(max(singles, 30))]
            batch_body = json.dumps(
                {"columns": model.features, "data": [[r[f] for f in model.features] for r in rows]}
            ).encode()
            for i in range(30):  # warm-up: connection, caches, allocator
                client.post(url, content=singles_body[i], headers=json_headers).raise_for_status()
            floor = []  # the transport alone: an unauthenticated trivial route over the same connection
            for _ in range(singles):
                t = time.perf_counter()
                client.get(f"{base}/healthz").raise_for_status()
                floor.append(time.perf_counter() - t)
            lat = []
            for i in range(singles):
                t = time.perf_counter()
                r = client.post(url, content=singles_body[i], headers=json_headers)
                lat.append(time.perf_counter() - t)
                r.raise_for_status()
            assert len(r.json()["results"][0]["factors"]) == 3
            r = client.post(url, content=batch_body, headers=json_headers)
            r.raise_for_status()
            assert len(r.json()["results"]) == BATCH
            model.booster.predict(X, pred_contrib=True)
            # Alternate the two measurements so that a change in the host's load hits both alike.
            batch_s, inproc = [], []
            for _ in range(batches):
                t = time.perf_counter()
                r = client.post(url, content=batch_body, headers=json_headers)
                batch_s.append(time.perf_counter() - t)
                r.raise_for_status()
                t = time.perf_counter()
                model.booster.predict(X, pred_contrib=True)
                inproc.append(time.perf_counter() - t)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        if tmp is not None:
            tmp.cleanup()

    http_rps = BATCH / statistics.median(batch_s)
    raw_rps = BATCH / statistics.median(inproc)
    out = {
        "benchmark": "api",
        "quick": args.quick,
        "model": MODEL,
        "version": info.get("version"),
        "features": len(model.features),
        "trees": model.booster.num_trees(),
        "single_explained_score": {
            "requests": singles,
            "p50_ms": round(1000 * _pct(lat, 0.50), 3),
            "p99_ms": round(1000 * _pct(lat, 0.99), 3),
            "mean_ms": round(1000 * statistics.fmean(lat), 3),
            "healthz_p50_ms": round(1000 * _pct(floor, 0.50), 3),
        },
        "batch_explained": {
            "rows": BATCH,
            "requests": batches,
            "median_s": round(statistics.median(batch_s), 4),
            "rows_per_s": round(http_rps, 1),
            "request_bytes": len(batch_body),
            "response_bytes": len(r.content),
        },
        "in_process_pred_contrib": {"median_s": round(statistics.median(inproc), 4), "rows_per_s": round(raw_rps, 1)},
        "ratio_http_to_pred_contrib": round(http_rps / raw_rps, 3),
        "targets": {"p50_ms": 5.0, "ratio": 0.70},
        "host": {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)},
        "build_home_s": round(build_s, 1),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

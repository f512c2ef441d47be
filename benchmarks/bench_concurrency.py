"""Benchmark reads during writes: ingest batches from several writers while readers list and open employees.

Runs uvicorn on loopback in a subprocess over a COPY of a perfml home (the writes never touch the
original) and measures, with httpx clients in threads here:
- read latency with no writers (`GET /v1/employees` and `GET /v1/employees/{id}`, alternating);
- the same reads while `--writers` threads each post `--batches` ingest batches of 1,000 records
  (50 new customers, 100 orders for them, 850 activities of existing employees);
- every non-2xx answer, by status (targets: 0 errors, ingest p50 <= 1 s, read p50 under writers at
  most 2x the read p50 without).

    python benchmarks/bench_concurrency.py [--quick] [--home DIR]

Without `--home` it builds a throw-away home as `bench_api.py` does: simulate (small with
--quick, else medium), import, train the transfer-anomaly model. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

# The scoring benchmark's home and helpers (benchmarks/ is on sys.path when a benchmark runs).
from bench_api import _build_home, _free_port, _pct, _serve

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000
NEW_CUSTOMERS, ORDERS = 50, 100  # per batch; the rest are activities


def _copy_home(source: Path, target: Path) -> None:
    """The store and the model registry of `source` (simulated data folders are left behind)."""
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.is_dir() and item.name.startswith(("demo-data", "data")):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, target / item.name)


def _batch(writer: int, n: int, employees: list[str], day: str) -> dict:
    """1,000 new records: customers, their orders (by existing employees) and activities."""
    tag = f"bench-{writer}-{n}"
    customers = [{"customer_id": f"C-{tag}-{i}", "created_at": f"{day}T08:00:00"} for i in range(NEW_CUSTOMERS)]
    orders = [
        {
            "order_id": f"O-{tag}-{i}",
            "customer_id": f"C-{tag}-{i % NEW_CUSTOMERS}",
            "employee_id": employees[i % len(employees)],
            "closed_at": f"{day}T15:00:00",
            "amount": 100 + i,
        }
        for i in range(ORDERS)
    ]
    activities = [
        {
            "activity_id": f"A-{tag}-{i}",
            "employee_id": employees[i % len(employees)],
            "customer_id": f"C-{tag}-{i % NEW_CUSTOMERS}",
            "type": "call",
            "occurred_at": f"{day}T10:00:00",
            "duration_minutes": 5,
        }
        for i in range(BATCH - NEW_CUSTOMERS - ORDERS)
    ]
    return {"records": {"customers": customers, "orders": orders, "activities": activities}}


def _ms(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(1000 * _pct(values, 0.5), 1),
        "p90_ms": round(1000 * _pct(values, 0.9), 1),
        "max_ms": round(1000 * max(values), 1),
    }


class _Readers:
    """Reader threads alternating the employee list and one employee's page until stopped."""

    def __init__(self, base: str, headers: dict, ids: list[str], n: int):
        self.base, self.headers, self.ids, self.n = base, headers, ids, n
        self.latency: list[float] = []
        self.errors: Counter = Counter()
        self.samples: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _run(self, k: int) -> None:
        import httpx

        with httpx.Client(timeout=120.0) as client:
            i = k
            while not self._stop.is_set():
                url = (
                    f"{self.base}/v1/employees?limit=50"
                    if i % 2 == 0
                    else f"{self.base}/v1/employees/{self.ids[i % len(self.ids)]}"
                )
                t = time.perf_counter()
                r = client.get(url, headers=self.headers)
                self.latency.append(time.perf_counter() - t)
                if r.status_code >= 300:
                    self.errors[f"GET {r.status_code}"] += 1
                    if len(self.samples) < 5:
                        self.samples.append(r.text[:300])
                i += 1

    def run_for(self, seconds: float | None = None, until: threading.Event | None = None) -> None:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._run, args=(k,)) for k in range(self.n)]
        for t in self._threads:
            t.start()
        if until is not None:
            until.wait()
        else:
            time.sleep(seconds or 0)
        self._stop.set()
        for t in self._threads:
            t.join()


def _writers(
    base: str,
    headers: dict,
    employees: list[str],
    day: str,
    writers: int,
    batches: int,
    errors: Counter,
    samples: list[str],
) -> list[float]:
    import httpx

    latency: list[float] = []

    def run(w: int) -> None:
        bodies = [json.dumps(_batch(w, n, employees, day)).encode() for n in range(batches)]
        with httpx.Client(timeout=300.0) as client:
            for body in bodies:
                t = time.perf_counter()
                r = client.post(
                    f"{base}/v1/ingest", content=body, headers={**headers, "Content-Type": "application/json"}
                )
                latency.append(time.perf_counter() - t)
                if r.status_code >= 300:
                    errors[f"POST {r.status_code}"] += 1
                    if len(samples) < 5:
                        samples.append(r.text[:300])

    threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: small company, short phases.")
    parser.add_argument("--home", type=Path, help="An existing perfml home (copied; the copy is written to).")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--batches", type=int, default=None, help="Batches per writer (default 3, quick 2).")
    args = parser.parse_args()
    batches = args.batches or (2 if args.quick else 3)
    baseline_s = 5.0 if args.quick else 15.0

    tmp = tempfile.TemporaryDirectory(prefix="perfml-bench-concurrency-")
    home = Path(tmp.name) / "home"
    os.environ["PERFML_HOME"] = str(home)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    t0 = time.perf_counter()
    if args.home is None:
        _build_home(home, "small" if args.quick else "medium")
    else:
        _copy_home(args.home, home)
    build_s = time.perf_counter() - t0

    import httpx
    import pandas as pd

    from perfml.home import Home
    from perfml.keys import create_key
    from perfml.store import read_dataset

    engine = Home.at(home).engine
    ds = read_dataset(engine)
    employees = sorted(ds.employees["employee_id"].astype(str))
    _, end = ds.date_range()
    day = (end.normalize() - pd.Timedelta(days=3)).strftime("%Y-%m-%d")  # inside the last month
    writer_h = {"Authorization": f"Bearer {create_key(role='hr_system', label='bench_concurrency', engine=engine).key}"}
    reader_h = {"Authorization": f"Bearer {create_key(role='hr_admin', label='bench_concurrency', engine=engine).key}"}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(home, port)
    try:
        with httpx.Client(timeout=300.0) as client:
            deadline = time.monotonic() + 300
            while True:
                try:
                    if client.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start within 300 s")
                time.sleep(0.2)
            t = time.perf_counter()
            client.get(f"{base}/v1/employees/{employees[0]}", headers=reader_h).raise_for_status()  # first snapshot
            first_read_s = time.perf_counter() - t
        quiet = _Readers(base, reader_h, employees, args.readers)
        quiet.run_for(baseline_s)
        busy = _Readers(base, reader_h, employees, args.readers)
        done = threading.Event()
        write_errors: Counter = Counter()
        write_samples: list[str] = []
        ingest: list[float] = []

        def write() -> None:
            ingest.extend(_writers(base, writer_h, employees, day, args.writers, batches, write_errors, write_samples))
            done.set()

        t = time.perf_counter()
        w = threading.Thread(target=write)
        w.start()
        busy.run_for(until=done)
        w.join()
        busy_s = time.perf_counter() - t
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        tmp.cleanup()

    errors = quiet.errors + busy.errors + write_errors
    quiet_p50 = _pct(quiet.latency, 0.5) if quiet.latency else None
    busy_p50 = _pct(busy.latency, 0.5) if busy.latency else None
    out = {
        "benchmark": "concurrency",
        "quick": args.quick,
        "home": str(args.home) if args.home else "built",
        "store_rows": ds.rows(),
        "writers": args.writers,
        "readers": args.readers,
        "batches_per_writer": batches,
        "records_per_batch": BATCH,
        "first_read_s": round(first_read_s, 2),
        "reads_without_writers": _ms(quiet.latency),
        "reads_with_writers": _ms(busy.latency),
        "ingest": _ms(ingest),
        "writing_phase_s": round(busy_s, 1),
        "read_p50_ratio": round(busy_p50 / quiet_p50, 2) if quiet_p50 and busy_p50 else None,
        "errors": dict(errors),
        "error_samples": (busy.samples + quiet.samples + write_samples)[:5],
        "targets": {"errors": 0, "ingest_p50_ms": 1000, "read_p50_ratio": 2.0},
        "host": {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)},
        "build_home_s": round(build_s, 1),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

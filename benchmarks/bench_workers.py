"""Benchmark several serving workers: explained single scores per second with 1 and 2 workers on PostgreSQL.

`perfml serve --workers N` on loopback over a throw-away PostgreSQL cluster (the tests' helper); a few
client threads, each with its own keep-alive connection (the kernel hands connections to the workers),
post ONE feature row to `POST /v1/scores/transfer-anomaly` (top-3 factors) for a fixed time. Both servers
run side by side and the runs alternate (1, 2, 1, 2, ...), so a busy neighbour on a shared machine
weighs on both alike. Reports every run's requests per second and p50 / p95 latency, and their medians
per worker count.

    python benchmarks/bench_workers.py [--quick] [--clients N] [--repeats N]

Builds a throw-away home (simulate small with --quick, else medium; import into PostgreSQL; train the
transfer-anomaly model). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_api import MODEL, _build_home, _free_port, _pct, _rows

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the throw-away PostgreSQL cluster of the tests

from helpers.postgres import PostgresServer  # noqa: E402

WORKER_COUNTS = (1, 2)


def _serve(home: Path, port: int, workers: int) -> subprocess.Popen:
    command = ["perfml", "serve", "--workers", str(workers), "--port", str(port), "--home", str(home)]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _ready_workers(base: str, workers: int, timeout: float = 300.0) -> set[int]:
    """The pids of the workers once `workers` of them answered /readyz 200 (warm), over new connections."""
    import httpx

    pids: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(pids) < workers and time.monotonic() < deadline:
        try:
            with httpx.Client(timeout=30) as client:
                ready = client.get(f"{base}/readyz")
                if ready.status_code == 200 and ready.json()["warm"]:
                    metrics = client.get(f"{base}/metrics").text
                    line = next(x for x in metrics.splitlines() if x.startswith("perfml_worker_pid "))
                    pids.add(int(float(line.split()[1])))
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    if len(pids) < workers:
        raise RuntimeError(f"only {len(pids)} of {workers} workers became ready within {timeout:.0f} s")
    return pids


def _load(url: str, headers: dict, bodies: list[bytes], clients: int, seconds: float) -> dict:
    """`clients` threads posting single-row bodies for `seconds`; requests/s and latency percentiles."""
    import httpx

    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        with httpx.Client(timeout=60) as client:
            for j in range(20):  # warm-up of this connection
                client.post(url, content=bodies[j % len(bodies)], headers=headers).raise_for_status()
            j = 0
            while time.monotonic() < stop:
                t = time.perf_counter()
                client.post(url, content=bodies[(i + j) % len(bodies)], headers=headers).raise_for_status()
                latencies[i].append(time.perf_counter() - t)
                j += 1

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    lat = [x for per in latencies for x in per]
    return {
        "requests": len(lat),
        "requests_per_s": round(len(lat) / elapsed, 1),
        "p50_ms": round(1000 * _pct(lat, 0.50), 2),
        "p95_ms": round(1000 * _pct(lat, 0.95), 2),
    }


def _medians(runs: list[dict]) -> dict:
    """The median of each measure over the runs of one worker count (the headline numbers)."""
    return {k: statistics.median(run[k] for run in runs) for k in ("requests_per_s", "p50_ms", "p95_ms")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: small data, 3 s per load run.")
    parser.add_argument("--clients", type=int, default=4, help="Concurrent client connections.")
    parser.add_argument("--repeats", type=int, default=3, help="Load runs per worker count (alternating).")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else 15.0

    server = PostgresServer.start()
    tmp = tempfile.TemporaryDirectory(prefix="perfml-bench-workers-")
    procs: list[subprocess.Popen] = []
    try:
        home = Path(tmp.name) / "home"
        os.environ["PERFML_STORE_URL"] = server.create_database("bench")
        os.environ["PERFML_HOME"] = str(home)
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        data = _build_home(home, "small" if args.quick else "medium")

        from perfml.home import Home
        from perfml.keys import create_key
        from perfml.modeling.registry import load_model

        where = Home.at(home)
        key = create_key(role="hr_system", label="bench_workers", created_by="bench", engine=where.engine).key
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        rows = _rows(home, data, load_model(MODEL, home=where).features)
        bodies = [json.dumps({"rows": [row]}).encode() for row in rows[:200]]
        bases = {}
        for workers in WORKER_COUNTS:
            port = _free_port()
            bases[workers] = f"http://127.0.0.1:{port}"
            procs.append(_serve(home, port, workers))
        pids = {workers: len(_ready_workers(base, workers)) for workers, base in bases.items()}
        runs: dict[int, list[dict]] = {workers: [] for workers in WORKER_COUNTS}
        for _ in range(args.repeats):
            for workers, base in bases.items():
                runs[workers].append(_load(f"{base}/v1/scores/{MODEL}", headers, bodies, args.clients, seconds))
    finally:
        for proc in procs:  # the supervisor stops its workers on SIGTERM; a kill would leave them behind
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.stop()
        tmp.cleanup()

    out = {
        "benchmark": "workers",
        "quick": args.quick,
        "model": MODEL,
        "cores": os.cpu_count(),
        "clients": args.clients,
        "seconds_per_run": seconds,
        "repeats": args.repeats,
        "explained_single_scores": {str(w): {"pids": pids[w], **_medians(runs[w]), "runs": runs[w]} for w in runs},
        "speedup_2_workers": round(_medians(runs[2])["requests_per_s"] / _medians(runs[1])["requests_per_s"], 2),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

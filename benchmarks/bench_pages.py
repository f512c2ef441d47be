"""Server time of the pages: the alert detail page and an inbox page of 200 alerts (JSON out).

    python benchmarks/bench_pages.py [--quick] [--home DIR]

Without `--home` it builds a throw-away demo home (`perfml demo --no-serve`, small with --quick,
else medium). Requests go through the ASGI app in process (no network), signed in as hr_admin;
each page is requested once to warm the snapshot, then timed. Targets: detail p50 <= 20 ms,
inbox (200 rows) p50 <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS_MS = {"alert_detail": 20.0, "inbox_200": 50.0}


def _build_home(home: Path, scale: str) -> None:
    env = {**os.environ, "PERFML_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    code = "from perfml.cli import app; app()"
    subprocess.run(
        [sys.executable, "-c", code, "demo", "--no-serve", "--scale", scale, "--home", str(home)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def _timed(client, path: str, n: int) -> list[float]:
    client.get(path)  # warm
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(path)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    return out


def run(home: Path, n: int) -> dict:
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from api.main import create_app
    from perfml.home import Home
    from perfml.keys import create_key
    from perfml.store import alerts

    where = Home.at(home)
    app = create_app(where, background=False, watch_interval=None, warm=False)
    key = create_key(role="hr_admin", label="bench_pages", engine=where.engine).key
    with TestClient(app) as client:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/sign-in").text).group(1)
        client.post("/ui/sign-in", data={"csrf": token, "key": key})
        with where.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(alerts)).scalar_one()
            transfer = conn.execute(
                sa.select(alerts.c.id).where(alerts.c.type == "transfer_anomaly").order_by(alerts.c.id).limit(1)
            ).scalar()
        detail = _timed(client, f"/ui/alerts/{transfer}", n)
        inbox = _timed(client, "/ui/alerts?per_page=200", n)
        inbox_score = _timed(client, "/ui/alerts?per_page=200&sort=score", n)
    out = {"home": str(home), "alerts_in_store": int(total), "requests_each": n}
    for name, times in (("alert_detail", detail), ("inbox_200", inbox), ("inbox_200_by_score", inbox_score)):
        p50 = statistics.median(times)
        p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
        target = TARGETS_MS.get(name, TARGETS_MS["inbox_200"])
        out[name] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "target_p50_ms": target, "ok": p50 <= target}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small demo home, fewer requests")
    parser.add_argument("--home", type=Path, help="an existing demo home (default: build one)")
    args = parser.parse_args()
    n = 20 if args.quick else 100
    if args.home:
        result = run(args.home, n)
    else:
        with tempfile.TemporaryDirectory(prefix="perfml-bench-pages-") as tmp:
            home = Path(tmp) / "home"
            _build_home(home, "small" if args.quick else "medium")
            result = run(home, n)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

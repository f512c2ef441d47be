"""Scale benchmark: write 1x, 4x, 16x `large` as partitioned Parquet, then features + training of the
three models with pandas (until it no longer fits) and with Dask. Prints one JSON object.

Every step runs in its own subprocess, so its peak resident memory is its own: the writer, each
pandas pipeline (load + features + fit), and the Dask steps (peak per worker, read from the workers).
A pandas step whose memory passes `--ceiling-gb` is stopped and reported "did not fit", and the
pandas path is not tried at larger scales.

    python benchmarks/bench_scale.py                  # 1x, 4x, 16x large (hours on 2 cores)
    python benchmarks/bench_scale.py --times 1,4      # a subset
    python benchmarks/bench_scale.py --quick          # a tiny company at 1x and 2x, for CI
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PIPELINES = ("transfer-anomaly", "decline", "high-performer")
DID_NOT_FIT = "did not fit"
NO_DASK = "dask engine not available"


def main() -> None:
    args = _parse()
    if args.step:
        print(json.dumps(_run_step(args)))
        return
    size = {"scale": "small", "teams": 2} if args.quick else {"scale": "large"}
    times = [1, 2] if args.quick else [int(t) for t in args.times.split(",")]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-scale-"))
    results, pandas_fits = [], True
    for t in times:
        folder = work / f"x{t}"
        shutil.rmtree(folder, ignore_errors=True)
        write = _step(["write", str(folder), json.dumps({**size, "times": t})], args.ceiling_gb)
        entry: dict = {"times": t, "write": write, "pandas": {}, "dask": {}}
        if write.get("status") == "ok":
            entry["parquet_mb"] = round(_size_mb(folder), 1)
            for name in PIPELINES:
                if pandas_fits:
                    entry["pandas"][name] = _step(["pandas", str(folder), name], args.ceiling_gb)
                    pandas_fits = entry["pandas"][name].get("status") != DID_NOT_FIT
                else:
                    entry["pandas"][name] = {"status": "not run: did not fit at a smaller scale"}
            entry["dask"] = _step(["dask", str(folder), json.dumps({"workers": args.workers})], None)
        results.append(entry)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps({"machine": _machine(), "division": size, "ceiling_gb": args.ceiling_gb, "scales": results}))


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tiny company at 1x and 2x (CI)")
    parser.add_argument("--times", default="1,4,16", help="multiples of `large`, comma separated")
    parser.add_argument("--ceiling-gb", type=float, default=20.0, help="stop a pandas step past this RSS (GB)")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (1 thread each)")
    parser.add_argument("--workdir", help="where to write the companies (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the written companies")
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)  # internal: one measured step
    return parser.parse_args()


# --- the parent: one subprocess per step, watched for memory ----------------------------------


def _step(argv: list[str], ceiling_gb: float | None) -> dict:
    """Run one step in a subprocess; its JSON result, or 'did not fit' when its RSS passes the ceiling."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--step", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stopped = threading.Event()
    if ceiling_gb is not None:
        threading.Thread(target=_watch, args=(proc, ceiling_gb * 1024**3, stopped), daemon=True).start()
    out, err = proc.communicate()
    if stopped.is_set():
        result = {"status": DID_NOT_FIT, "ceiling_gb": ceiling_gb}
    elif proc.returncode != 0:
        result = {"status": "failed", "error": err.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
    else:
        result = json.loads(out.strip().splitlines()[-1])
    print(json.dumps({"step": argv[:1] + argv[2:], **result}), file=sys.stderr, flush=True)  # progress of long runs
    return result


def _watch(proc: subprocess.Popen, ceiling_bytes: float, stopped: threading.Event) -> None:
    """Kill `proc` once its resident memory passes the ceiling (polled twice a second from /proc)."""
    while proc.poll() is None:
        if _rss_bytes(proc.pid) > ceiling_bytes:
            stopped.set()
            proc.kill()
            return
        time.sleep(0.5)


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def _machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def _peak_mb() -> float:
    """Peak resident memory of this process (MB; ru_maxrss is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- the steps (each in its own process) -----------------------------------------------------


def _run_step(args: argparse.Namespace) -> dict:
    kind, folder, *rest = args.step
    if kind == "write":
        return _write(Path(folder), json.loads(rest[0]))
    if kind == "pandas":
        return _pandas(Path(folder), rest[0])
    return _dask(Path(folder), json.loads(rest[0]))


def _write(folder: Path, size: dict) -> dict:
    from perfml.simulate.partitioned import write_partitioned

    start = time.perf_counter()
    summary = write_partitioned(folder, seed=0, **size)
    seconds = time.perf_counter() - start
    rows = summary["rows"]
    return {
        "status": "ok",
        "seconds": round(seconds, 2),
        "rows": rows,
        "activities_per_s": round(rows["activities"] / seconds),
        "peak_mb": _peak_mb(),
    }


def _pandas(folder: Path, name: str) -> dict:
    from perfml.dataset import Dataset
    from perfml.errors import PerfmlError
    from perfml.pipelines.run import train_pipeline

    start = time.perf_counter()
    dataset = Dataset.load(folder)
    load_s = time.perf_counter() - start
    try:
        result = train_pipeline(name, dataset, register=False, report=False)
    except PerfmlError as exc:  # too little data (tiny companies): say so instead of a number
        return {"status": "cannot train", "error": str(exc)[:300], "peak_mb": _peak_mb()}
    seconds = time.perf_counter() - start
    activities = len(dataset.activities)
    return {
        "status": "ok",
        "seconds": round(seconds, 2),
        "load_s": round(load_s, 2),
        "features_s": result.seconds.get("features"),
        "fit_s": result.seconds.get("fit"),
        "activities_per_s": round(activities / seconds),
        "peak_mb": _peak_mb(),
        "test_metrics": {k: round(v, 4) for k, v in result.metrics.items() if k.startswith("model_")},
    }


def _dask(folder: Path, options: dict) -> dict:
    try:
        from perfml import scale  # the Dask engine: features(...) and train(...) over a partitioned folder
    except ImportError:
        return {"status": NO_DASK}
    if not (hasattr(scale, "features") and hasattr(scale, "train")):
        return {"status": NO_DASK}
    from dask.distributed import Client, LocalCluster

    from perfml.simulate.partitioned import read_layout

    activities = read_layout(folder)["rows"]["activities"]
    out: dict = {"status": "ok", "workers": options["workers"], "pipelines": {}}
    with LocalCluster(n_workers=options["workers"], threads_per_worker=1, memory_limit="6GB") as cluster:
        with Client(cluster) as client:
            for name in PIPELINES:
                start = time.perf_counter()
                features = scale.features(folder, name, client=client)
                features_s = time.perf_counter() - start
                scale.train(folder, name, client=client, features=features)
                seconds = time.perf_counter() - start
                out["pipelines"][name] = {
                    "seconds": round(seconds, 2),
                    "features_s": round(features_s, 2),
                    "activities_per_s": round(activities / seconds),
                }
            peaks = client.run(_peak_mb)  # each worker process: its own peak since it started
    out["peak_mb_per_worker"] = sorted(peaks.values())
    out["client_peak_mb"] = _peak_mb()
    return out


if __name__ == "__main__":
    main()

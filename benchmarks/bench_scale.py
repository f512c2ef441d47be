"""Scale benchmark: write 1x, 4x, 16x `large` as partitioned Parquet, then features + training of the
three models with pandas (until it no longer fits) and with Dask. Prints one JSON object.

Every step runs in its own subprocess, so its peak resident memory is its own: the writer, each
pandas pipeline (load + features + fit) and each Dask pipeline (training: features and boosting on the
cluster, on a fresh local cluster; peak per worker read from the workers, and the client's, which holds
the collected feature frame with its labels and the company's outline: small tables, month digests).
A pandas step whose memory passes `--ceiling-gb` is stopped and reported "did not fit", and the pandas
path is not tried at larger scales. Each step's JSON is appended to `--steps` as it ends, so a cut run
keeps what it measured.

    python benchmarks/bench_scale.py                  # 1x, 4x, 16x large (hours on 2 cores)
    python benchmarks/bench_scale.py --times 1,4      # a subset
    python benchmarks/bench_scale.py --quick          # a tiny company at 1x and 2x (well under a minute)
    python benchmarks/bench_scale.py --times 4 --engines dask --workdir DIR --reuse --keep   # DIR/x4 already written
    python benchmarks/bench_scale.py --times 16 --engines dask --pipelines decline,high-performer ...  # some models
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

from perfml.scale.layout import is_partitioned, read_layout

PIPELINES = ("transfer-anomaly", "decline", "high-performer")
DID_NOT_FIT = "did not fit"
TIMED_OUT = "timed out"


def main() -> None:
    args = _parse()
    if args.step:
        print(json.dumps(_run_step(args)))
        return
    size = {"scale": "small", "teams": 2, "months": 8, "buckets": 4} if args.quick else {"scale": "large"}
    times = [1, 2] if args.quick else [int(t) for t in args.times.split(",")]
    engines = args.engines.split(",")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-scale-"))
    results, pandas_fits = [], "pandas" in engines
    for t in times:
        folder = work / f"x{t}"
        if args.reuse and is_partitioned(folder):
            write = {"status": "ok", "reused": True, "rows": read_layout(folder).get("rows")}
        else:
            shutil.rmtree(folder, ignore_errors=True)
            write = _step(["write", str(folder), json.dumps({**size, "times": t})], args, t, ceiling_gb=args.ceiling_gb)
        entry: dict = {"times": t, "write": write, "pandas": {}, "dask": {}}
        if write.get("status") == "ok":
            entry["parquet_mb"] = round(_size_mb(folder), 1)
            # one process (pandas) or fresh cluster (Dask) per pipeline gives each its own peak memory;
            # --quick shares one per engine (their start dominates a tiny company)
            pipelines = tuple(args.pipelines.split(","))
            groups = [pipelines] if args.quick else [(name,) for name in pipelines]
            for names in groups if "pandas" in engines else []:
                if not pandas_fits:
                    entry["pandas"].update(dict.fromkeys(names, {"status": "not run: did not fit at a smaller scale"}))
                    continue
                step = _step(["pandas", str(folder), ",".join(names)], args, t, ceiling_gb=args.ceiling_gb)
                entry["pandas"].update(step.pop("pipelines", None) or dict.fromkeys(names, step))
                pandas_fits = step.get("status") != DID_NOT_FIT
            options = json.dumps({"workers": args.workers, "worker_memory": args.worker_memory})
            for names in groups if "dask" in engines else []:
                step = _step(["dask", str(folder), ",".join(names), options], args, t, ceiling_gb=args.ceiling_gb)
                entry["dask"].update(step.pop("pipelines", None) or dict.fromkeys(names, step))
        results.append(entry)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps({"machine": _machine(), "division": size, "ceiling_gb": args.ceiling_gb, "scales": results}))


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tiny company at 1x and 2x (CI)")
    parser.add_argument("--times", default="1,4,16", help="multiples of `large`, comma separated")
    parser.add_argument("--engines", default="pandas,dask", help="pandas, dask or both (comma separated)")
    parser.add_argument("--pipelines", default=",".join(PIPELINES), help="the models to train (comma separated)")
    parser.add_argument("--ceiling-gb", type=float, default=12.0, help="stop a pandas or write step past this RSS (GB)")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (1 thread each)")
    parser.add_argument("--worker-memory", default="6GB", help="Dask memory limit per worker")
    parser.add_argument("--step-timeout", type=float, help="stop a step after this many seconds")
    parser.add_argument("--steps", help="append each step's JSON to this file as it ends (JSON lines)")
    parser.add_argument("--workdir", help="where to write the companies (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the written companies")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure a company already in --workdir (x<N>/, e.g. written by perfml simulate)",
    )
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)  # internal: one measured step
    return parser.parse_args()


# --- the parent: one subprocess per step, watched for memory and time ---------------------------


def _step(argv: list[str], args: argparse.Namespace, times: int, *, ceiling_gb: float | None) -> dict:
    """Run one step in a subprocess; its JSON result, or 'did not fit' / 'timed out' when it was stopped."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--step", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stopped: list[str] = []
    ceiling = ceiling_gb * 1024**3 if ceiling_gb is not None else None
    threading.Thread(target=_watch, args=(proc, ceiling, args.step_timeout, stopped), daemon=True).start()
    out, err = proc.communicate()
    if stopped:
        result = {"status": stopped[0], "ceiling_gb": ceiling_gb, "after_s": round(time.perf_counter() - started, 1)}
    elif proc.returncode != 0:
        result = {"status": "failed", "error": err.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
    else:
        result = json.loads(out.strip().splitlines()[-1])
    record = {"times": times, "step": argv[:1] + argv[2:3], **result}
    print(json.dumps(record), file=sys.stderr, flush=True)  # progress of long runs
    if args.steps:
        with open(args.steps, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    return result


def _watch(proc: subprocess.Popen, ceiling_bytes: float | None, timeout_s: float | None, stopped: list) -> None:
    """Kill `proc` once its resident memory passes the ceiling or it runs past the timeout (polled twice a second)."""
    deadline = time.monotonic() + timeout_s if timeout_s else None
    while proc.poll() is None:
        over = ceiling_bytes is not None and _rss_bytes(proc.pid) > ceiling_bytes
        late = deadline is not None and time.monotonic() > deadline
        if over or late:
            stopped.append(DID_NOT_FIT if over else TIMED_OUT)
            proc.kill()  # a Dask step's cluster processes are its children and exit with it
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
    return _dask(Path(folder), rest[0], json.loads(rest[1]))


def _write(folder: Path, size: dict) -> dict:
    from perfml.simulate.partitioned import write_partitioned

    start = time.perf_counter()
    summary = write_partitioned(folder, seed=0, **size)
    seconds = time.perf_counter() - start
    rows = summary["rows"]
    return {
        "status": "ok",
        "seconds": round(seconds, 2),
        "buckets": summary["buckets"],
        "rows": rows,
        "activities_per_s": round(rows["activities"] / seconds),
        "peak_mb": _peak_mb(),
    }


def _activities(folder: Path) -> int:
    from perfml.scale.layout import read_layout

    return read_layout(folder)["rows"]["activities"]


def _pandas(folder: Path, names: str) -> dict:
    from perfml.dataset import Dataset
    from perfml.errors import PerfmlError
    from perfml.pipelines.run import train_pipeline

    start = time.perf_counter()
    dataset = Dataset.load(folder)
    load_s = time.perf_counter() - start
    out: dict = {}
    for name in names.split(","):
        begin = time.perf_counter()
        try:
            result = train_pipeline(name, dataset, register=False, report=False)
        except PerfmlError as exc:  # too little data (tiny companies): say so instead of a number
            out[name] = {"status": "cannot train", "error": str(exc)[:300]}
            continue
        seconds = time.perf_counter() - begin + load_s  # each pipeline pays for loading the company
        out[name] = {
            "status": "ok",
            "seconds": round(seconds, 2),
            "load_s": round(load_s, 2),
            "stages_s": result.seconds,
            "activities_per_s": round(len(dataset.activities) / seconds),
            "test_metrics": _rounded(result.metrics),
        }
    peak = _peak_mb()
    return {"status": "ok", "pipelines": {name: {**r, "peak_mb": peak} for name, r in out.items()}}


def _dask(folder: Path, names: str, options: dict) -> dict:
    from perfml import scale
    from perfml.errors import PerfmlError

    activities = _activities(folder)
    out: dict = {}
    with scale.cluster(workers=options["workers"], memory_limit=options["worker_memory"]) as client:
        for name in names.split(","):
            start = time.perf_counter()
            try:
                result = scale.train(name, folder, client=client, register=False)
            except PerfmlError as exc:  # too little data (tiny companies): say so instead of a number
                out[name] = {"status": "cannot train", "error": str(exc)[:300]}
                continue
            seconds = time.perf_counter() - start
            out[name] = {
                "status": "ok",
                "seconds": round(seconds, 2),
                "stages_s": result.seconds,  # features (on the cluster), labels_split, fit (on the cluster), ...
                "activities_per_s": round(activities / seconds),
                "test_metrics": _rounded(result.metrics),
            }
        peaks = client.run(_peak_mb)  # each worker process: its own peak since the cluster started
    shared = {
        "workers": options["workers"],
        "worker_memory": options["worker_memory"],
        "peak_mb_per_worker": sorted(peaks.values()),
        "client_peak_mb": _peak_mb(),  # the client holds the company's outline and the feature frame
    }
    return {"status": "ok", "pipelines": {name: {**r, **shared} for name, r in out.items()}}


def _rounded(metrics: dict) -> dict:
    return {k: round(v, 4) for k, v in metrics.items() if k.startswith(("model_", "baseline_"))}


if __name__ == "__main__":
    main()

"""Model benchmark: feature build and training time and peak memory per simulator
size, and explanation throughput against raw `pred_contrib` on the same rows. Prints JSON.

    .venv/bin/python benchmarks/bench_models.py                 # medium + large, every available pipeline
    .venv/bin/python benchmarks/bench_models.py --quick         # small only, for CI (~1 minute)
    .venv/bin/python benchmarks/bench_models.py --sizes medium --pipelines transfer-anomaly --out bench.json

Times are measured untraced; peak memory is the tracemalloc peak of a second, traced run of the
stage (numpy/pandas buffers included; the interpreter's baseline is not), plus the process's
max RSS after each size. The explanation section also times one row through the booster
with numpy against the sklearn wrapper with a DataFrame, the choice `perfml.explain` is built on.
For transfer-anomaly, test-side quality against the simulator's ground truth is added
(benchmarks may read truth/; pipelines never do).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import tracemalloc
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd


def _measure(fn, memory: bool = True):
    """(result, seconds, peak MB) of one call: timed untraced, then (if `memory`) run again under
    tracemalloc for the peak, because tracing slows pandas/numpy several-fold."""
    t = time.perf_counter()
    out = fn()
    seconds = round(time.perf_counter() - t, 3)
    if not memory:
        return out, seconds, None
    del out
    tracemalloc.start()
    out = fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, seconds, round(peak / 2**20, 1)


def _max_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _rate(fn, rows: int, min_seconds: float) -> float:
    """Rows per second of `fn` (repeated until `min_seconds` have passed)."""
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return rows * n / elapsed


def bench_explain(model, X: pd.DataFrame, *, batch: int, min_seconds: float) -> dict:
    """Explanation throughput vs raw pred_contrib, and one-row latency booster+numpy vs wrapper+DataFrame."""
    import lightgbm as lgb

    from perfml.explain import explain

    X = X.head(batch)
    M = model.matrix(X)
    raw = _rate(lambda: model.booster.predict(M, pred_contrib=True, num_threads=1), len(M), min_seconds)
    full = _rate(lambda: explain(model, X).reasons(3), len(M), min_seconds)
    contrib_only = _rate(lambda: explain(model, X), len(M), min_seconds)
    row_np, row_df = M[:1], X.head(1)[model.features]
    # the sklearn wrapper around an equivalent model (same params, same rows), for the one-row comparison
    wrapper = lgb.LGBMClassifier(n_estimators=model.booster.num_trees(), num_leaves=15, verbose=-1, n_jobs=1)
    wrapper.fit(X[model.features], (model.predict(X) > np.median(model.predict(X))).astype(int))
    one_booster = _rate(lambda: model.booster.predict(row_np, pred_contrib=True, num_threads=1), 1, min_seconds)
    one_wrapper = _rate(lambda: wrapper.predict(row_df, pred_contrib=True), 1, min_seconds)
    one_explain = _rate(lambda: explain(model, row_df).records(5), 1, min_seconds)
    return {
        "rows": len(M),
        "trees": model.booster.num_trees(),
        "features": len(model.features),
        "raw_pred_contrib_rows_per_s": round(raw),
        "explain_rows_per_s": round(contrib_only),
        "explain_with_reasons_rows_per_s": round(full),
        "ratio_explain_to_raw": round(contrib_only / raw, 3),
        "ratio_explain_with_reasons_to_raw": round(full / raw, 3),
        "one_row_booster_numpy_us": round(1e6 / one_booster, 1),
        "one_row_wrapper_dataframe_us": round(1e6 / one_wrapper, 1),
        "one_row_wrapper_over_booster": round(one_booster / one_wrapper, 1),
        "one_row_explain_records_us": round(1e6 / one_explain, 1),
    }


def bench_pipeline(name: str, dataset, data_dir: Path, *, batch: int, min_seconds: float) -> dict:
    from perfml.modeling.evaluate import binary_metrics
    from perfml.pipelines import get_pipeline
    from perfml.pipelines.run import train_pipeline

    spec = get_pipeline(name)
    features, feat_s, feat_mb = _measure(lambda: spec.build_features(dataset))
    result, train_s, train_mb = _measure(lambda: train_pipeline(spec, dataset, register=False))
    out = {
        "feature_rows": len(features),
        "n_features": len(result.features),
        "features_s": feat_s,
        "features_peak_mb": feat_mb,
        "train_total_s": train_s,
        "train_peak_mb": train_mb,
        "train_stages_s": result.seconds,
        "kind": result.kind,
        "test_metrics": {k: round(v, 4) for k, v in result.metrics.items()},
    }
    truth_file = data_dir / "truth" / "transfers.csv"
    if name == "transfer-anomaly" and truth_file.exists():
        truth = pd.read_csv(truth_file, dtype={"change_id": str}).set_index("change_id")["is_collusive"]
        y = truth.reindex(result.test["change_id"]).astype(float).to_numpy()
        out["test_vs_truth"] = {
            "model": {k: round(v, 4) for k, v in binary_metrics(y, result.test["score"]).items()},
            "baseline": {k: round(v, 4) for k, v in binary_metrics(y, result.test["baseline"]).items()},
        }
    X = features[result.features].reset_index(drop=True)
    if len(X) < batch:
        X = pd.concat([X] * (batch // max(len(X), 1) + 1), ignore_index=True)
    out["explain"] = bench_explain(result.model, X, batch=batch, min_seconds=min_seconds)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small size only, short timings (CI)")
    parser.add_argument("--sizes", default="medium,large", help="comma-separated simulator scales")
    parser.add_argument("--pipelines", default="", help="comma-separated pipeline names (default: all available)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=2000, help="rows per explanation batch")
    parser.add_argument("--out", type=Path, help="write the JSON here as well as to stdout")
    args = parser.parse_args(argv)

    from perfml.dataset import Dataset
    from perfml.pipelines import PIPELINE_NAMES
    from perfml.simulate import simulate

    sizes = ["small"] if args.quick else [s for s in args.sizes.split(",") if s]
    names = [n for n in args.pipelines.split(",") if n] or list(PIPELINE_NAMES)
    min_seconds = 0.2 if args.quick else 1.0
    report = {
        "meta": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "seed": args.seed,
            "quick": args.quick,
            "pipelines": names,
        },
        "sizes": {},
    }
    with tempfile.TemporaryDirectory(prefix="perfml-bench-") as tmp:
        for size in sizes:
            data_dir = Path(tmp) / size
            _, sim_s, _ = _measure(partial(simulate, data_dir, seed=args.seed, scale=size), memory=False)
            dataset, load_s, _ = _measure(partial(Dataset.load, data_dir), memory=False)
            entry = {"simulate_s": sim_s, "load_s": load_s, "rows": dataset.rows(), "pipelines": {}}
            for name in names:
                entry["pipelines"][name] = bench_pipeline(
                    name, dataset, data_dir, batch=args.batch, min_seconds=min_seconds
                )
            entry["process_max_rss_mb"] = _max_rss_mb()
            report["sizes"][size] = entry
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text)
    return report


if __name__ == "__main__":
    main()

"""How early the decline model warns, on simulator truth: held-out (time split, test side only). Prints JSON.

For each seed: simulate a company, train the decline model on its time split (nothing registered),
score every test-side instant on the days of the month given by --score-days, and compare the first
alert (as served: the model's threshold or the activity-fade rule; `model_only_*`: the threshold
alone) with when each decliner's activity really began to fade (`truth/employees.csv`:
`decline_onset`, the month effort starts to fall) and with the month its revenue first ran 30%
under the 6 months before the fade. The baseline rule ("revenue fell 30% last month") is judged the
same way. `*_alert_share`: mean share of the employees scored at a test-side instant who are alerted.
Benchmarks may read truth/; pipelines never do.

    .venv/bin/python benchmarks/bench_decline_warning.py --seeds 1,2,3
    .venv/bin/python benchmarks/bench_decline_warning.py --seeds 1 --train-days 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

KEEP = (
    "model_roc_auc",
    "baseline_roc_auc",
    "model_pr_auc",
    "baseline_pr_auc",
    "model_n",
    "model_prevalence",
    "model_alert_precision",
    "alerts_alert_precision",
    "baseline_alert_precision",
)


def fades_of(data: Path) -> pd.DataFrame:
    """employee_id, fade_start (first day of the truth's decline onset month) of every simulated decliner."""
    truth = pd.read_csv(data / "truth" / "employees.csv", dtype=str)
    dec = truth[truth["is_decliner"] == "1"]
    return pd.DataFrame(
        {
            "employee_id": dec["employee_id"].astype("string").to_numpy(),
            "fade_start": pd.to_datetime(dec["decline_onset"] + "-01").to_numpy(),
        }
    )


def warning_metrics(ds, data: Path, train_days: tuple[int, ...], score_days: tuple[int, ...]) -> dict:
    """Test-side ROC/PR of model and baseline and the fade summaries of both (see the module doc)."""
    from perfml.metrics import activity_period_metrics
    from perfml.pipelines.decline import nodes
    from perfml.pipelines.decline.pipeline import DeclinePipeline
    from perfml.pipelines.run import train_pipeline

    result = train_pipeline(DeclinePipeline({"snapshot_days": train_days}), ds, register=False)
    scorer = DeclinePipeline({"snapshot_days": score_days})
    frame = scorer.build_features(ds)
    frame = frame[frame["as_of"] >= pd.Timestamp(result.split["split_test_start"])].reset_index(drop=True)
    fades, monthly = fades_of(data), activity_period_metrics(ds)
    out = {k: round(float(result.metrics[k]), 4) for k in KEEP if k in result.metrics}
    model_alert = result.model.predict(frame[result.features].astype("float64")) >= result.model.threshold
    served = model_alert | nodes.activity_fade(frame, scorer.p)
    for who, alerted in (
        ("model", served),
        ("model_only", model_alert),
        ("baseline", scorer.baseline(frame) >= scorer.p.fall_rule),
    ):
        scores = frame[["employee_id", "as_of"]].assign(score=alerted.astype("float64"))
        summary = nodes.fade_summary(nodes.fade_alerts(scores, fades, monthly, 0.5))
        out.update({f"{who}_{k}": round(v, 3) for k, v in summary.items()})
        out[f"{who}_alert_share"] = round(float(scores.groupby("as_of")["score"].mean().mean()), 3)
    return out


def main() -> None:
    from perfml.dataset import Dataset
    from perfml.simulate import simulate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--train-days", default="1,8,15,22", help="days of the month of the training snapshots")
    parser.add_argument("--score-days", default="1,8,15,22", help="days of the month scored on the test side")
    parser.add_argument("--quick", action="store_true", help="CI size: the small company, one seed")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.scale = "7", "small"
    days = [tuple(int(d) for d in a.split(",")) for a in (args.train_days, args.score_days)]
    warnings.filterwarnings("ignore")
    per_seed = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        t = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="perfml-bench-decline-") as tmp:
            data = Path(tmp) / "data"
            simulate(data, seed=seed, scale=args.scale)
            per_seed[seed] = warning_metrics(Dataset.load(data), data, *days)
        per_seed[seed]["seconds"] = round(time.perf_counter() - t, 1)
        print(json.dumps({seed: per_seed[seed]}), flush=True)
    rows = pd.DataFrame(per_seed.values())
    summary = {c: round(float(np.nanmedian(rows[c].replace(np.inf, np.nan))), 3) for c in rows.columns}
    print(json.dumps({"train_days": days[0], "score_days": days[1], "median_over_seeds": summary}))


if __name__ == "__main__":
    main()

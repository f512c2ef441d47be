"""Honest evaluation on the test side: metrics for the model AND its baseline, side by side, and report PNGs.

`binary_metrics(y, score)` -> roc_auc, pr_auc (average precision), brier, precision_at_top5
(expected precision of the top 5% of rows; ties at the boundary share credit, so a 0/1 rule is
not flattered or punished by row order), n, positives, prevalence.
`side_by_side(y, model_score, baseline_score)` -> the same keys prefixed `model_` and `baseline_`.
`write_report(out_dir, ...)` -> ROC, PR, calibration, SHAP summary and (hook) lead-time histogram PNGs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, precision_recall_curve, roc_auc_score, roc_curve

TOP_FRACTION = 0.05
METRICS = ("roc_auc", "pr_auc", "brier", "precision_at_top5", "n", "positives", "prevalence")


def precision_at_top(y_true, score, fraction: float = TOP_FRACTION) -> float:
    """Expected precision among the top `fraction` of rows by score (ties split evenly)."""
    y = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(score, dtype=np.float64)
    if len(y) == 0:
        return math.nan
    k = max(1, math.ceil(fraction * len(y)))
    order = np.sort(s)[::-1]
    edge = order[k - 1]
    above = s > edge
    tied = s == edge
    need = k - int(above.sum())
    hits = y[above].sum() + (need * y[tied].mean() if tied.any() else 0.0)
    return float(hits / k)


def binary_metrics(y_true, score, *, top_fraction: float = TOP_FRACTION) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier, precision at the top 5%, and counts; NaN where undefined (one class)."""
    y = np.asarray(y_true, dtype=np.float64)
    s = np.clip(np.asarray(score, dtype=np.float64), 0.0, 1.0)
    out = {"n": float(len(y)), "positives": float(y.sum()), "prevalence": float(y.mean()) if len(y) else math.nan}
    both = len(np.unique(y)) == 2
    out["roc_auc"] = float(roc_auc_score(y, s)) if both else math.nan
    out["pr_auc"] = float(average_precision_score(y, s)) if both else math.nan
    out["brier"] = float(brier_score_loss(y, s)) if len(y) else math.nan
    out["precision_at_top5"] = precision_at_top(y, s, top_fraction)
    return {k: out[k] for k in METRICS}


def side_by_side(y_true, model_score, baseline_score, *, top_fraction: float = TOP_FRACTION) -> dict[str, float]:
    """`binary_metrics` for model and baseline on the same rows, keys prefixed `model_` / `baseline_`."""
    m = binary_metrics(y_true, model_score, top_fraction=top_fraction)
    b = binary_metrics(y_true, baseline_score, top_fraction=top_fraction)
    return {
        **{f"model_{k}": v for k, v in m.items()},
        **{f"baseline_{k}": v for k, v in b.items() if k not in ("n", "positives", "prevalence")},
    }


def _subplots(figsize: tuple[float, float]):
    """A standalone figure (no pyplot): report writing never switches a notebook's backend."""
    # imported here: matplotlib costs ~0.4 s (python -X importtime) and only report writing needs it
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def write_report(
    out_dir: str | Path,
    y_true,
    model_score,
    baseline_score,
    *,
    title: str = "",
    contributions: np.ndarray | None = None,
    values: np.ndarray | None = None,
    feature_names: list[str] | None = None,
    lead_times=None,
    max_features: int = 15,
) -> list[Path]:
    """Write roc.png, pr.png, calibration.png, shap_summary.png (if contributions) and
    lead_time.png (if lead_times, months) into `out_dir`; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y = np.asarray(y_true, dtype=np.float64)
    curves = {
        "model": np.clip(np.asarray(model_score, float), 0, 1),
        "baseline": np.clip(np.asarray(baseline_score, float), 0, 1),
    }
    paths: list[Path] = []
    both = len(np.unique(y)) == 2

    def save(fig, name: str) -> None:
        fig.suptitle(f"{title} - {name.removesuffix('.png')}" if title else name.removesuffix(".png"))
        fig.tight_layout()
        fig.savefig(out / name, dpi=90)
        paths.append(out / name)

    if both:
        fig, ax = _subplots((5, 4.5))
        for label, s in curves.items():
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, label=label)
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set(xlabel="false positive rate", ylabel="true positive rate")
        ax.legend()
        save(fig, "roc.png")

        fig, ax = _subplots((5, 4.5))
        for label, s in curves.items():
            p, r, _ = precision_recall_curve(y, s)
            ax.step(r, p, where="post", label=label)
        ax.axhline(y.mean(), ls=":", color="grey", label="prevalence")
        ax.set(xlabel="recall", ylabel="precision", ylim=(0, 1.02))
        ax.legend()
        save(fig, "pr.png")

        fig, ax = _subplots((5, 4.5))
        frac, mean = calibration_curve(y, curves["model"], n_bins=10, strategy="quantile")
        ax.plot(mean, frac, "o-", label="model")
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set(xlabel="mean predicted score", ylabel="observed rate")
        ax.legend()
        save(fig, "calibration.png")

    if contributions is not None and feature_names:
        c = np.asarray(contributions, float)
        order = np.argsort(-np.abs(c).mean(axis=0))[:max_features][::-1]
        fig, ax = _subplots((7, 0.35 * len(order) + 1.5))
        rng = np.random.default_rng(0)
        v = None if values is None else np.asarray(values, float)
        for row, j in enumerate(order):
            colour = None
            if v is not None:
                col = v[:, j]
                lo, hi = np.nanpercentile(col, [5, 95]) if np.isfinite(col).any() else (0.0, 1.0)
                colour = np.clip((col - lo) / ((hi - lo) or 1.0), 0, 1)
            ax.scatter(
                c[:, j],
                row + rng.uniform(-0.25, 0.25, len(c)),
                s=4,
                c=colour,
                cmap="coolwarm",
                vmin=0,
                vmax=1,
                alpha=0.6,
            )
        ax.set_yticks(range(len(order)), [feature_names[j] for j in order])
        ax.axvline(0, color="grey", lw=0.8)
        ax.set(xlabel="SHAP contribution (log-odds); colour = feature value (blue low, red high)")
        save(fig, "shap_summary.png")

    if lead_times is not None and len(lead_times):
        fig, ax = _subplots((5, 4))
        lt = np.asarray(lead_times, float)
        ax.hist(lt[np.isfinite(lt)], bins=np.arange(np.nanmin(lt) - 0.5, np.nanmax(lt) + 1.5, 1.0))
        ax.set(xlabel="lead time (months from first alert to the event)", ylabel="count")
        save(fig, "lead_time.png")
    return paths

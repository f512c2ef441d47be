"""Explanations as JSON-ready results: scores with their top-k factors, display names and reasons."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from perfml import catalog
from perfml.explain import Explanations


def explained(
    ex: Explanations,
    *,
    top_k: int = 3,
    lang: catalog.Lang = "en",
    threshold: float | None = None,
    ids: Sequence[str | None] | None = None,
    rules: Sequence[str | None] | np.ndarray | None = None,
) -> list[dict]:
    """JSON-ready results: score, raw score, base value, top-k factors and the rest of the contributions.

    For every row `base_value + sum(factor contributions) + other_contribution == raw_score`.
    Factors are `Explanations.top_indices` (largest |contribution| first, zeros left out) with the
    catalog's display name and one-line reason, built column-wise (this loop is the batch path's
    Python cost, so no per-factor objects). A reason is the catalog's documented
    "<describe_value>: <contribution:+.2f>"; the value part is rendered once per feature and value.
    `rules`: per row the reason of the pipeline's rule alert or None (`PipelineSpec.rule_alerts`); a
    row is alerted at the threshold or by its rule, and `rule_alert` carries the reason.
    """
    n = len(ex)
    if n == 0:
        return []
    raw, score, base = ex.raw_score, ex.score, ex.base_value
    top = ex.top_indices(top_k)
    contrib = np.take_along_axis(ex.contributions, top, axis=1)
    values = np.take_along_axis(ex.values, top, axis=1)
    other = raw - base - contrib.sum(axis=1)
    feats = [catalog.get(f) for f in ex.feature_names]
    names = [(f.name, f.display(lang), f.unit) for f in feats]
    rule_list = [None] * n if rules is None else [None if pd.isna(r) else str(r) for r in rules]
    alerts = (
        [None] * n
        if threshold is None
        else [bool(a) or r is not None for a, r in zip((score >= threshold).tolist(), rule_list, strict=True)]
    )
    id_list = [None] * n if ids is None else list(ids)
    described: dict[tuple[int, float | None], str] = {}
    out = []
    for row_j, row_c, row_v, s_, r_, b_, o_, a_, id_, rule in zip(
        top.tolist(),
        contrib.tolist(),
        values.tolist(),
        score.tolist(),
        raw.tolist(),
        base.tolist(),
        other.tolist(),
        alerts,
        id_list,
        rule_list,
        strict=True,
    ):
        factors = []
        for j, c, v in zip(row_j, row_c, row_v, strict=True):
            if c == 0.0:
                continue
            name, display, unit = names[j]
            value = None if v != v or v in (math.inf, -math.inf) else v
            text = described.get((j, value))
            if text is None:
                text = described[(j, value)] = feats[j].describe_value(value, lang)
            factors.append(
                {
                    "feature": name,
                    "display_name": display,
                    "value": value,
                    "unit": unit,
                    "contribution": c,
                    "direction": "up" if c > 0 else "down",
                    "reason": f"{text}: {c:+.2f}",
                }
            )
        out.append(
            {
                "id": id_,
                "score": s_,
                "raw_score": r_,
                "base_value": b_,
                "other_contribution": o_,
                "alert": a_,
                "rule_alert": rule,
                "factors": factors,
                "source": "model",
            }
        )
    return out


def render_factors(factors: Iterable[Mapping], lang: catalog.Lang = "en") -> list[dict]:
    """Stored factors (feature, value, contribution) with display names and reasons in `lang`."""
    out = []
    for f in factors:
        feat = catalog.get(str(f["feature"]))
        value = f.get("value")
        c = float(f["contribution"])
        out.append(
            {
                "feature": feat.name,
                "display_name": feat.display(lang),
                "value": value,
                "unit": feat.unit,
                "contribution": c,
                "direction": "up" if c > 0 else "down",
                "reason": feat.reason(value, c, lang),
            }
        )
    return out


__all__ = ["explained", "render_factors"]

"""Scoring use cases: units by id from the service's store snapshot (`score_ids`, the API's by-id
route), a whole dataset (`score_dataset`, `perfml score`), and feature rows by the baseline rule.

Every result says where its score came from (`source`: "model" | "baseline": the champion, or the
pipeline's baseline rule when there is none). A unit whose state is not `scored` (too little
history, no activity on record) gets no score, its state and the reason; both paths decide that
with `perfml.pipelines.run.unit_states` and `blind_baseline`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from perfml import pipelines
from perfml.catalog import Lang
from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.home import Home
from perfml.modeling import registry
from perfml.modeling.spec import SCORED, PipelineSpec
from perfml.pipelines.run import Engine, blind_baseline, score_pipeline, unit_states
from perfml.serving.champions import ModelUnavailable
from perfml.serving.fast import ServedModel
from perfml.serving.render import explained
from perfml.serving.snapshot import DatasetCache

MAX_IDS_SHOWN = 10


class UnknownUnits(PerfmlError):
    """Ids that are not in the data (or not visible to the caller): `ids`."""

    def __init__(self, message: str, ids: list[str]):
        super().__init__(message)
        self.ids = ids


def baseline_results(
    spec: PipelineSpec, frame: pd.DataFrame, *, lang: Lang = "en", ids: Sequence[str | None] | None = None
) -> list[dict]:
    """The baseline rule's results for every row of `frame` (columns: the pipeline's features; missing = NaN)."""
    frame = frame.reindex(columns=list(dict.fromkeys([*frame.columns, *spec.baseline_features])))
    scores = np.clip(np.asarray(spec.baseline(frame), dtype=np.float64), 0, 1) if len(frame) else np.zeros(0)
    reasons = spec.baseline_reasons(frame, lang)
    id_list = [None] * len(frame) if ids is None else list(ids)
    return [
        {
            "id": i,
            "score": float(s),
            "raw_score": None,
            "base_value": None,
            "other_contribution": None,
            "alert": None,
            "factors": [],
            "source": "baseline",
            "reasons": [r],
        }
        for i, s, r in zip(id_list, scores.tolist(), reasons, strict=True)
    ]


def _shown(ids: list[str]) -> str:
    more = f" (+{len(ids) - MAX_IDS_SHOWN} more)" if len(ids) > MAX_IDS_SHOWN else ""
    return ", ".join(ids[:MAX_IDS_SHOWN]) + more


def score_ids(
    spec: PipelineSpec,
    served: ServedModel | None,
    data: DatasetCache,
    ids: Sequence[str],
    *,
    as_of: pd.Timestamp | None = None,
    top_k: int = 3,
    lang: Lang = "en",
    visible: Callable[[list[str]], list[bool]] | None = None,
) -> list[dict]:
    """One result per distinct id, in the order asked: `outcome` "scored" (with score, factors or the
    baseline's reasons) or "not_scoreable" (no score; `state` and `reason` say why).

    `served` None scores with the baseline rule. `visible(subject ids)` filters what the caller may
    see; ids not in the data or not visible raise `UnknownUnits` (the same answer for both, so
    nothing leaks). `ModelUnavailable` when the champion needs features the pipeline no longer builds."""
    frame = data.features(spec, as_of)
    key = spec.key[0]
    wanted = list(dict.fromkeys(ids))
    rows = frame[frame[key].astype("string").isin(wanted)] if not frame.empty else frame
    if visible is not None and not rows.empty:
        rows = rows[visible(rows[spec.subject_column].astype("string").tolist())]
    found = set(rows[key].astype(str)) if not rows.empty else set()
    reasons = {i: spec.unscoreable_reason(data.dataset(), i, as_of) for i in wanted if i not in found}
    known = {i: r for i, r in reasons.items() if r is not None}  # id -> why it is not scoreable
    if known and visible is not None:  # an employee-keyed unit: its id is the subject
        known = {i: r for (i, r), ok in zip(known.items(), visible(list(known)), strict=True) if ok}
    unknown = [i for i in reasons if i not in known]
    if unknown:
        when = f" as of {as_of.date()}" if as_of is not None else ""
        raise UnknownUnits(f"model {spec.name!r}: no {key} {_shown(unknown)}{when}", unknown)
    if served is not None:
        lacking = [f for f in served.features if f not in rows.columns]
        if lacking:
            raise ModelUnavailable(
                f"model {spec.name!r} v{served.version} needs features the pipeline no longer "
                f"builds: {', '.join(lacking[:5])}; retrain it"
            )
    rows = rows.reset_index(drop=True)
    if served is None:
        rows = blind_baseline(spec, rows, data.dataset())
    states = unit_states(rows)
    ok = (states == SCORED).to_numpy()
    part = rows[ok].reset_index(drop=True)
    part_ids = part[key].astype(str).tolist()
    if served is not None:
        scored = explained(
            served.explain(part),
            top_k=top_k,
            lang=lang,
            threshold=served.threshold,
            ids=part_ids,
            rules=spec.rule_alerts(part),
        )
    else:  # a rule may rank units against each other (percentiles): apply it to every scoreable unit
        everyone = frame[(unit_states(frame) == SCORED).to_numpy()].reset_index(drop=True)
        every_id = everyone[key].astype(str).tolist()
        asked = set(part_ids)
        scored = [r for r in baseline_results(spec, everyone, lang=lang, ids=every_id) if r["id"] in asked]
    source = "model" if served is not None else "baseline"
    at = (
        {
            str(u): (None if pd.isna(t) else pd.Timestamp(t).isoformat())
            for u, t in zip(rows[key], rows[spec.time_column], strict=True)
        }
        if spec.time_column in rows.columns
        else {}
    )
    by_id = {r["id"]: {**r, "outcome": "scored", "state": SCORED, "reason": None} for r in scored}
    state_reason = rows["state_reason"] if "state_reason" in rows.columns else pd.Series("", index=rows.index)
    for u, s, why in zip(rows[key].astype(str)[~ok], states[~ok], state_reason[~ok], strict=True):
        by_id[u] = _not_scoreable(u, s, str(why or s.replace("_", " ")), source)
    for u, why in known.items():
        by_id[u] = _not_scoreable(u, None, why, source)  # outside the pipeline's units: no state
    out = []
    for u in wanted:
        r = by_id[u]
        r["at"] = at.get(u)
        out.append(r)
    return out


def _not_scoreable(unit: str, state: str | None, reason: str, source: str) -> dict:
    return {
        "id": unit,
        "score": None,
        "raw_score": None,
        "base_value": None,
        "other_contribution": None,
        "alert": None,
        "factors": [],
        "source": source,
        "outcome": "not_scoreable",
        "state": state,
        "reason": reason,
    }


def score_dataset(
    *,
    home: Home,
    name: str,
    dataset: Dataset,
    as_of: pd.Timestamp | None = None,
    top_k: int = 3,
    lang: Lang = "en",
    engine: Engine | None = None,
) -> tuple[pd.DataFrame, str | None]:
    """(every unit of `dataset` scored by the home's champion of pipeline `name` - or its baseline rule -,
    why there is no champion or None): the frame of `perfml.pipelines.run.score_pipeline`."""
    spec = pipelines.get_pipeline(name, home.settings)
    model = registry.champion_or_none(spec.model_name, home=home)
    frame = score_pipeline(spec, dataset, model=model, as_of=as_of, top_k=top_k, lang=lang, engine=engine)
    return frame, None if model is not None else registry.why_no_champion(spec.model_name, home=home)


__all__ = ["UnknownUnits", "baseline_results", "score_dataset", "score_ids"]

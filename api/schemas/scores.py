"""Scoring requests and explained results."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.schemas.common import Day

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ScoreRowsRequest(BaseModel):
    """Feature rows to score, as objects (`rows`) or column-wise (`columns` + `data`, compact for batches).

    Feature names are the model's (see `GET /v1/models/{name}`); a feature left out (or null) is
    missing, as LightGBM understands it; an unknown name is an error.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "rows": [
                        {
                            "giver_worked_days": 41,
                            "giver_acts_30d": 7,
                            "receiver_acts_after": 0,
                            "days_to_order": 3,
                            "receiver_is_assistant": 1,
                            "reason_present": 0,
                        }
                    ]
                },
                {
                    "columns": ["giver_acts_30d", "receiver_acts_after", "days_to_order"],
                    "data": [[7, 0, 3], [2, 5, 40]],
                },
            ]
        },
    )

    rows: list[dict[str, FiniteFloat | None]] | None = Field(
        None, min_length=1, description="One object per row; at most `PERFML_API_MAX_BATCH` (default 1000) rows."
    )
    columns: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = Field(
        None, min_length=1, max_length=1000, description="Feature names of the `data` columns."
    )
    data: list[list[FiniteFloat | None]] | None = Field(
        None, min_length=1, description="One array per row, values in `columns` order."
    )


class ScoreIdsRequest(BaseModel):
    """Units to score from the store: change ids (transfer-anomaly) or employee ids (decline, high-performer)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ids": ["E0001"], "as_of": None}]})

    ids: list[Id] = Field(min_length=1, description="At most `PERFML_API_MAX_BATCH` (default 1000) ids.")
    as_of: Day | None = Field(
        None,
        description="Score as of this date (records strictly before it). Default: each unit's own cut-off "
        "(transfers) or the latest month end (decline).",
    )


class Factor(BaseModel):
    """One feature's part in a prediction (raw log-odds space)."""

    feature: str = Field(description="Column name (catalog key).")
    display_name: str = Field(description="Catalog display name in the requested language.")
    value: float | None = Field(description="The feature's value for this unit (null = missing).")
    unit: str
    contribution: float = Field(description="SHAP contribution to the raw score (log-odds).")
    direction: Literal["up", "down"] = Field(description="`up` raises the score, `down` lowers it.")
    reason: str = Field(
        description="One line, e.g. `receiver logged 0 activities on the customer before the order: +0.41`."
    )


class ScoredRow(BaseModel):
    """One result. From the model: `base_value + sum(factors.contribution) + other_contribution == raw_score`.
    From the baseline rule (no champion): `score` and `reasons`, no raw score or factors. By id, a unit the
    pipeline cannot score has `outcome` `not_scoreable`, no score, and the `reason`."""

    id: str | None = Field(None, description="The unit's id (by-id scoring), else null.")
    at: str | None = Field(None, description="The unit's cut-off time (by-id scoring), ISO 8601.")
    outcome: Literal["scored", "not_scoreable"] = Field(
        "scored", description="By-id scoring: whether this unit was scored; feature rows always are."
    )
    state: Literal["scored", "insufficient_history", "no_activity", "not_tracked"] | None = Field(
        "scored",
        description="The unit's state; only `scored` units get a score. Null: outside the units the "
        "pipeline scores (see `reason`).",
    )
    reason: str | None = Field(None, description="Why the unit was not scored (plain words).")
    source: Literal["model", "baseline"] = Field(
        "model", description="Where the score came from: the champion, or the pipeline's baseline rule (no champion)."
    )
    score: float | None = Field(description="Score in [0, 1] (model: sigmoid(raw_score)); null when not scored.")
    raw_score: float | None = Field(None, description="Raw (log-odds) score; null for the baseline rule.")
    base_value: float | None = Field(None, description="Expected raw score over the training data (SHAP base value).")
    other_contribution: float | None = Field(None, description="Sum of the contributions not among the top-k factors.")
    alert: bool | None = Field(
        None,
        description="Whether the score reaches the model's alert threshold or the "
        "pipeline's rule alerts (by-id scoring; see `rule_alert`).",
    )
    rule_alert: str | None = Field(
        None, description="The reason of the pipeline's rule alert (decline: the activity-fade rule), else null."
    )
    factors: list[Factor] = Field(description="Top-k factors by |contribution|, largest first (model only).")
    reasons: list[str] | None = Field(None, description="The baseline rule and the values it read (baseline only).")


class ScoreResponse(BaseModel):
    """Explained scores from one model version."""

    model_config = ConfigDict(
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "model": "transfer-anomaly",
                    "version": "3",
                    "kind": "supervised",
                    "threshold": 0.5,
                    "lang": "en",
                    "top_k": 2,
                    "results": [
                        {
                            "id": "OC20888",
                            "at": "2026-10-21T15:44:20",
                            "score": 0.714,
                            "raw_score": 0.915,
                            "base_value": -3.710,
                            "other_contribution": 3.400,
                            "alert": True,
                            "factors": [
                                {
                                    "feature": "pair_prior_quick_orders",
                                    "display_name": "Pair's earlier quick-order transfers",
                                    "value": 6.0,
                                    "unit": "count",
                                    "contribution": 0.641,
                                    "direction": "up",
                                    "reason": "6 earlier customers from this giver ordered within 14 days: +0.64",
                                },
                                {
                                    "feature": "days_to_order",
                                    "display_name": "Days from change to order",
                                    "value": 4.7,
                                    "unit": "days",
                                    "contribution": 0.584,
                                    "direction": "up",
                                    "reason": "the customer ordered 4.7 days after the change: +0.58",
                                },
                            ],
                        }
                    ],
                }
            ]
        },
    )

    model: str
    version: str | None = Field(description="The champion's version; null when the baseline rule answered.")
    kind: str = Field(description="`supervised`, `unsupervised`, or `baseline` (no champion).")
    threshold: float | None = Field(description="Alert threshold on `score` (null for the baseline rule).")
    source: Literal["model", "baseline"] = Field(
        "model", description="Who answered: the champion or the baseline rule."
    )
    baseline: str | None = Field(None, description="The baseline rule in words, when it answered.")
    lang: Literal["en", "zh"]
    top_k: int
    results: list[ScoredRow]

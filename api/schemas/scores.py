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

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"rows": [{"giver_worked_days": 41, "giver_acts_30d": 7, "receiver_acts_after": 0, "days_to_order": 3,
                   "receiver_is_assistant": 1, "reason_present": 0}]},
        {"columns": ["giver_acts_30d", "receiver_acts_after", "days_to_order"], "data": [[7, 0, 3], [2, 5, 40]]}]})

    rows: list[dict[str, FiniteFloat | None]] | None = Field(
        None, min_length=1, description="One object per row; at most `PERFML_API_MAX_BATCH` (default 1000) rows.")
    columns: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = Field(
        None, min_length=1, max_length=1000, description="Feature names of the `data` columns.")
    data: list[list[FiniteFloat | None]] | None = Field(
        None, min_length=1, description="One array per row, values in `columns` order.")


class ScoreIdsRequest(BaseModel):
    """Units to score from the store: change ids (transfer-anomaly) or employee ids (decline, high-performer)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ids": ["E0001"], "as_of": None}]})

    ids: list[Id] = Field(min_length=1, description="At most `PERFML_API_MAX_BATCH` (default 1000) ids.")
    as_of: Day | None = Field(
        None, description="Score as of this date (records strictly before it). Default: each unit's own cut-off "
                          "(transfers) or the latest month end (decline).")


class Factor(BaseModel):
    """One feature's part in a prediction (raw log-odds space)."""

    feature: str = Field(description="Column name (catalog key).")
    display_name: str = Field(description="Catalog display name in the requested language.")
    value: float | None = Field(description="The feature's value for this unit (null = missing).")
    unit: str
    contribution: float = Field(description="SHAP contribution to the raw score (log-odds).")
    direction: Literal["up", "down"] = Field(description="`up` raises the score, `down` lowers it.")
    reason: str = Field(description="One line, e.g. `receiver logged 0 activities on the customer before the order: +0.41`.")


class ScoredRow(BaseModel):
    """One explained prediction: `base_value + sum(factors.contribution) + other_contribution == raw_score`."""

    id: str | None = Field(None, description="The unit's id (by-id scoring), else null.")
    at: str | None = Field(None, description="The unit's cut-off time (by-id scoring), ISO 8601.")
    score: float = Field(description="Score in [0, 1] = sigmoid(raw_score).")
    raw_score: float = Field(description="Raw (log-odds) score.")
    base_value: float = Field(description="Expected raw score over the training data (SHAP base value).")
    other_contribution: float = Field(description="Sum of the contributions not among the top-k factors.")
    alert: bool | None = Field(None, description="Whether the score reaches the model's alert threshold or the "
                               "pipeline's rule alerts (by-id scoring; see `rule_alert`).")
    rule_alert: str | None = Field(None, description="The reason of the pipeline's rule alert (decline: the "
                                   "activity-fade rule), else null.")
    factors: list[Factor] = Field(description="Top-k factors by |contribution|, largest first.")


class ScoreResponse(BaseModel):
    """Explained scores from one model version."""

    model_config = ConfigDict(protected_namespaces=(), json_schema_extra={"examples": [{
        "model": "transfer-anomaly", "version": "3", "kind": "supervised", "threshold": 0.5, "lang": "en", "top_k": 2,
        "results": [{"id": "OC20888", "at": "2026-10-21T15:44:20", "score": 0.714, "raw_score": 0.915,
                     "base_value": -3.710, "other_contribution": 3.400, "alert": True, "factors": [
                         {"feature": "pair_prior_quick_orders", "display_name": "Pair's earlier quick-order transfers",
                          "value": 6.0, "unit": "count", "contribution": 0.641, "direction": "up",
                          "reason": "6 earlier customers from this giver ordered within 14 days: +0.64"},
                         {"feature": "days_to_order", "display_name": "Days from change to order", "value": 4.7,
                          "unit": "days", "contribution": 0.584, "direction": "up",
                          "reason": "the customer ordered 4.7 days after the change: +0.58"}]}]}]})

    model: str
    version: str
    kind: str = Field(description="`supervised` or `unsupervised`.")
    threshold: float = Field(description="Alert threshold on `score`.")
    lang: Literal["en", "zh"]
    top_k: int
    results: list[ScoredRow]

"""Hand-over policy: the company's designed hand-over flows, as a per-company setting.

A flow names a hand-over the company's process makes on purpose: from which job function
(`employees.job_function`) to which, at which stage. The default (`handover_policy.yaml` next to
this module) declares none, so every change is "undeclared" and scored as before. A company
file (setting `PERFML_HANDOVER_POLICY`) declares its own:

    policy = load_policy(Path("company/handover_policy.yaml"))   # or None: the default
    flow = label_flows(giver_function, receiver_function, stage, policy)

Each ownership change is labelled with the first declared flow its giver's and receiver's
functions and its stage match (functions compared case-folded), else `UNDECLARED`. A change
along a declared flow is compared with its peers in that flow (`peer_medians`) instead of with
the whole company.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from perfml.errors import PerfmlError
from perfml.pipelines.transfer_anomaly.reasons import normalise

STAGES: tuple[str, ...] = ("before_first_order", "after_first_order", "on_leave_or_departure")
UNDECLARED = "undeclared"
DEFAULT_FILE = "handover_policy.yaml"
DEPARTURE_DAYS = 30  # a giver leaving within this many days of the change hands over "on departure"
MIN_PEERS = 5  # fewer settled peers in the flow: no comparison (NaN)


class PolicyError(PerfmlError):
    """An invalid hand-over policy file; the message names the file and each YAML path."""


class Flow(BaseModel):
    """One designed hand-over: from one job function to another, at one stage."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str = Field(min_length=1)
    from_function: str = Field(alias="from", min_length=1)
    to_function: str = Field(alias="to", min_length=1)
    stage: Literal["before_first_order", "after_first_order", "on_leave_or_departure"]

    @field_validator("name", "from_function", "to_function")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip() or "\x00" in value:
            raise ValueError("must be a non-empty text without NUL")
        return value.strip()

    @property
    def label(self) -> str:
        """ "name (FROM→TO)", as explanations show it."""
        return f"{self.name} ({self.from_function}→{self.to_function})"


class HandoverPolicy(BaseModel):
    """The company's declared flows (none by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flows: tuple[Flow, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> HandoverPolicy:
        names = [f.name for f in self.flows]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"flow names must be unique; repeated: {', '.join(dup)}")
        return self

    def flow(self, name: str) -> Flow | None:
        """The declared flow called `name` (None for `UNDECLARED` or unknown names)."""
        return next((f for f in self.flows if f.name == name), None)

    def digest(self) -> str:
        """sha256 of the policy's canonical JSON (what a training run records)."""
        canonical = json.dumps(self.model_dump(by_alias=True), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _yaml_path(loc: tuple) -> str:
    """('flows', 1, 'stage') -> 'flows[1].stage' (aliases as the file spells them)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = {"from_function": "from", "to_function": "to"}.get(part, part)
            out += f".{part}" if out else str(part)
    return out or "flows"  # the only whole-file rule: unique flow names


def _message(error: ErrorDetails) -> str:
    if error["type"] == "literal_error":
        return f"must be one of {', '.join(STAGES)}, got {error.get('input')!r}"
    if error["type"] == "extra_forbidden":
        return "unknown key (a flow has name, from, to, stage)"
    return error["msg"].removeprefix("Value error, ")


def parse_policy(text: str, source: str) -> HandoverPolicy:
    """A validated policy from YAML text; raises naming every bad path (e.g. `flows[1].stage`)."""
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        raise PolicyError(f"{source}: not valid YAML: {str(exc)[:200]}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: must be a mapping with one key, `flows`, listing the designed hand-overs")
    if data.get("flows") is None:
        data = {**data, "flows": []}
    try:
        return HandoverPolicy.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_yaml_path(e['loc'])}: {_message(e)}" for e in exc.errors()]
        raise PolicyError(f"{source}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems)) from None


def default_policy() -> HandoverPolicy:
    """The shipped default: no declared flows."""
    text = resources.files("perfml.pipelines.transfer_anomaly").joinpath(DEFAULT_FILE).read_text(encoding="utf-8")
    return parse_policy(text, f"builtin:{DEFAULT_FILE}")


def load_policy(path: str | Path | None = None) -> HandoverPolicy:
    """The company's policy file at `path`, or the default (no flows) when None."""
    if path is None:
        return default_policy()
    path = Path(path)
    if not path.is_file():
        raise PolicyError(f"hand-over policy file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read: {exc}") from None
    return parse_policy(text, str(path))


# -- labelling ------------------------------------------------------------------------------
def change_stage(prior_orders: np.ndarray, giver_days_to_exit: np.ndarray, reason_leave: np.ndarray) -> np.ndarray:
    """Stage of each change: on_leave_or_departure (giver leaves within DEPARTURE_DAYS or the reason
    claims leave/leaving), else before_first_order (no order before the change) or after_first_order."""
    exit_days = np.asarray(giver_days_to_exit, dtype=float)
    with np.errstate(invalid="ignore"):
        departing = (exit_days >= 0) & (exit_days <= DEPARTURE_DAYS)
    leave = departing | np.asarray(reason_leave, dtype=bool)
    ordered = np.asarray(prior_orders, dtype=float) > 0
    return np.where(leave, STAGES[2], np.where(ordered, STAGES[1], STAGES[0])).astype(object)


def label_flows(
    giver_function: pd.Series, receiver_function: pd.Series, stage: np.ndarray, policy: HandoverPolicy
) -> np.ndarray:
    """The first declared flow each change matches (functions case-folded), else `UNDECLARED`."""
    g = giver_function.astype("string").fillna("").map(normalise).to_numpy(dtype=object)
    r = receiver_function.astype("string").fillna("").map(normalise).to_numpy(dtype=object)
    stage = np.asarray(stage, dtype=object)
    out = np.full(len(g), UNDECLARED, dtype=object)
    for flow in reversed(policy.flows):  # the first declared match wins
        hit = (g == normalise(flow.from_function)) & (r == normalise(flow.to_function)) & (stage == flow.stage)
        out[hit] = flow.name
    return out


def peer_medians(
    values: np.ndarray, flow: np.ndarray, settled_at: pd.Series, query_flow: np.ndarray, query_at: pd.Series
) -> np.ndarray:
    """Per query: median of the peers' `values` in its declared flow, over peers settled strictly before `query_at`.

    Peers are rows (`values`, `flow`, `settled_at` = their cut-off, when the value is final); NaN
    values do not count. NaN for undeclared queries and where fewer than MIN_PEERS peers are settled.
    """
    values = np.asarray(values, dtype=float)
    flow, query_flow = np.asarray(flow, dtype=object), np.asarray(query_flow, dtype=object)
    settled = pd.to_datetime(pd.Series(settled_at)).to_numpy(dtype="datetime64[ns]")
    query = pd.to_datetime(pd.Series(query_at)).to_numpy(dtype="datetime64[ns]")
    out = np.full(len(query_flow), np.nan)
    for name in pd.unique(query_flow[query_flow != UNDECLARED]):
        peers = np.flatnonzero((flow == name) & ~np.isnan(values))
        peers = peers[np.argsort(settled[peers], kind="stable")]
        times = settled[peers]
        seen: list[float] = []
        done = 0
        rows = np.flatnonzero(query_flow == name)
        for i in rows[np.argsort(query[rows], kind="stable")]:
            upto = int(np.searchsorted(times, query[i], side="left"))  # settled strictly before
            for j in peers[done:upto]:
                bisect.insort(seen, values[j])
            done = max(done, upto)
            if len(seen) >= MIN_PEERS:
                mid = len(seen) // 2
                out[i] = seen[mid] if len(seen) % 2 else 0.5 * (seen[mid - 1] + seen[mid])
    return out

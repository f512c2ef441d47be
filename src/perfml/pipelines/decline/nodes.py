"""Decline early warning: pure nodes (no I/O) - monthly metrics, snapshot features, labels, baseline, lead time.

Unit: one sales employee at one instant `as_of` (any date or datetime); a snapshot sees only
records dated strictly before it. Month-based features use the complete calendar months before
`as_of` (the last is month m = the month before the one `as_of` falls in) and only what was known
by the end of each month; recent-weeks features count activity, visits, lead touches, new leads
and closed revenue in the 2 and 4 weeks before `as_of` against the employee's own weekly rate over
the 22 weeks before those (a fading rep shows there weeks before a whole month has closed). The
training frame takes its snapshots on the days of the month in `DeclineParams.snapshot_days`
(default: weekly, the 1st, 8th, 15th and 22nd). Every per-month quantity comes from
`perfml.metrics.employee_period_metrics` (one definition per quantity, shared with the rule
engine); this module only turns monthly rows into windows, trends and team-relative values.

Label, of a snapshot whose last complete month is m: 1 when, over the next H months
(m+1..m+H),
  (A) mean credited revenue <= (1 - d) x the trailing 6-month mean (months m-5..m), or
  (B) two consecutive months under 60% of the revenue target;
0 when neither, NaN when unknown: the horizon is not fully observed (beyond the data, or the
employee left) or there is no full 6-month base. Rows are labelled only when both rules can be
evaluated, so early or truncated rows are not labelled just because rule B already fired. A
mid-month snapshot has the label of its month end: part of month m+1 has passed, its horizon has not.

Alerts: a snapshot is alerted when the model's probability reaches the threshold fitted with it (the top
`alert_share` of training scores) or when the activity-fade rule fires (`activity_fade`: activity in the
last 2 and 4 weeks at most `fade_level` of the employee's own weekly rate while still active), which warns
of a strong seller's fade before the model's revenue features let it through.

States (scoring frames, `as_of` given): `no_activity` when the employee has no order, activity
or lead in the `base_months` months before `as_of`; `insufficient_history` with fewer than
`min_history_months` complete data months; else `scored`. `state_reason` says it in words.

Partitioning: everything is per employee except the team-relative columns, which need the
employee's sales peers of the same snapshot - partition by `team_id` (whole teams per partition).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from perfml.metrics import month_start, period_index, period_label, ratio
from perfml.modeling.spec import INSUFFICIENT_HISTORY, NO_ACTIVITY, SCORED

KEY = ["employee_id", "as_of"]
SNAPSHOT_ROLE = "sales"
DAY = pd.Timedelta(days=1)
WEEK = pd.Timedelta(days=7)
DAYS_PER_MONTH = 365.25 / 12
FADE_ROOM = pd.Timedelta(days=92)  # scored time a known fade needs after it to be judged (`fade_alerts`)
SHORT_WEEKS, LONG_WEEKS, RATE_WEEKS = 2, 4, 22  # recent windows and the own-rate window before them


class DeclineParams(BaseModel):
    """Label and evaluation parameters of the decline model (validated; the defaults are the tested ones)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon: int = Field(3, ge=1, le=12, description="label horizon H (months after the snapshot)")
    drop: float = Field(0.3, gt=0, lt=1, description="revenue drop d: future mean <= (1 - d) x trailing mean")
    base_months: int = Field(6, ge=2, le=24, description="months in the trailing revenue base")
    target_floor: float = Field(0.6, gt=0, le=1, description="attainment under this counts as a month under target")
    consecutive: int = Field(
        2, ge=0, description="consecutive months under the floor that make a decline (0 = rule off)"
    )
    fall_rule: float = Field(0.3, gt=0, lt=1, description="baseline: alert when revenue fell this much last month")
    lead_lookback: int = Field(6, ge=0, le=24, description="months before a decline in which an alert counts as early")
    # 0.4 and weekly snapshots: on simulator seeds 1-6 the median first alert moved from 1.4-2 months after
    # an activity fade to none (0.3: 1.0), at alert precision 0.73-0.87; ROC-AUC does not depend on it.
    alert_share: float = Field(
        0.4,
        gt=0,
        lt=1,
        description="share of training snapshots alerted: the alert "
        "threshold is the training scores' (1 - share) quantile, set at fit",
    )
    # Second alert rule. The additive model lifts a strong seller's fade over the threshold only once
    # revenue falls (good revenue features outweigh it); this rule alerts on the fade itself. 0.7 and 7
    # days: held-out on simulator seeds 1-6 the share of fades alerted within a month rose from 53% to
    # 87% (seeds 7-9, not looked at before: 69% to 92%) at alert precision within 0.02 of the model's.
    fade_level: float | None = Field(
        0.7,
        gt=0,
        lt=1,
        description="activity-fade alert: activity in both the "
        "last 2 and 4 weeks at most this share of the own weekly rate (None = off)",
    )
    fade_max_idle_days: float = Field(
        7.0,
        gt=0,
        le=28,
        description="activity-fade alert only with an activity in "
        "the last this many days: at work at a lower rate, not away on leave",
    )
    min_history_months: int = Field(
        3,
        ge=1,
        le=24,
        description="scoring: fewer complete data months before as_of than this is `insufficient_history`, not a score",
    )
    snapshot_days: tuple[Annotated[int, Field(ge=1, le=28)], ...] = Field(
        (1, 8, 15, 22),
        min_length=1,
        description="days of the month on which training snapshots are taken "
        "(1 = month ends); weekly rows teach the recent-weeks features what a fade in progress looks like",
    )
    # A few hundred labelled rows per split and a noisy label: small, randomised trees generalise best.
    # Stumps: an additive model, which measured best across simulator seeds and keeps SHAP per feature clean.
    num_rounds: int = Field(200, ge=10, le=200)
    num_leaves: int = Field(2, ge=2, le=31)
    min_data_in_leaf: int | None = Field(None, ge=1, description="default: n_train / 12, within 10..60")
    learning_rate: float = Field(0.1, gt=0, le=0.5)
    feature_fraction: float = Field(0.5, gt=0, le=1)
    extra_trees: bool = True
    seed: int = 0

    def lgb_params(self, n_train: int) -> dict:
        """LightGBM overrides of the shared lean defaults for `n_train` labelled training rows."""
        min_leaf = self.min_data_in_leaf or int(np.clip(n_train // 12, 10, 60))
        return {
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": min_leaf,
            "learning_rate": self.learning_rate,
            "feature_fraction": self.feature_fraction,
            "extra_trees": self.extra_trees,
        }


# -- window helpers (rows are contiguous months per employee, so k rows back = k months back) ------
def _lag(df: pd.DataFrame, col: str | pd.Series, k: int) -> pd.Series:
    s = df[col] if isinstance(col, str) else col
    return s.groupby(df["employee_id"], sort=False).shift(k)


def _window_sum(df: pd.DataFrame, values: pd.Series, k: int, offset: int = 0) -> pd.Series:
    """Sum of `values` over months m-offset-k+1 .. m-offset; NaN unless all k months exist."""
    grouped = values.fillna(0.0).groupby(df["employee_id"], sort=False)
    cum = grouped.cumsum()
    by = cum.groupby(df["employee_id"], sort=False)
    pos = df.groupby("employee_id", sort=False).cumcount()
    prev = by.shift(k + offset).where(pos >= k + offset, 0.0)
    total = by.shift(offset) if offset else cum
    return (total - prev).where(pos >= k + offset - 1)


def _window_count(df: pd.DataFrame, values: pd.Series, k: int) -> pd.Series:
    return _window_sum(df, values.notna().astype("float64"), k)


def _slope(df: pd.DataFrame, col: str, k: int) -> pd.Series:
    """Least-squares slope per month over the last k months divided by their mean (ratio per month)."""
    x = np.arange(k, dtype=np.float64) - (k - 1) / 2
    w = x / (x**2).sum()
    values = df[col].astype("float64")
    slope = sum(w[k - 1 - j] * _lag(df, values, j) for j in range(k))
    mean = _window_sum(df, values, k) / k
    return ratio(slope, mean)


# -- node: features -------------------------------------------------------------------------------
LEVEL_VS_TEAM = ("revenue_3m", "revenue_6m", "attainment_3m", "activities_3m", "visits_3m", "leads_3m", "open_leads")
TREND_VS_TEAM = (
    "revenue_trend",
    "revenue_slope_6m",
    "activities_trend",
    "activities_slope_6m",
    "visits_trend",
    "attainment_trend",
    "lead_response_hours_3m",
    "leads_contacted_24h_share_3m",
    "lead_conversion_rate_6m",
    "new_customer_share_6m",
    "satisfaction_6m",
)
FEATURES: tuple[str, ...] = (
    "tenure_months",
    "months_since_probation",
    "revenue_1m",
    "revenue_3m",
    "revenue_6m",
    "revenue_change_1m",
    "revenue_trend",
    "revenue_slope_6m",
    "attainment_1m",
    "attainment_3m",
    "attainment_trend",
    "months_under_target_3m",
    "attainment_6m",
    "months_under_target_6m",
    "revenue_concentration_6m",
    "open_leads",
    "accounts_owned",
    "accounts_change_3m",
    "revenue_6m_vs_history",
    "expected_revenue_vs_base",
    "activities_1m",
    "activities_3m",
    "activities_trend",
    "activities_slope_6m",
    "activities_change_1m",
    "visits_3m",
    "visits_trend",
    "calls_trend",
    "leads_3m",
    "lead_response_hours_3m",
    "leads_contacted_24h_share_3m",
    "lead_conversion_rate_6m",
    "new_customer_share_6m",
    "satisfaction_6m",
    "team_revenue_trend",
    "team_revenue_vs_6m",
    "team_leads_vs_6m",
    "revenue_1m_vs_6m",
    *(f"{c}_vs_team" for c in LEVEL_VS_TEAM),
    *(f"{c}_vs_team" for c in TREND_VS_TEAM),
    "activities_2w_vs_rate",
    "activities_4w_vs_rate",
    "visits_2w_vs_rate",
    "visits_4w_vs_rate",
    "lead_touches_4w_vs_rate",
    "leads_4w_vs_rate",
    "revenue_4w_vs_rate",
    "days_since_activity",
)
# Recent-weeks streams: name -> (table, employee column, time column). Each gives `<name>_<k>w_vs_rate`.
STREAMS = {
    "activities": ("activities", "employee_id", "occurred_at"),
    "visits": ("activities", "employee_id", "occurred_at"),
    "lead_touches": ("activities", "employee_id", "occurred_at"),
    "leads": ("leads", "owner_id", "created_at"),
    "revenue": ("orders", "employee_id", "closed_at"),
}


def accounts_owned(monthly: pd.DataFrame, changes: pd.DataFrame) -> pd.Series:
    """Customers each employee owns at the end of each month row of `monthly` (latest change in or before it).

    An ownership spell counts from the month of its change until the month of the customer's next
    change (exclusive); changes after the month end only close spells, so the count is as-of.
    """
    ch = changes[["customer_id", "to_employee_id", "changed_at", "change_id"]].dropna(subset=["changed_at"])
    ch = ch.sort_values(["customer_id", "changed_at", "change_id"], kind="stable")
    start = period_index(ch["changed_at"]).astype("float64")
    end = start.groupby(ch["customer_id"].to_numpy(), sort=False).shift(-1)
    deltas = pd.concat(
        [
            pd.DataFrame({"employee_id": ch["to_employee_id"].to_numpy(), "p": start.to_numpy(), "d": 1.0}),
            pd.DataFrame({"employee_id": ch["to_employee_id"].to_numpy(), "p": end.to_numpy(), "d": -1.0}).dropna(),
        ]
    )
    deltas = deltas.dropna(subset=["employee_id"]).groupby(["employee_id", "p"], as_index=False)[["d"]].sum()
    deltas = deltas.sort_values(["employee_id", "p"], kind="stable")
    deltas["owned"] = deltas.groupby("employee_id", sort=False)["d"].cumsum()
    left = monthly[["employee_id", "p"]].reset_index(names="_row").astype({"p": "float64"})
    if deltas.empty:
        return pd.Series(0.0, index=monthly.index)
    left["employee_id"] = left["employee_id"].astype("string")
    deltas["employee_id"] = deltas["employee_id"].astype("string")
    out = pd.merge_asof(
        left.sort_values("p", kind="stable"),
        deltas[["employee_id", "p", "owned"]].sort_values("p"),
        on="p",
        by="employee_id",
        direction="backward",
    )
    return out.set_index("_row")["owned"].reindex(monthly.index).fillna(0.0)


def employee_month_features(
    monthly: pd.DataFrame, employees: pd.DataFrame, params: DeclineParams, changes: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Window features of every employee-month row of `monthly` (months <= m only), before team-relative columns."""
    m = monthly
    accounts = accounts_owned(m, changes) if changes is not None else pd.Series(np.nan, index=m.index)
    out = m[["employee_id", "team_id", "role", "period", "p"]].copy()
    rev, act = m["revenue"].astype("float64"), m["activities"].astype("float64")

    def mean(col: str | pd.Series, k: int, offset: int = 0) -> pd.Series:
        values = m[col] if isinstance(col, str) else col
        return _window_sum(m, values.astype("float64"), k, offset) / k

    out["tenure_months"] = m["tenure_months"]
    emp = employees.set_index("employee_id")
    probation = (
        period_index(emp["probation_end_date"]).reindex(m["employee_id"]).to_numpy(dtype="float64", na_value=np.nan)
    )
    out["months_since_probation"] = m["p"].to_numpy(dtype="float64") - probation

    out["revenue_1m"] = rev
    out["revenue_3m"] = mean(rev, 3)
    out["revenue_6m"] = mean(rev, 6)
    out["revenue_change_1m"] = ratio(rev, _lag(m, rev, 1)) - 1
    out["revenue_trend"] = ratio(out["revenue_3m"], mean(rev, 3, offset=3))
    out["revenue_slope_6m"] = _slope(m, "revenue", 6)
    # Mean reversion: a 6-month base well above the employee's whole record tends to fall back.
    seen = m.groupby("employee_id", sort=False).cumcount() + 1
    out["revenue_6m_vs_history"] = ratio(out["revenue_6m"], rev.groupby(m["employee_id"], sort=False).cumsum() / seen)

    target = m["revenue_target"].astype("float64")
    out["attainment_1m"] = ratio(rev, target)
    out["attainment_3m"] = ratio(_window_sum(m, rev, 3), _window_sum(m, target, 3))
    out["attainment_trend"] = out["attainment_3m"] - ratio(_window_sum(m, rev, 3, 3), _window_sum(m, target, 3, 3))
    under = (ratio(rev, target) < params.target_floor).astype("float64")
    out["months_under_target_3m"] = _window_sum(m, under, 3)
    out["attainment_6m"] = ratio(_window_sum(m, rev, 6), _window_sum(m, target, 6))
    out["months_under_target_6m"] = _window_sum(m, under, 6)
    # A base inflated by one lumpy month tends to fall back: share of 6 months' revenue in the best month.
    best = pd.concat([_lag(m, rev, j) for j in range(6)], axis=1).max(axis=1, skipna=False)
    out["revenue_concentration_6m"] = ratio(best, _window_sum(m, rev, 6))

    out["activities_1m"] = act
    out["activities_3m"] = mean(act, 3)
    out["activities_trend"] = ratio(out["activities_3m"], mean(act, 3, offset=3))
    out["activities_slope_6m"] = _slope(m, "activities", 6)
    out["activities_change_1m"] = ratio(act, _lag(m, act, 1)) - 1
    out["visits_3m"] = mean("visits", 3)
    out["visits_trend"] = ratio(out["visits_3m"], mean("visits", 3, offset=3))
    out["calls_trend"] = ratio(mean("calls", 3), mean("calls", 3, offset=3))
    out["leads_3m"] = mean("leads", 3)

    resp = m["lead_response_hours"].astype("float64")
    out["lead_response_hours_3m"] = ratio(_window_sum(m, resp, 3), _window_count(m, resp, 3))
    due = m["leads_due_24h"].astype("float64")
    out["leads_contacted_24h_share_3m"] = ratio(
        _window_sum(m, m["leads_contacted_24h_share"] * due, 3), _window_sum(m, due, 3)
    )
    resolved = (m["leads_converted"] + m["leads_lost"]).astype("float64")
    out["lead_conversion_rate_6m"] = ratio(_window_sum(m, m["leads_converted"], 6), _window_sum(m, resolved, 6))
    out["new_customer_share_6m"] = ratio(_window_sum(m, m["new_revenue"], 6), _window_sum(m, rev, 6))
    responses = m["satisfaction_responses"].astype("float64")
    out["satisfaction_6m"] = ratio(_window_sum(m, m["avg_satisfaction"] * responses, 6), _window_sum(m, responses, 6))
    # Open pipeline at the month end: leads created so far minus those converted or lost so far.
    net = (m["leads"] - m["leads_converted"] - m["leads_lost"]).astype("float64")
    out["open_leads"] = net.groupby(m["employee_id"], sort=False).cumsum().clip(lower=0)
    out["accounts_owned"] = accounts
    out["accounts_change_3m"] = ratio(accounts, _lag(m, accounts, 3)) - 1

    # What the pipeline and the book should bring per month, against the trailing base: open leads x own
    # conversion x own mean new deal, spread over the horizon, plus accounts x own repeat revenue per
    # account-month (rates over every month seen, steadier than any 6-month window).
    def to_date(col: str | pd.Series) -> pd.Series:
        values = (m[col] if isinstance(col, str) else col).astype("float64").fillna(0.0)
        return values.groupby(m["employee_id"], sort=False).cumsum()

    deal = ratio(to_date("new_revenue"), to_date("new_customers"))
    conversion = ratio(to_date("leads_converted"), to_date(m["leads_converted"] + m["leads_lost"]))
    per_account = ratio(to_date("repeat_revenue"), to_date(accounts))
    expected = out["open_leads"] * conversion * deal / params.horizon + accounts * per_account
    out["expected_revenue_vs_base"] = ratio(expected, out["revenue_6m"])
    team = m["team_revenue"].astype("float64")
    out["team_revenue_trend"] = ratio(_window_sum(m, team, 3), _window_sum(m, team, 3, 3))
    # A team-wide slump shows first in the team's last month against its own recent months.
    out["team_revenue_vs_6m"] = ratio(team, _window_sum(m, team, 6) / 6)
    team_leads = m.groupby(["team_id", "p"], sort=False)["leads"].transform("sum").astype("float64")
    out["team_leads_vs_6m"] = ratio(team_leads, _window_sum(m, team_leads, 6) / 6)
    out["revenue_1m_vs_6m"] = ratio(rev, out["revenue_6m"])
    return out


def add_team_relative(frame: pd.DataFrame, peers: np.ndarray | None = None) -> pd.DataFrame:
    """`<level>_vs_team` = value / team median - 1 and `<trend>_vs_team` = value - team median, same snapshot.

    Medians over the `peers` rows (default: every row) of the same team and `as_of`."""
    out = frame.copy()
    ref = out if peers is None else out[peers]
    key = ["team_id", "as_of"]
    medians = ref.groupby(key, sort=False)[list(LEVEL_VS_TEAM + TREND_VS_TEAM)].median()
    med = out[key].merge(medians, left_on=key, right_index=True, how="left")
    for col in LEVEL_VS_TEAM:
        out[f"{col}_vs_team"] = ratio(out[col], med[col]) - 1
    for col in TREND_VS_TEAM:
        out[f"{col}_vs_team"] = out[col] - med[col]
    return out


def event_streams(dataset) -> dict[str, pd.DataFrame]:
    """Dated events per recent-weeks stream: employee_id, t, w (weight: 1, or the order amount for revenue)."""
    out = {}
    for name, (table, who, when) in STREAMS.items():
        df = dataset.table(table)
        if name == "visits":
            df = df[df["type"] == "visit"]
        elif name == "lead_touches":
            df = df[df["lead_id"].notna()]
        w = df["amount"].astype("float64") if name == "revenue" else pd.Series(1.0, index=df.index)
        ev = pd.DataFrame(
            {"employee_id": df[who].astype("string"), "t": df[when].astype("datetime64[ns]"), "w": w.fillna(0.0)}
        ).dropna(subset=["employee_id", "t"])
        out[name] = ev.sort_values(["employee_id", "t"], kind="stable").reset_index(drop=True)
    return out


def _before(events: pd.DataFrame, who: pd.Series, when: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(total weight, time of the last event) of each employee's events dated strictly before each `when`."""
    n = len(who)
    if events.empty or n == 0:
        return np.zeros(n), np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    ids = pd.Index(pd.unique(pd.concat([events["employee_id"], who.astype("string")], ignore_index=True).dropna()))
    ev = pd.DataFrame(
        {
            "e": ids.get_indexer(pd.Index(events["employee_id"])),
            "t": events["t"].to_numpy(),
            "cum": events.groupby("employee_id", sort=False)["w"].cumsum().to_numpy(),
            "last": events["t"].to_numpy(),
        }
    )
    q = pd.DataFrame(
        {
            "e": ids.get_indexer(pd.Index(who.astype("string"))),
            "t": when.astype("datetime64[ns]").to_numpy(),
            "_row": np.arange(n),
        }
    )
    # Events at exactly `when` are not before it: strict as-of.
    hit = pd.merge_asof(
        q.sort_values("t", kind="stable"),
        ev.sort_values("t", kind="stable"),
        on="t",
        by="e",
        direction="backward",
        allow_exact_matches=False,
    ).sort_values("_row")
    return hit["cum"].fillna(0.0).to_numpy(), hit["last"].to_numpy(dtype="datetime64[ns]")


def recent_weeks_features(rows: pd.DataFrame, streams: dict[str, pd.DataFrame], start: pd.Series) -> pd.DataFrame:
    """Recent behaviour against the employee's own rate, per row (employee_id, as_of), records before `as_of`.

    `<stream>_<k>w_vs_rate`: weekly rate over the k weeks before as_of divided by the weekly rate over
    the `RATE_WEEKS` before those 4 weeks (from `start` at the earliest: hire or first data month; NaN
    with under 4 weeks of it or a zero rate); `days_since_activity`: days since the last activity.
    """
    t = rows["as_of"].astype("datetime64[ns]").reset_index(drop=True)
    who = rows["employee_id"].reset_index(drop=True)
    long_start = t - LONG_WEEKS * WEEK
    rate_start = pd.Series(
        np.maximum((long_start - RATE_WEEKS * WEEK).to_numpy(), start.astype("datetime64[ns]").to_numpy()),
        dtype="datetime64[ns]",
    )
    rate_weeks = ((long_start - rate_start) / WEEK).to_numpy(dtype="float64")
    out = pd.DataFrame(index=rows.index)
    for name, events in streams.items():
        now, last = _before(events, who, t)
        at_long, _ = _before(events, who, long_start)
        rate = (at_long - _before(events, who, rate_start)[0]) / np.where(rate_weeks >= 4, rate_weeks, np.nan)
        rate = np.where(rate > 0, rate, np.nan)
        weeks = (SHORT_WEEKS, LONG_WEEKS) if name in ("activities", "visits") else (LONG_WEEKS,)
        for k in weeks:
            recent = now - (at_long if k == LONG_WEEKS else _before(events, who, t - k * WEEK)[0])
            out[f"{name}_{k}w_vs_rate"] = recent / k / rate
        if name == "activities":
            out["days_since_activity"] = ((t.to_numpy() - last) / DAY).astype("float64")
    return out


def _employed_sales(employees: pd.DataFrame, who: pd.Series, as_of: pd.Series) -> np.ndarray:
    """Whether each (employee, instant) is a sales employee employed then (unknown hire date: employed)."""
    emp = employees.set_index("employee_id")
    term = emp["termination_date"].reindex(who).to_numpy()
    hired = emp["hire_date"].reindex(who).to_numpy()
    role = emp["role"].reindex(who).to_numpy()
    t = as_of.to_numpy()
    return (pd.isna(term) | (term >= t)) & (pd.isna(hired) | (hired < t)) & (role == SNAPSHOT_ROLE)


def _history_start(employees: pd.DataFrame, who: pd.Series, record_start: pd.Timestamp) -> pd.Series:
    hired = employees.set_index("employee_id")["hire_date"].reindex(who).astype("datetime64[ns]")
    return hired.where(hired > record_start, record_start).fillna(record_start).reset_index(drop=True)


def _finish(
    feats: pd.DataFrame,
    streams: dict[str, pd.DataFrame],
    employees: pd.DataFrame,
    params: DeclineParams,
    record_start: pd.Timestamp,
    peers: np.ndarray | None = None,
) -> pd.DataFrame:
    feats = feats.reset_index(drop=True)
    start = _history_start(employees, feats["employee_id"], record_start)
    feats = pd.concat([feats, recent_weeks_features(feats, streams, start)], axis=1)
    feats = add_team_relative(feats, peers)
    feats["label_known_at"] = month_start(feats["p"].to_numpy() + 1 + params.horizon).to_numpy()
    return feats


def snapshot_features(
    monthly: pd.DataFrame,
    employees: pd.DataFrame,
    params: DeclineParams,
    streams: dict[str, pd.DataFrame],
    record_start: pd.Timestamp,
    changes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The training frame: one row per sales employee employed at each snapshot (days `snapshot_days` of
    every month), once the data holds `base_months` of their history (the trailing base of the label).

    Columns: employee_id, as_of, team_id, period (the last complete month), p, label_known_at
    (= start of month p + 1 + H), then `FEATURES`. `record_start`: first instant of the activity record.
    """
    feats = employee_month_features(monthly, employees, params, changes)
    # Without a full revenue base there is no decline to speak of (and no label to learn from).
    seen = feats.groupby("employee_id", sort=False).cumcount() + 1
    feats = feats[(seen >= params.base_months).to_numpy()]
    first = month_start(feats["p"].to_numpy() + 1).to_numpy()
    feats = pd.concat(
        [feats.assign(as_of=first + np.timedelta64(day - 1, "D")) for day in params.snapshot_days], ignore_index=True
    )
    feats = feats[_employed_sales(employees, feats["employee_id"], feats["as_of"])]
    feats = _finish(feats, streams, employees, params, record_start)
    cols = ["employee_id", "as_of", "team_id", "period", "p", "label_known_at", *FEATURES]
    return feats[cols].sort_values(["as_of", "employee_id"], kind="stable").reset_index(drop=True)


def _when(t: pd.Timestamp) -> str:
    return str(t.date()) if t == t.normalize() else t.isoformat(sep=" ", timespec="minutes")


def scoring_features(
    monthly: pd.DataFrame,
    employees: pd.DataFrame,
    params: DeclineParams,
    streams: dict[str, pd.DataFrame],
    record_start: pd.Timestamp,
    as_of: pd.Timestamp,
    changes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """What can be scored at the instant `as_of`: one row per sales employee employed then, with `state`
    and `state_reason` (see the module doc), `months_from`/`months_to` (the complete months read) and,
    for `scored` rows, `FEATURES` (month windows up to the month before `as_of`'s, recent weeks before it).

    `monthly`, `changes`: records before the start of `as_of`'s month; `streams`: events before `as_of`.
    """
    as_of = pd.Timestamp(as_of)
    last = period_index(as_of) - 1  # the last complete month
    roster = employees[["employee_id", "team_id"]].assign(as_of=as_of)
    roster = roster[_employed_sales(employees, roster["employee_id"], roster["as_of"])].reset_index(drop=True)
    feats = employee_month_features(monthly, employees, params, changes)
    seen = feats.groupby("employee_id", sort=False).cumcount() + 1
    feats = feats.assign(months_seen=seen, months_from=feats.groupby("employee_id", sort=False)["p"].transform("min"))
    frame = roster.merge(feats[feats["p"] == last].drop(columns="team_id"), on="employee_id", how="left")
    frame["p"] = last
    frame["period"] = period_label(last)
    frame["months_seen"] = frame["months_seen"].fillna(0).astype("int64")
    frame = _finish(
        frame, streams, employees, params, record_start, peers=(frame["months_seen"] >= params.base_months).to_numpy()
    )
    frame["months_from"] = period_label(frame["months_from"]).astype("object").where(frame["months_seen"] > 0, None)
    frame["months_to"] = frame["period"].where(frame["months_seen"] > 0, None)
    frame["state"], frame["state_reason"] = _states(frame, streams, params, as_of, last)
    cols = [
        "employee_id",
        "as_of",
        "team_id",
        "period",
        "p",
        "label_known_at",
        "state",
        "state_reason",
        "months_from",
        "months_to",
        *FEATURES,
    ]
    return frame[cols].sort_values("employee_id", kind="stable").reset_index(drop=True)


def _states(
    frame: pd.DataFrame, streams: dict[str, pd.DataFrame], params: DeclineParams, as_of: pd.Timestamp, last: int
) -> tuple[np.ndarray, np.ndarray]:
    """(state, reason) per scoring row: no activity in the lookback, too few complete data months, or scored."""
    since = month_start(last - params.base_months + 1)
    who = frame["employee_id"]
    counts = sum(
        _before(streams[s], who, pd.Series(as_of, index=who.index))[0]
        - _before(streams[s], who, pd.Series(since, index=who.index))[0]
        for s in ("activities", "leads")
    )
    orders = streams["revenue"]
    in_lookback = orders[(orders["t"] >= since) & (orders["t"] < as_of)]
    counts = counts + who.isin(set(in_lookback["employee_id"])).to_numpy()
    months = frame["months_seen"].to_numpy()
    state = np.where(
        counts == 0, NO_ACTIVITY, np.where(months < params.min_history_months, INSUFFICIENT_HISTORY, SCORED)
    ).astype(object)
    quiet = f"no activity on record: no orders, activities or leads from {_when(since)} to before {_when(as_of)}"
    reason = np.full(len(frame), "", dtype=object)
    reason[state == NO_ACTIVITY] = quiet
    ends = [st["t"].max() for st in streams.values() if len(st)]
    if not ends or max(ends) < since:  # the export ends before the window: silence is not inactivity
        ended = "there are no records" if not ends else f"the data ends on {_when(max(ends))}"
        state[:] = INSUFFICIENT_HISTORY
        reason[:] = f"nothing on record from {_when(since)} to before {_when(as_of)}: {ended}"
        return state, reason
    for i in np.flatnonzero(state == INSUFFICIENT_HISTORY):
        n = int(months[i])
        span = f" ({frame['months_from'].iloc[i]} to {frame['months_to'].iloc[i]})" if n else ""
        reason[i] = (
            f"{n} complete data month{'s' if n != 1 else ''} before {_when(as_of)}{span}; "
            f"{params.min_history_months} needed"
        )
    return state, reason


# -- node: activity-fade alert rule ----------------------------------------------------------------
FADE_COLUMNS = ("activities_2w_vs_rate", "activities_4w_vs_rate", "days_since_activity")


def activity_fade(features: pd.DataFrame, params: DeclineParams) -> np.ndarray:
    """Per row: whether the activity-fade rule alerts - activity in the last 2 and in the last 4 weeks both
    at most `fade_level` x the own weekly rate, with an activity in the last `fade_max_idle_days` days.

    Unscored rows (`state` other than scored) and rows with a feature unknown never alert."""
    if params.fade_level is None or features.empty or not set(FADE_COLUMNS) <= set(features.columns):
        return np.zeros(len(features), dtype=bool)  # off, or activities not tracked
    short, long, idle = (features[c].to_numpy(dtype="float64", na_value=np.nan) for c in FADE_COLUMNS)
    fired = (short <= params.fade_level) & (long <= params.fade_level) & (idle <= params.fade_max_idle_days)
    if "state" in features:
        fired &= (features["state"] == SCORED).to_numpy()
    return fired


def activity_fade_reasons(features: pd.DataFrame, params: DeclineParams) -> np.ndarray:
    """Per row the activity-fade rule's reason in words when it alerts, else None."""
    out = np.full(len(features), None, dtype=object)
    for i in np.flatnonzero(activity_fade(features, params)):
        row = features.iloc[i]
        out[i] = (
            f"activity fade: the last 2 weeks at {row['activities_2w_vs_rate']:.0%} and the last 4 weeks at "
            f"{row['activities_4w_vs_rate']:.0%} of the own usual weekly rate (alert at "
            f"{params.fade_level:.0%} or less while still active)"
        )
    return out


# -- node: labels ----------------------------------------------------------------------------------
def decline_labels(
    monthly: pd.DataFrame, snapshots: pd.DataFrame, params: DeclineParams, last_period: int | None = None
) -> pd.Series:
    """0/1/NaN decline label per snapshot row (employee_id, p = last month seen), aligned to `snapshots`.

    Rule A: mean revenue of months p+1..p+H <= (1 - drop) x mean of months p-5..p (base > 0);
    rule B: `consecutive` months under `target_floor` x target inside the horizon (0 disables it).

    `monthly` needs employee_id, p, revenue, revenue_target with contiguous months per employee;
    months after `last_period` (month index; default: the last in `monthly`) count as unobserved.
    """
    m = monthly[["employee_id", "p", "revenue", "revenue_target"]].sort_values(["employee_id", "p"], kind="stable")
    m = m.reset_index(drop=True)
    last = int(m["p"].max()) if last_period is None else int(last_period)
    rev = m["revenue"].astype("float64")
    by_emp = m.groupby("employee_id", sort=False)
    # Same quantity as metrics' revenue_trailing6_mean of month m+1 (6 employed months, m included).
    base = _window_sum(m, rev, params.base_months) / params.base_months

    H = params.horizon
    futures, unders, observed = [], [], []
    under_now = (ratio(rev, m["revenue_target"]) < params.target_floor).astype("float64")
    for k in range(1, H + 1):
        # The month k ahead must be the next calendar month row of the same employee, inside the data.
        p_k = by_emp["p"].shift(-k)
        ok = (p_k == m["p"] + k) & (m["p"] + k <= last)
        observed.append(ok)
        futures.append(rev.groupby(m["employee_id"], sort=False).shift(-k).where(ok))
        unders.append(under_now.groupby(m["employee_id"], sort=False).shift(-k).where(ok))
    complete = np.logical_and.reduce([o.to_numpy() for o in observed])
    future_mean = pd.concat(futures, axis=1).mean(axis=1, skipna=False)
    rule_a = (future_mean <= (1 - params.drop) * base) & (base > 0)
    # Rule B: `consecutive` months under the floor inside the horizon (observed months only).
    u = pd.concat(unders, axis=1).fillna(0.0).to_numpy()
    c = params.consecutive
    rule_b = np.zeros(len(m), bool)
    for start in range(0, H - c + 1 if c > 0 else 0):
        rule_b |= u[:, start : start + c].all(axis=1)
    # Known only with the whole horizon observed and a full base: labelling early or truncated rows
    # only when rule B already fired would make those rows positive by construction.
    known = complete & base.notna().to_numpy()
    label = np.where(known, (rule_a.to_numpy() | rule_b).astype("float64"), np.nan)
    m["label"] = label
    keyed = snapshots[["employee_id", "p"]].merge(m[["employee_id", "p", "label"]], on=["employee_id", "p"], how="left")
    return pd.Series(keyed["label"].to_numpy(dtype="float64"), index=snapshots.index, name="label")


# -- node: baseline ----------------------------------------------------------------------------------
def revenue_fell_baseline(features: pd.DataFrame, params: DeclineParams) -> np.ndarray:
    """The naive rule's score: the size of last month's revenue fall, in [0, 1] (alert at >= `fall_rule`)."""
    fall = -features["revenue_change_1m"].astype("float64").to_numpy()
    return np.clip(np.nan_to_num(fall, nan=0.0), 0.0, 1.0)


# -- node: lead time ---------------------------------------------------------------------------------
def lead_times(frame: pd.DataFrame, threshold: float, params: DeclineParams) -> pd.DataFrame:
    """Per decline episode: its start month, the first alert and the lead time (months).

    `frame`: employee_id, p (snapshot month), label, score for consecutive snapshots. An episode
    starts at a snapshot whose label turns 1 after a 0 (left-censored runs are skipped); the
    decline starts in the first month of that horizon (p0 + 1). The first alert is the earliest
    snapshot with score >= threshold in [p0 - lookback, p0 + H - 1]; lead time = (p0 + 1) - alert
    month (1 = alerted at the end of the month before the decline started; NaN = never alerted).
    """
    f = frame[["employee_id", "p", "label", "score"]].sort_values(["employee_id", "p"], kind="stable")
    f = f.reset_index(drop=True)
    prev_label = f.groupby("employee_id", sort=False)["label"].shift(1)
    prev_p = f.groupby("employee_id", sort=False)["p"].shift(1)
    starts = f[(f["label"] == 1) & (prev_label == 0) & (prev_p == f["p"] - 1)][["employee_id", "p"]]
    starts = starts.rename(columns={"p": "p0"}).reset_index(drop=True)
    starts["episode"] = np.arange(len(starts))
    alerts = f.loc[f["score"] >= threshold, ["employee_id", "p"]]
    pairs = starts.merge(alerts, on="employee_id", how="inner")
    window = (pairs["p"] >= pairs["p0"] - params.lead_lookback) & (pairs["p"] <= pairs["p0"] + params.horizon - 1)
    first = pairs[window].groupby("episode")["p"].min()
    starts["decline_start"] = starts["p0"] + 1
    starts["first_alert"] = starts["episode"].map(first)
    starts["lead_time_months"] = starts["decline_start"] - starts["first_alert"]
    return starts.drop(columns="episode")


def alert_summary(frame: pd.DataFrame, threshold: float, params: DeclineParams) -> dict[str, float]:
    """At `threshold`: alert rate, precision, recall (rows), and per decline episode the share alerted,
    the median and mean lead time (months) and the share alerted at least a month ahead."""
    y = frame["label"].to_numpy(dtype="float64")
    alert = frame["score"].to_numpy(dtype="float64") >= threshold
    episodes = lead_times(frame, threshold, params)
    lead = episodes["lead_time_months"]
    nan = float("nan")
    return {
        "alert_rate": float(alert.mean()) if len(alert) else nan,
        "alert_precision": float(y[alert].mean()) if alert.any() else nan,
        "alert_recall": float(alert[y == 1].mean()) if (y == 1).any() else nan,
        "episodes": float(len(episodes)),
        "episodes_alerted": float(lead.notna().mean()) if len(episodes) else nan,
        "lead_time_median": float(lead.median()) if lead.notna().any() else nan,
        "lead_time_mean": float(lead.mean()) if lead.notna().any() else nan,
        "early_share": float((lead >= 1).mean()) if len(episodes) else nan,
    }


# -- evaluation against known fade starts --------------------------------------------------------------
def fade_alerts(
    scores: pd.DataFrame,
    fades: pd.DataFrame,
    monthly: pd.DataFrame,
    threshold: float,
    drop: float = 0.3,
    room: pd.Timedelta = FADE_ROOM,
) -> pd.DataFrame:
    """Per known activity fade: how long after it the first alert came, and how long before revenue fell.

    `scores`: employee_id, as_of, score at successive instants; `fades`: employee_id, fade_start (when
    activity began to fade, e.g. a simulator's truth); `monthly`: employee_id, p, revenue. A fade counts
    when it starts inside the scored period with `room` after it and the employee is scored then. The
    first alert is the earliest instant at or after fade_start scoring >= threshold
    (`alert_delay_months`: months after fade_start, inf = never alerted). The revenue fall is the first
    month from the fade's on whose revenue is at most (1 - drop) x the mean of the 6 months before it;
    `lead_before_fall_months`: months from the first alert to the start of that month (NaN if it never
    fell or no alert came).
    """
    s = scores[["employee_id", "as_of", "score"]]
    lo, hi = s["as_of"].min(), s["as_of"].max()
    f = fades[(fades["fade_start"] >= lo) & (fades["fade_start"] <= hi - room)]
    f = f[f["employee_id"].isin(set(s["employee_id"]))].reset_index(drop=True)
    pairs = f.merge(s, on="employee_id")
    after = pairs[pairs["as_of"] >= pairs["fade_start"]]
    # Employees who left before the fade's first scoring instant cannot be judged.
    f = f[f["employee_id"].isin(set(after["employee_id"]))].reset_index(drop=True)
    first = after[after["score"] >= threshold].groupby(["employee_id", "fade_start"])["as_of"].min()
    f["first_alert"] = pd.MultiIndex.from_frame(f[["employee_id", "fade_start"]]).map(first.to_dict().get)
    f["first_alert"] = pd.to_datetime(f["first_alert"])
    month = DAYS_PER_MONTH * DAY
    f["alert_delay_months"] = ((f["first_alert"] - f["fade_start"]) / month).fillna(np.inf)
    rev = monthly.set_index(["employee_id", "p"])["revenue"].astype("float64")
    falls = []
    for who, start in zip(f["employee_id"], f["fade_start"], strict=True):
        p0 = period_index(start)
        base = rev.reindex([(who, p0 - k) for k in range(1, 7)])
        fall = pd.NaT
        if base.notna().all() and base.mean() > 0:
            after_fade = rev.loc[who] if who in rev.index.get_level_values(0) else pd.Series(dtype="float64")
            hits = after_fade[(after_fade.index >= p0) & (after_fade <= (1 - drop) * base.mean())]
            fall = month_start(int(hits.index.min())) if len(hits) else pd.NaT
        falls.append(fall)
    f["revenue_fall"] = pd.to_datetime(pd.Series(falls, dtype="object"))
    f["lead_before_fall_months"] = (f["revenue_fall"] - f["first_alert"]) / month
    return f


def fade_summary(alerts: pd.DataFrame) -> dict[str, float]:
    """Median first-alert delay after the fade (inf when most are never alerted), share alerted within
    1 month, share ever alerted, and the median lead before the revenue fall (months), over `fade_alerts`."""
    delay, lead = alerts["alert_delay_months"], alerts["lead_before_fall_months"].dropna()
    nan = float("nan")
    return {
        "fades": float(len(alerts)),
        "alert_delay_median": float(delay.median()) if len(delay) else nan,
        "alerted_within_1m": float((delay <= 1).mean()) if len(delay) else nan,
        "alerted": float(np.isfinite(delay).mean()) if len(delay) else nan,
        "lead_before_fall_median": float(lead.median()) if len(lead) else nan,
        "falls": float(alerts["revenue_fall"].notna().sum()),
    }

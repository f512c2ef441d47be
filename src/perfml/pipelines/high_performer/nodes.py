"""High-performer profile: pure nodes (no I/O) - units, behaviour features, labels, profile, contrasts.

Unit: a sales rep or assistant with at least 12 observed months. Months 1-6 are the first six
calendar months of the employee *in the data*: from the hire month for people hired inside the
data window, from the first data month for people hired before it (their own first months are
not in the data; `only_new_hires=True` keeps just the former, which on a two-year export leaves
few units). Features describe behaviour in months 1-6 (records strictly before the start of
month 7, the unit's `cutoff`); the label is the top quartile (`top_share`) of attainment over
months 7-12 (revenue / revenue target, `perfml.metrics`) among units of the same role.

Per-month quantities come from `perfml.metrics`; the behaviours it does not define (early-hour
contact, visit share of contacts, follow-up gap, median first-response time) are computed here
from the activities and leads tables, all per employee - partition by employee freely.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from perfml import catalog
from perfml.metrics import month_start, period_index, ratio
from perfml.modeling.spec import INSUFFICIENT_HISTORY, NO_ACTIVITY, SCORED

ROLES = ("sales", "assistant")
WEEK = pd.Timedelta(days=7)
WEEKS_PER_MONTH = 365.25 / 12 / 7

BEHAVIOURS: tuple[str, ...] = (
    "visits_per_week",
    "visit_share",
    "contacts_per_week",
    "activities_per_week",
    "calls_per_week",
    "meetings_per_week",
    "early_contact_share",
    "first_response_hours",
    "leads_contacted_24h_share",
    "followup_gap_days",
    "touches_per_lead",
    "leads_per_month",
    "new_revenue_share",
)
# Months 1-6 results, not behaviours: they predict months 7-12 through the same behaviours, so as model
# inputs they absorb them and the profile would only say "early sellers sell later". Out by default:
# cohort cross-validated ROC-AUC on simulator seeds 1-5 is 0.868 without them and 0.869 with them.
EARLY_RESULTS: tuple[str, ...] = ("lead_conversion_rate", "new_customers_per_month", "satisfaction_avg")
CONTEXT: tuple[str, ...] = ("is_assistant", "tenure_at_start_months", "weeks_observed")


class HighPerformerParams(BaseModel):
    """Parameters of the high-performer profile (validated; the defaults are the tested ones)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_months: int = Field(6, ge=1, le=12, description="months of behaviour (months 1..N)")
    label_months: int = Field(6, ge=1, le=12, description="months whose attainment defines the label (N+1..N+L)")
    top_share: float = Field(0.25, gt=0, lt=1, description="top share of attainment within role labelled 1")
    early_hour: int = Field(9, ge=1, le=23, description="activities before this hour count as early contact")
    early_results: bool = Field(
        False,
        description="also use months 1-6 results (conversion, new customers, "
        "satisfaction) as model inputs; see EARLY_RESULTS",
    )
    only_new_hires: bool = Field(False, description="only employees whose hire month is inside the data")
    min_weeks: float = Field(4.0, ge=0, description="scoring: least weeks of behaviour needed for a match score")
    test_size: float = Field(0.3, gt=0, lt=1, description="share of units (latest hires) held out")
    attr_max_levels: int = Field(12, ge=2, description="categorical attr_* columns with more levels are dropped")
    alert_threshold: float = Field(0.5, gt=0, lt=1)
    # About a hundred training employees: stumps (an additive model; best in cohort cross-validation on
    # simulator seeds 1-3), so the profile reads one effect per behaviour and not one person's quirks.
    num_rounds: int = Field(100, ge=10, le=200)
    num_leaves: int = Field(2, ge=2, le=31)
    min_data_in_leaf: int = Field(10, ge=1)
    learning_rate: float = Field(0.05, gt=0, le=0.5)
    feature_fraction: float = Field(0.7, gt=0, le=1)
    seed: int = 0

    def lgb_params(self) -> dict:
        """LightGBM overrides of the shared lean defaults (a few hundred units: small trees)."""
        return {
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "learning_rate": self.learning_rate,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": 1.0,
            "bagging_freq": 0,
        }


# -- node: units ---------------------------------------------------------------------------------------
def profile_units(
    employees: pd.DataFrame,
    first_month: int,
    last_month: int,
    params: HighPerformerParams,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One row per employee of a profiled role with its behaviour window and label window.

    Columns: employee_id, role, team_id, hire_date, start_month (month index of month 1),
    window_start, cutoff (start of month N+1, or `as_of` if earlier), label_known_at (start of
    month N+L+1). Without `as_of`: units whose full window lies inside the data. With `as_of`:
    employees employed at `as_of` whose window started before it (`unit_states` says which can be scored).
    """
    emp = employees[employees["role"].isin(ROLES)].copy()
    hire_month = period_index(emp["hire_date"]).astype("int64").to_numpy()
    if params.only_new_hires:
        emp, hire_month = emp[hire_month >= first_month], hire_month[hire_month >= first_month]
    start = np.maximum(hire_month, first_month)
    out = emp[["employee_id", "role", "team_id", "hire_date"]].reset_index(drop=True)
    out["start_month"] = start
    out["window_start"] = np.maximum(out["hire_date"].to_numpy(), month_start(start).to_numpy())
    out["cutoff"] = month_start(start + params.window_months).to_numpy()
    out["label_known_at"] = month_start(start + params.window_months + params.label_months).to_numpy()
    out["tenure_at_start_months"] = (start - hire_month).astype("float64")
    term = emp["termination_date"].to_numpy()
    if as_of is None:
        keep = (start + params.window_months - 1 <= last_month) & (pd.isna(term) | (term >= out["cutoff"].to_numpy()))
    else:
        as_of = pd.Timestamp(as_of)
        out["cutoff"] = out["cutoff"].where(out["cutoff"] <= as_of, as_of)
        span: pd.Series[pd.Timedelta] = out["cutoff"] - out["window_start"]
        weeks = span / WEEK
        keep = (weeks > 0).to_numpy() & (pd.isna(term) | (term >= as_of))
    return out[keep].reset_index(drop=True)


# -- node: features ------------------------------------------------------------------------------------
def _in_window(events: pd.DataFrame, who: str, when: str, units: pd.DataFrame) -> pd.DataFrame:
    """Events of each unit's employee dated in [window_start, cutoff), with the unit's row number `_u`."""
    u = units[["employee_id", "window_start", "cutoff"]].assign(_u=np.arange(len(units)))
    ev = events.merge(u, left_on=who, right_on="employee_id", how="inner", suffixes=("", "_unit"))
    t = ev[when]
    return ev[(t >= ev["window_start"]) & (t < ev["cutoff"])]


def _per_unit(values: pd.Series, unit: pd.Series, n: int, how: str = "sum") -> np.ndarray:
    agg = values.groupby(unit.to_numpy()).agg(how)
    out = np.full(n, 0.0 if how in ("sum", "size") else np.nan)
    out[agg.index.to_numpy(dtype=np.int64)] = agg.to_numpy(dtype="float64")
    return out


def behaviour_features(
    units: pd.DataFrame,
    monthly: pd.DataFrame,
    activities: pd.DataFrame,
    leads: pd.DataFrame,
    params: HighPerformerParams,
) -> pd.DataFrame:
    """Behaviour in each unit's window [window_start, cutoff): rates per week/month, shares and gaps."""
    n = len(units)
    out = pd.DataFrame(index=units.index)
    span: pd.Series[pd.Timedelta] = units["cutoff"] - units["window_start"]
    weeks = (span / WEEK).to_numpy(dtype="float64")
    weeks = np.where(weeks > 0, weeks, np.nan)
    out["weeks_observed"] = weeks

    acts = _in_window(
        activities[["employee_id", "customer_id", "lead_id", "type", "occurred_at"]],
        "employee_id",
        "occurred_at",
        units,
    )
    u = acts["_u"]
    is_contact = (acts["customer_id"].notna() | acts["lead_id"].notna()).astype("float64")
    visits = _per_unit((acts["type"] == "visit").astype("float64"), u, n)
    contacts = _per_unit(is_contact, u, n)
    total = _per_unit(pd.Series(1.0, index=acts.index), u, n)
    out["visits_per_week"] = visits / weeks
    out["visit_share"] = np.where(
        contacts > 0,
        _per_unit((acts["type"] == "visit").astype("float64") * is_contact, u, n) / np.where(contacts > 0, contacts, 1),
        np.nan,
    )
    out["contacts_per_week"] = contacts / weeks
    out["activities_per_week"] = total / weeks
    out["calls_per_week"] = _per_unit((acts["type"] == "call").astype("float64"), u, n) / weeks
    out["meetings_per_week"] = _per_unit((acts["type"] == "meeting").astype("float64"), u, n) / weeks
    early = (acts["occurred_at"].dt.hour < params.early_hour).astype("float64")
    out["early_contact_share"] = np.where(total > 0, _per_unit(early, u, n) / np.where(total > 0, total, 1), np.nan)

    # Follow-up cadence: days between consecutive touches of the same lead, median per unit.
    lead_acts = acts[acts["lead_id"].notna()].sort_values(["_u", "lead_id", "occurred_at"], kind="stable")
    gap = lead_acts.groupby(["_u", "lead_id"], sort=False)["occurred_at"].diff().dt.total_seconds() / 86400
    out["followup_gap_days"] = _per_unit(gap.dropna(), lead_acts.loc[gap.dropna().index, "_u"], n, "median")

    # Leads created in the window; first response only if it happened before the cut-off.
    lw = _in_window(leads[["lead_id", "owner_id", "created_at", "first_contact_at"]], "owner_id", "created_at", units)
    contacted = lw[lw["first_contact_at"] < lw["cutoff"]]
    hours = (contacted["first_contact_at"] - contacted["created_at"]).dt.total_seconds() / 3600
    out["first_response_hours"] = _per_unit(hours, contacted["_u"], n, "median")
    n_leads = _per_unit(pd.Series(1.0, index=lw.index), lw["_u"], n)
    touches = _per_unit(acts["lead_id"].notna().astype("float64"), u, n)
    out["touches_per_lead"] = np.where(n_leads > 0, touches / np.where(n_leads > 0, n_leads, 1), np.nan)

    out = pd.concat([out, _monthly_window(units, monthly, weeks)], axis=1)
    out["is_assistant"] = (units["role"] == "assistant").astype("float64").to_numpy()
    out["tenure_at_start_months"] = units["tenure_at_start_months"].to_numpy(dtype="float64")
    return out


def _monthly_window(units: pd.DataFrame, monthly: pd.DataFrame, weeks: np.ndarray) -> pd.DataFrame:
    """Window sums of `perfml.metrics` quantities (months from start_month up to the cut-off month)."""
    m = monthly.merge(
        units[["employee_id", "start_month", "cutoff"]].assign(_u=np.arange(len(units))), on="employee_id", how="inner"
    )
    last = period_index(m["cutoff"] - pd.Timedelta(seconds=1)).astype("int64")
    m = m[(m["p"] >= m["start_month"]) & (m["p"] <= last)]
    n, u = len(units), m["_u"]

    def total(col: str | pd.Series) -> np.ndarray:
        return _per_unit((m[col] if isinstance(col, str) else col).astype("float64").fillna(0.0), u, n)

    months = weeks / WEEKS_PER_MONTH
    out = pd.DataFrame(index=units.index)
    due = total("leads_due_24h")
    out["leads_contacted_24h_share"] = ratio(total(m["leads_contacted_24h_share"].fillna(0) * m["leads_due_24h"]), due)
    out["leads_per_month"] = total("leads") / months
    out["lead_conversion_rate"] = ratio(total("leads_converted"), total("leads_converted") + total("leads_lost"))
    out["new_customers_per_month"] = total("new_customers") / months
    out["new_revenue_share"] = ratio(total("new_revenue"), total("revenue"))
    responses = total("satisfaction_responses")
    out["satisfaction_avg"] = ratio(total(m["avg_satisfaction"].fillna(0) * m["satisfaction_responses"]), responses)
    return out


def attr_features(units: pd.DataFrame, employees: pd.DataFrame, params: HighPerformerParams) -> pd.DataFrame:
    """`attr_*` HR attributes: numeric as is, categorical one-hot as `attr_<name>=<level>` (levels sorted)."""
    attrs = [c for c in employees.columns if c.startswith("attr_")]
    emp = employees.set_index("employee_id")[attrs].reindex(units["employee_id"])
    out = {}
    for col in attrs:
        s = emp[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            out[col] = s.astype("float64").to_numpy()
            continue
        levels = sorted(employees[col].dropna().astype(str).unique())
        if len(levels) > params.attr_max_levels:
            continue
        for level in levels:
            out[f"{col}={level}"] = (s.astype("string") == level).astype("float64").to_numpy()
    return pd.DataFrame(out, index=units.index)


def unit_features(
    units: pd.DataFrame,
    monthly: pd.DataFrame,
    activities: pd.DataFrame,
    leads: pd.DataFrame,
    employees: pd.DataFrame,
    params: HighPerformerParams,
) -> pd.DataFrame:
    """The feature frame: unit columns, behaviours, early results and context, then `attr_*` columns."""
    feats = behaviour_features(units, monthly, activities, leads, params)
    return pd.concat(
        [
            units.drop(columns=list(CONTEXT), errors="ignore"),
            feats[[*BEHAVIOURS, *EARLY_RESULTS, *CONTEXT]],
            attr_features(units, employees, params),
        ],
        axis=1,
    )


def feature_columns(frame: pd.DataFrame, early_results: bool = False) -> list[str]:
    """Model inputs of a feature frame: behaviours, (early results,) context and every `attr_*` column present."""
    return [
        *BEHAVIOURS,
        *(EARLY_RESULTS if early_results else ()),
        *CONTEXT,
        *(c for c in frame.columns if c.startswith("attr_")),
    ]


def unit_states(
    units: pd.DataFrame,
    weeks: pd.Series,
    activities: pd.DataFrame,
    orders: pd.DataFrame,
    leads: pd.DataFrame,
    params: HighPerformerParams,
) -> tuple[np.ndarray, np.ndarray]:
    """(state, reason) per scoring unit: no order, activity or lead in its window [window_start, cutoff)
    is `no_activity`; under `min_weeks` of behaviour is `insufficient_history`; else `scored`."""
    n = len(units)
    records = np.zeros(n)
    for events, who, when in (
        (activities, "employee_id", "occurred_at"),
        (orders, "employee_id", "closed_at"),
        (leads, "owner_id", "created_at"),
    ):
        hit = _in_window(events[[who, when]], who, when, units)
        records += _per_unit(pd.Series(1.0, index=hit.index), hit["_u"], n)
    observed = weeks.to_numpy(dtype="float64")
    state = np.where(
        records == 0, NO_ACTIVITY, np.where(~(observed >= params.min_weeks), INSUFFICIENT_HISTORY, SCORED)
    ).astype(object)
    reason = np.full(n, "", dtype=object)
    for i in range(n):
        start, cut = units["window_start"].iloc[i].date(), units["cutoff"].iloc[i]
        cut = cut.date() if cut == cut.normalize() else cut.isoformat(sep=" ", timespec="minutes")
        if state[i] == NO_ACTIVITY:
            reason[i] = f"no activity on record: no orders, activities or leads from {start} to before {cut}"
        elif state[i] == INSUFFICIENT_HISTORY:
            reason[i] = (
                f"{np.nan_to_num(observed[i]):.1f} weeks of behaviour from {start} to before {cut}; "
                f"{params.min_weeks:g} needed"
            )
    return state, reason


# -- node: labels --------------------------------------------------------------------------------------
def label_attainment(
    units: pd.DataFrame, monthly: pd.DataFrame, params: HighPerformerParams, last_month: int
) -> pd.Series:
    """Attainment over months N+1..N+L per unit (sum revenue / sum target); NaN unless all L months are observed."""
    m = monthly[["employee_id", "p", "revenue", "revenue_target"]].merge(
        units[["employee_id", "start_month"]].assign(_u=np.arange(len(units))), on="employee_id", how="inner"
    )
    lo = m["start_month"] + params.window_months
    m = m[(m["p"] >= lo) & (m["p"] < lo + params.label_months)]
    n = len(units)
    revenue = _per_unit(m["revenue"].astype("float64"), m["_u"], n)
    target = _per_unit(m["revenue_target"].astype("float64").fillna(0.0), m["_u"], n)
    months = _per_unit(pd.Series(1.0, index=m.index), m["_u"], n)
    end = units["start_month"].to_numpy() + params.window_months + params.label_months - 1
    ok = (months == params.label_months) & (end <= last_month) & (target > 0)
    return pd.Series(
        np.where(ok, revenue / np.where(target > 0, target, 1), np.nan), index=units.index, name="attainment"
    )


def top_share_labels(attainment: pd.Series, roles: pd.Series, top_share: float = 0.25) -> pd.Series:
    """1.0 for units in the top `top_share` of attainment within their role, 0.0 otherwise, NaN if unknown.

    A unit is top when its attainment is at or above the role's (1 - top_share) quantile
    (linear interpolation), so ties at the boundary are all top.
    """
    att = attainment.astype("float64")
    cut = att.groupby(roles.to_numpy()).transform(lambda s: s.quantile(1 - top_share))
    return pd.Series(
        np.where(att.notna(), (att >= cut).astype("float64"), np.nan), index=attainment.index, name="label"
    )


# -- node: profile -------------------------------------------------------------------------------------
def contrasts(features: pd.DataFrame, labels: pd.Series, columns: list[str]) -> pd.DataFrame:
    """Median of each feature among the top group and among the rest (labelled units only)."""
    lab = labels.notna().to_numpy()
    top = features.loc[lab & (labels == 1).to_numpy(), columns].median()
    rest = features.loc[lab & (labels == 0).to_numpy(), columns].median()
    return pd.DataFrame({"feature": columns, "top_median": top.to_numpy(), "rest_median": rest.to_numpy()})


def global_profile(
    contributions: np.ndarray, values: np.ndarray, feature_names: list[str], contrast: pd.DataFrame
) -> pd.DataFrame:
    """Per feature: mean |SHAP|, direction (does a higher value raise the match?) and the plain contrast.

    `direction` is the sign of the Spearman correlation between a feature's values and its SHAP
    contributions: "higher is better", "lower is better" or "mixed" (|rho| < 0.3 or no variation).
    """
    c = np.asarray(contributions, dtype="float64")
    v = np.asarray(values, dtype="float64")
    importance = np.abs(c).mean(axis=0) if len(c) else np.zeros(len(feature_names))
    ranks_v = pd.DataFrame(v).rank().to_numpy()
    ranks_c = pd.DataFrame(c).rank().to_numpy()
    rho = np.full(len(feature_names), np.nan)
    for j in range(len(feature_names)):  # one correlation per feature column, not per row
        ok = ~np.isnan(ranks_v[:, j])
        if ok.sum() > 2 and np.nanstd(ranks_v[ok, j]) > 0 and np.nanstd(ranks_c[ok, j]) > 0:
            rho[j] = np.corrcoef(ranks_v[ok, j], ranks_c[ok, j])[0, 1]
    direction = np.where(
        np.isnan(rho) | (np.abs(rho) < 0.3), "mixed", np.where(rho > 0, "higher is better", "lower is better")
    )
    out = pd.DataFrame(
        {"feature": feature_names, "shap_importance": importance, "direction": direction, "shap_value_corr": rho}
    )
    out = out.merge(contrast, on="feature", how="left")
    out["shap_rank"] = out["shap_importance"].rank(ascending=False, method="first").astype(int)
    return out.sort_values("shap_rank").reset_index(drop=True)


def describe_profile(profile: pd.DataFrame, top_share: float = 0.25, lang: catalog.Lang = "en") -> pd.DataFrame:
    """The profile for people: catalog display name and unit, and a plain contrast sentence per feature
    ("Visits per week: top quartile 4.2 against 2.1 for the rest", medians)."""
    entries = [catalog.get(f) for f in profile["feature"]]
    out = profile.copy()
    out["display_name"] = [e.display(lang) for e in entries]
    out["unit"] = [e.unit for e in entries]
    if lang == "zh":
        group = "前25%" if top_share == 0.25 else f"前{top_share:.0%}"
        template = "{name}：" + group + " {top}，其余 {rest}"
    else:
        group = "top quartile" if top_share == 0.25 else f"top {top_share:.0%}"
        template = "{name}: " + group + " {top} against {rest} for the rest"
    out["contrast"] = [
        template.format(
            name=e.display(lang), top=catalog.format_value(t, e.unit, lang), rest=catalog.format_value(r, e.unit, lang)
        )
        for e, t, r in zip(entries, out["top_median"], out["rest_median"], strict=True)
    ]
    return out[
        [
            "feature",
            "display_name",
            "shap_rank",
            "shap_importance",
            "direction",
            "contrast",
            "top_median",
            "rest_median",
            "unit",
            "shap_value_corr",
        ]
    ]


def cohort_folds(hire_dates: pd.Series, k: int = 5) -> np.ndarray:
    """Fold number (0..k-1) per unit: k contiguous cohorts by hire date (earliest hires in fold 0)."""
    order = hire_dates.rank(method="first").to_numpy(dtype="float64") - 1
    return np.minimum((order * k // len(hire_dates)).astype(np.int64), k - 1) if len(hire_dates) else np.zeros(0, int)

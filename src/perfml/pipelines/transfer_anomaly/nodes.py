"""Transfer-anomaly nodes: pure functions (no I/O) over the canonical tables.

Unit: an ownership change with a giver (`from_employee_id` present; first assignments are not
transfers). Cut-off (the scoring moment; see `perfml.modeling.split` for why it bounds every feature): one
second after the moved customer's next order closes - so the triggering order itself is known - or, if
none yet, the earliest of the
customer's next ownership change, `max_window_days` after the change, and the as-of time (or the
end of the data). Every feature of a row uses only records dated strictly before its cut-off,
and only values dated strictly before it (a lead's conversion after the cut-off is not seen).

Everything is vectorised with `merge_asof`/groupby; the unit frame can be restricted to any
subset of changes (`change_ids`) and gives the same rows (partitionable by entity).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

from perfml.dataset import Dataset
from perfml.errors import PerfmlError
from perfml.metrics import ratio
from perfml.modeling.unsupervised import Sign
from perfml.pipelines.transfer_anomaly.flows import UNDECLARED, HandoverPolicy, change_stage, label_flows, peer_medians
from perfml.pipelines.transfer_anomaly.reasons import Keywords, default_reason_keywords, normalise, reason_claims

DAY = pd.Timedelta(days=1)
SECOND = pd.Timedelta(seconds=1)
FEATURES: tuple[str, ...] = (
    "giver_owned_days",
    "giver_worked_days",
    "giver_acts_30d",
    "giver_acts_90d",
    "giver_days_since_touch",
    "lead_stage",
    "lead_age_days",
    "receiver_acts_after",
    "receiver_first_touch_days",
    "giver_acts_after",
    "window_days",
    "has_order",
    "days_to_order",
    "order_amount",
    "order_vs_customer_history",
    "order_vs_receiver_history",
    "order_is_new",
    "customer_prior_orders",
    "customer_age_days",
    "pair_prior_changes",
    "pair_prior_quick_orders",
    "giver_prior_quick_orders",
    "receiver_prior_quick_orders",
    "giver_quick_vs_team",
    "giver_changes_90d",
    "giver_changes_same_day",
    "reason_present",
    "reason_customer_request",
    "reason_contradicted",
    "receiver_is_assistant",
    "same_team",
    "receiver_transfer_revenue_share",
    "receiver_target_gap",
    "days_to_period_end",
    "receiver_tenure_days",
    "giver_days_to_exit",
    "giver_activity_rate_after",
    "giver_activity_rate_before",
    "reason_signing",
    "reason_leave",
    "reason_maintenance",
    "receiver_contacts_after",
    "giver_share_after",
    "giver_days_to_next_activity",
    "receiver_prior_quick_givers",
    "order_days_to_period_end",
    "receiver_gap_at_order",
    "order_fills_gap",
    "receiver_prior_parked",
    "receiver_prior_parked_givers",
)
# Only with declared flows (a company policy): each hand-over along a declared flow against its
# peers in that flow (value minus the median of the flow's hand-overs settled before its cut-off).
PEER_BASES: dict[str, str] = {
    "flow_worked_days_vs_peers": "giver_worked_days",  # how ripe: weeks of the giver's work
    "flow_giver_acts_after_vs_peers": "giver_acts_after",  # the giver keeps working it
    "flow_receiver_acts_after_vs_peers": "receiver_acts_after",  # the receiver does little
    "flow_days_to_order_vs_peers": "days_to_order",  # how fast the order came
}
FLOW_FEATURES: tuple[str, ...] = tuple(PEER_BASES)
# The "ripe deal" prior: evidence only where no declared flow expects it. A flow before the first
# order (a qualifier's hand-over to a closer) is followed by the order soon by design, and its
# hand-overs' history of quick orders is the flow's routine: NaN there. A leave or after-order flow
# does not expect a quick order, so those stay evidence. The receiver's role is what every
# declared flow designs (a closer recorded with the assistants): NaN on all of them.
RIPE_FEATURES: tuple[str, ...] = (
    "has_order",
    "days_to_order",
    "pair_prior_quick_orders",
    "giver_prior_quick_orders",
    "receiver_prior_quick_orders",
    "receiver_prior_quick_givers",
    "giver_quick_vs_team",
)
EXPECTS_QUICK_ORDER: tuple[str, ...] = ("before_first_order",)
ROLE_FEATURES: tuple[str, ...] = ("receiver_is_assistant",)
FLOW_META: tuple[str, ...] = ("flow", "flow_usual_days_to_order", "flow_usual_giver_acts_after")
CONTACT_TYPES = ("meeting", "call", "visit")  # live contact with the client (not mail/message)
QUICK_DAYS = 14  # an order this soon after a transfer means the deal was ripe when handed over
# The giver's activity rate (any customer) is read over this long before the change and after it.
GIVER_RATE_WINDOW = pd.Timedelta(days=14)
# The columns of the large tables the features read (a partitioned run reads only these).
READS: dict[str, tuple[str, ...]] = {
    "activities": ("employee_id", "customer_id", "type", "occurred_at"),
    "orders": ("customer_id", "employee_id", "closed_at", "amount", "order_type"),
    "leads": ("customer_id", "created_at", "first_contact_at", "converted_at", "lost_at"),
}
META: tuple[str, ...] = ("change_id", "customer_id", "from_employee_id", "to_employee_id", "changed_at", "scored_at")


# -- as-of helpers (each returns values aligned to the query frame's RangeIndex) ----------------
def _asof(
    queries: pd.DataFrame,
    at: pd.Series,
    events: pd.DataFrame,
    time: str,
    by: list[str],
    values: list[str],
    *,
    direction: Literal["backward", "forward", "nearest"] = "backward",
    exact: bool = False,
) -> pd.DataFrame:
    """For each query row, `values` of the matching event (same `by` keys) nearest to `at`.

    backward + exact=False: latest event strictly before `at`; forward + exact=False: first event
    strictly after; NaN where none. Result aligned to `queries.index` (a RangeIndex).
    """
    left = queries[by].assign(
        _at=pd.to_datetime(pd.Series(at.to_numpy())).astype("datetime64[ns]").to_numpy(), _row=np.arange(len(queries))
    )
    left = left.dropna(subset=[*by, "_at"]).sort_values("_at", kind="stable")
    right = events[[*by, time, *[v for v in values if v != time]]].dropna(subset=[*by, time])
    right = right.rename(columns={time: "_t"}).sort_values("_t", kind="stable")
    right["_t"] = right["_t"].astype("datetime64[ns]")
    if time in values:
        right[time] = right["_t"]
    for col in by:
        left[col] = left[col].astype("string")
        right[col] = right[col].astype("string")
    if left.empty or right.empty:
        return pd.DataFrame(
            {v: pd.Series(np.nan, index=queries.index, dtype=events[v].dtype if v in events else float) for v in values}
        )
    out = pd.merge_asof(
        left, right, left_on="_at", right_on="_t", by=by, direction=direction, allow_exact_matches=exact
    )
    return out.set_index("_row")[values].reindex(np.arange(len(queries))).set_axis(queries.index)


def _cumulative(events: pd.DataFrame, time: str, by: list[str], value: str | None = None) -> pd.DataFrame:
    """Events sorted by time with `_cum` = running count (or running sum of `value`) per `by` group."""
    ev = events.dropna(subset=[*by, time]).sort_values(time, kind="stable")
    if value is None:
        cum = ev.groupby(by, sort=False, observed=True).cumcount() + 1
    else:
        cum = ev[value].fillna(0.0).groupby([ev[b] for b in by], sort=False, observed=True).cumsum()
    return ev[[*by, time]].assign(_cum=cum.astype("float64").to_numpy())


def _before(cum: pd.DataFrame, time: str, by: list[str], queries: pd.DataFrame, at: pd.Series) -> np.ndarray:
    """Running count/sum of events strictly before `at` per query (0 where none)."""
    return _asof(queries, at, cum, time, by, ["_cum"])["_cum"].fillna(0.0).to_numpy()


def _between(
    cum: pd.DataFrame, time: str, by: list[str], queries: pd.DataFrame, lo: pd.Series, hi: pd.Series
) -> np.ndarray:
    """Count/sum of events in [lo, hi) per query."""
    return np.maximum(_before(cum, time, by, queries, hi) - _before(cum, time, by, queries, lo), 0.0)


def _days(delta: pd.Series) -> np.ndarray:
    return (pd.to_timedelta(delta) / DAY).to_numpy(dtype="float64", na_value=np.nan)


# -- nodes ------------------------------------------------------------------------------------
def data_end(dataset: Dataset) -> pd.Timestamp:
    """One second after the last dated record: the default as-of of a training frame."""
    _, last = dataset.date_range()
    return (last if pd.notna(last) else pd.Timestamp("1970-01-01")) + SECOND


def transfer_units(
    dataset: Dataset, as_of: pd.Timestamp, *, max_window_days: float = 90, change_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """One row per transfer dated before `as_of`, with its cut-off `scored_at` and next order."""
    changes = dataset.ownership_changes
    units = changes[changes["from_employee_id"].notna() & (changes["changed_at"] < as_of)]
    if change_ids is not None:
        units = units[units["change_id"].isin(pd.Index(list(change_ids)).astype("string"))]
    units = units.sort_values(["changed_at", "change_id"], kind="stable").reset_index(drop=True)
    t0 = units["changed_at"]
    orders = dataset.orders[dataset.orders["closed_at"] < as_of].assign(order_at=lambda o: o["closed_at"])
    nxt = _asof(
        units,
        t0,
        orders,
        "closed_at",
        ["customer_id"],
        ["order_at", "amount", "order_type", "employee_id"],
        direction="forward",
    )
    later = changes[changes["changed_at"] < as_of].assign(next_change_at=lambda c: c["changed_at"])
    nch = _asof(units, t0, later, "changed_at", ["customer_id"], ["next_change_at"], direction="forward")
    limit = pd.concat(
        [nch["next_change_at"], t0 + pd.Timedelta(days=max_window_days), pd.Series(as_of, index=units.index)], axis=1
    ).min(axis=1)
    has_order = nxt["order_at"].notna() & (nxt["order_at"] + SECOND <= limit)
    out = units[["change_id", "customer_id", "from_employee_id", "to_employee_id", "changed_at", "reason"]].copy()
    out["scored_at"] = limit.where(~has_order, nxt["order_at"] + SECOND).astype("datetime64[ns]")
    out["has_order"] = has_order.astype("float64")
    out["order_at"] = nxt["order_at"].where(has_order)
    out["order_amount"] = nxt["amount"].where(has_order).astype("float64")
    out["order_type"] = nxt["order_type"].where(has_order)
    return out


def giver_effort(dataset: Dataset, units: pd.DataFrame) -> pd.DataFrame:
    """The giver's work on the customer before the change, and the lead's stage then."""
    t0 = units["changed_at"]
    q = units.rename(columns={"from_employee_id": "employee_id"})
    acts = dataset.activities[dataset.activities["customer_id"].notna()]
    pair = ["employee_id", "customer_id"]
    cum = _cumulative(acts, "occurred_at", pair)
    out = pd.DataFrame(index=units.index)
    out["giver_acts_30d"] = _between(cum, "occurred_at", pair, q, t0 - pd.Timedelta(days=30), t0)
    out["giver_acts_90d"] = _between(cum, "occurred_at", pair, q, t0 - pd.Timedelta(days=90), t0)
    last = _asof(q, t0, acts.assign(last_at=acts["occurred_at"]), "occurred_at", pair, ["last_at"])["last_at"]
    out["giver_days_since_touch"] = _days(t0 - last)
    first = acts.groupby(pair, observed=True)["occurred_at"].min().rename("first_at").reset_index()
    first_at = (
        q[pair].astype("string").merge(first.astype({c: "string" for c in pair}), on=pair, how="left")["first_at"]
    )
    first_at = first_at.where(first_at.to_numpy() < t0.to_numpy())
    out["giver_worked_days"] = _days(t0 - first_at.set_axis(units.index))
    changes = dataset.ownership_changes.assign(prev_to=lambda c: c["to_employee_id"], prev_at=lambda c: c["changed_at"])
    prev = _asof(units, t0, changes, "changed_at", ["customer_id"], ["prev_to", "prev_at"])
    owned = prev["prev_at"].where(
        prev["prev_to"].astype("string").eq(units["from_employee_id"].astype("string")).fillna(False)
    )
    out["giver_owned_days"] = _days(t0 - owned)
    leads = dataset.leads.assign(lead_created=lambda d: d["created_at"])
    lead = _asof(
        units, t0, leads, "created_at", ["customer_id"], ["lead_created", "first_contact_at", "converted_at", "lost_at"]
    )
    seen = {c: lead[c].notna() & (lead[c] < t0) for c in ("first_contact_at", "converted_at", "lost_at")}
    stage = np.select(
        [seen["converted_at"], seen["lost_at"], seen["first_contact_at"], lead["lead_created"].notna()],
        [3.0, 4.0, 2.0, 1.0],
        default=0.0,
    )
    out["lead_stage"] = stage
    out["lead_age_days"] = _days(t0 - lead["lead_created"])
    return out


def receiver_work(dataset: Dataset, units: pd.DataFrame) -> pd.DataFrame:
    """What happened between the change and the cut-off: receiver's and giver's work, the order."""
    t0, t1 = units["changed_at"], units["scored_at"]
    acts = dataset.activities[dataset.activities["customer_id"].notna()]
    pair = ["employee_id", "customer_id"]
    cum = _cumulative(acts, "occurred_at", pair)
    rq = units.rename(columns={"to_employee_id": "employee_id"})
    gq = units.rename(columns={"from_employee_id": "employee_id"})
    out = pd.DataFrame(index=units.index)
    out["receiver_acts_after"] = _between(cum, "occurred_at", pair, rq, t0, t1)
    first = _asof(
        rq,
        t0,
        acts.assign(touch_at=acts["occurred_at"]),
        "occurred_at",
        pair,
        ["touch_at"],
        direction="forward",
        exact=True,
    )["touch_at"]
    out["receiver_first_touch_days"] = _days((first - t0).where(first < t1))
    out["giver_acts_after"] = _between(cum, "occurred_at", pair, gq, t0, t1)
    out["window_days"] = _days(t1 - t0)
    out["has_order"] = units["has_order"].to_numpy()
    out["days_to_order"] = _days(units["order_at"] - t0)
    out["order_amount"] = units["order_amount"].to_numpy()
    orders = dataset.orders
    n_cum = _cumulative(orders, "closed_at", ["customer_id"])
    s_cum = _cumulative(orders, "closed_at", ["customer_id"], "amount")
    n_prior = _before(n_cum, "closed_at", ["customer_id"], units, t0)
    out["customer_prior_orders"] = n_prior
    out["order_vs_customer_history"] = ratio(
        out["order_amount"], ratio(_before(s_cum, "closed_at", ["customer_id"], units, t0), n_prior)
    )
    year_ago = t0 - pd.Timedelta(days=365)
    rn = _cumulative(orders, "closed_at", ["employee_id"])
    rs = _cumulative(orders, "closed_at", ["employee_id"], "amount")
    r_mean = ratio(
        _between(rs, "closed_at", ["employee_id"], rq, year_ago, t0),
        _between(rn, "closed_at", ["employee_id"], rq, year_ago, t0),
    )
    out["order_vs_receiver_history"] = ratio(out["order_amount"], r_mean)
    is_new = units["order_type"].astype("string").eq("new").fillna(False).to_numpy() | (n_prior == 0)
    out["order_is_new"] = np.where(units["has_order"].to_numpy() > 0, is_new.astype(float), np.nan)
    return out


def context(dataset: Dataset, units: pd.DataFrame) -> pd.DataFrame:
    """The pair's history, the giver's pattern, roles, departures and leave, reason text."""
    t0, t1 = units["changed_at"], units["scored_at"]
    changes = dataset.ownership_changes[dataset.ownership_changes["from_employee_id"].notna()]
    out = pd.DataFrame(index=units.index)
    pair = ["from_employee_id", "to_employee_id"]
    out["pair_prior_changes"] = _before(_cumulative(changes, "changed_at", pair), "changed_at", pair, units, t0)
    # Earlier transfers whose customer ordered within QUICK_DAYS: an event dated at that order,
    # so only orders before this change count.
    nxt = _asof(
        changes.reset_index(drop=True),
        changes["changed_at"].reset_index(drop=True),
        dataset.orders.assign(order_at=dataset.orders["closed_at"]),
        "closed_at",
        ["customer_id"],
        ["order_at"],
        direction="forward",
    )["order_at"]
    quick = changes.reset_index(drop=True).assign(order_at=nxt.to_numpy())
    quick = quick[(quick["order_at"] - quick["changed_at"]) <= pd.Timedelta(days=QUICK_DAYS)]
    for name, by in (
        ("pair_prior_quick_orders", pair),
        ("giver_prior_quick_orders", ["from_employee_id"]),
        ("receiver_prior_quick_orders", ["to_employee_id"]),
    ):
        out[name] = _before(_cumulative(quick, "order_at", by), "order_at", by, units, t0)
    # The giver against the team's habit (some teams hand fresh accounts over at signing):
    # quick-closing transfers in the last year, the giver's own minus the other members' mean.
    emp = dataset.employees.set_index("employee_id")
    team_of = emp["team_id"].astype("string")
    quick = quick.assign(team_id=team_of.reindex(quick["from_employee_id"].astype("string")).to_numpy())
    tq = units.assign(team_id=team_of.reindex(units["from_employee_id"].astype("string")).to_numpy())
    year = t0 - pd.Timedelta(days=365)
    team_n = _between(_cumulative(quick, "order_at", ["team_id"]), "order_at", ["team_id"], tq, year, t0)
    own_n = _between(
        _cumulative(quick, "order_at", ["from_employee_id"]), "order_at", ["from_employee_id"], units, year, t0
    )
    members = emp[emp["role"] != "manager"].groupby("team_id", observed=True).size()
    others = np.maximum(members.reindex(tq["team_id"]).to_numpy(dtype=float, na_value=1.0) - 1.0, 1.0)
    out["giver_quick_vs_team"] = own_n - (team_n - own_n) / others
    gcum = _cumulative(changes, "changed_at", ["from_employee_id"])
    out["giver_changes_90d"] = _between(gcum, "changed_at", ["from_employee_id"], units, t0 - pd.Timedelta(days=90), t0)
    day = t0.dt.normalize()
    day_end = pd.concat([day + DAY, t1], axis=1).min(axis=1)
    out["giver_changes_same_day"] = _between(gcum, "changed_at", ["from_employee_id"], units, day, day_end)
    reason = units["reason"].astype("string").str.strip()
    out["reason_present"] = (reason.notna() & (reason != "")).astype("float64").to_numpy()
    emp = dataset.employees.set_index("employee_id")
    giver = emp.reindex(units["from_employee_id"].astype("string"))
    recv = emp.reindex(units["to_employee_id"].astype("string"))
    out["receiver_is_assistant"] = (recv["role"].astype("string") == "assistant").fillna(False).astype(float).to_numpy()
    same_team = (
        recv["team_id"]
        .astype("string")
        .reset_index(drop=True)
        .eq(giver["team_id"].astype("string").reset_index(drop=True))
    )
    out["same_team"] = same_team.fillna(False).to_numpy(dtype=float)
    out["receiver_tenure_days"] = _days(t0.to_numpy() - recv["hire_date"].to_numpy())
    exit_days = _days(giver["termination_date"].to_numpy() - day.to_numpy())
    out["giver_days_to_exit"] = np.where(exit_days >= 0, exit_days, np.nan)
    acts = dataset.activities
    ecum = _cumulative(acts, "occurred_at", ["employee_id"])
    gq = units.rename(columns={"from_employee_id": "employee_id"})
    after_end = pd.concat([t0 + GIVER_RATE_WINDOW, t1], axis=1).min(axis=1)
    span = np.maximum(_days(after_end - t0), 1.0)
    out["giver_activity_rate_after"] = _between(ecum, "occurred_at", ["employee_id"], gq, t0, after_end) / span
    out["giver_activity_rate_before"] = _between(
        ecum, "occurred_at", ["employee_id"], gq, t0 - GIVER_RATE_WINDOW, t0
    ) / (GIVER_RATE_WINDOW / DAY)
    cust = dataset.customers.set_index("customer_id")["created_at"]
    out["customer_age_days"] = _days(t0.to_numpy() - cust.reindex(units["customer_id"].astype("string")).to_numpy())
    return out


def receiver_incentive(dataset: Dataset, units: pd.DataFrame) -> pd.DataFrame:
    """The receiver's reasons to want the customer: revenue via transfers, open target, month end."""
    t0 = units["changed_at"]
    rq = units.rename(columns={"to_employee_id": "employee_id"})
    orders = dataset.orders
    changes = dataset.ownership_changes.assign(
        owner=lambda c: c["to_employee_id"], giver=lambda c: c["from_employee_id"]
    )
    # An order came "via transfer" if its customer reached the credited employee by a transfer.
    via = _asof(
        orders.reset_index(drop=True),
        orders["closed_at"].reset_index(drop=True),
        changes,
        "changed_at",
        ["customer_id"],
        ["owner", "giver"],
        exact=True,
    )
    same = (
        via["owner"]
        .astype("string")
        .reset_index(drop=True)
        .eq(orders["employee_id"].astype("string").reset_index(drop=True))
    )
    flag = same.fillna(False).to_numpy(dtype=bool) & via["giver"].notna().to_numpy()
    o = orders.reset_index(drop=True).assign(via_amount=orders["amount"].to_numpy() * flag)
    lo = t0 - pd.Timedelta(days=180)
    total = _between(_cumulative(o, "closed_at", ["employee_id"], "amount"), "closed_at", ["employee_id"], rq, lo, t0)
    moved = _between(
        _cumulative(o, "closed_at", ["employee_id"], "via_amount"), "closed_at", ["employee_id"], rq, lo, t0
    )
    out = pd.DataFrame(index=units.index)
    out["receiver_transfer_revenue_share"] = ratio(moved, total)
    month = t0.dt.to_period("M").dt.start_time.astype("datetime64[ns]")
    mtd = _between(_cumulative(o, "closed_at", ["employee_id"], "amount"), "closed_at", ["employee_id"], rq, month, t0)
    targets = dataset.targets[dataset.targets["metric"] == "revenue"][["employee_id", "period", "target"]]
    period = t0.dt.strftime("%Y-%m")
    tgt = (
        pd.DataFrame({"employee_id": units["to_employee_id"].astype("string"), "period": period.astype("string")})
        .merge(
            targets.astype({"employee_id": "string", "period": "string"}).drop_duplicates(["employee_id", "period"]),
            on=["employee_id", "period"],
            how="left",
        )["target"]
        .to_numpy(dtype="float64", na_value=np.nan)
    )
    out["receiver_target_gap"] = np.clip(1.0 - ratio(mtd, tgt), 0.0, 1.0)
    out["days_to_period_end"] = _days((month + pd.offsets.MonthBegin(1)) - t0)
    return out


def handover_evidence(dataset: Dataset, units: pd.DataFrame, prior: pd.DataFrame | None = None) -> pd.DataFrame:
    """What tells a legitimate look-alike hand-over from a parked deal (all before the cut-off).

    The receiver's live contacts (meeting/call/visit) with the client, the giver's share of the
    work after the change, how soon the giver is seen working again (absent on leave), how many
    distinct givers already passed the receiver deals that closed fast, and where the order
    lands against the receiver's month: days to the month end, her shortfall just before it, and
    whether it lifts her over the target. `prior`: all transfer units (for the receiver's record;
    only those scored before each change count), default `units`.
    """
    prior = units if prior is None else prior
    t0, t1 = units["changed_at"], units["scored_at"]
    pair = ["employee_id", "customer_id"]
    acts = dataset.activities[dataset.activities["customer_id"].notna()]
    live = acts[acts["type"].astype("string").str.lower().isin(CONTACT_TYPES).fillna(False).to_numpy(dtype=bool)]
    rq = units.rename(columns={"to_employee_id": "employee_id"})
    gq = units.rename(columns={"from_employee_id": "employee_id"})
    out = pd.DataFrame(index=units.index)
    out["receiver_contacts_after"] = _between(_cumulative(live, "occurred_at", pair), "occurred_at", pair, rq, t0, t1)
    cum = _cumulative(acts, "occurred_at", pair)
    g_after = _between(cum, "occurred_at", pair, gq, t0, t1)
    r_after = _between(cum, "occurred_at", pair, rq, t0, t1)
    out["giver_share_after"] = ratio(g_after, g_after + r_after)
    # from the next morning: a giver going on leave (or leaving) is not seen working again for days
    allacts = dataset.activities.assign(next_at=dataset.activities["occurred_at"])
    morning = t0.dt.normalize() + DAY
    nxt = _asof(gq, morning, allacts, "occurred_at", ["employee_id"], ["next_at"], direction="forward", exact=True)[
        "next_at"
    ]
    window = np.maximum(_days(t1 - morning), 0.0)
    gap = _days(nxt.where(nxt < t1) - morning)
    out["giver_days_to_next_activity"] = np.where(np.isnan(gap), window, gap)
    # distinct givers whose transfers to this receiver closed within QUICK_DAYS, before the change
    changes = dataset.ownership_changes[dataset.ownership_changes["from_employee_id"].notna()].reset_index(drop=True)
    o_at = _asof(
        changes,
        changes["changed_at"],
        dataset.orders.assign(order_at=dataset.orders["closed_at"]),
        "closed_at",
        ["customer_id"],
        ["order_at"],
        direction="forward",
    )["order_at"]
    quick = changes.assign(order_at=o_at.to_numpy())
    quick = quick[(quick["order_at"] - quick["changed_at"]) <= pd.Timedelta(days=QUICK_DAYS)]
    firsts = quick.groupby(["to_employee_id", "from_employee_id"], observed=True)["order_at"].min().reset_index()
    out["receiver_prior_quick_givers"] = _before(
        _cumulative(firsts, "order_at", ["to_employee_id"]), "order_at", ["to_employee_id"], units, t0
    )
    # the receiver's record: earlier transfers to her, already scored before this change, that
    # ordered while she did nothing and the giver kept working the customer (a parked deal's look)
    if prior is not None and len(prior):
        g_p = _between(
            cum,
            "occurred_at",
            pair,
            prior.rename(columns={"from_employee_id": "employee_id"}),
            prior["changed_at"],
            prior["scored_at"],
        )
        r_p = _between(
            cum,
            "occurred_at",
            pair,
            prior.rename(columns={"to_employee_id": "employee_id"}),
            prior["changed_at"],
            prior["scored_at"],
        )
        parked = prior[(prior["has_order"].to_numpy() > 0) & (r_p == 0) & (g_p > 0)]
        pfirst = parked.groupby(["to_employee_id", "from_employee_id"], observed=True)["scored_at"].min().reset_index()
        out["receiver_prior_parked"] = _before(
            _cumulative(parked, "scored_at", ["to_employee_id"]), "scored_at", ["to_employee_id"], units, t0
        )
        out["receiver_prior_parked_givers"] = _before(
            _cumulative(pfirst, "scored_at", ["to_employee_id"]), "scored_at", ["to_employee_id"], units, t0
        )
    else:
        out["receiver_prior_parked"] = 0.0
        out["receiver_prior_parked_givers"] = 0.0
    # the order against the receiver's month (credited revenue before the order, target of its month)
    has = units["order_at"].notna().to_numpy()
    at = units["order_at"].where(units["order_at"].notna(), t0)
    month = at.dt.to_period("M").dt.start_time.astype("datetime64[ns]")
    out["order_days_to_period_end"] = np.where(has, _days((month + pd.offsets.MonthBegin(1)) - at), np.nan)
    scum = _cumulative(dataset.orders, "closed_at", ["employee_id"], "amount")
    mtd = _between(scum, "closed_at", ["employee_id"], rq, month, at)
    targets = dataset.targets[dataset.targets["metric"] == "revenue"][["employee_id", "period", "target"]]
    tgt = (
        pd.DataFrame(
            {
                "employee_id": units["to_employee_id"].astype("string"),
                "period": at.dt.strftime("%Y-%m").astype("string"),
            }
        )
        .merge(
            targets.astype({"employee_id": "string", "period": "string"}).drop_duplicates(["employee_id", "period"]),
            on=["employee_id", "period"],
            how="left",
        )["target"]
        .to_numpy(dtype="float64", na_value=np.nan)
    )
    gap_at = np.clip(1.0 - ratio(mtd, tgt), 0.0, 1.0)
    out["receiver_gap_at_order"] = np.where(has, gap_at, np.nan)
    amount = units["order_amount"].to_numpy(dtype="float64", na_value=np.nan)
    fills = (mtd < tgt) & (mtd + np.nan_to_num(amount) >= tgt)
    out["order_fills_gap"] = np.where(has & ~np.isnan(tgt), fills.astype(float), np.nan)
    return out


def reason_checks(units: pd.DataFrame, parts: pd.DataFrame, keywords: Keywords) -> pd.DataFrame:
    """What the reason claims (by `keywords`, see `reasons`) against what the records show (all known
    before the cut-off).

    Contradicted: "maintenance" for a customer who never ordered, "leave" while the giver keeps
    working (>= 1 activity a day after the change), "leaving" with no exit within 60 days,
    "workload" for a deal that ordered within QUICK_DAYS (rebalancing moves work still to do, not
    a signature days away), "customer request" while the giver keeps working the client.
    """
    claims = {c: v.to_numpy() for c, v in reason_claims(units["reason"], keywords).items()}
    contra = (
        (claims["maintenance"] & (parts["customer_prior_orders"].to_numpy() == 0))
        | (claims["leave"] & (parts["giver_activity_rate_after"].to_numpy() >= 1.0))
        | (claims["leaving"] & ~(parts["giver_days_to_exit"].to_numpy() <= 60))
        | (claims["workload"] & (parts["days_to_order"].to_numpy() <= QUICK_DAYS))
        | (claims["customer_request"] & (parts["giver_acts_after"].to_numpy() > 0))
    )
    return pd.DataFrame(
        {
            "reason_customer_request": claims["customer_request"].astype(float),
            "reason_contradicted": np.asarray(contra, dtype=float),
            "reason_signing": claims["signing"].astype(float),
            "reason_leave": claims["leave"].astype(float),
            "reason_maintenance": claims["maintenance"].astype(float),
        },
        index=units.index,
    )


def change_flows(
    dataset: Dataset, units: pd.DataFrame, prior_orders: np.ndarray, keywords: Keywords, policy: HandoverPolicy
) -> np.ndarray:
    """Each change's declared flow (or UNDECLARED) from the giver's and receiver's job functions and its stage.

    `prior_orders`: the customer's orders before the change (the stage: before or after the first
    order); leave or departure from the giver's exit date and the reason text's claims."""
    emp = dataset.employees.set_index("employee_id")
    function = emp["job_function"] if "job_function" in emp else pd.Series(pd.NA, index=emp.index, dtype="string")
    function = function.astype("string")
    giver = units["from_employee_id"].astype("string")
    exit_at = emp["termination_date"].reindex(giver).to_numpy()
    exit_days = _days(exit_at - units["changed_at"].dt.normalize().to_numpy())
    claims = reason_claims(units["reason"], keywords)
    stage = change_stage(prior_orders, exit_days, (claims["leave"] | claims["leaving"]).to_numpy())
    return label_flows(
        function.reindex(giver), function.reindex(units["to_employee_id"].astype("string")), stage, policy
    )


def flow_peers(
    dataset: Dataset,
    units: pd.DataFrame,
    parts: pd.DataFrame,
    every: pd.DataFrame,
    every_parts: pd.DataFrame,
    keywords: Keywords,
    policy: HandoverPolicy,
) -> pd.DataFrame:
    """Flow label, the peer comparisons (FLOW_FEATURES) and the usual values the explanation quotes.

    Peers: every transfer of the same flow (`every`, with its raw `every_parts`) whose cut-off is
    strictly before this change's cut-off, so the comparison is as-of like every other feature."""
    flow = change_flows(dataset, units, parts["customer_prior_orders"].to_numpy(), keywords, policy)
    peer_flow = (
        flow
        if every is units
        else change_flows(dataset, every, every_parts["customer_prior_orders"].to_numpy(), keywords, policy)
    )
    out = pd.DataFrame({"flow": pd.Series(flow, index=units.index, dtype="string")})
    for name, base in PEER_BASES.items():
        usual = peer_medians(every_parts[base].to_numpy(), peer_flow, every["scored_at"], flow, units["scored_at"])
        out[name] = parts[base].to_numpy(dtype=float) - usual
        if base in ("days_to_order", "giver_acts_after"):
            out[f"flow_usual_{base}"] = usual
    return out


def policy_coverage(dataset: Dataset, policy: HandoverPolicy, keywords: Keywords | None = None) -> dict:
    """The policy against the data: per flow (in file order) the hand-overs it labels and their share of
    all transfers, plus the flows' job functions the employees table does not have (by YAML path)."""
    require_transfers(dataset)
    keywords = default_reason_keywords() if keywords is None else keywords
    changes = dataset.ownership_changes
    units = changes[changes["from_employee_id"].notna()].reset_index(drop=True)
    orders = _cumulative(dataset.orders, "closed_at", ["customer_id"])
    prior = _before(orders, "closed_at", ["customer_id"], units, units["changed_at"])
    flow = change_flows(dataset, units, prior, keywords, policy)
    emp = dataset.employees
    known = (
        {}
        if "job_function" not in emp
        else {normalise(f): f for f in emp["job_function"].dropna().astype("string") if normalise(f)}
    )
    unknown = [
        (f"flows[{i}].{side}", name)
        for i, fl in enumerate(policy.flows)
        for side, name in (("from", fl.from_function), ("to", fl.to_function))
        if normalise(name) not in known
    ]
    rows = [
        {
            "flow": fl.label,
            "stage": fl.stage,
            "handovers": int((flow == fl.name).sum()),
            "share": float((flow == fl.name).mean()),
        }
        for fl in policy.flows
    ]
    rows.append(
        {
            "flow": UNDECLARED,
            "stage": "",
            "handovers": int((flow == UNDECLARED).sum()),
            "share": float((flow == UNDECLARED).mean()),
        }
    )
    return {
        "flows": pd.DataFrame(rows),
        "transfers": len(units),
        "unknown_functions": unknown,
        "known_functions": sorted(known.values()),
    }


class NoTransfersError(PerfmlError):
    """The ownership changes hold no transfer between employees: nothing to learn from or score."""


def require_transfers(dataset: Dataset) -> None:
    """Raise `NoTransfersError` naming the cause when `ownership_changes` has no transfer at all."""
    changes = dataset.ownership_changes
    if changes.empty:
        raise NoTransfersError(
            "ownership_changes is empty: the transfer-anomaly model needs the company's "
            "customer hand-overs between employees (change_id, customer_id, from_employee_id, "
            "to_employee_id, changed_at)"
        )
    if changes["from_employee_id"].isna().all():
        raise NoTransfersError(
            f"ownership_changes has {len(changes)} row(s) but none with a from_employee_id: "
            f"first assignments only, no transfer between employees to score"
        )


def feature_names(policy: HandoverPolicy | None = None) -> tuple[str, ...]:
    """The model's features: FEATURES, plus FLOW_FEATURES when the policy declares flows."""
    return (*FEATURES, *FLOW_FEATURES) if policy is not None and policy.flows else FEATURES


def build_features(
    dataset: Dataset,
    as_of: pd.Timestamp | None = None,
    *,
    max_window_days: float = 90,
    change_ids: Iterable[str] | None = None,
    reason_keywords: Keywords | None = None,
    policy: HandoverPolicy | None = None,
) -> pd.DataFrame:
    """Feature frame of every transfer (META columns + FEATURES), each at its own cut-off.

    `as_of=None`: the training frame (cut-offs capped at the end of the data); `as_of=t`: what
    is known at t (records strictly before t only). `reason_keywords`: the company's keyword
    lists (`reasons.load_reason_keywords`); None = the shipped defaults. `policy`: the company's
    declared hand-over flows (`flows.load_policy`); with flows, the frame also carries FLOW_META and
    FLOW_FEATURES, RIPE_FEATURES are NaN on declared flows that expect a quick order and ROLE_FEATURES on
    every declared flow.
    """
    require_transfers(dataset)
    if as_of is not None:
        as_of = pd.Timestamp(as_of)
        dataset = dataset.before(as_of)
    else:
        as_of = data_end(dataset)
    units = transfer_units(dataset, as_of, max_window_days=max_window_days, change_ids=change_ids)
    every = units if change_ids is None else transfer_units(dataset, as_of, max_window_days=max_window_days)
    parts = [
        giver_effort(dataset, units),
        receiver_work(dataset, units),
        context(dataset, units),
        receiver_incentive(dataset, units),
        handover_evidence(dataset, units, every),
    ]
    keywords = default_reason_keywords() if reason_keywords is None else reason_keywords
    parts.append(reason_checks(units, pd.concat(parts, axis=1), keywords))
    features = feature_names(policy)
    meta = list(META)
    if policy is not None and features != FEATURES:  # declared flows (see `feature_names`)
        raw = pd.concat(parts, axis=1)
        every_raw = (
            raw if every is units else pd.concat([giver_effort(dataset, every), receiver_work(dataset, every)], axis=1)
        )
        flows = flow_peers(dataset, units, raw, every, every_raw, keywords, policy)
        parts.append(flows)
        meta += list(FLOW_META)
    frame = pd.concat([units[list(META)], *parts], axis=1)
    frame[list(features)] = frame[list(features)].astype("float64")
    if policy is not None and features != FEATURES:
        declared = (frame["flow"] != UNDECLARED).to_numpy(dtype=bool)
        quick = {f.name for f in policy.flows if f.stage in EXPECTS_QUICK_ORDER}
        frame.loc[frame["flow"].isin(quick).to_numpy(dtype=bool), list(RIPE_FEATURES)] = np.nan
        frame.loc[declared, list(ROLE_FEATURES)] = np.nan
    return frame[[*meta, *features]]


def build_labels(dataset: Dataset, features: pd.DataFrame) -> pd.Series:
    """Audited outcome per row (`transfer_labels.is_anomalous`), NaN where not audited."""
    labels = dataset.transfer_labels.drop_duplicates("change_id", keep="last").set_index("change_id")["is_anomalous"]
    return pd.Series(
        labels.reindex(features["change_id"].astype("string")).to_numpy(dtype="float64", na_value=np.nan),
        index=features.index,
        name="label",
    )


def seed_rule(features: pd.DataFrame) -> np.ndarray:
    """Baseline: 1 when the receiver did no work on the customer between the change and the cut-off."""
    return (features["receiver_acts_after"].to_numpy() == 0).astype("float64")


# The signs of a ripe deal parked with a colleague, for the unsupervised score (no labels): each
# alone is shared with a legitimate hand-over (at signing, leave cover, a client's wish), so a
# transfer is suspicious by how many it shows. Reason texts are two signs of fifteen, so a
# company without reasons (or with words the keyword lists miss) still gets a score.
WARNING_SIGNS: tuple[Sign, ...] = (
    Sign("has_order", above=0.5),  # the customer ordered before the cut-off
    Sign("receiver_is_assistant", above=0.5),
    Sign("receiver_acts_after", at_most=1, weight=0.5),  # a token touch at most ...
    Sign("receiver_acts_after", at_most=0, weight=0.5),  # ... or nothing at all
    Sign("receiver_contacts_after", at_most=0),  # no introduction meeting or call
    Sign("days_to_order", at_most=QUICK_DAYS),
    Sign("giver_worked_days", above=18),  # a deal worked for weeks
    Sign("giver_acts_after", above=0),  # the giver keeps working it
    Sign("giver_days_to_next_activity", at_most=3),  # ... and is not away on leave
    Sign("giver_changes_same_day", at_most=1),  # a single change, not a batch
    Sign("order_days_to_period_end", at_most=7),  # lands at the receiver's month end
    Sign("receiver_gap_at_order", above=0),  # ... while she is short of target
    Sign("pair_prior_quick_orders", above=0),
    Sign("receiver_prior_parked", above=0),
    Sign("reason_present", at_most=0),
    Sign("reason_contradicted", above=0.5),
    # along a declared flow (policy only): against what is usual for the flow, not the company
    Sign("flow_days_to_order_vs_peers", at_most=-5),  # ordered days sooner than its peers
    Sign("flow_giver_acts_after_vs_peers", above=1),  # the giver kept working it more than usual
    Sign("flow_receiver_acts_after_vs_peers", at_most=-2),  # the receiver did less than usual
    Sign("flow_worked_days_vs_peers", above=14),  # worked weeks longer than usual: riper
)


def label_reviewed_at(dataset: Dataset, features: pd.DataFrame) -> pd.Series:
    """When each row's audit label was recorded (`transfer_labels.reviewed_at`); NaT if unknown/unaudited."""
    labels = dataset.transfer_labels.drop_duplicates("change_id", keep="last").set_index("change_id")["reviewed_at"]
    return pd.Series(
        labels.reindex(features["change_id"].astype("string")).to_numpy(), index=features.index, name="reviewed_at"
    ).astype("datetime64[ns]")

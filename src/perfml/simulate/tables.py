"""Turn a simulated `World` into the contract's tables (and the ground truth) on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perfml.simulate.activities import TYPES
from perfml.simulate.funnel import crm_roles, job_functions
from perfml.simulate.leads import NEVER, SEGMENTS
from perfml.simulate.orders import NEW
from perfml.simulate.output import dates, fixed, ids_of, lookup, make_ids, timestamps, write_chunked, write_table
from perfml.simulate.ownership import COLLUSIVE, FIRST, FUNNEL, KINDS
from perfml.simulate.targets import METRICS
from perfml.simulate.workforce import ASSISTANT, NO_END, ROLES
from perfml.simulate.world import World

TABLE_FILES = (
    "employees",
    "customers",
    "ownership_changes",
    "activities",
    "leads",
    "orders",
    "targets",
    "satisfaction",
    "transfer_labels",
    "demographics",
)


def write_all(out: Path, w: World, progress) -> dict:
    """Write every table and the truth files; returns row counts, the window and the collusive share."""
    (out / "truth").mkdir(parents=True, exist_ok=True)
    ids = table_ids(w)
    rows = {name: write_table(out / f"{name}.csv", columns) for name, columns in small_tables(w, ids).items()}
    progress(0.1)
    rows["activities"] = write_chunked(
        out / "activities.csv", w.acts.n, activity_rows(w, ids), lambda f: progress(0.1 + 0.9 * f)
    )
    truth = {name: write_table(out / "truth" / f"{name}.csv", cols) for name, cols in truth_tables(w, ids).items()}
    return {
        "start": str(w.cal.start),
        "end": str(w.cal.start + np.timedelta64(w.cal.days - 1, "D")),
        "rows": {k: rows[k] for k in TABLE_FILES},
        "truth_rows": truth,
        **collusion_counts(w),
    }


def collusion_counts(w: World) -> dict:
    """Collusive changes, transfers into assistants and the collusive share of those."""
    into_ast = int(((w.own.kind != FIRST) & (w.wf.role[w.own.dst] == ASSISTANT)).sum())
    collusive = int((w.own.kind == COLLUSIVE).sum())
    return {
        "collusive_changes": collusive,
        "transfers_into_assistants": into_ast,
        "collusive_share": collusive / max(into_ast, 1),
    }


def small_tables(w: World, ids: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """The text columns of every contract table but activities (which is built in slices)."""
    return {
        "employees": _employees(w, ids),
        "customers": _customers(w, ids),
        "ownership_changes": _changes(w, ids),
        "leads": _leads(w, ids),
        "orders": _orders(w, ids),
        "targets": _targets(w, ids),
        "satisfaction": _satisfaction(w, ids),
        "transfer_labels": _labels(w, ids),
        "demographics": {"employee_id": ids["emp"], **w.demographics},
    }


def truth_tables(w: World, ids: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """The text columns of the ground-truth tables."""
    return {
        "transfers": _truth_transfers(w, ids),
        "employees": _truth_employees(w, ids),
        "team_slumps": _truth_slumps(w, ids),
    }


def table_ids(w: World, tag: str = "") -> dict[str, np.ndarray]:
    """Every id of the run; `tag` goes after each prefix ('E' + '3-' -> 'E3-0001') to keep several runs apart."""
    return {
        "emp": make_ids(f"E{tag}", w.wf.n, 4),
        "team": make_ids(f"T{tag}", len(w.wf.team_region), 2),
        "cust": make_ids(f"C{tag}", w.cust.n, 6),
        "change": make_ids(f"OC{tag}", len(w.own.kind), 5),
        "lead": make_ids(f"L{tag}", w.leads.n, 6),
        "order": make_ids(f"O{tag}", w.orders.n, 6),
        "survey": make_ids(f"S{tag}", len(w.surveys.order), 6),
    }


def _employees(w: World, ids) -> dict:
    wf, cal = w.wf, w.cal
    leaving = wf.term_day < NO_END
    return {
        "employee_id": ids["emp"],
        "role": np.array(ROLES, dtype=object)[wf.role] if w.funnel is None else crm_roles(wf, w.funnel),
        **({"job_function": job_functions(wf, w.funnel)} if w.funnel is not None else {}),
        "team_id": ids["team"][wf.team],
        "manager_id": lookup(ids["emp"], wf.manager),
        "hire_date": dates(cal, wf.hire_day),
        "probation_end_date": dates(cal, wf.probation_end_day),
        "termination_date": dates(cal, wf.term_day, leaving),
        "attr_prior_experience_years": fixed(wf.attrs["attr_prior_experience_years"], 1),
        "attr_education": wf.attrs["attr_education"].astype(object),
        "attr_referral": wf.attrs["attr_referral"].astype(np.int64),
    }


def _customers(w: World, ids) -> dict:
    return {
        "customer_id": ids["cust"],
        "created_at": timestamps(w.cal, w.cust.created),
        "segment": np.array(SEGMENTS, dtype=object)[w.cust.segment],
        "region": w.wf.team_region.astype(object)[w.cust.team],
    }


def _changes(w: World, ids) -> dict:
    own = w.own
    return {
        "change_id": ids["change"],
        "customer_id": ids["cust"][own.customer],
        "from_employee_id": lookup(ids["emp"], own.src),
        "to_employee_id": ids["emp"][own.dst],
        "changed_at": timestamps(w.cal, own.time),
        "reason": w.reasons,
    }


def _lead_customers(w: World) -> np.ndarray:
    out = np.full(w.leads.n, -1)
    pros = np.flatnonzero(w.cust.lead >= 0)
    out[w.cust.lead[pros]] = pros
    return out


def _leads(w: World, ids) -> dict:
    ld, end = w.leads, w.cal.end_seconds
    closed = ld.close < end
    return {
        "lead_id": ids["lead"],
        "customer_id": ids["cust"][_lead_customers(w)],
        "owner_id": ids["emp"][ld.owner],
        "created_at": timestamps(w.cal, ld.created),
        "first_contact_at": timestamps(w.cal, ld.first_contact, ld.first_contact < min(NEVER, end)),
        "converted_at": timestamps(w.cal, ld.close, closed & ld.won),
        "lost_at": timestamps(w.cal, ld.close, closed & ~ld.won),
    }


def _orders(w: World, ids) -> dict:
    o = w.orders
    return {
        "order_id": ids["order"],
        "customer_id": ids["cust"][o.customer],
        "employee_id": ids["emp"][o.employee],
        "closed_at": timestamps(w.cal, o.time),
        "amount": fixed(o.amount, 2),
        "order_type": np.where(o.kind == NEW, "new", "repeat").astype(object),
    }


def _targets(w: World, ids) -> dict:
    """Long format, sorted by employee, period, metric; counts as integers, revenue with cents."""
    periods = w.cal.periods().astype(object)
    parts = []
    for k, metric in enumerate(METRICS):
        values = w.targets[metric]
        e, m = np.nonzero(values > 0 if metric == "revenue" else values >= 0)
        text = fixed(values[e, m], 2) if metric == "revenue" else fixed(values[e, m], 0)
        parts.append((e, m, np.full(len(e), k), text))
    e, m, j, text = (np.concatenate([p[i] for p in parts]) for i in range(4))
    order = np.lexsort((j, m, e))
    return {
        "employee_id": ids["emp"][e[order]],
        "period": periods[m[order]],
        "metric": np.array(METRICS, dtype=object)[j[order]],
        "target": text[order],
    }


def _satisfaction(w: World, ids) -> dict:
    s, o = w.surveys, w.orders
    return {
        "survey_id": ids["survey"],
        "customer_id": ids["cust"][o.customer[s.order]],
        "employee_id": ids["emp"][o.employee[s.order]],
        "responded_at": timestamps(w.cal, s.time),
        "score": s.score,
    }


def _labels(w: World, ids) -> dict:
    a = w.audit
    return {
        "change_id": ids["change"][a.change],
        "is_anomalous": a.is_anomalous,
        "reviewed_at": timestamps(w.cal, a.time),
    }


def activity_rows(w: World, ids, tag: str = ""):
    """`rows(index array) -> text columns` of those activities (too many to build at once); `tag` as in `table_ids`."""
    a = w.acts
    types = np.array(TYPES, dtype=object)
    prefix = f"A{tag}"

    def rows(idx: np.ndarray) -> dict:
        return {
            "activity_id": ids_of(prefix, a.n, 8, idx),
            "employee_id": ids["emp"][a.employee[idx]],
            "customer_id": lookup(ids["cust"], a.customer[idx]),
            "lead_id": lookup(ids["lead"], a.lead[idx]),
            "type": types[a.type[idx]],
            "occurred_at": timestamps(w.cal, a.time[idx]),
            "duration_minutes": a.duration[idx].astype(np.int64),
        }

    return rows


# --- ground truth ---------------------------------------------------------------------------


def _truth_transfers(w: World, ids) -> dict:
    return {
        "change_id": ids["change"],
        "kind": np.array(KINDS, dtype=object)[w.own.kind],
        "is_collusive": (w.own.kind == COLLUSIVE).astype(np.int64),
        **({"is_funnel": (w.own.kind == FUNNEL).astype(np.int64)} if w.funnel is not None else {}),
    }


def _truth_employees(w: World, ids) -> dict:
    wf, tr = w.wf, w.wf.traits
    periods = w.cal.periods().astype(object)
    decliner = wf.onset >= 0
    colluder = wf.partner >= 0
    failed = (wf.term_day <= wf.probation_end_day) & (wf.term_day < NO_END)
    return {
        "employee_id": ids["emp"],
        "role": np.array(ROLES, dtype=object)[wf.role] if w.funnel is None else crm_roles(wf, w.funnel),
        "skill": fixed(tr["skill"], 4),
        "development": fixed(tr["development"], 4),
        "effort": fixed(tr["effort"], 4),
        "response_speed": fixed((np.log(8.0) - np.log(tr["response_hours"])) / 0.85, 4),
        "median_response_hours": fixed(tr["response_hours"], 2),
        "early_hour_contact": fixed(tr["early_share"], 4),
        "visit_rate": fixed(tr["visit_rate"], 4),
        "is_colluder": colluder.astype(np.int64),
        "collusion_partner_id": lookup(ids["emp"], wf.partner),
        "collusion_rate": fixed(wf.collude_rate, 4),
        "is_decliner": decliner.astype(np.int64),
        "decline_onset": np.where(decliner, periods[np.maximum(wf.onset, 0)], "").astype(object),
        "decline_depth": np.where(decliner, fixed(wf.decline_depth, 4), "").astype(object),
        "decline_recovers": (wf.recover_month >= 0).astype(np.int64),
        "failed_probation": failed.astype(np.int64),
    }


def _truth_slumps(w: World, ids) -> dict:
    s = w.wf.slumps
    return {
        "team_id": ids["team"][np.array([x["team"] for x in s], dtype=np.int64)],
        "start_period": np.array([x["start_period"] for x in s], dtype=object),
        "end_period": np.array([x["end_period"] for x in s], dtype=object),
        "months": np.array([x["months"] for x in s], dtype=np.int64),
        "demand_factor": fixed(np.array([x["demand_factor"] for x in s]), 3),
        "cause": np.array([x["cause"] for x in s], dtype=object),
    }

"""Transfer-anomaly features in pieces: no task holds the whole company's records.

A transfer's features read the customer's orders and leads, both employees' work on the customer, the
giver's work around the change (`nodes.GIVER_RATE_WINDOW` before it to the end of its window), the
receiver's orders, targets and earlier transfers, and every transfer's next order (the quick-order
counts). A group holds the transfers whose receiver is in some buckets (`layout.employee_buckets`: bucket
modulo the number of groups), so the receiver's orders, targets and every earlier transfer to her are in
the group. Two rounds of tasks:

1. per bucket (`bucket_pieces`): the rows of its activities, orders and leads each group reads -
   activities of the group's (employee, customer) pairs and of its givers within their windows; orders
   of the group's customers, of the group's own buckets, and each transfer's next order in this bucket;
   leads of the group's customers - in the order of the files;
2. per group (`group_features`): those pieces from every bucket, concatenated in bucket order (the
   order of the whole table), the small tables (ownership changes and customers: the group's share,
   `group_changes`) and the company's date range, run through the pipeline's own `build_features`
   restricted to the group's transfers.

A transfer's features are then those of the whole company: every record it reads is in its group, and
rows that other transfers need change none of its counts (they are keyed by other employees, customers
or pairs, or lie outside its windows). Declared hand-over flows compare each transfer with every
transfer of its flow: with flows, the engine runs one task on the whole company instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from perfml.pipelines.transfer_anomaly import nodes
from perfml.pipelines.transfer_anomaly.pipeline import TransferAnomaly
from perfml.scale.layout import BUCKETED, concat_parts, employee_buckets, read_layout, read_table
from perfml.scale.slices import Slice
from perfml.schema import TABLES

PIECE_TABLES = tuple(nodes.READS)  # the bucketed tables shuffled to the groups (targets: the group's buckets)
BUCKETS_PER_GROUP = 4


def group_count(buckets: int) -> int:
    """How many groups the transfers of a company of `buckets` buckets are built in.

    Each group reads the small tables from disk (keeping its share of the ownership changes,
    `group_changes`), a cost that grows with groups x company; a group's records shrink as groups grow.
    A quarter of the buckets (at least 4, at most the buckets) keeps both in check."""
    return max(min(buckets, BUCKETS_PER_GROUP), -(-buckets // BUCKETS_PER_GROUP))


@dataclass
class Plan:
    """Which group reads what: its transfers, (employee, customer) pairs, givers' windows and customers."""

    groups: int  # a receiver's group: her bucket modulo this
    units: dict[int, list[str]]  # group -> change ids
    pairs: pd.DataFrame  # employee_id, customer_id, group
    windows: pd.DataFrame  # employee_id, group, lo, hi: disjoint per (employee, group), inclusive
    customers: pd.DataFrame  # customer_id, group
    changes: pd.DataFrame  # every transfer: customer_id, changed_at (for the next orders)


def plan(root: Path, max_window_days: float, groups: int) -> Plan:
    """The `groups` groups of a partitioned folder's transfers (by the receiver's bucket) and what each reads."""
    changes = read_table(root, "ownership_changes")
    units = changes[changes["from_employee_id"].notna()].reset_index(drop=True)
    of = employee_buckets(read_table(root, "employees"), read_layout(root)["buckets"]) % groups
    # a receiver missing from the employees table has no rows in any bucket: any group will do
    group = of.reindex(units["to_employee_id"].astype("string")).fillna(0).to_numpy(dtype="int64")
    cust = units["customer_id"].astype("string").to_numpy()
    ids = units["change_id"].astype("string")
    pairs = pd.DataFrame(
        {
            "employee_id": np.concatenate([units["from_employee_id"].astype("string"), units["to_employee_id"]]),
            "customer_id": np.concatenate([cust, cust]),
            "group": np.concatenate([group, group]),
        }
    ).astype({"employee_id": "string", "customer_id": "string"})
    t0 = units["changed_at"]
    windows = pd.DataFrame(
        {
            "employee_id": units["from_employee_id"].astype("string"),
            "group": group,
            "lo": t0 - nodes.GIVER_RATE_WINDOW,
            "hi": t0 + pd.Timedelta(days=max_window_days),  # a transfer's cut-off is at most its window's end
        }
    )
    return Plan(
        groups=groups,
        units={int(g): ids[group == g].tolist() for g in np.unique(group)},
        pairs=pairs.drop_duplicates().reset_index(drop=True),
        windows=_merge_intervals(windows.dropna()),
        customers=pd.DataFrame({"customer_id": cust, "group": group}).drop_duplicates().reset_index(drop=True),
        changes=units[["customer_id", "changed_at"]].dropna(),
    )


def _merge_intervals(w: pd.DataFrame) -> pd.DataFrame:
    """The union of the [lo, hi] intervals per (employee_id, group), as disjoint intervals sorted by lo."""
    w = w.sort_values(["employee_id", "group", "lo"], kind="stable").reset_index(drop=True)
    same = w[["employee_id", "group"]].eq(w[["employee_id", "group"]].shift()).all(axis=1)
    reach = w.groupby(["employee_id", "group"], sort=False)["hi"].cummax().shift()
    start = ~(same & (w["lo"] <= reach)).to_numpy()
    run = np.cumsum(start)
    out = w.groupby(run).agg(employee_id=("employee_id", "first"), group=("group", "first"), lo=("lo", "min"))
    out["hi"] = w.groupby(run)["hi"].max().to_numpy()
    return out.sort_values("lo", kind="stable").reset_index(drop=True)


def _keyed_rows(frame: pd.DataFrame, keys: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """(row, group) of every row of `frame` whose `on` values appear in `keys` (with its groups)."""
    left = frame[on].astype("string").assign(row=np.arange(len(frame)))
    return left.merge(keys, on=on, how="inner")[["row", "group"]]


def _window_rows(acts: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """(row, group) of every activity inside one of its employee's windows of a group."""
    left = acts[["employee_id", "occurred_at"]].astype({"employee_id": "string"}).assign(row=np.arange(len(acts)))
    left = left.dropna().merge(windows[["employee_id", "group"]].drop_duplicates(), on="employee_id")
    if left.empty:
        return pd.DataFrame({"row": [], "group": []}, dtype="int64")
    left = left.sort_values("occurred_at", kind="stable")
    hit = pd.merge_asof(
        left, windows, left_on="occurred_at", right_on="lo", by=["employee_id", "group"], direction="backward"
    )
    return hit.loc[(hit["occurred_at"] <= hit["hi"]).to_numpy(dtype=bool), ["row", "group"]]


def _next_order_rows(orders: pd.DataFrame, changes: pd.DataFrame) -> np.ndarray:
    """Rows of `orders` that are some transfer's next order of its customer (strictly after the change)."""
    o = orders[["customer_id", "closed_at"]].astype({"customer_id": "string"}).dropna()
    o = o.sort_values("closed_at", kind="stable").rename(columns={"closed_at": "next_at"})
    c = changes.astype({"customer_id": "string"}).sort_values("changed_at", kind="stable")
    if o.empty or c.empty:
        return np.zeros(len(orders), dtype=bool)
    nxt = pd.merge_asof(
        c, o, left_on="changed_at", right_on="next_at", by="customer_id", direction="forward", allow_exact_matches=False
    ).dropna(subset=["next_at"])
    # every order at that moment (ties stay in the file's order, as in the whole table)
    wanted = pd.MultiIndex.from_frame(nxt[["customer_id", "next_at"]].drop_duplicates())
    have = pd.MultiIndex.from_arrays([orders["customer_id"].astype("string"), orders["closed_at"]])
    return have.isin(wanted)


def bucket_pieces(root: Path, bucket: int, the_plan: Plan, groups: list[int]) -> dict[int, dict[str, pd.DataFrame]]:
    """Group -> {table: this bucket's rows the group reads, in file order} (see the module doc)."""
    acts = read_table(root, "activities", [bucket], columns=list(nodes.READS["activities"]))
    orders = read_table(root, "orders", [bucket], columns=list(nodes.READS["orders"]))
    leads = read_table(root, "leads", [bucket], columns=list(nodes.READS["leads"]))
    act_rows = pd.concat(
        [
            _keyed_rows(acts, the_plan.pairs, ["employee_id", "customer_id"]),
            _window_rows(acts, the_plan.windows),
        ]
    )
    order_rows = _keyed_rows(orders, the_plan.customers, ["customer_id"])
    lead_rows = _keyed_rows(leads, the_plan.customers, ["customer_id"])
    next_orders = _next_order_rows(orders, the_plan.changes)
    out = {}
    for g in groups:
        keep = np.full(len(orders), bucket % the_plan.groups == g)  # a group's own buckets: all their orders
        keep[order_rows.loc[order_rows["group"] == g, "row"].to_numpy()] = True
        out[g] = {
            "activities": _take(acts, act_rows, g),
            "orders": orders[keep | next_orders].reset_index(drop=True),
            "leads": _take(leads, lead_rows, g),
        }
    return out


def _take(frame: pd.DataFrame, rows: pd.DataFrame, group: int) -> pd.DataFrame:
    picked = np.unique(rows.loc[rows["group"] == group, "row"].to_numpy(dtype="int64"))
    return frame.iloc[picked].reset_index(drop=True)


def group_changes(
    changes: pd.DataFrame, employees: pd.DataFrame, receivers: pd.Index, change_ids: list[str], orders: pd.DataFrame
) -> np.ndarray:
    """Which ownership changes the features of a group's transfers (`change_ids`, to `receivers`: the
    employees of the group's buckets) read: every other row changes none of their values.

    - transfers to the group's receivers (their pair, quick-order and parked-deal records);
    - transfers by any member of the givers' teams (the giver's own record, and against the team's habit);
    - every change of the customers of those transfers to the receivers (the next change ends a window;
      the one before says who owned the customer) and of the receivers' orders (who owned it then).
    """
    unit = changes["change_id"].astype("string").isin(pd.Index(change_ids, dtype="string")).to_numpy()
    to = changes["to_employee_id"].astype("string")
    giver = changes["from_employee_id"].astype("string")
    receivers = receivers.union(pd.Index(to[unit].dropna().unique()))  # with those missing from employees
    transfer = giver.notna().to_numpy()
    to_receiver = transfer & to.isin(receivers).to_numpy()
    team_of = employees.set_index(employees["employee_id"].astype("string"))["team_id"].astype("string")
    team = team_of.reindex(giver).reset_index(drop=True)
    teams = team[unit]
    by_team = team.isin(teams.dropna()).to_numpy() | (team.isna().to_numpy() & teams.isna().any())
    customers = pd.concat(
        [
            changes.loc[to_receiver | unit, "customer_id"].astype("string"),
            orders.loc[orders["employee_id"].astype("string").isin(receivers).to_numpy(), "customer_id"].astype(
                "string"
            ),
        ]
    )
    of_customers = changes["customer_id"].astype("string").isin(customers.dropna().unique()).to_numpy()
    return unit | to_receiver | (transfer & by_team) | of_customers


def group_features(
    spec: TransferAnomaly,
    root: Path,
    group: int,
    groups: int,
    change_ids: list[str],
    pieces: list[dict[str, pd.DataFrame]],
    dates: tuple[pd.Timestamp, pd.Timestamp],
    as_of: pd.Timestamp | None,
) -> pd.DataFrame:
    """The feature rows of one group's transfers (`pieces`: `bucket_pieces` of every bucket, in bucket order)."""
    root = Path(root)
    tables = {name: read_table(root, name) for name in TABLES if name not in BUCKETED and (root / name).is_dir()}
    for name in PIECE_TABLES:
        tables[name] = concat_parts([p[name] for p in pieces], name)
    mine = [k for k in range(read_layout(root)["buckets"]) if k % groups == group]
    if (root / "targets").is_dir():
        tables["targets"] = read_table(root, "targets", mine)  # the receivers' (whole teams per bucket)
    of = employee_buckets(tables["employees"], read_layout(root)["buckets"])
    receivers = of.index[np.isin(of.to_numpy(), mine)]
    changes = tables["ownership_changes"]
    kept = group_changes(changes, tables["employees"], receivers, change_ids, tables["orders"])
    tables["ownership_changes"] = changes[kept].reset_index(drop=True)
    if "customers" in tables:  # read for the transferred customers' age only
        cust = tables["customers"]
        units = tables["ownership_changes"]["change_id"].isin(pd.Index(change_ids, dtype="string"))
        wanted = tables["ownership_changes"].loc[units.to_numpy(dtype=bool), "customer_id"].astype("string")
        tables["customers"] = cust[cust["customer_id"].astype("string").isin(wanted).to_numpy()].reset_index(drop=True)
    untracked = read_layout(root).get("untracked", [])
    part = Slice(tables, {}, source=f"{root}#transfers-to-{group}", untracked=untracked, dates=dates)
    return spec.build_features(part, as_of=as_of, change_ids=change_ids).reset_index(drop=True)

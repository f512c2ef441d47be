"""Anomaly-aware crediting: who each order's revenue counts for, as a ledger the metrics layer reads.

**Holders.** An order is credited to its `order_credits` rows (a split: each employee with a
`share` in percent, the shares of an order summing to 100, checked by validation), else to the
closer (`orders.employee_id`) at 100%.

**Transfers.** An order is linked to its customer's latest ownership change at or before it
closed. The transfer rules apply to the holder the change moved the customer to (the receiver;
`to_employee_id` is that holder), on that holder's share only; the other holders of a split are
credited their shares directly:
- the receiver is credited `transferred_share[role]` % (default 20% for assistants, else 100%) of
  its share, the remainder going to nobody or back to the from-owner (`remainder`);
- a change scored at or above `hold_threshold` is **held**: the receiver's share is credited to
  nobody until reviewed;
- a review **releases** it (credited as a normal transfer) or **voids** it (the receiver's whole
  share to the from-owner). Reviews come from `transfer_labels` (0 = dismissed -> release,
  1 = confirmed anomaly -> void) and from an explicit `reviews` mapping, which wins. A void
  applies whether or not the change was held: a confirmed gaming transfer never pays the receiver.

**Shares** are exact integers in 1/10,000 of the order (`share_bp`). A split share times a
transferred share that is finer than that (33.33% x 20% = 6.666%) is rounded down to 1/10,000;
the rest goes with the remainder, so the holders never get more than the order.

**Currency.** `amount` is the order in the plan's currency (`perfml.rules.currency`: the rate of
the close date or the last earlier one, rounded once by the plan's rounding); `currency`,
`amount_original`, `fx_rate` and `fx_date` keep what the conversion read, so traces cite it.

**Reading the ledger** (`perfml.metrics`, milestones): money is credited by `share_bp`; a count
(orders, new customers, milestone orders) goes once to each employee credited a positive share
of the order; a held share counts for nobody; a voided share for the original owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from perfml.errors import PerfmlError
from perfml.frames import isin, lookup, positions, strictly_increasing
from perfml.metrics import FULL_SHARE, TRANSFERRED_STATUSES, period_of
from perfml.money import to_decimal
from perfml.rules.bands import fmt, pct
from perfml.rules.currency import CENTS, CONVERSION_COLUMNS, convert_orders
from perfml.rules.plan import Crediting, Rounding
from perfml.rules.trace import money

LEDGER_COLUMNS = [
    "order_id",
    "customer_id",
    "closed_at",
    "period",
    *CONVERSION_COLUMNS,  # currency, amount_original, fx_rate, fx_date, amount (plan currency)
    "order_type",
    "closer_id",
    "split_bp",
    "change_id",
    "from_employee_id",
    "to_employee_id",
    "score",
    "status",
    "employee_id",
    "share_bp",
]
DECISIONS = ("release", "void")


def load_scores(path: str | Path) -> pd.DataFrame:
    """Anomaly scores CSV (`change_id, score`) as a frame; a clear error when malformed."""
    path = Path(path)
    try:
        scores = pd.read_csv(path, dtype={"change_id": "string"})
    except (OSError, ValueError) as exc:
        raise PerfmlError(f"scores file {path}: cannot read ({exc})") from None
    missing = {"change_id", "score"} - set(scores.columns)
    if missing:
        raise PerfmlError(f"scores file {path}: missing column(s) {', '.join(sorted(missing))}")
    scores["score"] = pd.to_numeric(scores["score"], errors="coerce")
    bad = scores.index[scores["score"].isna() | scores["change_id"].isna()]
    if len(bad):
        rows = ", ".join(str(i + 2) for i in bad[:5])
        raise PerfmlError(f"scores file {path}: change_id and a numeric score are required — row(s) {rows}")
    if scores["change_id"].duplicated().any():
        raise PerfmlError(f"scores file {path}: change_id must be unique")
    return scores[["change_id", "score"]]


def review_decisions(dataset, reviews: Mapping[str, str] | None = None) -> dict[str, str]:
    """change_id -> 'release' | 'void', from transfer_labels then explicit reviews (which win)."""
    out = {}
    if dataset.has("transfer_labels"):  # reading an absent table builds a typed empty frame: not cheap
        labels = dataset.transfer_labels
        out = {
            cid: ("void" if flag == 1 else "release")
            for cid, flag in zip(labels["change_id"], labels["is_anomalous"], strict=True)
            if pd.notna(flag)
        }
    for cid, decision in (reviews or {}).items():
        if decision not in DECISIONS:
            raise PerfmlError(
                f"review of change {cid}: decision must be one of {', '.join(DECISIONS)}, got {decision!r}"
            )
        out[str(cid)] = decision
    return out


def credit_ledger(
    dataset,
    rules: Crediting,
    *,
    currency: str | None = None,
    rounding: Rounding = CENTS,
    scores: pd.DataFrame | None = None,
    reviews: Mapping[str, str] | None = None,
    since: str | None = None,
) -> pd.DataFrame:
    """One row per (order, credited employee) with status and share (`LEDGER_COLUMNS`); vectorised.

    `currency` is the plan's (amounts convert to it; None = amounts as written, one currency);
    `rounding` rounds converted amounts. `since` ('YYYY-MM') leaves out orders closed before that
    month (a run only needs its look-back).
    """
    orders = dataset.orders
    if since is not None:
        orders = orders[orders["closed_at"] >= pd.Timestamp(f"{since}-01")]
    ledger = pd.DataFrame(
        {
            "order_id": orders["order_id"],
            "customer_id": orders["customer_id"],
            "closed_at": orders["closed_at"],
            "period": period_of(orders["closed_at"]),
            "order_type": orders["order_type"],
            "closer_id": orders["employee_id"],
        }
    )
    ledger = ledger.join(convert_orders(orders, dataset.fx_rates, currency, rounding))
    ledger = _holders(_link_changes(ledger, dataset.ownership_changes), dataset.order_credits)
    holder = ledger["employee_id"]
    transfer = (
        (
            ledger["from_employee_id"].notna()
            & (ledger["to_employee_id"] == holder)
            & (ledger["from_employee_id"] != ledger["to_employee_id"])
        )
        .fillna(False)
        .astype(bool)
    )

    score = pd.Series(float("nan"), index=ledger.index)
    if scores is not None and len(scores):
        score = lookup(ledger["change_id"], scores.set_index("change_id")["score"]).astype("float64")
    ledger["score"] = score.where(transfer)
    decisions = review_decisions(dataset, reviews)
    decision = pd.Series(None, ledger.index, object)
    if decisions:
        decision = ledger["change_id"].map(decisions).where(transfer)
    held = transfer & decision.isna()
    if rules.hold_threshold is not None:
        # Floats compare like the decimal texts they came from for any score written with <= 15 digits.
        held &= ledger["score"].ge(float(rules.hold_threshold)).fillna(False).astype(bool)
    else:
        held &= False

    # Percent with at most two decimals (checked in the plan) is an exact integer in 1/10,000.
    roles = dataset.employees.set_index("employee_id")["role"]
    bp_by_role = {role: int(share * 100) for role, share in rules.transferred_share.items()}
    role_bp = lookup(holder, roles.map(bp_by_role).astype("float64")).fillna(FULL_SHARE).astype("int64")
    status = pd.Series("direct", index=ledger.index, dtype="string")
    status[transfer] = "transfer"
    status[transfer & (decision == "release")] = "released"
    status[transfer & (decision == "void")] = "voided"
    status[held] = "held"
    ledger["status"] = status
    ledger.loc[held, "employee_id"] = pd.NA
    ledger.loc[status == "voided", "employee_id"] = ledger.loc[status == "voided", "from_employee_id"]
    shared = status.isin(TRANSFERRED_STATUSES)
    # Rounded down to 1/10,000 of the order (integer division): the rest goes with the remainder.
    ledger["share_bp"] = (ledger["split_bp"] * role_bp // FULL_SHARE).where(shared, ledger["split_bp"])
    ledger.loc[held, "share_bp"] = 0

    rows = [ledger]
    if rules.remainder == "from_owner":
        rest = ledger[shared & (ledger["share_bp"] < ledger["split_bp"])].copy()
        rest["employee_id"] = rest["from_employee_id"]
        rest["share_bp"] = rest["split_bp"] - rest["share_bp"]
        rest["status"] = "remainder"
        rows.append(rest)
    out = pd.concat(rows, ignore_index=True)[LEDGER_COLUMNS]
    order = _sorted_order(out)
    # Reordering every string column is most of the ledger's cost: skip it when already in order (one holder
    # per order, orders listed by id, as most exports are).
    return out if order is None else out.iloc[order].reset_index(drop=True)


def _sorted_order(ledger: pd.DataFrame) -> np.ndarray | None:
    """Row order by (order_id, status, employee_id), missing employee first, stable; None when already so."""
    if strictly_increasing(ledger["order_id"]):  # one row per order, listed by id
        return None
    codes = [pd.factorize(ledger[c], sort=True, use_na_sentinel=True)[0] for c in ("employee_id", "status", "order_id")]
    order = np.lexsort(codes)  # the last key sorts first; a missing employee's code -1 comes first
    return None if (order == np.arange(len(order))).all() else order


def _holders(ledger: pd.DataFrame, credits: pd.DataFrame) -> pd.DataFrame:
    """One row per holder of each order (`employee_id`, `split_bp`): its order_credits rows, else the closer."""
    if len(credits):  # the membership test hashes every order id: worth it only when there are splits
        credits = credits[isin(credits["order_id"], ledger["order_id"])]
    split = credits[["order_id", "employee_id", "share"]]
    # Shares have at most two decimals (validated), so percent x 100 is an exact integer in 1/10,000.
    split = split.assign(split_bp=(split.pop("share") * 100).round().astype("int64"))
    if split.empty:  # no splits among these orders: every order is its closer's
        return ledger.assign(employee_id=ledger["closer_id"].astype("string"), split_bp=FULL_SHARE)
    alone = ledger[~isin(ledger["order_id"], split["order_id"])]
    alone = alone.assign(employee_id=alone["closer_id"].astype("string"), split_bp=FULL_SHARE)
    shared = ledger.merge(split.astype({"employee_id": "string"}), on="order_id", how="inner")
    return pd.concat([alone, shared], ignore_index=True).astype({"split_bp": "int64"})


def _link_changes(ledger: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """Attach the customer's latest ownership change at or before each order's close (the last one listed
    among changes at the same instant, in (changed_at, change_id) order)."""
    ch = changes[["change_id", "customer_id", "from_employee_id", "to_employee_id", "changed_at"]]
    ch = ch.sort_values(["changed_at", "change_id"], kind="stable")
    if ledger.empty or ch.empty:
        for col in ("change_id", "from_employee_id", "to_employee_id"):
            ledger[col] = pd.Series(pd.NA, index=ledger.index, dtype="string")
        return ledger
    # An as-of join on integer keys: (customer, time rank) of every change sorted, each order's key searched.
    customers = ch["customer_id"].dropna().unique()
    ch_customer, order_customer = positions(ch["customer_id"], customers), positions(ledger["customer_id"], customers)
    ch_time = ch["changed_at"].to_numpy("datetime64[ns]").astype("int64")
    order_time = ledger["closed_at"].to_numpy("datetime64[ns]").astype("int64")
    times, ranks = np.unique(np.concatenate([ch_time, order_time]), return_inverse=True)
    step = len(times) + 1
    ch_key = ch_customer * step + ranks[: len(ch)]
    by_key = np.argsort(ch_key, kind="stable")  # equal keys keep the (changed_at, change_id) order
    found = np.searchsorted(ch_key[by_key], order_customer * step + ranks[len(ch) :], side="right") - 1
    match = by_key[np.maximum(found, 0)]
    linked = (found >= 0) & (order_customer >= 0) & (ch_customer[match] == order_customer)
    for col in ("change_id", "from_employee_id", "to_employee_id"):
        values = pd.Series(ch[col].array.take(match), index=ledger.index, dtype="string")
        ledger[col] = values.where(linked)
    return ledger


def holds(ledger: pd.DataFrame, periods: list[str], threshold: Decimal | None) -> list[dict]:
    """Held changes with the orders they hold in `periods` (revenue credited to nobody until reviewed)."""
    held = ledger[(ledger["status"] == "held") & ledger["period"].isin(periods)]
    held = held.sort_values(["change_id", "order_id"], kind="stable")
    cols = {
        c: held[c].tolist()
        for c in (
            "change_id",
            "customer_id",
            "from_employee_id",
            "to_employee_id",
            "score",
            "order_id",
            "period",
            "amount",
            "split_bp",
        )
    }
    out: list[dict] = []
    for i, change_id in enumerate(cols["change_id"]):
        if not out or out[-1]["change_id"] != change_id:  # rows are sorted, so a change's orders are adjacent
            out.append(
                {
                    "change_id": change_id,
                    "customer_id": cols["customer_id"][i],
                    "from_employee_id": cols["from_employee_id"][i],
                    "to_employee_id": cols["to_employee_id"][i],
                    "score": to_decimal(float(cols["score"][i])),
                    "threshold": threshold,
                    "orders": [],
                    "periods": [],
                    "amount": Decimal(0),
                    "status": "held: credited to nobody until a review releases (to the receiver) or voids "
                    "(to the original owner) it",
                }
            )
        hold = out[-1]
        hold["orders"].append(cols["order_id"][i])
        if cols["period"][i] not in hold["periods"]:
            hold["periods"].append(cols["period"][i])
        hold["amount"] += _share_of(cols["amount"][i], cols["split_bp"][i])  # the receiver's share is held
    for hold in out:
        hold["periods"].sort()
    return out


def explained_credits(ledger: pd.DataFrame) -> pd.DataFrame:
    """The ledger rows a trace explains: credits that are not 100% direct in the plan's currency (transfers,
    releases, voids, remainders, split shares, converted orders)."""
    return ledger[
        ledger["employee_id"].notna()
        & (ledger["status"] != "held")
        & ((ledger["status"] != "direct") | (ledger["split_bp"] < FULL_SHARE) | ledger["fx_rate"].notna())
    ]


def credit_notes(ledger: pd.DataFrame, currency: str | None = None) -> dict[tuple[str, str], list[dict]]:
    """(employee_id, period) -> explanations of credits that are not 100% direct in the plan's currency
    (transfers, releases, voids, remainders, split shares, converted orders); money in `currency`."""
    rows = explained_credits(ledger)
    out: dict[tuple[str, str], list[dict]] = {}
    for r in rows.sort_values(["order_id", "status"], kind="stable").to_dict("records"):
        share = Decimal(int(r["share_bp"])) / 100
        credited = _share_of(r["amount"], r["share_bp"])
        what = f"{pct(share)} of order {r['order_id']}'s {money(to_decimal(float(r['amount'])))}"
        what += _conversion_text(r, currency) + f" credited: {money(credited)}"
        change, source, to = r["change_id"], r["from_employee_id"], r["to_employee_id"]
        split = Decimal(int(r["split_bp"])) / 100
        held_share = f"{to}'s {pct(split)} split share" if r["split_bp"] < FULL_SHARE else "the order"
        text = {
            "direct": f"split share (order_credits): {what}" if r["split_bp"] < FULL_SHARE else what,
            "transfer": f"customer {r['customer_id']} came from {source} (change {change}); {what}",
            "released": f"change {change} was reviewed and released; {what}",
            "voided": f"change {change} ({source} → {to}) was voided by review; "
            f"{held_share} stays with the original owner: {what}",
            "remainder": f"remainder of a transfer to {to} (change {change}): {what}",
        }[r["status"]]
        if r["status"] in TRANSFERRED_STATUSES and r["split_bp"] < FULL_SHARE:
            text += f" (the transferred share of {to}'s {pct(split)} split share)"
        out.setdefault((r["employee_id"], r["period"]), []).append(
            {
                "order_id": r["order_id"],
                "status": r["status"],
                "change_id": change,
                "share_pct": share,
                "credited": credited,
                "explanation": text,
            }
        )
    return out


def _share_of(amount, share_bp) -> Decimal:
    """`share_bp` 1/10,000 of an amount, exactly (the metrics layer credits the same integer units)."""
    return to_decimal(float(amount)) * int(share_bp) / FULL_SHARE


def _conversion_text(row: dict, currency: str | None) -> str:
    """' (30,000.00 USD × 7.1, fx_rates of 2024-03-01)' for a converted order, else ''."""
    if pd.isna(row["fx_rate"]):
        return ""
    original = money(to_decimal(float(row["amount_original"])))
    rate = fmt(to_decimal(float(row["fx_rate"])))
    unit = f" {currency}" if currency else ""
    return f"{unit} ({original} {row['currency']} × {rate}, fx_rates of {row['fx_date'].date()})"


def load_reviews(path: str | Path) -> dict[str, str]:
    """Review decisions CSV (`change_id, decision` with decision release|void) as a mapping."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise PerfmlError(f"reviews file {path}: cannot read ({exc})") from None
    missing = {"change_id", "decision"} - set(frame.columns)
    if missing:
        raise PerfmlError(f"reviews file {path}: missing column(s) {', '.join(sorted(missing))}")
    bad = frame.index[~frame["decision"].isin(DECISIONS)]
    if len(bad):
        rows = ", ".join(str(i + 2) for i in bad[:5])
        raise PerfmlError(f"reviews file {path}: decision must be release or void — row(s) {rows}")
    return dict(zip(frame["change_id"], frame["decision"], strict=True))

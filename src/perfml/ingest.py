"""Batch ingest of contract records (the HTTP service's write path): validated, all or nothing, idempotent.

A batch is `{table: [record, ...]}` with records as JSON objects (contract column names; values
text, numbers or null; extra columns kept like in a file). Each table is parsed and checked by
the contract (`perfml.validation.parse_table`: types, required values, enums, ranges, unique
keys); references are checked against the batch AND the store (an order may name a customer
imported last week); a missing `order_type` is derived against the store's order history too.
Problems name the table, the column, the rule and the record indexes (0-based, as in the
request); one problem anywhere and nothing is written. Otherwise every table is upserted by key
in one transaction (re-sending the same records changes nothing). `prepare_batch` and
`write_batch` are the two halves, for a caller that keeps a snapshot of the store up to date with
the typed rows written (the service).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perfml.errors import DataValidationError, Problem
from perfml.schema import TABLES
from perfml.store import (
    CANONICAL,
    StoreIntegrityError,
    check_split_shares,
    create_all,
    engine_for,
    import_order,
    record_changes,
    upsert_records,
    utcnow,
)
from perfml.validation import parse_table

FIRST_ROW = 0  # problems number records as the request does: the first record of a table is 0
_IN_CHUNK = 500  # ids per IN (...) query


def _text(value):
    """Record values as the text a CSV cell would hold (numbers keep their repr), None for null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)  # reported as unparseable, never stored
    return str(value)


def _frame(records: Sequence[Mapping]) -> pd.DataFrame:
    columns: list[str] = []
    for rec in records:
        for k in rec:
            if k not in columns:
                columns.append(k)
    data = {c: pd.Series([_text(rec.get(c)) for rec in records], dtype=object) for c in columns}
    return pd.DataFrame(data, index=pd.RangeIndex(len(records)))


def _problem(table: str, column: str, rule: str, bad: list[int], detail: str = "") -> Problem:
    bad = sorted(bad)
    return Problem(table, column, rule, tuple(bad[:5]), len(bad), detail)


def _stored_ids(conn, table: str, column: str, values: set[str]) -> set[str]:
    col = CANONICAL[table].c[column]
    found: set[str] = set()
    ordered = sorted(values)
    for i in range(0, len(ordered), _IN_CHUNK):
        chunk = ordered[i : i + _IN_CHUNK]
        found |= {r[0] for r in conn.execute(sa.select(col).where(col.in_(chunk)))}
    return found


def _reference_problems(conn, typed: dict[str, pd.DataFrame]) -> list[Problem]:
    problems = []
    for name, df in typed.items():
        for ref in TABLES[name].references:
            if ref.column not in df.columns:
                continue
            values = df[ref.column]
            present = values.notna()
            if not present.any():
                continue
            wanted = set(values[present].astype(str))
            known = set()
            if ref.target_column in typed.get(ref.target_table, pd.DataFrame()).columns:
                known |= set(typed[ref.target_table][ref.target_column].dropna().astype(str))
            missing = wanted - known
            if missing:
                missing -= _stored_ids(conn, ref.target_table, ref.target_column, missing)
            if missing:
                bad = df.index[present & values.astype(str).isin(missing)]
                problems.append(
                    _problem(
                        name,
                        ref.column,
                        f"must reference an existing {ref.target_table}."
                        f"{ref.target_column} (in this batch or the store)",
                        list(bad),
                        f"e.g. {values[bad[0]]!r}",
                    )
                )
    return problems


def _derive_order_types(conn, orders: pd.DataFrame) -> None:
    """Missing order_type: `new` for a customer's first order (store and batch together), else `repeat`."""
    missing = orders["order_type"].isna()
    if not missing.any():
        return
    customers = set(orders.loc[missing, "customer_id"].astype(str))
    table = CANONICAL["orders"]
    first_stored: dict[str, pd.Timestamp] = {}
    ordered = sorted(customers)
    for i in range(0, len(ordered), _IN_CHUNK):
        rows = conn.execute(
            sa.select(table.c.customer_id, sa.func.min(table.c.closed_at))
            .where(
                table.c.customer_id.in_(ordered[i : i + _IN_CHUNK]),
                table.c.order_id.not_in(list(orders["order_id"].astype(str))),
            )
            .group_by(table.c.customer_id)
        ).all()
        first_stored |= {c: pd.Timestamp(t) for c, t in rows if t is not None}
    batch_first = orders.sort_values(["closed_at", "order_id"]).drop_duplicates("customer_id")
    first_batch = dict(zip(batch_first["customer_id"].astype(str), batch_first["order_id"].astype(str), strict=True))
    derived = []
    for oid, cid, closed in zip(
        orders.loc[missing, "order_id"].astype(str),
        orders.loc[missing, "customer_id"].astype(str),
        orders.loc[missing, "closed_at"],
        strict=True,
    ):
        earlier_in_store = cid in first_stored and first_stored[cid] <= closed
        derived.append("new" if first_batch.get(cid) == oid and not earlier_in_store else "repeat")
    orders.loc[missing, "order_type"] = pd.array(derived, dtype="string")


def prepare_batch(
    records: Mapping[str, Sequence[Mapping]], engine: Engine | str, *, max_records: int | None = None
) -> dict[str, pd.DataFrame]:
    """Parse and check a batch against the contract and the store; return the typed rows to write per table.

    Raises `DataValidationError` (nothing written) with every problem; rows are 0-based record indexes.
    """
    problems: list[Problem] = []
    unknown = [name for name in records if name not in TABLES]
    problems += [Problem(name, None, f"unknown table (expected one of: {', '.join(TABLES)})") for name in unknown]
    total = sum(len(v) for v in records.values())
    if max_records is not None and total > max_records:
        problems.append(Problem("batch", None, f"at most {max_records} records per batch, got {total}"))
    if problems:
        raise DataValidationError(problems)
    typed: dict[str, pd.DataFrame] = {}
    for name, recs in records.items():
        if not recs:
            continue
        df, found = _parse(name, recs)
        typed[name] = df
        problems += found
    eng = engine_for(engine)
    create_all(eng)
    # Reads first, on their own connection: a SQLite transaction that reads and then writes fails
    # when another writer commits in between. Imports never delete, so what was found stays; the
    # store's deferred foreign keys re-check every reference at commit anyway. References are checked
    # on the rows that parsed, in the same pass as the row rules: one answer lists every problem.
    with eng.connect() as conn:
        problems += _reference_problems(conn, typed)
        if problems:
            raise DataValidationError(problems)
        if "orders" in typed:
            _derive_order_types(conn, typed["orders"])
    return typed


def _parse(name: str, recs: Sequence[Mapping]) -> tuple[pd.DataFrame, list[Problem]]:
    """`parse_table` on one table's records; a value it cannot even hold (e.g. a date pandas cannot
    represent) becomes a problem naming the table, never an unhandled error."""
    try:
        return parse_table(TABLES[name], _frame(recs), FIRST_ROW)
    except (ValueError, OverflowError, ArithmeticError) as exc:  # pandas' OutOfBoundsDatetime is a ValueError
        return pd.DataFrame(), [
            Problem(name, None, "a value cannot be read", detail=f"{type(exc).__name__}: {exc}"[:200])
        ]


def write_batch(typed: Mapping[str, pd.DataFrame], engine: Engine | str) -> dict[str, int]:
    """Upsert prepared rows (`prepare_batch`) in one transaction, all or nothing; return rows written per table."""
    eng = engine_for(engine)
    now = utcnow()
    counts: dict[str, int] = {}
    try:
        with eng.begin() as conn:
            for name in import_order():
                if name in typed:
                    counts[name] = upsert_records(conn, name, typed[name], ingested_at=now)
            if "order_credits" in typed:
                check_split_shares(conn, typed["order_credits"], FIRST_ROW)
            record_changes(conn, typed)
    except (sa.exc.IntegrityError, sa.exc.DataError) as exc:  # DataError: a value the database cannot hold
        raise StoreIntegrityError(f"the store refused the batch, nothing written: {exc.orig}") from exc
    except OverflowError as exc:  # the SQLite driver's own refusal of an integer it cannot hold
        raise StoreIntegrityError(f"the store refused the batch, nothing written: {exc}") from exc
    return {name: counts[name] for name in TABLES if name in counts}


def ingest_records(
    records: Mapping[str, Sequence[Mapping]], engine: Engine | str, *, max_records: int | None = None
) -> dict[str, int]:
    """Validate and upsert a batch in one transaction; return records written per table.

    Raises `DataValidationError` (nothing written) with every problem; rows are 0-based record indexes.
    """
    return write_batch(prepare_batch(records, engine, max_records=max_records), engine)


__all__ = ["FIRST_ROW", "ingest_records", "prepare_batch", "write_batch"]

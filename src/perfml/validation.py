"""Enforce the data contract: parse raw frames into typed frames and collect every problem.

Parsing (text -> timestamps, numbers) is done here because only here do we know which
original row failed to parse; parsing also refuses what no column may hold (non-finite
numbers, instants outside 1900-2100, NUL characters). Value rules (required, choices,
ranges, formats, unique keys) are checked by pandera in lazy mode, decimal places on the
numbers as written, and cross-table references by set membership on the rows that parsed,
all in one pass. Row numbers in problems are as they appear in the source: for CSV the
header is row 1, so the first record is row 2. `perfml validate`, `perfml import` and HTTP
ingest all go through `parse_table`, so the rules are the same everywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pycountry
from pandera.errors import SchemaErrors

from perfml.errors import DataValidationError, Problem
from perfml.money import to_decimal
from perfml.schema import ALWAYS_TRACKED, ATTR_PREFIX, MANIFEST, PERIOD_PATTERN, TABLES, TIME_RANGE, Column, Table

_PARSE_RULES = {
    "timestamp": "must be an ISO 8601 timestamp",
    "date": "must be an ISO 8601 date",
    "float": "must be a number",
    "int": "must be an integer",
    "flag": "must be 0 or 1",
}
FINITE_RULE = "must be a finite number"
TIME_RULE = f"must be between {TIME_RANGE[0]} and {TIME_RANGE[1]}"
NUL_RULE = "must not contain a NUL character"
NUL = "\x00"
MAX_VALUES_SHOWN = 3
ISO_4217 = frozenset(c.alpha_3 for c in pycountry.currencies)
CURRENCY_COLUMNS = {"orders": ("currency",), "fx_rates": ("from_currency", "to_currency")}
SPLIT_RULE = "shares of one order must sum to exactly 100"


def _blank_to_na(s: pd.Series) -> pd.Series:
    """Strings with only whitespace are missing values, as in most CRM exports."""
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        s = s.astype("string").str.strip()
        return s.mask(s == "")
    return s


def _rows(index: pd.Index, first_row: int) -> tuple[int, ...]:
    return tuple(int(i) + first_row for i in index)


def _shown(value) -> str:
    """A value as the reader wrote it: text quoted (so spaces and NUL show), numbers and dates plain."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float):  # also numpy floats, whose repr is 'np.float64(inf)'
        return str(float(value))
    return str(value)


def _examples(values: pd.Series, bad: pd.Index) -> str:
    """`e.g. 'inf', '1e400'`: the distinct values of the first offending rows."""
    first = values.loc[bad.sort_values()[: MAX_VALUES_SHOWN * 4]].dropna()
    shown = list(dict.fromkeys(_shown(v) for v in first))[:MAX_VALUES_SHOWN]
    return "e.g. " + ", ".join(shown) if shown else ""


def _problem(
    table: str,
    column: str | None,
    rule: str,
    bad: pd.Index,
    first_row: int,
    values: pd.Series | None = None,
    detail: str = "",
) -> Problem:
    bad = bad.sort_values()
    if values is not None and not detail:
        detail = _examples(values, bad)
    return Problem(table, column, rule, _rows(bad[:5], first_row), len(bad), detail)


def _num(bound: float) -> str:
    """1e12 -> '1e12', 1440.0 -> '1440'."""
    return f"{bound:g}".replace("e+", "e")


def _stamps(s: pd.Series) -> pd.Series:
    """Naive-UTC timestamps in whatever unit pandas picks (µs reaches year 0001); unparseable -> NaT."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(s.dt, "tz", None) else s
    return pd.to_datetime(s, errors="coerce", utc=True, format="ISO8601").dt.tz_localize(None)


def _parse_column(s: pd.Series, col: Column) -> tuple[pd.Series, dict[str, pd.Series]]:
    """Type one (blank-stripped) column; return it and, per broken rule, the rows breaking it.

    A value that breaks one of these rules becomes missing in the typed column, so it is
    reported once, here, and never again as "required value is empty" or out of range.
    """
    if col.kind in ("timestamp", "date"):
        stamps = _stamps(s)
        unparsed = stamps.isna() & s.notna()
        outside = (stamps < pd.Timestamp(TIME_RANGE[0])) | (stamps >= pd.Timestamp(TIME_RANGE[1]))
        # Bounds first: nanoseconds (the frames' unit) cannot even hold year 1600 or 2300.
        out = stamps.mask(outside).astype("datetime64[ns]")
        out = out.dt.normalize() if col.kind == "date" else out
        return out, {_PARSE_RULES[col.kind]: unparsed, TIME_RULE: outside}
    if col.kind in ("float", "int", "flag"):
        numbers = pd.to_numeric(s, errors="coerce").astype("float64")
        infinite = pd.Series(np.isinf(numbers.to_numpy()), index=numbers.index)  # 'inf', '1e400', a float inf
        numbers = numbers.mask(infinite)
        if col.kind == "flag":
            numbers = numbers.where(numbers.isin([0.0, 1.0]))
        elif col.kind == "int":
            numbers = numbers.where(numbers == np.floor(numbers))
        return numbers, {_PARSE_RULES[col.kind]: numbers.isna() & s.notna() & ~infinite, FINITE_RULE: infinite}
    return s.astype("string"), {}


def _decimal_places(value) -> int:
    """Decimal places of a number as written ('1.50' -> 1, '1e-7' -> 7; floats by their shortest repr)."""
    try:
        exponent = to_decimal(value).normalize().as_tuple().exponent
    except (InvalidOperation, ValueError):
        return 0  # unparseable text is reported by the parse rules
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _attr_column(raw: pd.Series) -> pd.Series:
    """HR attributes are numeric when every present value is a number, else categorical."""
    s = _blank_to_na(raw)
    num = pd.to_numeric(s, errors="coerce")
    if (num.notna() | s.isna()).all():
        return num.astype("float64")
    return s.astype("category")


def _pandera_schema(table: Table, present: list[str]) -> pa.DataFrameSchema:
    columns = {}
    for col in table.columns:
        if col.name not in present:
            continue
        checks = []
        if col.choices:
            checks.append(pa.Check.isin(list(col.choices)))
        if col.min is not None:
            checks.append(pa.Check.ge(col.min))
        if col.max is not None:
            checks.append(pa.Check.le(col.max))
        if col.kind == "period":
            checks.append(pa.Check.str_matches(PERIOD_PATTERN))
        columns[col.name] = pa.Column(checks=checks, nullable=col.nullable, required=False)
    return pa.DataFrameSchema(columns, unique=list(table.key), report_duplicates="all")


def _describe_check(check: str, table: Table, column: str) -> str:
    col = table.column(column)
    if check == "not_nullable":
        return "required value is empty"
    if check in ("field_uniqueness", "multiple_fields_uniqueness"):
        return f"duplicate key ({', '.join(table.key)}) must be unique"
    if check.startswith("isin"):
        return f"must be one of {', '.join(col.choices) if col else check}"
    if check.startswith("greater_than_or_equal_to") and col and col.min is not None:
        return f"must be >= {_num(col.min)}"
    if check.startswith("less_than_or_equal_to") and col and col.max is not None:
        return f"must be <= {_num(col.max)}"
    if check.startswith("str_matches"):
        return "must be a period YYYY-MM"
    return check


def _key_text(table: Table, rows: pd.DataFrame) -> pd.Series:
    """The key of each row as one text ('E1/2024-01/revenue'), to show duplicate keys."""
    return rows[list(table.key)].astype("string").fillna("").agg("/".join, axis=1)


def _value_problems(
    table: Table, df: pd.DataFrame, raw: pd.DataFrame, first_row: int, reported: dict[str, pd.Index]
) -> list[Problem]:
    """Required values, choices, ranges, formats and unique keys (pandera, lazy: every failure at once)."""
    schema = _pandera_schema(table, list(df.columns))
    try:
        schema.validate(df, lazy=True)
        return []
    except SchemaErrors as err:
        cases = err.failure_cases
    problems = [
        Problem(table.name, None if pd.isna(c) else str(c), str(k))  # failures without a row
        for c, k in cases.loc[cases["index"].isna(), ["column", "check"]].drop_duplicates().itertuples(index=False)
    ]
    cases = cases[cases["index"].notna()].copy()
    cases["index"] = cases["index"].astype(int)
    uniq = cases["check"].isin(["field_uniqueness", "multiple_fields_uniqueness"])
    cases.loc[uniq, "column"] = table.key[0]  # one problem per key, not per key column
    for (column, check), grp in cases.groupby(["column", "check"], sort=True):
        bad = pd.Index(grp["index"].unique())
        if check == "not_nullable":  # values refused while parsing are already reported as such
            bad = bad.difference(reported.get(column, pd.Index([])))
            if bad.empty:
                continue
        duplicate = check in ("field_uniqueness", "multiple_fields_uniqueness")
        values = None if check == "not_nullable" else _key_text(table, raw.loc[bad]) if duplicate else raw[column]
        problems.append(_problem(table.name, column, _describe_check(check, table, column), bad, first_row, values))
    return problems


def _places_problem(table: Table, col: Column, text: pd.Series, parsed: pd.Series, first_row: int) -> Problem | None:
    """Numbers written with more decimal places than the contract allows (money is credited exactly)."""
    present = parsed.notna()
    places = text[present].map(_decimal_places)
    bad = places.index[places > col.places]
    if bad.empty:
        return None
    return _problem(table.name, col.name, f"must have at most {col.places} decimal places", bad, first_row, text)


def parse_table(table: Table, raw: pd.DataFrame, first_row: int = 2) -> tuple[pd.DataFrame, list[Problem]]:
    """Type one table and list its own problems (not cross-table ones)."""
    raw = raw.reset_index(drop=True)
    problems: list[Problem] = []
    missing = [c for c in table.required if c not in raw.columns]
    if missing:
        problems.append(Problem(table.name, ", ".join(missing), "required column is missing"))
        return raw, problems
    problems += [
        Problem(table.name, repr(str(name)), "column name " + NUL_RULE) for name in raw.columns if NUL in str(name)
    ]
    text = pd.DataFrame({name: _blank_to_na(raw[name]) for name in raw.columns}, index=raw.index)
    out = {}
    reported: dict[str, pd.Index] = {}  # rows whose value was refused while parsing, per column
    for name in raw.columns:
        values = text[name]
        if pd.api.types.is_string_dtype(values):  # PostgreSQL refuses NUL in any text
            nul = values.str.contains(NUL, regex=False).fillna(False).astype(bool)
            if nul.any():
                problems.append(_problem(table.name, name, NUL_RULE, raw.index[nul], first_row, values))
                reported[name] = raw.index[nul]
                values = values.mask(nul)
        col = table.column(name)
        if col is None:
            keep_attr = table.keep_attr_columns and name.startswith(ATTR_PREFIX)
            out[name] = _attr_column(values) if keep_attr else values
            continue
        out[name], broken = _parse_column(values, col)
        for rule, mask in broken.items():
            if mask.any():
                problems.append(_problem(table.name, name, rule, raw.index[mask], first_row, text[name]))
                reported[name] = reported.get(name, pd.Index([])).union(raw.index[mask])
        if col.places is not None:
            found = _places_problem(table, col, text[name], out[name], first_row)
            problems += [found] if found else []
    for col in table.columns:  # optional columns absent from the file: add them typed and empty
        if col.name not in out:
            out[col.name] = _parse_column(pd.Series([pd.NA] * len(raw), dtype="string"), col)[0]
    df = pd.DataFrame(out, index=raw.index)
    ordered = list(table.names) + [c for c in df.columns if c not in table.names]
    df = df[ordered]
    problems += _value_problems(table, df, text, first_row, reported)
    problems += _row_rules(table, df, first_row)
    return df, problems


def _row_rules(table: Table, df: pd.DataFrame, first_row: int) -> list[Problem]:
    """Rules across columns of one row."""
    problems = []
    if table.name == "employees":
        bad = df.index[df["termination_date"] < df["hire_date"]]
        if len(bad):
            problems.append(
                _problem(
                    table.name,
                    "termination_date",
                    "must not precede hire_date",
                    bad,
                    first_row,
                    df["termination_date"].dt.date,
                )
            )
    problems += currency_code_problems(table, df, first_row)
    if table.name == "fx_rates":
        problems += fx_rate_problems(df, first_row)
    if table.name == "order_credits":
        problems += split_share_problems(df, first_row)
    if table.name == "plan_assignments":
        problems += _assignment_problems(df, first_row)
    return problems


def _assignment_problems(df: pd.DataFrame, first_row: int) -> list[Problem]:
    """An assignment ends on or after it starts, and one employee's assignments never overlap (ends inclusive)."""
    problems = []
    inverted = df.index[df["effective_to"] < df["effective_from"]]
    if len(inverted):
        problems.append(
            _problem(
                "plan_assignments",
                "effective_to",
                "must not precede effective_from",
                inverted,
                first_row,
                df["effective_to"].dt.date,
            )
        )
    dated = df.drop(inverted).dropna(subset=["employee_id", "effective_from"])
    dated = dated.sort_values(["employee_id", "effective_from"], kind="stable")
    text = (
        "plan "
        + df["plan_id"].astype("string").fillna("")
        + " "
        + df["effective_from"].dt.strftime("%Y-%m-%d").fillna("?")
        + ".."
        + df["effective_to"].dt.strftime("%Y-%m-%d").fillna("open")
    )
    bad, pairs = [], []
    latest: dict[str, tuple[pd.Timestamp | None, int]] = {}  # employee -> (latest end so far or None = open, its row)
    for i, emp, start, end in zip(
        dated.index, dated["employee_id"], dated["effective_from"], dated["effective_to"], strict=True
    ):
        end = None if pd.isna(end) else end
        if emp in latest:
            last_end, j = latest[emp]
            if last_end is None or start <= last_end:
                bad.append(i)
                pairs.append(f"{emp}: rows {j + first_row} and {i + first_row} ({text[j]} overlaps {text[i]})")
            if last_end is None or (end is not None and end <= last_end):
                continue
        latest[emp] = (end, i)
    if bad:
        problems.append(
            _problem(
                "plan_assignments",
                "effective_from",
                "must not overlap another assignment of the same employee",
                pd.Index(bad),
                first_row,
                detail="; ".join(pairs[:MAX_VALUES_SHOWN]),
            )
        )
    return problems


def currency_code_problems(table: Table, df: pd.DataFrame, first_row: int) -> list[Problem]:
    """Currency columns hold ISO 4217 codes, upper case as the standard writes them (USD, CNY)."""
    problems = []
    for col in CURRENCY_COLUMNS.get(table.name, ()):
        values = df[col]
        bad = df.index[values.notna() & ~values.isin(ISO_4217)]
        if len(bad):
            problems.append(_problem(table.name, col, "must be an ISO 4217 currency code", bad, first_row, values))
    return problems


def fx_rate_problems(df: pd.DataFrame, first_row: int) -> list[Problem]:
    """A rate converts money, so it is positive (negative rates are already out of range)."""
    bad = df.index[df["rate"] == 0]
    return [_problem("fx_rates", "rate", "must be > 0", bad, first_row, df["rate"])] if len(bad) else []


def split_share_problems(df: pd.DataFrame, first_row: int) -> list[Problem]:
    """The `order_credits` shares of one order sum to exactly 100 (percent, compared in exact hundredths)."""
    hundredths = (df["share"] * 100).round()  # at most two decimal places (checked): exact integers
    unparsed = df.loc[df["share"].isna(), "order_id"]  # already reported; its order's sum is unknown
    known = df["order_id"].notna() & ~df["order_id"].isin(unparsed)
    sums = hundredths[known].groupby(df.loc[known, "order_id"], sort=True).sum()
    off = sums[sums != 100 * 100]
    if off.empty:
        return []
    bad = df.index[df["order_id"].isin(off.index)]
    shown = [f"order {oid} sums to {Decimal(int(v)).scaleb(-2).normalize():f}" for oid, v in off[:5].items()]
    more = f" (+{len(off) - 5} more orders)" if len(off) > 5 else ""
    return [_problem("order_credits", "share", SPLIT_RULE, bad, first_row, detail="; ".join(shown) + more)]


def currencies_without_rates(tables: Mapping[str, pd.DataFrame], first_rows: Mapping[str, int]) -> list[Problem]:
    """Orders in several currencies cannot be summed without `fx_rates`: refused when none are given."""
    orders, rates = tables.get("orders"), tables.get("fx_rates")
    if orders is None or "currency" not in orders.columns or (rates is not None and len(rates)):
        return []
    found = sorted(orders["currency"].dropna().unique())
    if len(found) < 2:
        return []
    bad = orders.index[orders["currency"].notna()]
    return [
        _problem(
            "orders",
            "currency",
            "orders in several currencies need fx_rates to convert them (no fx_rates given)",
            bad,
            first_rows.get("orders", 2),
            detail=f"currencies found: {', '.join(found)}",
        )
    ]


def derive_columns(tables: dict[str, pd.DataFrame]) -> None:
    """Fill derivable optional values in place: a customer's first order is `new`, later ones `repeat`."""
    orders = tables.get("orders")
    if orders is None or orders.empty or orders["order_type"].notna().all():
        return
    first = orders.sort_values(["closed_at", "order_id"]).drop_duplicates("customer_id").index
    derived = pd.Series("repeat", index=orders.index, dtype="string")
    derived[first] = "new"
    orders["order_type"] = orders["order_type"].fillna(derived)


def reference_problems(tables: Mapping[str, pd.DataFrame], first_rows: Mapping[str, int]) -> list[Problem]:
    """Every non-empty reference must point at an existing row of its target table (absent targets are skipped)."""
    problems = []
    for name, df in tables.items():
        for ref in TABLES[name].references:
            target = tables.get(ref.target_table)
            if target is None or ref.column not in df.columns:
                continue
            values = df[ref.column]
            bad = df.index[values.notna() & ~values.isin(target[ref.target_column].dropna())]
            if len(bad):
                problems.append(
                    _problem(
                        name,
                        ref.column,
                        f"must reference an existing {ref.target_table}.{ref.target_column}",
                        bad,
                        first_rows.get(name, 2),
                        values,
                    )
                )
    return problems


def adjustment_date_problems(tables: Mapping[str, pd.DataFrame], first_rows: Mapping[str, int]) -> list[Problem]:
    """order_adjustments: an adjustment may not be dated before its order closed."""
    adj, orders = tables.get("order_adjustments"), tables.get("orders")
    if adj is None or orders is None or adj.empty:
        return []
    closed = adj["order_id"].map(orders.drop_duplicates("order_id").set_index("order_id")["closed_at"])
    bad = adj.index[adj["adjusted_at"] < closed]
    if not len(bad):
        return []
    return [
        _problem(
            "order_adjustments",
            "adjusted_at",
            "must not precede its order's closed_at",
            bad,
            first_rows.get("order_adjustments", 2),
            adj["adjustment_id"],
        )
    ]


def adjustment_net_problems(tables: Mapping[str, pd.DataFrame], first_rows: Mapping[str, int]) -> list[Problem]:
    """order_adjustments: applied in date order, an order's adjustments may never take its net amount below 0."""
    adj, orders = tables.get("order_adjustments"), tables.get("orders")
    if adj is None or orders is None or adj.empty:
        return []
    amounts = orders.drop_duplicates("order_id").set_index("order_id")["amount"]
    # Same moment: increases first, so only a real shortfall is reported.
    ordered = adj.assign(_neg=adj["amount"] < 0).sort_values(["order_id", "adjusted_at", "_neg"], kind="stable")
    bad, details = [], []
    for order_id, rows in ordered.groupby("order_id", sort=True):
        if order_id not in amounts.index or pd.isna(amounts[order_id]):
            continue
        net = to_decimal(float(amounts[order_id]))
        seen = []
        for row, aid, amount in zip(rows.index, rows["adjustment_id"], rows["amount"], strict=True):
            net += to_decimal(float(amount))
            seen.append(str(aid))
            if net < 0:
                bad.append(row)
                shown = f"{amounts[order_id]:g} with {', '.join(seen)} nets {net.normalize():f}"
                details.append(f"order {order_id}: {shown}")
                break
    if not bad:
        return []
    return [
        _problem(
            "order_adjustments",
            "amount",
            "must not take the order's net amount below 0",
            pd.Index(bad),
            first_rows.get("order_adjustments", 2),
            detail="; ".join(details[:MAX_VALUES_SHOWN]),
        )
    ]


def untracked_problems(untracked: Iterable[str]) -> list[Problem]:
    """Names a dataset may not declare untracked: unknown tables and the ones every dataset needs."""
    problems = []
    for name in sorted(untracked):
        if name not in TABLES:
            problems.append(
                Problem(
                    MANIFEST,
                    "untracked",
                    f"unknown table {name!r} (expected one of: "
                    + ", ".join(n for n in TABLES if n not in ALWAYS_TRACKED)
                    + ")",
                )
            )
        elif name in ALWAYS_TRACKED:
            problems.append(
                Problem(
                    MANIFEST,
                    "untracked",
                    f"{name} cannot be untracked: every dataset needs " + ", ".join(ALWAYS_TRACKED),
                )
            )
    return problems


def _table_problems(raw: Mapping[str, pd.DataFrame], untracked: frozenset[str]) -> list[Problem]:
    """Tables unknown, missing (with how to declare them untracked) or declared untracked yet holding rows."""
    problems = [
        Problem(name, None, "unknown table (expected one of: " + ", ".join(TABLES) + ")")
        for name in sorted(set(raw) - set(TABLES))
    ]
    for name, table in TABLES.items():
        if not table.optional and name not in raw and name not in untracked:
            hint = (
                ""
                if name in ALWAYS_TRACKED
                else (f"if the company does not track {name} at all, declare it in {MANIFEST}: `untracked: [{name}]`")
            )
            problems.append(Problem(name, None, "required table is missing", detail=hint))
        if name in untracked and name in raw and len(raw[name]):
            problems.append(
                Problem(
                    name,
                    None,
                    f"declared untracked in {MANIFEST} but has rows",
                    detail=(f"{len(raw[name])} row(s); remove the file or remove {name} from `untracked`"),
                )
            )
    return problems


def validate_tables(
    raw: Mapping[str, pd.DataFrame], first_rows: Mapping[str, int] | None = None, untracked: Iterable[str] = ()
) -> dict[str, pd.DataFrame]:
    """Parse and check all tables together in one pass; raise DataValidationError listing every problem.

    References are checked on the rows that parsed, alongside the row rules, so one run lists
    everything. A table declared `untracked` may be absent; references into it must then be empty.
    """
    first_rows = dict(first_rows or {})
    untracked = frozenset(untracked)
    problems = untracked_problems(untracked) + _table_problems(raw, untracked)
    typed: dict[str, pd.DataFrame] = {}
    for name, frame in raw.items():
        if name in TABLES:
            df, found = parse_table(TABLES[name], frame, first_rows.get(name, 2))
            problems += found
            if set(TABLES[name].names) <= set(df.columns):  # typed (a missing required column leaves it raw)
                typed[name] = df
    absent_untracked = {n: empty_table(n) for n in untracked if n in TABLES and n not in raw}
    problems += reference_problems({**typed, **absent_untracked}, first_rows)
    problems += currencies_without_rates(typed, first_rows)
    problems += adjustment_date_problems(typed, first_rows) + adjustment_net_problems(typed, first_rows)
    if problems:
        raise DataValidationError(problems)
    derive_columns(typed)
    return typed


def empty_table(name: str) -> pd.DataFrame:
    """A typed, zero-row frame for a table that is absent."""
    return _empty_table(name).copy()


@functools.cache
def _empty_table(name: str) -> pd.DataFrame:
    # The column typing alone, without the pandera schema: nothing to check in zero rows, and building
    # the schema imports pandera (~1 s) in processes that never validate anything.
    empty = pd.Series([], dtype="string")
    return pd.DataFrame({c.name: _parse_column(empty, c)[0] for c in TABLES[name].columns})

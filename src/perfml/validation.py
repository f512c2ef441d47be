"""Enforce the data contract: parse raw frames into typed frames and collect every problem.

Parsing (text -> timestamps, numbers) is done here because only here do we know which
original row failed to parse; value rules (required, choices, ranges, formats, unique keys)
are checked by pandera in lazy mode, and cross-table references by set membership.
Row numbers in problems are as they appear in the source: for CSV the header is row 1,
so the first record is row 2.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from perfml.errors import DataValidationError, Problem
from perfml.schema import ATTR_PREFIX, PERIOD_PATTERN, TABLES, Column, Table

_PARSE_RULES = {
    "timestamp": "must be an ISO 8601 timestamp",
    "date": "must be an ISO 8601 date",
    "float": "must be a number",
    "int": "must be an integer",
    "flag": "must be 0 or 1",
}


def _blank_to_na(s: pd.Series) -> pd.Series:
    """Strings with only whitespace are missing values, as in most CRM exports."""
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        s = s.astype("string").str.strip()
        return s.mask(s == "")
    return s


def _rows(index: pd.Index, first_row: int) -> tuple[int, ...]:
    return tuple(int(i) + first_row for i in index)


def _problem(table: str, column: str | None, rule: str, bad: pd.Index, first_row: int, detail: str = "") -> Problem:
    bad = bad.sort_values()
    return Problem(table, column, rule, _rows(bad[:5], first_row), len(bad), detail)


def _parse_column(raw: pd.Series, col: Column) -> pd.Series:
    """Return the typed column; unparseable values become missing (reported by the caller)."""
    s = _blank_to_na(raw)
    if col.kind in ("timestamp", "date"):
        if pd.api.types.is_datetime64_any_dtype(s):
            out = s.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(s.dt, "tz", None) else s
        else:
            out = pd.to_datetime(s, errors="coerce", utc=True, format="ISO8601").dt.tz_localize(None)
        out = out.astype("datetime64[ns]")
        return out.dt.normalize() if col.kind == "date" else out
    if col.kind in ("float", "int", "flag"):
        out = pd.to_numeric(s, errors="coerce").astype("float64")
        if col.kind == "flag":
            out = out.where(out.isin([0.0, 1.0]))
        elif col.kind == "int":
            out = out.where(out == np.floor(out))
        return out
    return s.astype("string")


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
    if check == "not_nullable":
        return "required value is empty"
    if check in ("field_uniqueness", "multiple_fields_uniqueness"):
        return f"duplicate key ({', '.join(table.key)}) must be unique"
    if check.startswith("isin"):
        col = table.column(column)
        return f"must be one of {', '.join(col.choices) if col else check}"
    if check.startswith("greater_than_or_equal_to"):
        return f"must be >= {check[check.index('(') + 1:-1]}"
    if check.startswith("less_than_or_equal_to"):
        return f"must be <= {check[check.index('(') + 1:-1]}"
    if check.startswith("str_matches"):
        return "must be a period YYYY-MM"
    return check


def _value_problems(table: Table, df: pd.DataFrame, first_row: int, unparsed: dict[str, pd.Index]) -> list[Problem]:
    schema = _pandera_schema(table, list(df.columns))
    try:
        schema.validate(df, lazy=True)
        return []
    except SchemaErrors as err:
        cases = err.failure_cases
    problems = [Problem(table.name, None if pd.isna(c) else str(c), str(k))  # failures without a row
                for c, k in cases.loc[cases["index"].isna(), ["column", "check"]].drop_duplicates().itertuples(index=False)]
    cases = cases[cases["index"].notna()].copy()
    cases["index"] = cases["index"].astype(int)
    uniq = cases["check"].isin(["field_uniqueness", "multiple_fields_uniqueness"])
    cases.loc[uniq, "column"] = table.key[0]  # one problem per key, not per key column
    for (column, check), grp in cases.groupby(["column", "check"], sort=True):
        bad = pd.Index(grp["index"].unique())
        if check == "not_nullable":  # unparseable values are already reported as such
            bad = bad.difference(unparsed.get(column, pd.Index([])))
            if bad.empty:
                continue
        problems.append(_problem(table.name, column, _describe_check(check, table, column), bad, first_row))
    return problems


def parse_table(table: Table, raw: pd.DataFrame, first_row: int = 2) -> tuple[pd.DataFrame, list[Problem]]:
    """Type one table and list its own problems (not cross-table ones)."""
    raw = raw.reset_index(drop=True)
    problems: list[Problem] = []
    missing = [c for c in table.required if c not in raw.columns]
    if missing:
        problems.append(Problem(table.name, ", ".join(missing), "required column is missing"))
        return raw, problems
    out = {}
    unparsed_rows: dict[str, pd.Index] = {}
    for name in raw.columns:
        col = table.column(name)
        if col is None:
            keep_attr = table.keep_attr_columns and name.startswith(ATTR_PREFIX)
            out[name] = _attr_column(raw[name]) if keep_attr else _blank_to_na(raw[name])
            continue
        parsed = _parse_column(raw[name], col)
        unparsed = parsed.isna() & _blank_to_na(raw[name]).notna()
        if unparsed.any():
            unparsed_rows[name] = raw.index[unparsed]
            problems.append(_problem(table.name, name, _PARSE_RULES[col.kind], raw.index[unparsed], first_row,
                                     f"e.g. {raw[name][unparsed].iloc[0]!r}"))
        out[name] = parsed
    for col in table.columns:  # optional columns absent from the file: add them typed and empty
        if col.name not in out:
            out[col.name] = _parse_column(pd.Series([pd.NA] * len(raw), dtype="string"), col)
    df = pd.DataFrame(out, index=raw.index)
    ordered = list(table.names) + [c for c in df.columns if c not in table.names]
    df = df[ordered]
    problems += _value_problems(table, df, first_row, unparsed_rows)
    problems += _row_rules(table, df, first_row)
    return df, problems


def _row_rules(table: Table, df: pd.DataFrame, first_row: int) -> list[Problem]:
    """Rules across columns of one row."""
    problems = []
    if table.name == "employees":
        bad = df.index[df["termination_date"] < df["hire_date"]]
        if len(bad):
            problems.append(_problem(table.name, "termination_date", "must not precede hire_date", bad, first_row))
    return problems


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
    """Every non-empty reference must point at an existing row of its target table."""
    problems = []
    for name, df in tables.items():
        for ref in TABLES[name].references:
            target = tables.get(ref.target_table)
            if target is None or ref.column not in df.columns:
                continue
            values = df[ref.column]
            bad = df.index[values.notna() & ~values.isin(target[ref.target_column].dropna())]
            if len(bad):
                problems.append(_problem(name, ref.column, f"must reference an existing {ref.target_table}.{ref.target_column}",
                                         bad, first_rows.get(name, 2), f"e.g. {values[bad[0]]!r}"))
    return problems


def validate_tables(raw: Mapping[str, pd.DataFrame], first_rows: Mapping[str, int] | None = None) -> dict[str, pd.DataFrame]:
    """Parse and check all tables together; raise DataValidationError listing every problem."""
    first_rows = dict(first_rows or {})
    problems: list[Problem] = []
    unknown = sorted(set(raw) - set(TABLES))
    problems += [Problem(name, None, "unknown table (expected one of: " + ", ".join(TABLES) + ")") for name in unknown]
    problems += [Problem(name, None, "required table is missing") for name in TABLES
                 if not TABLES[name].optional and name not in raw]
    typed: dict[str, pd.DataFrame] = {}
    for name, frame in raw.items():
        if name in TABLES:
            typed[name], found = parse_table(TABLES[name], frame, first_rows.get(name, 2))
            problems += found
    if not problems:
        problems += reference_problems(typed, first_rows)
    if problems:
        raise DataValidationError(problems)
    derive_columns(typed)
    return typed


def empty_table(name: str) -> pd.DataFrame:
    """A typed, zero-row frame for a table that is absent (built once per table: pandera is slow to start)."""
    return _empty_table(name).copy()


@functools.cache
def _empty_table(name: str) -> pd.DataFrame:
    table = TABLES[name]
    return parse_table(table, pd.DataFrame({c: pd.Series([], dtype="string") for c in table.names}))[0]



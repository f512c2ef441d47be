"""Exceptions people can act on: every problem names table, column, rule and rows."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ROWS_SHOWN = 5


class PerfmlError(Exception):
    """Base class for errors perfml raises on purpose (bad input, missing model...)."""


@dataclass(frozen=True)
class Problem:
    """One broken rule in one table/column: the first offending file rows, their count and a detail
    (the first offending values, `e.g. 'inf', '1e400'`, or what to do)."""

    table: str
    column: str | None
    rule: str
    rows: tuple[int, ...] = ()
    count: int = 0
    detail: str = ""

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        text = f"{where}: {self.rule}"
        if self.count:
            shown = ", ".join(str(r) for r in self.rows[:MAX_ROWS_SHOWN])
            more = f" (+{self.count - len(self.rows[:MAX_ROWS_SHOWN])} more)" if self.count > MAX_ROWS_SHOWN else ""
            text += f" — {self.count} row(s): {shown}{more}"
        if self.detail:
            text += f"; {self.detail}"
        return text

    def to_dict(self) -> dict:
        return {
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "rows": list(self.rows[:MAX_ROWS_SHOWN]),
            "count": self.count,
            "detail": self.detail,
        }


@dataclass
class DataValidationError(PerfmlError):
    """Raised with *every* problem found in a dataset, not just the first."""

    problems: list[Problem] = field(default_factory=list)
    outcome: str = ""  # what the refusal means for the caller, e.g. "nothing imported"

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"{len(self.problems)} data problem(s) found" + (f" ({self.outcome})" if self.outcome else "") + ":"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class StoreOutdated(PerfmlError):
    """The store's schema is not the one this version of perfml writes: `perfml db upgrade` migrates it."""

    def __init__(self, found: str, expected: str, store: str):
        self.found, self.expected = found, expected
        action = (
            "run `perfml db upgrade` to migrate it (back it up first)"
            if found < expected
            else "it was written by a newer perfml: upgrade perfml"
        )
        super().__init__(f"the store {store} has schema revision {found}, this perfml needs {expected}: {action}")


class PlanError(PerfmlError):
    """An invalid bonus/KPI plan; the message names the path inside the YAML."""


class PeriodClosed(PerfmlError):
    """A period whose statement is already frozen: it is never closed (or changed) again."""


class ModelNotFoundError(PerfmlError):
    """No registered model (or champion) under the requested name."""

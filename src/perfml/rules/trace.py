"""The trace: every number of a result with its rule id, inputs (source table and row ids), formula
and value. JSON output is canonical (fixed key order, Decimal as text) so that the same plan and
data give byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO

from perfml.rules.bands import fmt

# The order the engine computes line items in (the gate last: it deducts from the lines before it).
LINE_ORDER = (
    "base_bonus",
    "commission",
    "growth_bonus",
    "team_bonus",
    "milestone_bonus",
    "combined_task",
    "satisfaction_gate",
)


def money(x: Decimal | None) -> str:
    """Money for formulas: thousands separators, at least cents, never rounded away."""
    if x is None:
        return "n/a"
    exp = x.as_tuple().exponent
    if isinstance(exp, int) and exp < -2:
        text = format(x, ",f").rstrip("0")
        return text if not text.endswith(".") else text + "00"
    return f"{x:,.2f}"


@dataclass(slots=True)
class Input:
    """A value a rule read, and where it came from (a table with row ids or key, derived, what-if)."""

    name: str
    value: Decimal | None
    source: str
    ids: list[str] | None = None
    key: dict[str, str] | None = None
    period: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (Decimal as text), optional fields only when set."""
        out: dict[str, Any] = {"name": self.name, "value": _text(self.value), "source": self.source}
        for attr in ("period", "key", "ids", "note"):
            value = getattr(self, attr)
            if value is not None:
                out[attr] = value
        return out


@dataclass(slots=True)
class Line:
    """One line item of a payout: rounded once, by the plan's rule."""

    rule: str
    name: str
    value: Decimal
    formula: str
    inputs: list[Input] = field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the line item."""
        out = {
            "rule": self.rule,
            "name": self.name,
            "value": _text(self.value),
            "formula": self.formula,
            "inputs": [i.to_dict() for i in self.inputs],
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class Result:
    """One employee-period: segment, scorecard, payout lines, total, and crediting events behind it."""

    employee_id: str
    period: str
    role: str
    team_id: str | None
    segment: str
    scorecard: dict[str, Any] | None
    lines: list[Line]
    total: Decimal
    credits: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self, name: str) -> Line | None:
        """The line item called `name`, if the segment has it."""
        return next((ln for ln in self.lines if ln.name == name), None)

    @property
    def scorecard_total(self) -> Decimal | None:
        """Scorecard total in points (None when the segment has no scorecard)."""
        return self.scorecard["total"] if self.scorecard else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the result with its full trace."""
        return _plain(self._raw())

    def _raw(self) -> dict[str, Any]:
        # Decimals, Inputs and Lines are left for the JSON encoder's `default` (fast C encoder path).
        out: dict[str, Any] = {
            "employee_id": self.employee_id,
            "period": self.period,
            "role": self.role,
            "team_id": self.team_id,
            "segment": self.segment,
            "scorecard": self.scorecard,
            "lines": self.lines,
            "total": self.total,
        }
        if self.credits:
            out["credits"] = self.credits
        if self.notes:
            out["notes"] = list(self.notes)
        return out


@dataclass
class BonusRun:
    """Everything one evaluation produced, with the plan identity and the data fingerprint."""

    plan: dict[str, Any]
    periods: list[str]
    currency: str
    data: dict[str, Any]
    results: list[Result]
    holds: list[dict[str, Any]]
    skipped: list[dict[str, str]]

    def result(self, employee_id: str, period: str) -> Result | None:
        """The result of one employee-period, if evaluated."""
        return next((r for r in self.results if r.employee_id == employee_id and r.period == period), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the whole run (the same content as `to_json`)."""
        return {**self._head(), "results": [r.to_dict() for r in self.results]}

    def _head(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "periods": self.periods,
            "currency": self.currency,
            "data": self.data,
            "summary": self.summary(),
            "holds": _plain(self.holds),
            "skipped": self.skipped,
        }

    def summary(self) -> dict[str, Any]:
        """Counts and the total payout (money) of the run."""
        total = sum((r.total for r in self.results), Decimal(0))
        return {
            "employees": len(self.results),
            "total_payout": _text(total),
            "holds": len(self.holds),
            "skipped": len(self.skipped),
        }

    def to_json(self) -> bytes:
        """Canonical JSON bytes: same plan + same data -> same bytes (see `write_json`)."""
        buf = io.BytesIO()
        self.write_json(buf)
        return buf.getvalue()

    def write_json(self, fh: BinaryIO) -> None:
        """Stream canonical JSON: run header first, then one result per line (compact, UTF-8)."""
        head = _dumps(self._head())
        fh.write(head[:-1].encode() + b',"results":[')
        for i, r in enumerate(self.results):
            fh.write((",\n" if i else "\n").encode() + _dumps(r._raw()).encode())
        fh.write(b"\n]}\n")

    def summary_csv(self) -> str:
        """One row per employee-period: scorecard total, each line item, total (money as exact text)."""
        present = {ln.name for r in self.results for ln in r.lines}
        names = [n for n in LINE_ORDER if n in present] + sorted(present - set(LINE_ORDER))
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["employee_id", "period", "role", "team_id", "segment", "scorecard_total", *names, "total"])
        for r in self.results:
            by_name = {ln.name: ln.value for ln in r.lines}
            writer.writerow(
                [
                    r.employee_id,
                    r.period,
                    r.role,
                    r.team_id or "",
                    r.segment,
                    _text(r.scorecard_total) or "",
                    *(_text(by_name.get(n)) or "" for n in names),
                    _text(r.total),
                ]
            )
        return buf.getvalue()


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, Input | Line):
        return obj.to_dict()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _dumps(obj: Any) -> str:
    # No indent: with indent, json falls back to its pure-Python encoder (10x slower on large runs).
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_default)


def _text(x: Decimal | None) -> str | None:
    return None if x is None else format(x, "f")


def _plain(obj: Any) -> Any:
    """Decimals to text, recursively (dicts keep their insertion order, which is deterministic)."""
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, Input | Line):
        return obj.to_dict()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


# -- readable explanation -------------------------------------------------------------------------
def explain_text(run: BonusRun, result: Result) -> str:
    """A dispute-ready, plain-text account of one result."""
    p = run.plan
    out = [
        f"{result.employee_id} · {result.period} · role {result.role} · team {result.team_id} · "
        f"segment {result.segment}",
        f"plan {p['id']} v{p['version']} (sha256 {p['hash'][:12]}…), currency {run.currency}",
        "",
    ]
    if result.scorecard:
        sc = result.scorecard
        out.append(f"Scorecard [{sc['rule']}]: total {fmt(sc['total'])} points")
        for ind in sc["indicators"]:
            out.append(f"  - {ind['id']} ({ind['kind']}, weight {fmt(ind['weight'])}): {ind['formula']}")
            out += [f"      {_input_text(i)}" for i in ind["inputs"]]
            if ind.get("note"):
                out.append(f"      note: {ind['note']}")
        out.append("")
    out.append("Payout:")
    for ln in result.lines:
        out.append(f"  {ln.name:<18} {money(ln.value):>14}   [{ln.rule}]")
        out.append(f"      = {ln.formula}")
        out += [f"      {_input_text(i)}" for i in ln.inputs]
        if ln.note:
            out.append(f"      note: {ln.note}")
    out.append(f"  {'total':<18} {money(result.total):>14}")
    if result.credits:
        out += ["", "Crediting behind the revenue:"]
        for c in result.credits:
            out.append(f"  order {c['order_id']} ({c['status']}): {c['explanation']}")
    if result.notes:
        out += ["", "Notes:"] + [f"  - {n}" for n in result.notes]
    return "\n".join(out)


def _input_text(i: Input) -> str:
    where = i.source
    if i.period:
        where += f" {i.period}"
    if i.key:
        where += " " + ", ".join(f"{k}={v}" for k, v in i.key.items())
    if i.ids is not None:
        shown = ", ".join(i.ids[:8]) + (f" … (+{len(i.ids) - 8})" if len(i.ids) > 8 else "")
        where += f" rows [{shown}]"
    note = f" ({i.note})" if i.note else ""
    return f"{i.name} = {fmt(i.value)} ← {where}{note}"

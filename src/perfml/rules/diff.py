"""What changed between two statements, line by line: the value, the rule and the inputs by name, with each change.

Works on the dict form of a run (`BonusRun.to_dict()`, or the parsed JSON `perfml bonus --out` wrote), so a
file kept from an earlier run compares with a fresh one. `diff_runs` pairs results by (employee, period);
`diff_periods` pairs the results of two one-period runs by employee (this month against last month). A line
is reported when its value or its rule changed, or when it exists on one side only; its inputs then say
which value moved and by how much, and which source rows came or went.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from perfml.errors import PerfmlError
from perfml.rules.bands import fmt
from perfml.rules.trace import money

Status = Literal["added", "removed", "changed"]
PLAN_KEYS = ("id", "version", "hash")
IDS_SHOWN = 8


class RunFormatError(PerfmlError):
    """A run dict without the fields a comparison reads; the message names the run and the path."""


@dataclass(frozen=True, slots=True)
class InputChange:
    """One input of a line, by name, on both sides (None: absent on that side or without a value)."""

    name: str
    status: Status
    before: Decimal | None
    after: Decimal | None
    ids_added: tuple[str, ...] = ()
    ids_removed: tuple[str, ...] = ()

    @property
    def delta(self) -> Decimal | None:
        """after - before, when both have a value."""
        return None if self.before is None or self.after is None else self.after - self.before

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (Decimal as text)."""
        return {
            "name": self.name,
            "status": self.status,
            "before": _text(self.before),
            "after": _text(self.after),
            "delta": _text(self.delta),
            "ids_added": list(self.ids_added),
            "ids_removed": list(self.ids_removed),
        }


@dataclass(frozen=True, slots=True)
class LineChange:
    """One payout line of one employee on both sides; `delta` is the change in money (absent side = 0)."""

    employee_id: str
    period: str
    before_period: str
    line: str
    status: Status
    before: Decimal | None
    after: Decimal | None
    rule_before: str | None
    rule_after: str | None
    formula_before: str | None
    formula_after: str | None
    inputs: tuple[InputChange, ...] = ()

    @property
    def delta(self) -> Decimal:
        """Money: after - before, a missing side counting as 0."""
        return (self.after or Decimal(0)) - (self.before or Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (Decimal as text)."""
        return {
            "employee_id": self.employee_id,
            "period": self.period,
            "before_period": self.before_period,
            "line": self.line,
            "status": self.status,
            "before": _text(self.before),
            "after": _text(self.after),
            "delta": _text(self.delta),
            "rule_before": self.rule_before,
            "rule_after": self.rule_after,
            "formula_before": self.formula_before,
            "formula_after": self.formula_after,
            "inputs": [i.to_dict() for i in self.inputs],
        }


@dataclass(frozen=True, slots=True)
class TotalChange:
    """One employee's total on both sides (None: no statement on that side)."""

    employee_id: str
    period: str
    before_period: str
    before: Decimal | None
    after: Decimal | None

    @property
    def delta(self) -> Decimal:
        """Money: after - before, a missing side counting as 0."""
        return (self.after or Decimal(0)) - (self.before or Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (Decimal as text)."""
        return {
            "employee_id": self.employee_id,
            "period": self.period,
            "before_period": self.before_period,
            "before": _text(self.before),
            "after": _text(self.after),
            "delta": _text(self.delta),
        }


@dataclass(frozen=True)
class RunDiff:
    """Two runs compared: each side's plan identity, periods and data fingerprint; changed lines and totals."""

    before: dict[str, Any]
    after: dict[str, Any]
    lines: list[LineChange] = field(default_factory=list)
    totals: list[TotalChange] = field(default_factory=list)

    @property
    def plan_changed(self) -> bool:
        """Whether the plans differ (id, version or content hash)."""
        return self.before["plan"] != self.after["plan"]

    @property
    def total_delta(self) -> Decimal:
        """Money: the change of the whole payout."""
        return sum((t.delta for t in self.totals), Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (Decimal as text)."""
        return {
            "before": self.before,
            "after": self.after,
            "plan_changed": self.plan_changed,
            "total_delta": _text(self.total_delta),
            "totals": [t.to_dict() for t in self.totals],
            "lines": [ln.to_dict() for ln in self.lines],
        }


# -- comparison -----------------------------------------------------------------------------------
Labels = tuple[str, str]


def diff_runs(before: Mapping[str, Any], after: Mapping[str, Any], *, labels: Labels = ("before", "after")) -> RunDiff:
    """Two runs compared by (employee, period): e.g. last month's file against a re-run over corrected data.

    `labels` name the two runs in error messages (e.g. their file names)."""
    return _diff(before, after, lambda r: (r["employee_id"], r["period"]), None, labels)


def diff_periods(
    before: Mapping[str, Any], after: Mapping[str, Any], *, labels: Labels = ("before", "after")
) -> RunDiff:
    """Two one-period runs compared by employee: `after`'s period against `before`'s."""
    periods = []
    for label, run in zip(labels, (before, after), strict=True):
        found = _field(run, "periods", label)
        if not isinstance(found, list) or len(found) != 1:
            raise RunFormatError(f"{label}.periods: expected one period to compare by employee, got {found!r}")
        periods.append(str(found[0]))
    return _diff(before, after, lambda r: (r["employee_id"],), (periods[0], periods[1]), labels)


def _diff(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    key: Callable[[dict], tuple[str, ...]],
    periods: tuple[str, str] | None,
    labels: Labels,
) -> RunDiff:
    """`periods`: (before, after) when whole periods are compared, None when results pair by their own period."""
    old, new = _results(before, labels[0], key), _results(after, labels[1], key)
    lines: list[LineChange] = []
    totals: list[TotalChange] = []
    for k in sorted(old.keys() | new.keys()):
        a, b = old.get(k), new.get(k)
        emp = k[0]
        before_period, period = periods or (k[1], k[1])
        total_a, total_b = _value(a, "total"), _value(b, "total")
        if total_a != total_b or a is None or b is None:
            totals.append(TotalChange(emp, period, before_period, total_a, total_b))
        lines += _line_changes(emp, period, before_period, _lines(a), _lines(b))
    return RunDiff(_identity(before, labels[0]), _identity(after, labels[1]), lines, totals)


def _line_changes(emp: str, period: str, before_period: str, old: dict, new: dict) -> Iterator[LineChange]:
    names = list(old) + [n for n in new if n not in old]  # the engine's order, new lines after
    for name in names:
        a, b = old.get(name), new.get(name)
        if a is not None and b is not None and a["value"] == b["value"] and a.get("rule") == b.get("rule"):
            continue
        yield LineChange(
            employee_id=emp,
            period=period,
            before_period=before_period,
            line=name,
            status="added" if a is None else "removed" if b is None else "changed",
            before=None if a is None else a["value"],
            after=None if b is None else b["value"],
            rule_before=None if a is None else a.get("rule"),
            rule_after=None if b is None else b.get("rule"),
            formula_before=None if a is None else a.get("formula"),
            formula_after=None if b is None else b.get("formula"),
            inputs=tuple(_input_changes(a["inputs"] if a else {}, b["inputs"] if b else {})),
        )


def _input_changes(old: dict, new: dict) -> Iterator[InputChange]:
    for name in list(old) + [n for n in new if n not in old]:
        a, b = old.get(name), new.get(name)
        ids_a, ids_b = (a or {}).get("ids") or [], (b or {}).get("ids") or []
        seen_a, seen_b = set(ids_a), set(ids_b)
        added = tuple(i for i in ids_b if i not in seen_a)
        removed = tuple(i for i in ids_a if i not in seen_b)
        if a is not None and b is not None and a["value"] == b["value"] and not added and not removed:
            continue
        yield InputChange(
            name=name,
            status="added" if a is None else "removed" if b is None else "changed",
            before=None if a is None else a["value"],
            after=None if b is None else b["value"],
            ids_added=added,
            ids_removed=removed,
        )


# -- reading a run dict ---------------------------------------------------------------------------
def _field(obj: Mapping[str, Any], name: str, where: str) -> Any:
    if not isinstance(obj, Mapping) or name not in obj:
        raise RunFormatError(f"{where}: missing {name!r} (not a run written by `perfml bonus --out`?)")
    return obj[name]


def _decimal(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise RunFormatError(f"{where}: {value!r} is not a decimal number") from None
    if not out.is_finite():
        raise RunFormatError(f"{where}: {value!r} is not a finite number")
    return out


def _identity(run: Mapping[str, Any], label: str) -> dict[str, Any]:
    plan = _field(run, "plan", label)
    data = run.get("data") or {}
    return {
        "plan": {k: _field(plan, k, f"{label}.plan") for k in PLAN_KEYS},
        "periods": list(_field(run, "periods", label)),
        "currency": run.get("currency"),
        "fingerprint": data.get("fingerprint") if isinstance(data, Mapping) else None,
    }


def _results(run: Mapping[str, Any], label: str, key: Callable[[dict], tuple]) -> dict[tuple, dict]:
    """Results by key, each with `total` as Decimal and `lines` as name -> line (inputs by name, values Decimal)."""
    results = _field(run, "results", label)
    if not isinstance(results, Sequence):
        raise RunFormatError(f"{label}.results: expected a list")
    out: dict[tuple, dict] = {}
    for i, r in enumerate(results):
        where = f"{label}.results[{i}]"
        for name in ("employee_id", "period", "total", "lines"):
            _field(r, name, where)
        parsed = {
            "employee_id": str(r["employee_id"]),
            "period": str(r["period"]),
            "total": _decimal(r["total"], f"{where}.total"),
            "lines": _parse_lines(r["lines"], where),
        }
        k = key(parsed)
        if k in out:
            raise RunFormatError(f"{where}: a second result for {' '.join(k)}")
        out[k] = parsed
    return out


def _parse_lines(lines: Any, where: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for j, ln in enumerate(lines or []):
        at = f"{where}.lines[{j}]"
        name = str(_field(ln, "name", at))
        if name in out:
            raise RunFormatError(f"{at}: a second line named {name!r}")
        inputs: dict[str, dict] = {}
        for m, i in enumerate(ln.get("inputs") or []):
            label = str(_field(i, "name", f"{at}.inputs[{m}]"))
            n = 2
            while label in inputs:  # a rule may read two inputs of one name: keep both, numbered
                label = f"{_field(i, 'name', at)}#{n}"
                n += 1
            inputs[label] = {
                "value": _decimal(i.get("value"), f"{at}.inputs[{m}].value"),
                "ids": [str(x) for x in i.get("ids") or []],
            }
        out[name] = {
            "rule": ln.get("rule"),
            "value": _decimal(_field(ln, "value", at), f"{at}.value"),
            "formula": ln.get("formula"),
            "inputs": inputs,
        }
    return out


def _lines(result: dict | None) -> dict[str, dict]:
    return {} if result is None else result["lines"]


def _value(result: dict | None, name: str) -> Decimal | None:
    return None if result is None else result[name]


def _text(x: Decimal | None) -> str | None:
    return None if x is None else format(x, "f")


# -- text -----------------------------------------------------------------------------------------
def signed_money(x: Decimal) -> str:
    """Money with its sign always written: +800.00, -1,000.00."""
    return ("+" if x >= 0 else "") + money(x)


def _plan_text(plan: Mapping[str, Any]) -> str:
    return f"{plan['id']} v{plan['version']} (sha256 {str(plan['hash'])[:12]}…)"


def _change(before: str, after: str, delta: str | None) -> str:
    return f"changed from {before} to {after}" + (f" ({delta})" if delta else "")


def _input_text(i: InputChange) -> str:
    if i.status == "added":
        text = f"{i.name} added: {fmt(i.after)}"
    elif i.status == "removed":
        text = f"{i.name} removed (was {fmt(i.before)})"
    elif i.before == i.after:
        text = f"{i.name} unchanged at {fmt(i.after)}"
    else:
        delta = i.delta
        text = f"{i.name} " + _change(
            fmt(i.before), fmt(i.after), None if delta is None else ("+" if delta >= 0 else "") + fmt(delta)
        )
    for label, ids in (("rows added", i.ids_added), ("rows removed", i.ids_removed)):
        if ids:
            shown = ", ".join(ids[:IDS_SHOWN]) + (f" … (+{len(ids) - IDS_SHOWN})" if len(ids) > IDS_SHOWN else "")
            text += f"; {label} [{shown}]"
    return text


def _line_text(c: LineChange) -> list[str]:
    if c.status == "added":
        head = f"added {money(c.after)}"
    elif c.status == "removed":
        head = f"removed (was {money(c.before)})"
    else:
        head = _change(money(c.before), money(c.after), signed_money(c.delta))
    out = [f"  {c.line:<18} {head}   [{c.rule_after or c.rule_before}]"]
    if c.rule_before and c.rule_after and c.rule_before != c.rule_after:
        out.append(f"      rule changed from {c.rule_before} to {c.rule_after}")
    if c.formula_before is not None and c.formula_before != c.formula_after:
        out.append(f"      before: {c.formula_before}")
    if c.formula_after is not None:
        out.append(f"      {'after: ' if c.formula_before is not None else '= '}{c.formula_after}")
    out += [f"      {_input_text(i)}" for i in c.inputs]
    return out


def diff_text(d: RunDiff) -> str:
    """A plain-text account of a comparison: plans, data, then per employee each changed line with its inputs."""
    a, b = d.before, d.after
    plans = (
        f"plan {_plan_text(a['plan'])} → {_plan_text(b['plan'])}"
        if d.plan_changed
        else f"plan {_plan_text(b['plan'])} on both sides"
    )
    out = [
        f"{', '.join(b['periods'])} against {', '.join(a['periods'])}",
        plans,
        f"data {str(a['fingerprint'])[:12]}… → {str(b['fingerprint'])[:12]}…"
        if a["fingerprint"] != b["fingerprint"]
        else "same data on both sides",
        "",
    ]
    if not d.totals and not d.lines:
        return "\n".join(out + ["no payout changed"])
    by_employee: dict[tuple[str, str], list[LineChange]] = {}
    for c in d.lines:
        by_employee.setdefault((c.employee_id, c.period), []).append(c)
    for t in d.totals:
        where = t.period if t.period == t.before_period else f"{t.period} against {t.before_period}"
        out.append(f"{t.employee_id} · {where}")
        for c in by_employee.pop((t.employee_id, t.period), []):
            out += _line_text(c)
        if t.before is None:
            out.append(f"  {'total':<18} new statement {money(t.after)}")
        elif t.after is None:
            out.append(f"  {'total':<18} no statement any more (was {money(t.before)})")
        else:
            out.append(f"  {'total':<18} " + _change(money(t.before), money(t.after), signed_money(t.delta)))
        out.append("")
    for (emp, period), changes in by_employee.items():  # lines that moved without changing the total
        out.append(f"{emp} · {period} (total unchanged)")
        for c in changes:
            out += _line_text(c)
        out.append("")
    out.append(f"payout change {signed_money(d.total_delta)} {b.get('currency') or ''}".rstrip())
    return "\n".join(out)


__all__ = [
    "InputChange",
    "LineChange",
    "RunDiff",
    "RunFormatError",
    "TotalChange",
    "diff_periods",
    "diff_runs",
    "diff_text",
    "signed_money",
]

"""The trace: every number of a result with its rule id, the numbers the rule used, and where they came from.

A line item (`Line`) and a scorecard indicator keep the numbers their rule used as a compact
record: a renderer key and a tuple of facts (`render`, `facts`), from which the formula text is
rendered on demand (`Line.formula`, `render_scorecard`). Line functions may still hand over a
ready formula text instead. A metric's input (`Input` with an origin) holds only its name and
value; its source table, row ids and key are looked up from the metrics layer when first read
(an explanation, the API), never while a run is evaluated.

Record format (`BonusRun.write_json(fh, render=False)`, `to_json(render=False)`,
`to_dict(render=False)`; one result per line, canonical: fixed key order, Decimal as text, so the
same plan and data give byte-identical files):

    {"plan": ..., "periods": [...], "currency": ..., "data": ..., "summary": ..., "holds": [...],
     "skipped": [...], "results": [
      {"employee_id", "period", "role", "team_id", "segment",
       "scorecard": null | {"rule", "total", "weights_present", "weights_total", "render", "facts",
                            "indicators": [{"id", "weight", "score", "points", "render", "facts",
                                            "inputs", "note"?}]},
       "lines": [{"rule", "name", "value", "render" and "facts" | "formula", "inputs", "note"?}],
       "metrics": {name: value},
       "total", "credits"?, "notes"?}]}

`render` names the renderer (`RENDERERS`) that turns `facts` (positional, Decimal as text) into
the formula text. An input given by name is a metric of the result's employee-period: its value is
in `metrics`, its source table and row ids are looked up on demand (`to_dict()`, `explain_text`);
any other input is written in full (`name`, `value`, `source`, and `period`, `key`, `ids`, `note`
when set). The default (`render=True`) is the readable trace instead, as `perfml bonus --out`
writes it and `perfml bonus diff` reads it: formula texts, every input with its source table and
row ids.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any, BinaryIO, Protocol

from perfml.frames import release_freed_memory
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


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic GC: traces are millions of small acyclic objects and collections only cost time."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


# Renderers of compact records: key -> function(*facts) -> formula text. Rule modules register theirs.
RENDERERS: dict[str, Callable[..., str]] = {}


def renderer(key: str) -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Register a formula renderer under `key` (a decorator); records name it in `render`."""

    def register(fn: Callable[..., str]) -> Callable[..., str]:
        if key in RENDERERS:
            raise ValueError(f"renderer {key!r} is registered twice")
        RENDERERS[key] = fn
        return fn

    return register


def render(key: str, facts: tuple) -> str:
    """The formula text of a record (its renderer applied to its facts)."""
    return RENDERERS[key](*facts)


def exact(x: Decimal | None, places: int = 2) -> str:
    """A number with at most `places` decimals, cut toward zero and marked "…" when digits were dropped.

    Cutting (not rounding) keeps every comparison with a bound of `places` decimals reading right:
    49,999 / 100,000 shows as 49.99…%, never as 50%.
    """
    if x is None:
        return "n/a"
    cut = x.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)
    return fmt(cut) if cut == x else fmt(cut) + "…"


class Provenance(Protocol):
    """Where a run's metrics came from: (source, ids, key, period, note) of one metric of one employee-period."""

    def describe(self, employee_id: str, period: str, name: str) -> tuple: ...


class Input:
    """A value a rule read, and where it came from (a table with row ids or key, derived, what-if).

    With an `origin` (provenance, employee_id, period) the value is a metric of that employee-period
    and its provenance is looked up when first read, not when the run is evaluated.
    """

    __slots__ = ("name", "value", "origin", "_where")

    def __init__(
        self,
        name: str,
        value: Decimal | None,
        source: str | None = None,
        ids: list[str] | None = None,
        key: dict[str, str] | None = None,
        period: str | None = None,
        note: str | None = None,
        *,
        origin: tuple[Provenance, str, str] | None = None,
    ):
        if (source is None) == (origin is None):
            raise ValueError(f"input {name}: give a source or an origin, exactly one")
        self.name = name
        self.value = value
        self.origin = origin
        self._where: tuple | None = None if origin is not None else (source, ids, key, period, note)

    def _provenance(self) -> tuple:
        if self._where is None:
            provenance, employee_id, period = self.origin  # type: ignore[misc]  # set whenever _where is not
            self._where = provenance.describe(employee_id, period, self.name)
        return self._where

    source = property(lambda self: self._provenance()[0], doc="Table or kind the value came from.")
    ids = property(lambda self: self._provenance()[1], doc="Source row ids (sorted), when counted from rows.")
    key = property(lambda self: self._provenance()[2], doc="Key of the source row, when looked up by key.")
    period = property(lambda self: self._provenance()[3], doc="Period of the source rows, when not the result's.")
    note = property(lambda self: self._provenance()[4], doc="How the value was derived.")

    def __repr__(self) -> str:
        return f"Input({self.name!r}, {self.value!r})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (Decimal as text), optional fields only when set; looks up the provenance."""
        source, ids, key, period, note = self._provenance()
        out: dict[str, Any] = {"name": self.name, "value": _text(self.value), "source": source}
        for attr, value in (("period", period), ("key", key), ("ids", ids), ("note", note)):
            if value is not None:
                out[attr] = value
        return out

    def record(self, metrics: dict[str, Decimal | None]) -> str | dict[str, Any]:
        """Compact form: a metric of the employee-period by name (its value goes to `metrics`), else the dict."""
        if self.origin is not None:
            metrics.setdefault(self.name, self.value)
            return self.name
        return self.to_dict()


class Line:
    """One line item of a payout: rounded once, by the plan's rule.

    The formula is a record (`render` key and `facts`, rendered on demand) or a ready text. `spec` is the
    plan's rule the line applied (its bands, rates, names): handed to the renderer first, never stored in a
    record (the record's `rule` names it in the plan the run header identifies).
    """

    __slots__ = ("rule", "name", "value", "inputs", "note", "render", "facts", "spec", "_formula")

    def __init__(
        self,
        rule: str,
        name: str,
        value: Decimal,
        formula: str | None = None,
        inputs: list[Input] | None = None,
        note: str | None = None,
        *,
        render: str | None = None,
        facts: tuple = (),
        spec: Any = None,
    ):
        if (formula is None) == (render is None):
            raise ValueError(f"line {name}: give a formula text or a renderer key, exactly one")
        self.rule = rule
        self.name = name
        self.value = value
        self.inputs = inputs if inputs is not None else []
        self.note = note
        self.render = render
        self.facts = facts
        self.spec = spec
        self._formula = formula

    @property
    def formula(self) -> str:
        """The formula text (rendered from the record when the line has one)."""
        if self._formula is not None:
            return self._formula
        return render(self.render, self.facts if self.spec is None else (self.spec, *self.facts))  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"Line({self.rule!r}, {self.name!r}, {self.value!r})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the line item with its formula text and every input's provenance."""
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

    def record(self, metrics: dict[str, Decimal | None]) -> dict[str, Any]:
        """Compact dict of the line item: its facts (or formula text); metric inputs by name (`Input.record`)."""
        out: dict[str, Any] = {"rule": self.rule, "name": self.name, "value": _text(self.value)}
        if self._formula is not None:
            out["formula"] = self._formula
        else:
            out["render"] = self.render
            out["facts"] = _facts(self.facts)
        out["inputs"] = [i.record(metrics) for i in self.inputs]
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

    def to_dict(self, render: bool = True) -> dict[str, Any]:
        """JSON-ready dict of the result: the readable trace (formulas, provenance), or its records."""
        return _plain(self._raw(render))

    def _raw(self, render: bool) -> dict[str, Any]:
        # Decimals are left for the JSON encoder's `default` (the fast C encoder path).
        out: dict[str, Any] = {
            "employee_id": self.employee_id,
            "period": self.period,
            "role": self.role,
            "team_id": self.team_id,
            "segment": self.segment,
        }
        if render:
            out["scorecard"] = _rendered_scorecard(self.scorecard)
            out["lines"] = [ln.to_dict() for ln in self.lines]
        else:
            metrics: dict[str, Decimal | None] = {}  # every metric cited, once
            out["scorecard"] = _scorecard_record(self.scorecard, metrics)
            out["lines"] = [ln.record(metrics) for ln in self.lines]
            out["metrics"] = {k: _text(v) for k, v in metrics.items()}
        out["total"] = _text(self.total)
        if self.credits:
            out["credits"] = self.credits
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def render_scorecard(card: dict[str, Any] | None) -> dict[str, Any] | None:
    """The scorecard with its formula texts rendered (inputs stay `Input`s)."""
    if card is None:
        return None
    out = {k: v for k, v in card.items() if k not in ("render", "facts", "indicators")}
    out["formula"] = render(card["render"], card["facts"])
    out["indicators"] = [
        {
            **{k: v for k, v in ind.items() if k not in ("render", "facts", "note")},
            "formula": render(ind["render"], ind["facts"]),
            **({"note": ind["note"]} if "note" in ind else {}),
        }
        for ind in card["indicators"]
    ]
    return out


def _rendered_scorecard(card: dict[str, Any] | None) -> dict[str, Any] | None:
    rendered = render_scorecard(card)
    for ind in rendered["indicators"] if rendered else ():
        ind["inputs"] = [i.to_dict() for i in ind["inputs"]]
    return rendered


def _scorecard_record(card: dict[str, Any] | None, metrics: dict[str, Decimal | None]) -> dict[str, Any] | None:
    # The rule and kind of an indicator follow from its id and the plan, its metric from the plan, the ratio is a
    # fact. Built key by key: this runs for every result of a run.
    if card is None:
        return None
    indicators = []
    for ind in card["indicators"]:
        record = {
            "id": ind["id"],
            "weight": _text(ind["weight"]),
            "score": _text(ind["score"]),
            "points": _text(ind["points"]),
            "render": ind["render"],
            "facts": _facts(ind["facts"]),
        }
        if "note" in ind:
            record["note"] = ind["note"]
        record["inputs"] = [i.record(metrics) for i in ind["inputs"]]
        indicators.append(record)
    return {
        "rule": card["rule"],
        "total": _text(card["total"]),
        "weights_present": _text(card["weights_present"]),
        "weights_total": _text(card["weights_total"]),
        "render": card["render"],
        "facts": _facts(card["facts"]),
        "indicators": indicators,
    }


def _facts(facts: tuple) -> list[Any]:
    """A record's facts as JSON-ready values: Decimals as text, tuples as lists (recursively)."""
    return [
        format(v, "f") if type(v) is Decimal else _facts(v) if type(v) is tuple else v  # noqa: E721 - exact types
        for v in facts
    ]


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

    def to_dict(self, render: bool = True) -> dict[str, Any]:
        """JSON-ready dict of the whole run (`render=False`: the records), the same content as `to_json`."""
        with collector_paused():
            return {**self._head(), "results": [r.to_dict(render) for r in self.results]}

    def _head(self) -> dict[str, Any]:
        return run_header(self, self.summary())

    def summary(self) -> dict[str, Any]:
        """Counts and the total payout (money) of the run."""
        return run_summary(len(self.results), sum((r.total for r in self.results), Decimal(0)), self)

    def to_json(self, render: bool = True) -> bytes:
        """Canonical JSON bytes: same plan + same data -> same bytes (see `write_json`)."""
        buf = io.BytesIO()
        self.write_json(buf, render=render)
        return buf.getvalue()

    def write_json(self, fh: BinaryIO, *, render: bool = True) -> None:
        """Stream canonical JSON: run header first, then one result per line (compact, UTF-8).

        `render=True` writes the readable trace (formula texts, every input's source rows), as
        `to_dict()` gives it; `render=False` the records (see the module docstring): no source rows
        are read, and the file is about 40% smaller.
        """
        fh.write(_results_opening(self._head()))
        with collector_paused():
            for i, r in enumerate(self.results):
                fh.write(_result_bytes(r, render, first=not i))
        fh.write(RESULTS_CLOSING)

    def summary_csv(self) -> str:
        """One row per employee-period: scorecard total, each line item, total (money as exact text)."""
        rows = [_csv_row(r) for r in self.results]
        return _summary_csv(rows, {name for _, values in rows for name in values})


@dataclass
class RunStream:
    """A run evaluated one period at a time: its header now, each period's results as they are computed.

    `parts` yields (results, skipped) per period, in period order: the results an iterator computed as it is
    read, `skipped` filled as they are. Consume it once, by `collect` (the whole `BonusRun` in memory) or
    `write_json` (a few hundred results held at a time).
    """

    plan: dict[str, Any]
    periods: list[str]
    currency: str
    data: dict[str, Any]
    holds: list[dict[str, Any]]
    parts: Iterator[tuple[Iterable[Result], list[dict[str, str]]]]

    def collect(self) -> BonusRun:
        """Every period's results in one `BonusRun`."""
        run = BonusRun(self.plan, self.periods, self.currency, self.data, [], self.holds, [])
        for results, skipped in self.parts:
            run.results += results
            run.skipped += skipped
        return run

    def write_json(self, fh: BinaryIO, *, render: bool = True, csv_fh: BinaryIO | None = None) -> dict[str, Any]:
        """Write the bytes `collect().write_json(fh)` would (and its `summary_csv` to `csv_fh`); the summary.

        The header (with the summary) comes first in the file, so results are spooled to an unnamed
        temporary file as they are computed until the last period is done, then copied after it.
        """
        count, total = 0, Decimal(0)
        skipped: list[dict[str, str]] = []
        names: set[str] = set()
        with tempfile.TemporaryFile() as spool, tempfile.TemporaryFile() as csv_spool, collector_paused():
            for results, part_skipped in self.parts:
                for r in results:
                    spool.write(_result_bytes(r, render, first=not count))
                    row = _csv_row(r)
                    names |= row[1].keys()
                    csv_spool.write(_dumps(row).encode() + b"\n")
                    count += 1
                    total += r.total
                skipped += part_skipped  # filled while its results were read
                release_freed_memory()  # the period's pages back to the system before the next one
            head = BonusRun(self.plan, self.periods, self.currency, self.data, [], self.holds, skipped)
            summary = run_summary(count, total, head)
            fh.write(_results_opening(run_header(head, summary)))
            spool.seek(0)
            shutil.copyfileobj(spool, fh)
            fh.write(RESULTS_CLOSING)
            if csv_fh is not None:
                csv_spool.seek(0)
                rows = (_csv_row_from_json(line) for line in csv_spool)
                csv_fh.write(_summary_csv(rows, names).encode())
        return summary


RESULTS_CLOSING = b"\n]}\n"


def run_header(run: BonusRun, summary: dict[str, Any]) -> dict[str, Any]:
    """The header a run file opens with (plan, periods, currency, data, summary, holds, skipped)."""
    return {
        "plan": run.plan,
        "periods": run.periods,
        "currency": run.currency,
        "data": run.data,
        "summary": summary,
        "holds": _plain(run.holds),
        "skipped": run.skipped,
    }


def run_summary(count: int, total: Decimal, run: BonusRun) -> dict[str, Any]:
    """Counts and the total payout (money) of a run of `count` results."""
    return {"employees": count, "total_payout": _text(total), "holds": len(run.holds), "skipped": len(run.skipped)}


def _results_opening(head: dict[str, Any]) -> bytes:
    return _dumps(head)[:-1].encode() + b',"results":['


def _result_bytes(result: Result, render: bool, *, first: bool) -> bytes:
    """One result's line of the run file (the first without the separating comma)."""
    return (b"\n" if first else b",\n") + _dumps(result._raw(render)).encode()


def _csv_row(r: Result) -> tuple[list[str], dict[str, str | None]]:
    fixed = [r.employee_id, r.period, r.role, r.team_id or "", r.segment, _text(r.scorecard_total) or ""]
    return fixed + [_text(r.total)], {ln.name: _text(ln.value) for ln in r.lines}  # type: ignore[list-item]


def _csv_row_from_json(line: bytes) -> tuple[list[str], dict[str, str | None]]:
    fixed, values = json.loads(line)
    return fixed, values


def _summary_csv(rows: Iterable[tuple[list[str], dict[str, str | None]]], present: set[str]) -> str:
    names = [n for n in LINE_ORDER if n in present] + sorted(present - set(LINE_ORDER))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["employee_id", "period", "role", "team_id", "segment", "scorecard_total", *names, "total"])
    for fixed, values in rows:
        writer.writerow([*fixed[:-1], *(values.get(n) or "" for n in names), fixed[-1]])
    return buf.getvalue()


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, tuple):
        return list(obj)
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
    sc = render_scorecard(result.scorecard)
    if sc:
        out.append(f"Scorecard [{sc['rule']}]: total {fmt(sc['total'])} points = {sc['formula']}")
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

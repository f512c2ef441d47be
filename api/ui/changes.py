""" "Why did my payout change": two periods' traces compared line by line (inputs, rule, amount)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def _dec(text) -> Decimal | None:
    try:
        return None if text is None else Decimal(str(text))
    except InvalidOperation:
        return None


def _inputs(item: dict) -> dict[str, str | None]:
    return {i["name"]: i.get("value") for i in item.get("inputs", [])}


def _input_changes(before: dict, after: dict) -> list[dict]:
    old, new = _inputs(before), _inputs(after)
    return [
        {"name": n, "before": old.get(n), "after": new.get(n)}
        for n in dict.fromkeys([*old, *new])
        if old.get(n) != new.get(n)
    ]


def payout_changes(previous: dict | None, current: dict | None) -> list[dict]:
    """Per payout line (and the scorecard) whose value moved: before, after, delta, the rule, and the inputs that moved.

    Lines are matched by name; a line present in one period only appears with the other side None.
    Values are exact decimal text as in the trace."""
    if previous is None or current is None:
        return []
    out = []
    sc_before, sc_after = previous.get("scorecard") or {}, current.get("scorecard") or {}
    if sc_before or sc_after:
        b, a = _dec(sc_before.get("total")), _dec(sc_after.get("total"))
        if b != a:
            ind_b = {i["id"]: i for i in sc_before.get("indicators", [])}
            ind_a = {i["id"]: i for i in sc_after.get("indicators", [])}
            moved = []
            for k in dict.fromkeys([*ind_b, *ind_a]):
                moved += _input_changes(ind_b.get(k, {}), ind_a.get(k, {}))
            out.append(
                {
                    "name": "scorecard",
                    "rule": sc_after.get("rule") or sc_before.get("rule"),
                    "before": b,
                    "after": a,
                    "delta": None if a is None or b is None else a - b,
                    "formula": None,
                    "inputs": _dedupe(moved),
                }
            )
    before = {ln["name"]: ln for ln in previous.get("lines", [])}
    after = {ln["name"]: ln for ln in current.get("lines", [])}
    for name in dict.fromkeys([*before, *after]):
        lb, la = before.get(name), after.get(name)
        b, a = _dec(lb and lb["value"]), _dec(la and la["value"])
        if b == a:
            continue
        out.append(
            {
                "name": name,
                "rule": (la or before[name])["rule"],
                "before": b,
                "after": a,
                "delta": (a or Decimal(0)) - (b or Decimal(0)),
                "formula": la["formula"] if la else None,
                "inputs": _input_changes(lb or {}, la or {}),
            }
        )
    return out


def _dedupe(items: list[dict]) -> list[dict]:
    seen, out = set(), []
    for i in items:
        key = (i["name"], i["before"], i["after"])
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out


__all__ = ["payout_changes"]

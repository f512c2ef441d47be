"""Exact money: amounts enter the rule engine as `Decimal`, never as floats."""

from __future__ import annotations

from decimal import Decimal


def to_decimal(value) -> Decimal:
    """Exact decimal of an amount: text as written, floats by their shortest repr (exact up to 15 digits)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))

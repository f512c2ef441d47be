"""Band arithmetic in Decimal: lookup, marginal and whole-amount payouts, and band-list checks.

Bands are lower-inclusive and upper-exclusive: at exactly 100% the `[100, ...)` band applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from perfml.rules.plan import Range, RateBand

HUNDRED = Decimal(100)
ZERO = Decimal(0)


def find_band(bands: Sequence[Range], x: Decimal) -> int | None:
    """Index of the band containing x, or None when x is outside every band."""
    for i, band in enumerate(bands):
        if band.contains(x):
            return i
    return None


def marginal_parts(bands: Sequence[RateBand], amount: Decimal, unit: Decimal = Decimal(1)) -> list[tuple[int, Decimal]]:
    """(band index, portion of amount inside it) for each band the amount reaches.

    Band bounds are multiplied by `unit` to become money: with bands on attainment percent and
    a target T, unit = T / 100. An open lower bound starts at 0 (a base is never negative).
    """
    parts = []
    for i, band in enumerate(bands):
        lo = max(ZERO, band.lo * unit) if band.lo is not None else ZERO
        hi = band.hi * unit if band.hi is not None else None
        top = amount if hi is None else min(amount, hi)
        if top > lo:
            parts.append((i, top - lo))
    return parts


def marginal_pay(bands: Sequence[RateBand], amount: Decimal, unit: Decimal = Decimal(1)) -> Decimal:
    """Σ rate × portion of `amount` inside each band (rates in percent); unrounded."""
    return sum((bands[i].rate * part / HUNDRED for i, part in marginal_parts(bands, amount, unit)), ZERO)


def whole_pay(bands: Sequence[RateBand], x: Decimal, amount: Decimal) -> Decimal:
    """The rate of the band containing x, applied to the whole amount (0 outside every band); unrounded."""
    i = find_band(bands, x)
    return ZERO if i is None else bands[i].rate * amount / HUNDRED


def band_problems(bands: Sequence[Range]) -> list[tuple[int | None, str]]:
    """(band index or None, message) for bands that are inverted, unordered, overlapping or gapped."""
    problems: list[tuple[int | None, str]] = []
    if not bands:
        return [(None, "at least one band is required")]
    for i, band in enumerate(bands):
        if band.lo is not None and band.hi is not None and band.lo >= band.hi:
            word = "exceeds" if band.lo > band.hi else "equals"
            problems.append((i, f"lower bound `from` {band.lo} {word} upper bound `to` {band.hi}"))
    if problems:
        return problems
    for i in range(1, len(bands)):
        prev, band = bands[i - 1], bands[i]
        if prev.hi is None:
            problems.append((i, f"overlaps bands[{i - 1}], which has no upper bound"))
        elif band.lo is None:
            problems.append((i, f"overlaps bands[{i - 1}]: no lower bound, but bands[{i - 1}] ends at {prev.hi}"))
        elif band.lo < prev.hi:
            problems.append(
                (i, f"overlaps bands[{i - 1}]: starts at {band.lo} before bands[{i - 1}] ends at {prev.hi}")
            )
        elif band.lo > prev.hi:
            problems.append((i, f"gap after bands[{i - 1}]: nothing covers {prev.hi} to {band.lo}"))
    return problems


def pct(x: Decimal) -> str:
    """Compact percent text for formulas (15 -> '15%', 12.50 -> '12.5%')."""
    return f"{fmt(x)}%"


def fmt(x: Decimal | None) -> str:
    """Plain decimal text without exponent or trailing zeros (money keeps its own quantized form)."""
    if x is None:
        return "n/a"
    text = format(x, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def round_by(rounding, x: Decimal) -> Decimal:
    """Round a line item once, by the plan's rule (e.g. half-up to cents)."""
    return x.quantize(rounding.places, rounding=rounding.decimal_mode)

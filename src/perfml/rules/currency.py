"""Order amounts in the plan's currency: one exact conversion per order, cited by the credit ledger.

An order's `currency` (ISO 4217; empty = the plan's currency) converts to the plan's currency at
the `fx_rates` row from that currency to the plan's currency dated on the order's close date, or
else the last one dated before it (a rate dated D applies from D 00:00). Only direct quotes are
used: a quote from the plan's currency to the order's is not inverted, because 1 / rate is not
exact. The product amount x rate is exact (Decimal) and then rounded once, to the plan's
`rounding` (places and mode; default half-up to cents): 30,000 USD at 7.1 is 213,000.00 CNY.
Amounts already in the plan's currency are kept exactly as written. A foreign order with no rate
on or before its close date is an error naming the order, its currency and the date.
"""

from __future__ import annotations

from decimal import Context, Decimal, localcontext

import pandas as pd

from perfml.errors import PlanError
from perfml.money import to_decimal
from perfml.rules.plan import Rounding

# amount and rate have at most 18 significant digits each (<= 1e12, 6 places): 40 keeps the product exact.
_EXACT = Context(prec=40)
MAX_SHOWN = 5
CENTS = Rounding()  # the plan default: half-up to 0.01
CONVERSION_COLUMNS = ["currency", "amount_original", "fx_rate", "fx_date", "amount"]


def convert_orders(
    orders: pd.DataFrame, fx_rates: pd.DataFrame, currency: str | None, rounding: Rounding = CENTS
) -> pd.DataFrame:
    """Per order (aligned to `orders`): currency, amount_original, fx_rate, fx_date and amount in `currency`.

    `currency` None = no plan currency to convert to: amounts are taken as written, and orders
    naming more than one currency are refused (they cannot be summed).
    """
    written = orders["currency"].astype("string")
    out = pd.DataFrame(
        {
            "currency": written.fillna(currency) if currency else written,
            "amount_original": orders["amount"],
            "fx_rate": pd.Series(float("nan"), index=orders.index),
            "fx_date": pd.Series(pd.NaT, index=orders.index, dtype="datetime64[ns]"),
            "amount": orders["amount"],
        }
    )
    if currency is None:
        found = sorted(written.dropna().unique())
        if len(found) > 1:
            raise PlanError(f"orders.currency: {', '.join(found)} found but no plan currency to convert them to")
        return out
    foreign = out["currency"].ne(currency).fillna(False).astype(bool)
    if not foreign.any():
        return out
    rates = _rates_for(orders.loc[foreign, ["order_id", "closed_at"]], out.loc[foreign, "currency"], fx_rates, currency)
    missing = rates["rate"].isna()
    if missing.any():
        raise PlanError(_missing_text(rates[missing], currency))
    out.loc[foreign, "fx_rate"] = rates["rate"].to_numpy()
    out.loc[foreign, "fx_date"] = rates["date"].to_numpy()
    out.loc[foreign, "amount"] = [
        float(converted(a, r, rounding))
        for a, r in zip(out.loc[foreign, "amount_original"].tolist(), rates["rate"].tolist(), strict=True)
    ]
    return out


def converted(amount, rate, rounding: Rounding = CENTS) -> Decimal:
    """amount x rate exactly, then rounded once by `rounding` (money in the target currency)."""
    with localcontext(_EXACT):
        product = to_decimal(amount) * to_decimal(rate)
        return product.quantize(rounding.places, rounding=rounding.decimal_mode)


def _rates_for(orders: pd.DataFrame, currencies: pd.Series, fx_rates: pd.DataFrame, currency: str) -> pd.DataFrame:
    """For each foreign order (aligned to `orders`): the rate and date of the quote used (NaN/NaT when none)."""
    wanted = orders.assign(from_currency=currencies.to_numpy()).reset_index(names="_row")
    quotes = fx_rates.loc[fx_rates["to_currency"] == currency, ["date", "from_currency", "rate"]]
    quotes = quotes.astype({"from_currency": "string"}).sort_values("date", kind="stable")
    wanted = wanted.astype({"from_currency": "string"}).sort_values("closed_at", kind="stable")
    if quotes.empty:
        linked = wanted.assign(rate=float("nan"), date=pd.Series(pd.NaT, index=wanted.index, dtype="datetime64[ns]"))
    else:
        linked = pd.merge_asof(
            wanted, quotes, left_on="closed_at", right_on="date", by="from_currency", direction="backward"
        )
    return linked.set_index("_row").reindex(orders.index)[["order_id", "closed_at", "from_currency", "rate", "date"]]


def _missing_text(missing: pd.DataFrame, currency: str) -> str:
    """`fx_rates: no rate ...` naming the first orders without a rate, their currency and close date."""
    shown = [
        f"order {oid} ({cur}, closed {closed.date()})"
        for oid, cur, closed in zip(
            missing["order_id"][:MAX_SHOWN],
            missing["from_currency"][:MAX_SHOWN],
            missing["closed_at"][:MAX_SHOWN],
            strict=True,
        )
    ]
    more = f" (+{len(missing) - MAX_SHOWN} more)" if len(missing) > MAX_SHOWN else ""
    return (
        f"fx_rates: no rate to {currency} dated on or before the close date of {len(missing)} order(s): "
        f"{', '.join(shown)}{more}; add fx_rates rows (date, from_currency, to_currency {currency}, rate)"
    )

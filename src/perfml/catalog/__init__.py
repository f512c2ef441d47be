"""The ONE feature catalog: what every model feature is called, in which unit, and how to say it.

Explanations, docs and pages read feature names, display names (English, Chinese), units,
descriptions and one-line reason templates from here; nobody repeats them.

Adding features for a model (pattern to follow)::

    # src/perfml/catalog/decline.py   -- picked up automatically on `import perfml.catalog`
    from perfml.catalog import Feature, register

    register(
        Feature("revenue_slope_3m", "Revenue trend (3 months)", "近3个月收入趋势", "ratio",
                "Least-squares slope of monthly credited revenue over the last 3 months, "
                "relative to the trailing mean.",
                reason_en="revenue trend over 3 months {value}",
                reason_zh="近3个月收入趋势 {value}"),
        model="decline",
    )

Every module in this package (except names starting with "_") is imported when the package is,
so registration is automatic. Names are global and unique: registering the same name twice
with a different definition raises. `get(name)` never fails: unknown names (e.g. an
`attr_*` HR column) get a generic entry, so explanations work for any column.

Reason templates are `str.format` templates with `{value}` (the value formatted for its unit
and language), `{raw}` (the number) and `{unit}`; `Feature.reason(value, contribution)`
renders "<template>: +0.41" - the contribution in the model's raw (log-odds) space.

Public API: `Feature`, `register(*features, model=None)`, `get(name)`, `features_for(model)`,
`all_features()`, `UNITS`.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from dataclasses import dataclass, field, replace
from typing import Literal

Lang = Literal["en", "zh"]

UNITS = ("days", "hours", "months", "count", "ratio", "share", "currency", "flag", "score", "rank", "years", "value")
"""Allowed units. `ratio` is a plain multiple (1.8x); `share` is a fraction shown as a percentage."""


def format_value(value: float | None, unit: str, lang: Lang = "en") -> str:
    """A value as a person reads it in the given unit and language ("12 days", "35%", "是")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown" if lang == "en" else "未知"
    v = float(value)
    if unit == "flag":
        yes = v >= 0.5
        return ("yes" if yes else "no") if lang == "en" else ("是" if yes else "否")
    if unit == "share":
        return f"{v:.0%}"
    if unit == "ratio":
        return f"{v:.2g}x" if abs(v) < 100 else f"{v:,.0f}x"
    if unit == "currency":
        return f"{v:,.0f}"
    if unit == "count":
        return f"{v:,.0f}" if v == round(v) else f"{v:,.1f}"
    words = {"days": ("days", "天"), "hours": ("hours", "小时"), "months": ("months", "个月"), "years": ("years", "年")}
    number = f"{v:,.0f}" if abs(v) >= 10 or v == round(v) else f"{v:.1f}"
    if unit in words:
        en, zh = words[unit]
        return f"{number} {en}" if lang == "en" else f"{number}{zh}"
    return f"{v:.3g}"


@dataclass(frozen=True)
class Feature:
    """One model feature: name (the column), display names, unit, description and reason templates."""

    name: str
    display_en: str
    display_zh: str
    unit: str
    description: str
    reason_en: str = ""
    reason_zh: str = ""
    tables: tuple[str, ...] = ()
    """Contract tables the feature is computed from; a dataset that does not track one of them
    (`Dataset.untracked`) trains without the feature."""
    models: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"feature {self.name!r}: unit {self.unit!r} not in {UNITS}")

    def display(self, lang: Lang = "en") -> str:
        """The display name in `lang` ("en" or "zh")."""
        return self.display_zh if lang == "zh" else self.display_en

    def describe_value(self, value: float | None, lang: Lang = "en") -> str:
        """The reason template rendered for `value` (default: "<display name>: <value>")."""
        template = (self.reason_zh if lang == "zh" else self.reason_en) or "{display}: {value}"
        return template.format(
            value=format_value(value, self.unit, lang), raw=value, unit=self.unit, display=self.display(lang)
        )

    def reason(self, value: float | None, contribution: float, lang: Lang = "en") -> str:
        """One line for an explanation: "<rendered template>: +0.41" (contribution in log-odds)."""
        return f"{self.describe_value(value, lang)}: {contribution:+.2f}"


_CATALOG: dict[str, Feature] = {}


def register(*features: Feature, model: str | None = None) -> None:
    """Add features (optionally tagging the model that uses them); same name + other definition raises."""
    for feat in features:
        if model and model not in feat.models:
            feat = replace(feat, models=(*feat.models, model))
        old = _CATALOG.get(feat.name)
        if old is not None:
            if old != feat:
                raise ValueError(f"feature {feat.name!r} is already in the catalog with another definition")
            feat = replace(old, models=tuple(dict.fromkeys(old.models + feat.models)))
        _CATALOG[feat.name] = feat


def get(name: str) -> Feature:
    """The catalog entry for a feature name; a generic entry for names not in the catalog."""
    feat = _CATALOG.get(name)
    if feat is not None:
        return feat
    label = name.removeprefix("attr_").replace("_", " ")
    return Feature(name, label.capitalize(), label, "value", f"Column {name!r} (not described in the catalog).")


def has(name: str) -> bool:
    """Whether `name` has its own catalog entry."""
    return name in _CATALOG


def features_for(model: str) -> list[Feature]:
    """Features registered for a model, in registration order."""
    return [f for f in _CATALOG.values() if model in f.models]


def all_features() -> list[Feature]:
    """Every catalog entry, in registration order."""
    return list(_CATALOG.values())


# Automatic registration: every public module in this package registers its features on import.
for _mod in pkgutil.iter_modules(__path__):
    if not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = ["Feature", "UNITS", "all_features", "features_for", "format_value", "get", "has", "register"]

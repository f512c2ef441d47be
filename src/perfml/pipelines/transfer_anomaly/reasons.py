"""Reason keywords: what an ownership change's free-text reason claims, as a per-company setting.

The defaults (English and Chinese) ship in `reason_keywords.yaml` next to this module; a company
file in the same format replaces the lists of the categories it names (an empty list turns a
category off). Matching is a substring test on NFKC-normalised, case-folded text, so it works
for Chinese (no word boundaries) and ignores case and full-width forms.

    keywords = load_reason_keywords(Path("company/reasons.yaml"))   # or None: the defaults
    claims = reason_claims(frame["reason"], keywords)               # one boolean column per category
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from perfml.errors import PerfmlError

CATEGORIES: tuple[str, ...] = ("customer_request", "maintenance", "leave", "leaving", "signing", "workload")
"""The claims the pipeline checks against the records (`nodes.reason_checks`)."""
DEFAULT_FILE = "reason_keywords.yaml"

Keywords = dict[str, tuple[str, ...]]


class ReasonKeywordsError(PerfmlError):
    """An invalid reason-keywords file; the message names the file and each YAML path."""


def normalise(text: str) -> str:
    """The form both keywords and reasons are compared in (NFKC, case-folded, trimmed)."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


def parse_reason_keywords(text: str, source: str) -> Keywords:
    """Validated keyword lists from YAML text; raises naming every bad path (e.g. `categories.workload[2]`)."""
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        raise ReasonKeywordsError(f"{source}: not valid YAML: {str(exc)[:200]}") from None
    if not isinstance(data, dict) or set(data) != {"categories"} or not isinstance(data["categories"], dict):
        raise ReasonKeywordsError(
            f"{source}: must be a mapping with one key, `categories`, mapping each category to a list of keywords"
        )
    problems, out = [], {}
    for category, words in data["categories"].items():
        path = f"categories.{category}"
        if category not in CATEGORIES:
            problems.append(f"{path}: unknown category; use one of {', '.join(CATEGORIES)}")
            continue
        if words is None:
            words = []
        if not isinstance(words, list):
            problems.append(f"{path}: must be a list of keywords (an empty list turns the category off)")
            continue
        for i, word in enumerate(words):
            if not isinstance(word, str) or not normalise(word):
                problems.append(
                    f"{path}[{i}]: must be a non-empty text (quote words YAML reads otherwise, "
                    f'e.g. "yes"), got {word!r}'
                )
        out[category] = tuple(dict.fromkeys(normalise(w) for w in words if isinstance(w, str) and normalise(w)))
    if problems:
        raise ReasonKeywordsError(f"{source}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))
    return out


def default_reason_keywords() -> Keywords:
    """The shipped en/zh keyword lists, one per category."""
    text = resources.files("perfml.pipelines.transfer_anomaly").joinpath(DEFAULT_FILE).read_text(encoding="utf-8")
    keywords = parse_reason_keywords(text, f"builtin:{DEFAULT_FILE}")
    return {c: keywords.get(c, ()) for c in CATEGORIES}


def load_reason_keywords(path: str | Path | None = None) -> Keywords:
    """The defaults, with the categories a company file at `path` names replaced by its lists."""
    keywords = default_reason_keywords()
    if path is None:
        return keywords
    path = Path(path)
    if not path.is_file():
        raise ReasonKeywordsError(f"reason keywords file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReasonKeywordsError(f"{path}: cannot read: {exc}") from None
    return {**keywords, **parse_reason_keywords(text, str(path))}


def keywords_hash(keywords: Keywords) -> str:
    """sha256 of the keyword map's canonical JSON (what a run records; order and spelling of the file aside)."""
    canonical = json.dumps(
        {c: list(keywords.get(c, ())) for c in sorted(keywords)},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def reason_claims(reason: pd.Series, keywords: Keywords) -> pd.DataFrame:
    """One boolean column per category: does the reason text contain one of its keywords?"""
    text = reason.astype("string").fillna("").map(normalise, na_action="ignore").astype("string")
    return pd.DataFrame(
        {
            c: np.logical_or.reduce(
                [text.str.contains(w, regex=False).to_numpy(dtype=bool) for w in keywords.get(c, ())]
                or [np.zeros(len(text), bool)]
            )
            for c in CATEGORIES
        },
        index=reason.index,
    )

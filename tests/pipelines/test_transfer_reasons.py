"""Reason keywords are a per-company setting: shipped en/zh defaults, validated files, overrides."""

from __future__ import annotations

import pandas as pd
import pytest

from perfml.config import Settings
from perfml.pipelines import get_pipeline
from perfml.pipelines.transfer_anomaly.reasons import (
    CATEGORIES,
    ReasonKeywordsError,
    default_reason_keywords,
    keywords_hash,
    load_reason_keywords,
    reason_claims,
)


def test_defaults_match_english_any_case_and_chinese_without_word_boundaries():
    reasons = pd.Series(
        ["Customer REQUEST", "客户要求更换对接人", "员工离职交接", "ＷＯＲＫＬＯＡＤ balancing", None, ""],
        dtype="string",
    )
    claims = reason_claims(reasons, default_reason_keywords())
    assert list(claims.columns) == list(CATEGORIES)
    assert claims["customer_request"].tolist() == [True, True, False, False, False, False]
    assert claims["leaving"].tolist() == [False, False, True, False, False, False]
    assert claims["workload"].tolist() == [False, False, False, True, False, False]  # full-width letters too
    assert not claims.iloc[4:].to_numpy().any()


def test_company_file_replaces_the_categories_it_names(tmp_path):
    path = tmp_path / "reasons.yaml"
    path.write_text("categories:\n  workload: [Spreading the LOAD, 分担]\n  signing: []\n", encoding="utf-8")
    keywords = load_reason_keywords(path)
    assert keywords["workload"] == ("spreading the load", "分担") and keywords["signing"] == ()
    assert keywords["leave"] == default_reason_keywords()["leave"]
    claims = reason_claims(pd.Series(["spreading the load", "workload", "handover at signing"]), keywords)
    assert claims["workload"].tolist() == [True, False, False] and not claims["signing"].any()
    assert keywords_hash(keywords) != keywords_hash(default_reason_keywords())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("categories:\n  workload: [a, b, 3]\n", "categories.workload[2]: must be a non-empty text"),
        ("categories:\n  workload: [a, '  ']\n", "categories.workload[1]"),
        ("categories:\n  workload: yes\n", "categories.workload: must be a list"),
        ("categories:\n  bribes: [cash]\n", "categories.bribes: unknown category"),
        ("workload: [a]\n", "one key, `categories`"),
        ("categories: [\n", "not valid YAML"),
    ],
)
def test_invalid_files_name_the_yaml_path(tmp_path, text, message):
    path = tmp_path / "reasons.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReasonKeywordsError, match=str(path)) as err:
        load_reason_keywords(path)
    assert message in str(err.value)
    with pytest.raises(ReasonKeywordsError, match="not found"):
        load_reason_keywords(tmp_path / "missing.yaml")


def test_pipeline_takes_the_keywords_from_settings_and_records_their_hash(tmp_path, monkeypatch):
    path = tmp_path / "reasons.yaml"
    path.write_text("categories:\n  customer_request: [buyer's wish]\n", encoding="utf-8")
    default = get_pipeline("transfer-anomaly", Settings(home=tmp_path))
    company = get_pipeline("transfer-anomaly", Settings(home=tmp_path, reason_keywords=path))
    assert company.reason_keywords["customer_request"] == ("buyer's wish",)
    assert default.reason_keywords == default_reason_keywords()
    assert company.params()["reason_keywords_sha256"] == keywords_hash(company.reason_keywords)
    assert company.params()["reason_keywords_sha256"] != default.params()["reason_keywords_sha256"]
    monkeypatch.setenv("PERFML_REASON_KEYWORDS", str(path))
    assert Settings().reason_keywords == path

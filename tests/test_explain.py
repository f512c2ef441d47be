"""Explanations: additivity to 1e-6, top-k ordering, catalog names and reasons in two languages."""

import numpy as np
import pandas as pd
import pytest

from perfml import catalog
from perfml.explain import explain
from perfml.modeling.model import TrainedModel
from perfml.modeling.train import fit_lgbm


@pytest.fixture(scope="module")
def model_and_data():
    rng = np.random.default_rng(1)
    names = ["receiver_acts_after", "giver_acts_90d", "days_to_order", "attr_prior_experience_years"]
    X = pd.DataFrame(rng.normal(size=(2000, 4)), columns=names)
    X.loc[::5, "days_to_order"] = np.nan
    y = (rng.random(2000) < 1 / (1 + np.exp(-(1.5 * X.iloc[:, 0] - X.iloc[:, 1])))).astype(float)
    return TrainedModel(fit_lgbm(X, y, num_rounds=200, params={"num_leaves": 31}), names, name="m", version="7"), X


def test_base_plus_contributions_equals_raw_score(model_and_data):
    model, X = model_and_data
    ex = explain(model, X)
    raw = model.booster.predict(X.to_numpy(), raw_score=True)
    assert np.max(np.abs(ex.base_value + ex.contributions.sum(axis=1) - raw)) < 1e-6
    np.testing.assert_allclose(ex.score, model.predict(X), atol=1e-9)
    assert ex.contributions.shape == X.shape


def test_top_factors_sorted_with_catalog_names(model_and_data):
    model, X = model_and_data
    ex = explain(model, X.head(50))
    factors = ex.factors(k=3)
    assert all(len(row) <= 3 for row in factors)
    for i, row in enumerate(factors):
        mags = [abs(f.contribution) for f in row]
        assert mags == sorted(mags, reverse=True)
        assert mags[0] == pytest.approx(np.abs(ex.contributions[i]).max())
        for f in row:
            assert f.direction == ("up" if f.contribution > 0 else "down")
            assert f.reason.endswith(f"{f.contribution:+.2f}")
    first = factors[0][0]
    assert first.display_name == catalog.get(first.feature).display_en
    rec = ex.records(k=2, lang="zh")[0]
    assert rec["model"] == "m" and rec["version"] == "7" and len(rec["factors"]) == 2
    assert rec["factors"][0]["display_name"] == catalog.get(rec["factors"][0]["feature"]).display_zh
    assert len(ex.reasons(k=2)) == 50 and "; " in ex.reasons(k=2)[0]


def test_reason_lines_render_units_and_unknown_values():
    f = catalog.get("receiver_acts_after")
    assert f.reason(0.0, 0.41) == "receiver logged 0 activities on the customer before the order: +0.41"
    assert catalog.get("days_to_order").describe_value(None) == "the customer ordered unknown after the change"
    assert catalog.get("receiver_target_gap").describe_value(0.35) == "receiver still needed 35% of the month's target"
    assert "天" in catalog.get("giver_owned_days").describe_value(12, lang="zh")
    generic = catalog.get("attr_prior_experience_years")
    assert generic.display_en == "Prior experience years" and not catalog.has("attr_prior_experience_years")


def test_catalog_rejects_conflicting_duplicates():
    feat = catalog.get("giver_acts_30d")
    catalog.register(feat, model="transfer-anomaly")  # same definition again: fine
    with pytest.raises(ValueError, match="another definition"):
        catalog.register(catalog.Feature("giver_acts_30d", "x", "x", "count", "other"))
    with pytest.raises(ValueError, match="unit"):
        catalog.Feature("z", "z", "z", "furlongs", "bad unit")


def test_bare_booster_and_empty_batch(model_and_data):
    model, X = model_and_data
    ex = explain(model.booster, X.to_numpy()[:3])
    assert ex.feature_names == model.features and len(ex) == 3
    empty = explain(model, X.head(0))
    assert len(empty) == 0 and empty.reasons() == []
    with pytest.raises(ValueError, match="feature columns"):
        explain(model, X.to_numpy()[:, :2])

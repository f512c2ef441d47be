"""EvidenceScorer: warning signs counted, ties broken by how rare a value is among the training rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perfml.modeling.unsupervised import EvidenceScorer, Sign

SIGNS = (Sign("idle_days", above=10), Sign("touches", at_most=0), Sign("touches", at_most=1, weight=0.5))


def frame(idle, touches) -> pd.DataFrame:
    return pd.DataFrame({"idle_days": np.asarray(idle, float), "touches": np.asarray(touches, float)})


def test_counts_signs_and_breaks_ties_by_rarity():
    rng = np.random.default_rng(0)
    train = frame(rng.uniform(0, 20, 500), rng.integers(0, 6, 500))
    scorer = EvidenceScorer(SIGNS).fit(train)
    assert scorer.fit(train) is scorer and set(scorer.sorted_) == {"idle_days", "touches"}
    rows = frame([5, 12, 19, 12, 5, np.nan], [3, 3, 3, 0, 0, np.nan])
    got = scorer.score_samples(rows)
    np.testing.assert_allclose(np.floor(got * 2) / 2, [0, 1, 1, 2.5, 1.5, 0])  # weighted signs, tie term < 0.1
    assert got[2] > got[1]  # same signs, 19 idle days are rarer than 12
    assert got[5] == pytest.approx(0.1 * np.mean(scorer.train_tail_ <= 0))  # missing: no sign, no rarity
    assert np.all((got - np.floor(got * 2) / 2) <= 0.1 + 1e-12)


def test_rejects_bad_signs_and_missing_columns():
    with pytest.raises(ValueError, match="exactly one"):
        Sign("x")
    with pytest.raises(ValueError, match="both directions"):
        EvidenceScorer([Sign("x", above=1), Sign("x", at_most=0)]).fit(
            frame([1], [1]).rename(columns={"idle_days": "x"})
        )
    with pytest.raises(ValueError, match="tie_weight"):
        EvidenceScorer(SIGNS, tie_weight=0.5)
    with pytest.raises(KeyError, match="touches"):
        EvidenceScorer(SIGNS).fit(frame([1], [1]).drop(columns="touches"))

"""Time split rules: no test row precedes cutoff + gap; train rows (and what they use) precede the cutoff."""

import numpy as np
import pandas as pd
import pytest

from perfml.errors import PerfmlError
from perfml.modeling.split import time_split


def _times(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return pd.Series(pd.Timestamp("2023-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 720, n)), "D"))


def test_test_side_starts_after_cutoff_plus_gap():
    t = _times()
    s = time_split(t, gap="90D", test_size=0.3)
    assert (t[s.train] < s.cutoff).all()
    assert (t[s.test] >= s.cutoff + pd.Timedelta(days=90)).all()
    assert t[s.test].min() >= s.test_start
    assert not (s.train & s.test).any()
    # rows inside the gap are in neither side
    gap_rows = (t >= s.cutoff) & (t < s.test_start)
    assert not (s.train | s.test)[gap_rows.to_numpy()].any()
    assert 0.25 <= s.test.mean() <= 0.35


def test_known_at_keeps_unsettled_rows_out_of_train():
    t = _times()
    known = t + pd.Timedelta(days=60)
    s = time_split(t, gap="30D", known_at=known)
    assert (known[s.train] < s.cutoff).all()
    assert (t[s.train] < s.cutoff - pd.Timedelta(days=0)).all()


def test_explicit_cutoff_and_labelled_quantile():
    t = _times()
    s = time_split(t, gap="10D", cutoff="2024-01-01")
    assert s.cutoff == pd.Timestamp("2024-01-01")
    assert (t[s.test] >= pd.Timestamp("2024-01-11")).all()
    labelled = np.zeros(len(t), bool)
    labelled[:200] = True  # only the early half is labelled: the test side moves into it
    s2 = time_split(t, gap="0D", test_size=0.5, labelled=labelled)
    assert s2.test_start <= t[199]


def test_empty_side_is_an_error():
    t = _times(50)
    with pytest.raises(PerfmlError, match="need history on both sides"):
        time_split(t, gap="3000D")

"""The one feature catalog: every model input of every pipeline is described in both languages."""

import pytest

from perfml import catalog
from perfml.pipelines import PIPELINE_NAMES, get_pipeline


@pytest.mark.parametrize("name", PIPELINE_NAMES)
def test_every_pipeline_feature_is_in_the_catalog(name):
    spec = get_pipeline(name)
    missing = [f for f in spec.features if not catalog.has(f)]
    assert not missing, f"{name}: add catalog entries for {missing}"
    for f in spec.features:
        entry = catalog.get(f)
        assert entry.display_en and entry.display_zh and entry.description
        assert entry.describe_value(1.0) and entry.describe_value(None, lang="zh")


def test_transfer_features_are_tagged_with_their_model():
    names = {f.name for f in catalog.features_for("transfer-anomaly")}
    assert set(get_pipeline("transfer-anomaly").features) <= names

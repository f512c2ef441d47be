"""Small plan documents for tests, built as dicts and dumped to YAML text."""

from __future__ import annotations

import copy

import yaml

BASE = {
    "id": "test-plan",
    "version": "1",
    "effective_from": "2020-01-01",
    "indicators": {
        "revenue": {
            "kind": "result",
            "metric": "revenue",
            "target": {"metric": "revenue_target"},
            "scoring": {"type": "ratio", "floor": 0, "cap": 120},
        },
        "visits": {"kind": "process", "metric": "visits", "target": {"metric": "visits_target"}},
        "satisfaction": {"kind": "balance", "metric": "avg_satisfaction", "target": {"value": 80}},
    },
    "segments": {
        "veteran": {
            "select": {"roles": ["sales"]},
            "scorecard": {"weights": {"revenue": 60, "visits": 25, "satisfaction": 15}},
            "commission": {
                "mode": "marginal",
                "bands": [{"from": 0, "to": 100, "rate": 10}, {"from": 100, "rate": 15}],
            },
        },
    },
}


def plan_dict(**changes) -> dict:
    """A deep copy of BASE with dotted-path changes applied (value None deletes the key)."""
    doc = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return doc


def plan_yaml(doc: dict) -> str:
    """YAML text of a plan dict; floats written as their shortest text so the loader reads them exactly."""
    return yaml.safe_dump(doc, sort_keys=False)

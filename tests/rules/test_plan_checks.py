"""Plans are validated on load: every refused plan names its YAML path; warnings flag cliffs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers.rule_plans import plan_dict, plan_yaml
from perfml.cli import app
from perfml.errors import PlanError
from perfml.rules import builtin_plans, check_plan, load_plan, parse_plan, plan_hash

COMMISSION = "segments__veteran__commission"


def errors_of(doc_or_text) -> list[str]:
    text = doc_or_text if isinstance(doc_or_text, str) else plan_yaml(doc_or_text)
    report = parse_plan(text, "t")
    return [f"{e.path}: {e.message}" for e in report.errors]


def warnings_of(doc) -> list[str]:
    report = parse_plan(plan_yaml(doc), "t")
    assert report.ok, report.errors
    return [f"{w.path}: {w.message}" for w in report.warnings]


def test_builtin_plans_are_valid_and_seed_numbers_are_in_them():
    assert builtin_plans() == ["sales-default", "school-teachers"]
    plan = load_plan("sales-default")
    assert plan.segments["veteran"].scorecard.weights == {
        "revenue": 40,
        "visits": 20,
        "lead_conversion": 25,
        "satisfaction": 15,
    }
    new = plan.segments["new_staff"].scorecard.weights
    assert new["visits"] + new["lead_conversion"] + new["lead_followup"] == 50
    assert [(b.lo, b.hi, b.rate) for b in plan.segments["veteran"].commission.bands] == [(0, 100, 10), (100, None, 15)]
    assert plan.crediting.transferred_share == {"assistant": 20}
    school = load_plan("school-teachers")
    assert school.segments["teachers"].scorecard.weights == {"teaching": 60, "research": 40}


def test_valid_test_plan_has_no_errors():
    assert errors_of(plan_dict()) == []


def test_weights_30_plus_69_99_refused():
    doc = plan_dict(segments__veteran__scorecard={"weights": {"revenue": 30, "visits": 69.99}})
    assert errors_of(doc) == ["segments.veteran.scorecard.weights: weights sum to 99.99, must be exactly 100"]


def test_weights_read_exactly_from_yaml_text():
    # 0.1 + 0.2 style sums must not drift: 33.3 + 33.3 + 33.4 is exactly 100.
    doc = plan_dict(segments__veteran__scorecard={"weights": {"revenue": 33.3, "visits": 33.3, "satisfaction": 33.4}})
    assert errors_of(doc) == []


@given(st.lists(st.decimals(min_value=Decimal("0.01"), max_value=100, places=2), min_size=1, max_size=3))
@settings(max_examples=40, deadline=None)
def test_property_weights_must_sum_to_exactly_100(weights):
    names = ["revenue", "visits", "satisfaction"][: len(weights)]
    doc = plan_dict(segments__veteran__scorecard={"weights": {n: str(w) for n, w in zip(names, weights, strict=True)}})
    text = plan_yaml(doc).replace("'", "")  # unquote so YAML reads numbers
    errs = errors_of(text)
    if sum(weights) == 100:
        assert errs == []
    else:
        assert errs == [
            f"segments.veteran.scorecard.weights: weights sum to {sum(weights).normalize():f}, must be exactly 100"
        ]


@pytest.mark.parametrize(
    "bands, expected",
    [
        (
            [{"from": 120, "to": 100, "rate": 10}],
            "segments.veteran.commission.bands[0]: lower bound `from` 120 exceeds upper bound `to` 100",
        ),
        (
            [{"from": 0, "to": 100, "rate": 10}, {"from": 90, "rate": 15}],
            "segments.veteran.commission.bands[1]: overlaps bands[0]: starts at 90 before bands[0] ends at 100",
        ),
        (
            [{"from": 0, "to": 100, "rate": 10}, {"from": 110, "rate": 15}],
            "segments.veteran.commission.bands[1]: gap after bands[0]: nothing covers 100 to 110",
        ),
        (
            [{"from": 0, "rate": 10}, {"from": 100, "rate": 15}],
            "segments.veteran.commission.bands[1]: overlaps bands[0], which has no upper bound",
        ),
        (
            [{"from": 0, "to": 100, "rate": 10}, {"to": 200, "rate": 15}],
            "segments.veteran.commission.bands[1]: overlaps bands[0]: no lower bound, but bands[0] ends at 100",
        ),
        (
            [{"from": 100, "to": 100, "rate": 10}],
            "segments.veteran.commission.bands[0]: lower bound `from` 100 equals upper bound `to` 100",
        ),
        ([], "segments.veteran.commission.bands: at least one band is required"),
        ([{"from": 0, "rate": -1}], "segments.veteran.commission.bands[0].rate: must not be negative, got -1"),
    ],
)
def test_bad_bands_refused_with_their_path(bands, expected):
    assert errors_of(plan_dict(segments__veteran__commission__bands=bands)) == [expected]


@pytest.mark.parametrize(
    "changes, expected",
    [
        (
            {"indicators__visits__metric": "vists"},
            "indicators.visits.metric: unknown metric 'vists'; "
            "declare it under extra_metrics if it comes from the metrics table",
        ),
        (
            {"segments__veteran__scorecard": {"weights": {"revenue": 60, "calls": 40}}},
            "segments.veteran.scorecard.weights.calls: unknown indicator; defined: revenue, visits, satisfaction",
        ),
        ({"segments__veteran__commission__mode": None}, "segments.veteran.commission.mode: required field is missing"),
        (
            {"segments__veteran__commission__mode": "tiered"},
            "segments.veteran.commission.mode: Input should be 'marginal' or 'whole'",
        ),
        (
            {"segments__veteran__commision": {"mode": "whole"}},
            "segments.veteran.commision: unknown field (check the spelling)",
        ),
        ({"effective_to": "2019-01-01"}, "effective_to: 2019-01-01 is before effective_from 2020-01-01"),
        ({"rounding": {"places": 0.05}}, "rounding.places: must be a power of ten such as 0.01 or 1, got 0.05"),
        (
            {"crediting": {"transferred_share": {"assistant": 12.345}}},
            "crediting.transferred_share.assistant: at most two decimals in percent, got 12.345",
        ),
        (
            {"crediting": {"transferred_share": {"assistant": 120}}},
            "crediting.transferred_share.assistant: must be between 0 and 100 (percent), got 120",
        ),
        (
            {"indicators__visits__target": {"metric": "visits_target", "value": 3}},
            "indicators.visits.target: give exactly one of `metric` or `value`",
        ),
        ({"indicators__visits__target": None}, "indicators.visits.target: a target is required (metric or value)"),
        (
            {"indicators__visits__scoring": {"floor": 50, "cap": 40}},
            "indicators.visits.scoring: floor 50 exceeds cap 40",
        ),
        (
            {
                "indicators__visits__scoring": {
                    "type": "bands",
                    "on": "value",
                    "bands": [{"from": 0, "to": 5, "score": 50}, {"from": 5, "score": 100}],
                }
            },
            "indicators.visits.scoring.bands: bands must cover every value: "
            "the first band needs no `from`, the last no `to`",
        ),
        (
            {"segments__veteran__team_bonus": {"min_growth": 10, "rate": 5}},
            "segments.veteran.team_bonus: a team bonus is a share of the base bonus; add a base_bonus",
        ),
        (
            {"segments__veteran__growth_bonus": {"applies_to": "base_bonus", "bands": [{"rate": 10}]}},
            "segments.veteran.growth_bonus.applies_to: base_bonus needs a base_bonus in the segment",
        ),
        (
            {"segments__veteran__satisfaction_gate": {"deduct": 150}},
            "segments.veteran.satisfaction_gate.deduct: must be between 0 and 100 (percent), got 150",
        ),
        ({"segments": {}}, "segments: at least one segment is required"),
        ({"extra_metrics": ["revenue"]}, "extra_metrics: revenue already computed by perfml; choose another name"),
        ({"id": "Bad Id"}, "id: String should match pattern '^[a-z0-9][a-z0-9_-]*$'"),
    ],
)
def test_every_refused_plan_gives_its_message(changes, expected):
    assert expected in errors_of(plan_dict(**changes))


def test_yaml_level_refusals():
    assert errors_of("id: [unclosed")[0].startswith(": not valid YAML")
    assert errors_of("- just a list") == [": a plan must be a YAML mapping"]
    dup = plan_yaml(plan_dict()).replace("version: '1'", "version: '1'\nversion: '2'")
    assert errors_of(dup) == [": line 3: duplicate key 'version' (first at line 2)"]


def test_load_plan_raises_plan_error_naming_every_path(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        plan_yaml(
            plan_dict(
                segments__veteran__scorecard={"weights": {"revenue": 30, "visits": 69.99}},
                indicators__visits__metric="vists",
            )
        )
    )
    with pytest.raises(PlanError) as info:
        load_plan(path)
    text = str(info.value)
    assert "segments.veteran.scorecard.weights: weights sum to 99.99" in text
    assert "indicators.visits.metric: unknown metric 'vists'" in text
    with pytest.raises(PlanError, match="neither a file nor a built-in plan"):
        load_plan(tmp_path / "missing.yaml")


def test_extra_metrics_make_non_sales_metrics_known():
    doc = plan_dict(indicators__visits__metric="teaching_score")
    assert errors_of(doc)
    doc["extra_metrics"] = ["teaching_score"]
    assert errors_of(doc) == []


# -- warnings -----------------------------------------------------------------------------------------
def test_whole_amount_step_warns_about_cliff_and_marginal_does_not():
    whole = plan_dict(**{f"{COMMISSION}__mode": "whole"})
    warns = warnings_of(whole)
    # at 100% of a 100,000 reference target, 5 points more rate on 100,000 = 5,000 jump
    assert warns == [
        "segments.veteran.commission.bands[1]: payout cliff: at 100% attainment one more cent of revenue "
        "raises pay by 5,000.00 (limit 1,000.00; reference target 100,000)"
    ]
    assert warnings_of(plan_dict()) == []


def test_small_whole_step_under_the_limit_is_not_a_cliff():
    doc = plan_dict(
        **{
            f"{COMMISSION}__mode": "whole",
            f"{COMMISSION}__bands": [{"from": 0, "to": 100, "rate": 10}, {"from": 100, "rate": 10.5}],
        }
    )
    assert warnings_of(doc) == []  # 0.5% of 100,000 = 500 <= 1,000


def test_gate_cliff_and_non_monotonic_rates_warn():
    doc = plan_dict(**{f"{COMMISSION}__gate": 50})
    assert warnings_of(doc) == [
        "segments.veteran.commission.gate: payout cliff: reaching the gate at 50% attainment "
        "raises pay by 5,000.00 at once (limit 1,000.00; reference target 100,000)"
    ]
    doc = plan_dict(
        **{
            f"{COMMISSION}__mode": "whole",
            f"{COMMISSION}__bands": [{"from": 0, "to": 100, "rate": 10}, {"from": 100, "to": 150, "rate": 9.5}],
        }
    )
    warns = warnings_of(doc)
    assert (
        "segments.veteran.commission.bands[1]: non-monotonic: rate 9.5% is below the previous band's 10%; "
        "pay can fall as attainment rises" in warns
    )
    assert (
        "segments.veteran.commission.bands[1]: non-monotonic: above 150% attainment no tier applies and the "
        "whole commission drops to 0" in warns
    )


def test_builtin_sales_plan_warns_about_its_growth_step_and_bonus_bases():
    report = check_plan("sales-default")
    assert [w.path for w in report.warnings] == [
        "segments.new_staff.team_bonus.rate",
        "segments.veteran.team_bonus.rate",
        "segments.veteran.growth_bonus.bands[2]",
        "segments.assistant.combined_task.cap",
    ]


def test_plan_hash_tracks_content_not_formatting():
    a = load_plan("sales-default")
    report = parse_plan(plan_yaml(a.model_dump(mode="json", by_alias=True, exclude_none=True)), "copy")
    assert report.ok and plan_hash(report.plan) == plan_hash(a)
    b = parse_plan(plan_yaml(plan_dict()), "x").plan
    c = parse_plan(plan_yaml(plan_dict(version="2")), "x").plan
    assert plan_hash(b) != plan_hash(c)


def test_cli_plan_check_exit_codes_and_messages(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["plan", "check", "sales-default"])
    assert ok.exit_code == 0 and "ok: sales-default v1.0.0" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(plan_yaml(plan_dict(segments__veteran__scorecard={"weights": {"revenue": 30, "visits": 69.99}})))
    res = runner.invoke(app, ["plan", "check", str(bad)])
    assert res.exit_code == 1
    assert "segments.veteran.scorecard.weights: weights sum to 99.99, must be exactly 100" in res.output


def test_milestone_and_team_steps_over_the_limit_warn():
    doc = plan_dict(
        segments__veteran__milestone_bonus={"min_order": 100000, "pays": 2500},
        segments__veteran__base_bonus={"amount": 30000, "scale_by_scorecard": False},
        segments__veteran__team_bonus={"min_growth": 10, "rate": 5},
    )
    assert warnings_of(doc) == [
        "segments.veteran.milestone_bonus.pays: payout cliff: an order of 100,000.00 pays 2,500.00 more than one a "
        "cent smaller (limit 1,000.00)",
        "segments.veteran.team_bonus: payout cliff: reaching 10% team growth adds up to 1,500.00 at once "
        "(limit 1,000.00)",
    ]


def test_cli_plan_list_shows_builtins():
    res = CliRunner().invoke(app, ["plan", "list"])
    assert res.exit_code == 0
    assert "sales-default  v1.0.0" in res.output and "school-teachers  v1.0.0" in res.output

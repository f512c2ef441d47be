"""Plan assignments (who is paid by which plan when) and versions of one plan (never overlapping)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml
from typer.testing import CliRunner

from helpers.rule_data import make_dataset
from helpers.rule_plans import plan_dict, plan_yaml
from perfml.cli import app
from perfml.errors import DataValidationError
from perfml.rules import evaluate, parse_plan
from perfml.rules.loading import version_issues

D = Decimal
EMPLOYEES = [
    dict(employee_id="s1", role="sales", team_id="t1", hire_date="2020-01-01"),
    dict(employee_id="s2", role="sales", team_id="t1", hire_date="2020-01-01"),
    dict(employee_id="s3", role="sales", team_id="t1", hire_date="2020-01-01"),
]
CUSTOMERS = [dict(customer_id="c1", created_at="2020-01-01")]


def plan(plan_id: str, amount: int, **changes):
    doc = plan_dict(
        id=plan_id, segments__veteran__base_bonus={"amount": amount, "scale_by_scorecard": False}, **changes
    )
    report = parse_plan(plan_yaml(doc), plan_id)
    assert report.errors == []
    return report.plan


def ds(assignments=None):
    return make_dataset(employees=EMPLOYEES, customers=CUSTOMERS, orders=[], targets=[], plan_assignments=assignments)


# s1 moves from plan a to plan b on 16 June (a 30-day month); s2 stays on a; s3 is on b only.
ASSIGNMENTS = [
    dict(employee_id="s1", plan_id="a", effective_from="2024-01-01", effective_to="2024-06-15"),
    dict(employee_id="s1", plan_id="b", effective_from="2024-06-16", effective_to=None),
    dict(employee_id="s2", plan_id="a", effective_from="2024-01-01", effective_to=None),
    dict(employee_id="s3", plan_id="b", effective_from="2024-01-01", effective_to=None),
]


# -- validation ------------------------------------------------------------------------------------------
def test_overlapping_assignments_of_one_employee_are_refused_naming_rows_and_dates():
    rows = [
        dict(employee_id="s1", plan_id="a", effective_from="2024-01-01", effective_to=None),
        dict(employee_id="s1", plan_id="b", effective_from="2024-06-16", effective_to="2024-06-30"),
        dict(employee_id="s2", plan_id="a", effective_from="2024-01-01", effective_to="2024-06-15"),
        dict(employee_id="s2", plan_id="b", effective_from="2024-06-15", effective_to=None),
    ]
    with pytest.raises(DataValidationError) as err:
        ds(rows)
    [problem] = err.value.problems
    assert (problem.table, problem.column, problem.rows) == ("plan_assignments", "effective_from", (3, 5))
    assert "must not overlap" in problem.rule
    assert "s1: rows 2 and 3 (plan a 2024-01-01..open overlaps plan b 2024-06-16..2024-06-30)" in problem.detail
    assert "s2: rows 4 and 5 (plan a 2024-01-01..2024-06-15 overlaps plan b 2024-06-15..open)" in problem.detail


def test_an_assignment_ending_before_it_starts_is_refused():
    rows = [dict(employee_id="s1", plan_id="a", effective_from="2024-06-01", effective_to="2024-05-31")]
    with pytest.raises(DataValidationError) as err:
        ds(rows)
    [problem] = err.value.problems
    assert (problem.column, problem.rule, problem.rows) == ("effective_to", "must not precede effective_from", (2,))


def test_back_to_back_assignments_are_valid():
    assert len(ds(ASSIGNMENTS).plan_assignments) == 4


# -- evaluation --------------------------------------------------------------------------------------------
def test_a_plan_pays_only_the_people_assigned_to_it():
    run = evaluate(plan("a", 3000), ds(ASSIGNMENTS), "2024-05")
    assert [r.employee_id for r in run.results] == ["s1", "s2"]
    assert run.skipped == [
        {"employee_id": "s3", "period": "2024-05", "reason": "assigned to plan b (2024-01-01..open)"}
    ]
    assert run.result("s2", "2024-05").notes == ["paid under plan a v1"]


def test_a_change_on_the_16th_of_a_30_day_month_pays_half_under_each_plan():
    data = ds(ASSIGNMENTS)
    under_a = evaluate(plan("a", 3000), data, "2024-06").result("s1", "2024-06")
    under_b = evaluate(plan("b", 5000), data, "2024-06").result("s1", "2024-06")
    assert under_a.line("base_bonus").value == D("1500.00")
    assert under_b.line("base_bonus").value == D("2500.00")
    assert under_a.notes == [
        "prorated 15/30 days under plan a (assigned to plan a (2024-01-01..2024-06-15), plan b (2024-06-16..open))"
    ]
    assert evaluate(plan("a", 3000), data, "2024-07").skipped[0]["employee_id"] == "s1"


def test_someone_assigned_to_no_plan_is_skipped_with_the_reason():
    rows = [dict(employee_id="s1", plan_id="a", effective_from="2024-01-01", effective_to=None)]
    run = evaluate(plan("a", 3000), ds(rows), "2024-05")
    assert {s["employee_id"]: s["reason"] for s in run.skipped} == {
        "s2": "assigned to no plan",
        "s3": "assigned to no plan",
    }


def test_without_assignments_segments_select_people_as_before():
    run = evaluate(plan("a", 3000), ds(), "2024-06")
    assert [(r.employee_id, r.line("base_bonus").value, r.notes) for r in run.results] == [
        ("s1", D("3000.00"), []),
        ("s2", D("3000.00"), []),
        ("s3", D("3000.00"), []),
    ]


# -- versions of one plan ------------------------------------------------------------------------------
def versions(*spans):
    out = []
    for i, (start, end) in enumerate(spans, 1):
        doc = plan_dict(version=str(i), effective_from=start, **({"effective_to": end} if end else {}))
        out.append(parse_plan(plan_yaml(doc), f"v{i}.yaml"))
    return out


def test_versions_that_overlap_are_refused_naming_both():
    issues = version_issues(versions(("2024-01-01", "2024-07-10"), ("2024-07-10", None)))
    assert [(i.level, i.path) for i in issues] == [("error", "v2.yaml: effective_from")]
    assert "v2 (2024-07-10..open) overlaps v1 (2024-01-01..2024-07-10, v1.yaml) from 2024-07-10 to 2024-07-10" in (
        issues[0].message
    )


def test_a_gap_between_versions_is_a_warning():
    issues = version_issues(versions(("2024-01-01", "2024-07-10"), ("2024-07-15", None)))
    assert [(i.level, i.message.split(":")[0]) for i in issues] == [("warning", "gap 2024-07-11..2024-07-14")]


def test_a_version_inside_an_open_one_overlaps_and_back_to_back_ones_do_not():
    inside = version_issues(versions(("2024-01-01", None), ("2024-03-01", "2024-03-31"), ("2024-05-01", None)))
    assert [i.level for i in inside] == ["error", "error"]
    assert version_issues(versions(("2024-01-01", "2024-07-10"), ("2024-07-11", None))) == []


def test_plan_check_command_over_several_versions(tmp_path):
    files = []
    for i, (start, end) in enumerate((("2024-01-01", "2024-07-10"), ("2024-07-15", None), ("2024-07-01", None)), 1):
        doc = plan_dict(version=str(i), effective_from=start, **({"effective_to": end} if end else {}))
        files.append(tmp_path / f"v{i}.yaml")
        files[-1].write_text(yaml.safe_dump(doc))
    runner = CliRunner()
    ok = runner.invoke(app, ["plan", "check", str(files[0]), str(files[1])])
    assert ok.exit_code == 0 and "ok: test-plan v1" in ok.output and "ok: test-plan v2" in ok.output
    assert "gap 2024-07-11..2024-07-14" in ok.output
    refused = runner.invoke(app, ["plan", "check", *map(str, files)])
    assert refused.exit_code == 1 and "overlaps v1" in refused.output

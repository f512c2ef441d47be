"""Streaming evaluation: metrics per block of months, results computed as they are read, the same bytes as
the run held in memory."""

from __future__ import annotations

import io
import json
from decimal import Context, getcontext, localcontext

import pytest
from typer.testing import CliRunner

import perfml.rules.engine as engine
from perfml.cli import app
from perfml.rules import evaluate, evaluate_stream

PERIODS = ["2026-01", "2026-02", "2026-03"]


@pytest.mark.parametrize("render", [False, True])
def test_streamed_file_and_csv_are_the_bytes_of_the_run_in_memory(small_dataset, render):
    in_memory = evaluate("sales-default", small_dataset, PERIODS, source_rows=render)
    expected = in_memory.to_json(render=render)

    out, csv_out = io.BytesIO(), io.BytesIO()
    stream = evaluate_stream("sales-default", small_dataset, PERIODS, source_rows=render)
    summary = stream.write_json(out, render=render, csv_fh=csv_out)

    assert out.getvalue() == expected
    assert csv_out.getvalue().decode() == in_memory.summary_csv()
    assert summary == in_memory.summary() == json.loads(expected)["summary"]
    assert summary["employees"] == len(in_memory.results) > 0
    assert {r.period for r in in_memory.results} == set(PERIODS)


def test_each_period_of_a_run_equals_that_period_evaluated_alone(small_dataset):
    run = evaluate("sales-default", small_dataset, PERIODS)
    for period in PERIODS:
        alone = evaluate("sales-default", small_dataset, period)
        part = [r.to_dict(render=False) for r in run.results if r.period == period]
        assert part == [r.to_dict(render=False) for r in alone.results]
        assert [s for s in run.skipped if s["period"] == period] == alone.skipped


def test_metrics_are_computed_once_per_block_of_months_as_the_stream_is_read(small_dataset, monkeypatch):
    asked = []
    real = engine._values_frame
    monkeypatch.setattr(
        engine,
        "_values_frame",
        lambda ds, led, need, periods, *a, **k: asked.append(periods) or real(ds, led, need, periods, *a, **k),
    )
    stream = evaluate_stream("sales-default", small_dataset, PERIODS)
    assert asked == []
    parts = iter(stream.parts)
    results, _ = next(parts)
    assert asked == [PERIODS] and {r.period for r in results} == {"2026-01"}
    results, _ = next(parts)
    assert asked == [PERIODS] and {r.period for r in results} == {"2026-02"}


def test_blocks_span_at_most_twelve_months():
    months = [f"2025-{m:02d}" for m in range(1, 13)] + ["2026-01", "2026-02", "2027-06"]
    assert engine.period_blocks(months) == [months[:12], ["2026-01", "2026-02"], ["2027-06"]]
    assert engine.period_blocks(["2025-03", "2026-02"]) == [["2025-03", "2026-02"]]


def test_bonus_command_writes_a_period_range_as_the_run_in_memory(small_dir, small_dataset, tmp_path):
    out = tmp_path / "run.json"
    args = ["bonus", "--plan", "sales-default", "--data", str(small_dir), "--out", str(out)]
    done = CliRunner().invoke(app, [*args, "--period", "2026-01..2026-02", "--period", "2026-03"])
    assert done.exit_code == 0, done.output
    in_memory = evaluate("sales-default", small_dataset, PERIODS, source_rows=True)
    assert out.read_bytes() == in_memory.to_json()
    assert out.with_suffix(".csv").read_text() == in_memory.summary_csv()
    assert "2026-01..2026-03" in done.output and in_memory.summary()["total_payout"] in done.output


def test_bonus_command_refuses_a_backward_range(small_dir, tmp_path):
    args = ["bonus", "--plan", "sales-default", "--data", str(small_dir), "--out", str(tmp_path / "run.json")]
    done = CliRunner().invoke(app, [*args, "--period", "2026-03..2026-01"])
    assert done.exit_code != 0
    assert "range 2026-03..2026-01: 2026-03 is after 2026-01" in done.output
    assert not (tmp_path / "run.json").exists()


def test_results_are_computed_as_they_are_read_and_the_reader_keeps_its_decimal_context(small_dataset, monkeypatch):
    monkeypatch.setattr(engine, "RESULT_CHUNK", 2)
    computed = []
    real = engine.compute
    monkeypatch.setattr(engine, "compute", lambda *a, **k: computed.append(a[2].employee_id) or real(*a, **k))
    results, skipped = next(iter(evaluate_stream("sales-default", small_dataset, PERIODS).parts))
    with localcontext(Context(prec=5)):
        first = next(iter(results))
        assert getcontext().prec == 5  # the engine's exact context does not leak out between results
        assert 1 <= len(computed) <= 2 and computed[0] == first.employee_id
    rest = list(results)
    streamed = list(computed)
    in_memory = evaluate("sales-default", small_dataset, PERIODS[0])
    assert [r.employee_id for r in [first, *rest]] == [r.employee_id for r in in_memory.results] == streamed
    assert skipped == in_memory.skipped  # filled while the results were read

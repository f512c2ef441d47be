"""perfml.simulate: determinism, size, contract integrity and the planted ground truth."""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perfml.simulate import SCALES, simulate

TABLES = (
    "employees",
    "customers",
    "ownership_changes",
    "activities",
    "leads",
    "orders",
    "targets",
    "satisfaction",
    "transfer_labels",
    "demographics",
)
TRUTH = ("transfers", "employees", "team_slumps")
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


@functools.lru_cache(maxsize=64)
def _cached(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _read(d: Path, name: str) -> pd.DataFrame:
    """A table as text (empty cells stay ''); cached per file, so hand out copies."""
    return _cached(Path(d) / f"{name}.csv").copy()


def _digests(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*.csv"))}


def _window(d: Path) -> tuple[pd.Timestamp, pd.Timestamp]:
    periods = sorted(_read(d, "targets").period.unique())
    return pd.Timestamp(periods[0] + "-01"), pd.Timestamp(periods[-1] + "-01") + pd.offsets.MonthBegin(1)


def _transfers_into_assistants(d: Path) -> pd.DataFrame:
    chg = _read(d, "ownership_changes").merge(_read(d, "truth/transfers"), on="change_id")
    role = _read(d, "employees").set_index("employee_id").role
    return chg[(chg.from_employee_id != "") & (chg.to_employee_id.map(role) == "assistant")]


@pytest.fixture(scope="module")
def twin_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("twins")
    calls: list[tuple[str, float]] = []
    summary = simulate(base / "a", seed=3, scale="small", progress=lambda s, f: calls.append((s, f)))
    simulate(base / "b", seed=3, scale="small")
    simulate(base / "c", seed=4, scale="small")
    return base, summary, calls


# --- determinism, API, sizes ----------------------------------------------------------------


def test_same_seed_is_byte_identical_and_other_seed_differs(twin_runs):
    base, _, _ = twin_runs
    a, b, c = (_digests(base / x) for x in "abc")
    assert len(a) == len(TABLES) + len(TRUTH)
    assert a == b
    differing = [k for k in a if a[k] != c[k]]
    assert len(differing) >= len(TABLES)  # every table changes with the seed (demographics too)


def test_summary_matches_files_and_progress_is_reported(twin_runs):
    base, summary, calls = twin_runs
    for name in TABLES:
        assert summary["rows"][name] == len(_read(base / "a", name)), name
    assert summary["seed"] == 3 and summary["scale"] == "small" and summary["months"] == 18
    assert (summary["start"], summary["end"]) == ("2024-11-01", "2026-04-30")
    fractions = [f for _, f in calls]
    assert len(calls) >= 5 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"workforce", "leads", "ownership", "activities", "write"} <= {s for s, _ in calls}


def test_presets_and_overrides(tmp_path):
    assert (SCALES["medium"].teams, SCALES["medium"].months) == (12, 24)
    assert (SCALES["small"].teams, SCALES["small"].months) == (4, 18)
    assert SCALES["large"].teams * SCALES["large"].months >= 10 * 12 * 24
    summary = simulate(tmp_path / "o", seed=1, scale="small", teams=2, months=8, start="2025-03-01")
    emp = _read(tmp_path / "o", "employees")
    assert emp.team_id.nunique() == 2 and summary["months"] == 8
    assert sorted(_read(tmp_path / "o", "targets").period.unique())[::7] == ["2025-03", "2025-10"]


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="scale"):
        simulate(tmp_path, scale="huge")
    with pytest.raises(ValueError, match="first day"):
        simulate(tmp_path, scale="small", start="2024-11-15")


def test_medium_run_has_the_promised_size(medium_dir):
    emp = _read(medium_dir, "employees")
    assert emp.team_id.nunique() == 12
    assert (emp.role == "manager").sum() == 12
    # the company scales up in the first year: ~150 on the payroll at the end, ~200 rows in all
    start, end = _window(medium_dir)
    hire = pd.to_datetime(emp.hire_date)
    term = pd.to_datetime(emp.termination_date.replace("", "2100-01-01"))
    assert 130 <= ((hire < end) & (term >= end - pd.Timedelta(days=1))).sum() <= 190
    assert 160 <= len(emp) <= 240
    # enough hires with a full first year inside the window to study early tenure
    first_year = (hire >= start) & (hire < start + pd.DateOffset(months=12)) & (term >= hire + pd.DateOffset(months=12))
    assert (first_year & (emp.role != "manager")).sum() >= 90
    assert _read(medium_dir, "targets").period.nunique() == 24
    n_act = sum(1 for _ in open(medium_dir / "activities.csv")) - 1
    assert 300_000 <= n_act <= 1_500_000


# --- contract: integrity and ranges ---------------------------------------------------------


def test_ids_unique_and_references_resolve(small_dir):
    t = {name: _read(small_dir, name) for name in TABLES}
    for name, key in (
        ("employees", "employee_id"),
        ("customers", "customer_id"),
        ("ownership_changes", "change_id"),
        ("activities", "activity_id"),
        ("leads", "lead_id"),
        ("orders", "order_id"),
        ("satisfaction", "survey_id"),
        ("transfer_labels", "change_id"),
        ("demographics", "employee_id"),
    ):
        assert t[name][key].is_unique, name
    emps, custs, leads = set(t["employees"].employee_id), set(t["customers"].customer_id), set(t["leads"].lead_id)
    refs = [
        ("orders", "employee_id", emps),
        ("orders", "customer_id", custs),
        ("ownership_changes", "to_employee_id", emps),
        ("ownership_changes", "from_employee_id", emps),
        ("ownership_changes", "customer_id", custs),
        ("activities", "employee_id", emps),
        ("activities", "customer_id", custs),
        ("activities", "lead_id", leads),
        ("leads", "owner_id", emps),
        ("leads", "customer_id", custs),
        ("targets", "employee_id", emps),
        ("satisfaction", "customer_id", custs),
        ("satisfaction", "employee_id", emps),
        ("employees", "manager_id", emps),
        ("transfer_labels", "change_id", set(t["ownership_changes"].change_id)),
    ]
    for table, col, valid in refs:
        values = set(t[table][col]) - {""}
        assert values and values <= valid, (table, col)
    assert set(t["demographics"].employee_id) == emps


def test_values_and_timestamps_in_range(small_dir):
    start, end = _window(small_dir)
    orders = _read(small_dir, "orders")
    assert orders.amount.str.fullmatch(r"\d+\.\d{2}").all() and (orders.amount.astype(float) >= 0).all()
    assert set(orders.order_type) == {"new", "repeat"}
    score = _read(small_dir, "satisfaction").score.astype(int)
    assert score.between(0, 100).all() and score.std() > 5
    targets = _read(small_dir, "targets")
    assert targets.period.str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])").all()
    assert set(targets.metric) == {"revenue", "new_customers", "visits"} and (targets.target.astype(float) >= 0).all()
    emp = _read(small_dir, "employees")
    assert set(emp.role) == {"sales", "assistant", "manager"}
    assert (pd.to_datetime(emp.probation_end_date) > pd.to_datetime(emp.hire_date)).all()
    assert set(_read(small_dir, "activities").type) == {"visit", "call", "email", "meeting", "message", "other"}
    events = [
        ("activities", "occurred_at"),
        ("orders", "closed_at"),
        ("ownership_changes", "changed_at"),
        ("leads", "created_at"),
        ("leads", "first_contact_at"),
        ("leads", "converted_at"),
        ("leads", "lost_at"),
        ("satisfaction", "responded_at"),
        ("transfer_labels", "reviewed_at"),
    ]
    for table, col in events:
        text = _read(small_dir, table)[col]
        text = text[text != ""]
        assert text.str.fullmatch(TS.pattern).all(), (table, col)
        ts = pd.to_datetime(text)
        assert ts.min() >= start and ts.max() < end, (table, col)


def test_work_and_credit_only_while_employed(small_dir):
    emp = _read(small_dir, "employees").set_index("employee_id")
    hire = pd.to_datetime(emp.hire_date)
    term = pd.to_datetime(emp.termination_date.replace("", "2100-01-01"))
    for table, who, when in (("activities", "employee_id", "occurred_at"), ("orders", "employee_id", "closed_at")):
        df = _read(small_dir, table)
        day = pd.to_datetime(df[when]).dt.normalize()
        assert ((day >= df[who].map(hire)) & (day <= df[who].map(term))).all(), table


def test_ownership_chain_and_order_credit_follow_the_change_log(small_dir):
    chg = _read(small_dir, "ownership_changes")
    chg["t"] = pd.to_datetime(chg.changed_at)
    chg = chg.sort_values(["customer_id", "t", "change_id"])
    prev = chg.groupby("customer_id").to_employee_id.shift()
    first = prev.isna()
    assert (chg.from_employee_id[first] == "").all()
    assert (chg.from_employee_id[~first] == prev[~first]).all()
    assert (chg.from_employee_id != chg.to_employee_id).all()
    orders = _read(small_dir, "orders")
    orders["t"] = pd.to_datetime(orders.closed_at)
    owner = pd.merge_asof(
        orders.sort_values("t"),
        chg.sort_values("t")[["customer_id", "t", "to_employee_id"]],
        on="t",
        by="customer_id",
        direction="backward",
    )
    assert (owner.employee_id == owner.to_employee_id).all()


# --- planted truth --------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["small_dir", pytest.param("medium_dir", marks=pytest.mark.slow)])
def test_collusive_share_of_transfers_into_assistants(which, request):
    ta = _transfers_into_assistants(request.getfixturevalue(which))
    share = ta.is_collusive.astype(int).mean()
    assert 0.03 <= share <= 0.20
    assert set(ta.kind) >= {"collusive", "maintenance_handover", "leaving_handover", "customer_request"}


def test_collusive_orders_go_to_the_idle_assistant(medium_dir):
    ta = _transfers_into_assistants(medium_dir)
    col = ta[ta.is_collusive == "1"].copy()
    col["t"] = pd.to_datetime(col.changed_at)
    orders = _read(medium_dir, "orders")
    orders["t"] = pd.to_datetime(orders.closed_at)
    nxt = pd.merge_asof(
        col.sort_values("t"),
        orders.sort_values("t")[["customer_id", "t", "employee_id", "order_type"]].rename(columns={"t": "closed"}),
        left_on="t",
        right_on="closed",
        by="customer_id",
        direction="forward",
    )
    assert (nxt.employee_id == nxt.to_employee_id).all() and (nxt.order_type == "new").all()
    assert ((nxt.closed - nxt.t).dt.days <= 30).all()
    acts = _read(medium_dir, "activities")[["employee_id", "customer_id", "occurred_at"]]
    m = nxt.merge(acts, left_on=["customer_id", "to_employee_id"], right_on=["customer_id", "employee_id"])
    m = m[(pd.to_datetime(m.occurred_at) > m.t) & (pd.to_datetime(m.occurred_at) < m.closed)]
    per_change = m.groupby("change_id").size().reindex(nxt.change_id, fill_value=0)
    assert per_change.max() <= 1 and 0.5 <= (per_change == 0).mean() < 1.0  # none or one token touch


def test_transfer_labels_are_a_partial_audit_with_both_classes(medium_dir):
    labels = _read(medium_dir, "transfer_labels").merge(_read(medium_dir, "truth/transfers"), on="change_id")
    ta = _transfers_into_assistants(medium_dir)
    audited = ta.change_id.isin(labels.change_id).mean()
    assert 0.3 <= audited <= 0.6
    assert (labels.kind != "first_assignment").all()
    positives = (labels.is_anomalous == "1").sum()
    assert positives >= 60 and (labels.is_anomalous == "0").sum() > positives
    assert 0.9 <= (labels.is_anomalous == labels.is_collusive).mean() < 1.0  # auditors are good, not perfect
    chg = _read(medium_dir, "ownership_changes").set_index("change_id").changed_at
    assert (pd.to_datetime(labels.reviewed_at) > pd.to_datetime(labels.change_id.map(chg))).all()


@pytest.mark.parametrize("which", ["small_dir", pytest.param("medium_dir", marks=pytest.mark.slow)])
def test_decliners_activity_falls_after_onset(which, request):
    d = request.getfixturevalue(which)
    truth = _read(d, "truth/employees")
    dec = truth[truth.is_decliner == "1"]
    reps = truth[truth.role == "sales"]
    assert 0.08 <= len(dec) / len(reps) <= 0.35  # ~20% of reps who pass probation, small samples
    acts = _read(d, "activities")
    counts = acts.groupby([acts.employee_id, acts.occurred_at.str[:7]]).size()
    periods = sorted(acts.occurred_at.str[:7].unique())
    before, after = [], []
    for emp_id, onset in zip(dec.employee_id, dec.decline_onset, strict=True):
        i = periods.index(onset)
        before.append(sum(counts.get((emp_id, p), 0) for p in periods[i - 3 : i]))
        after.append(sum(counts.get((emp_id, p), 0) for p in periods[i : i + 3]))
    before, after = np.array(before), np.array(after)
    assert after.sum() <= 0.7 * before.sum()
    assert np.mean(after <= 0.7 * before) >= 0.75


def test_team_slumps_cut_team_revenue(medium_dir):
    slumps = _read(medium_dir, "truth/team_slumps")
    assert len(slumps) >= 2 and slumps.demand_factor.astype(float).between(0.3, 0.8).all()
    orders = _read(medium_dir, "orders")
    team = _read(medium_dir, "employees").set_index("employee_id").team_id
    rev = orders.amount.astype(float).groupby([orders.employee_id.map(team), orders.closed_at.str[:7]]).sum()
    ratios = []
    for s in slumps.itertuples():
        r = rev.loc[s.team_id]
        inside = r[(r.index >= s.start_period) & (r.index <= s.end_period)]
        ratios.append(inside.mean() / r.drop(inside.index).mean())
    assert np.mean(ratios) < 0.85


def test_demographics_drive_nothing(twin_runs, tmp_path, monkeypatch):
    """Swap everyone's protected attributes: every other file stays byte-identical."""
    from perfml.simulate import runner

    real = runner._demographics
    monkeypatch.setattr(runner, "_demographics", lambda n, rng: {k: v[::-1] for k, v in real(n, rng).items()})
    simulate(tmp_path / "swapped", seed=3, scale="small")
    a, b = _digests(twin_runs[0] / "a"), _digests(tmp_path / "swapped")
    assert [k for k in a if a[k] != b[k]] == ["demographics.csv"]


# --- the optional qualifier -> closer funnel --------------------------------------------------


@pytest.fixture(scope="module")
def funnel_run(tmp_path_factory, twin_runs):
    out = tmp_path_factory.mktemp("funnel") / "f"
    simulate(out, seed=3, scale="small", funnel=True)
    return out


def test_funnel_adds_job_functions_and_sdr_to_ae_handovers(funnel_run, twin_runs):
    base, _, _ = twin_runs
    default = _read(base / "a", "employees")
    assert "job_function" not in default.columns and "is_funnel" not in _read(base / "a", "truth/transfers").columns
    emp = _read(funnel_run, "employees")
    # the funnel draws from its own stream: the people (and their draws) are the default company's, but the
    # CRM records the closers (AE) with the assistants
    closer = (emp.role != default.role).to_numpy()
    assert emp.drop(columns=["job_function", "role"]).equals(default.drop(columns="role"))
    assert closer.sum() >= len(emp.team_id.unique())  # at least one closer per team
    assert (default.role[closer] == "sales").all() and (emp.role[closer] == "assistant").all()
    assert (emp.job_function[closer] == "AE").all()
    assert _read(funnel_run, "demographics").equals(_read(base / "a", "demographics"))
    assert set(emp.job_function) == {"SDR", "AE", "AM", "manager"}
    assert (emp.job_function == "SDR").sum() >= len(emp.team_id.unique())  # at least one qualifier per team
    chg = _read(funnel_run, "ownership_changes").merge(_read(funnel_run, "truth/transfers"), on="change_id")
    fn = emp.set_index("employee_id").job_function
    funnel = chg[chg.is_funnel == "1"]
    assert len(funnel) >= 100 and (funnel.kind == "funnel_handover").all()
    assert (funnel.from_employee_id.map(fn) == "SDR").all() and (funnel.to_employee_id.map(fn) == "AE").all()
    assert ((chg.is_collusive == "1") & (chg.is_funnel == "1")).sum() == 0
    assert (chg.is_collusive == "1").sum() >= 20  # the collusive hand-overs are still there
    # the funnel's hand-overs come before the first order, and the order usually follows within weeks
    orders = _read(funnel_run, "orders")
    first = orders.groupby("customer_id").closed_at.min()
    at = pd.to_datetime(funnel.changed_at)
    first_at = pd.to_datetime(funnel.customer_id.map(first))
    assert (first_at.isna() | (first_at > at)).all()
    # like the real funnel it is modelled on (92% of hand-overs followed by the won deal, 64% within 14
    # days; here hand-overs near the window end have no order yet): a qualifier passes on almost only deals
    # that will be won, days to two weeks before the close
    days = (first_at - at) / pd.Timedelta(days=1)
    assert days.notna().mean() >= 0.75 and 0.5 <= (days <= 14).mean() <= 0.75 and 4 <= days.median() <= 14
    # ... and stops working it; the closer logs little before the order (often one call, or nothing)
    acts = _read(funnel_run, "activities")
    acts["occurred_at"] = pd.to_datetime(acts.occurred_at)
    f = funnel.assign(at=at, first_at=first_at).dropna(subset=["first_at"])
    seen = f.merge(acts, on="customer_id")
    seen = seen[(seen.occurred_at > seen["at"]) & (seen.occurred_at < seen.first_at)]
    assert (seen.employee_id == seen.from_employee_id).sum() == 0
    closer_acts = seen[seen.employee_id == seen.to_employee_id].groupby("change_id").size()
    closer_acts = closer_acts.reindex(f.change_id).fillna(0)
    assert 0.3 <= (closer_acts == 0).mean() <= 0.7 and (closer_acts <= 1).mean() >= 0.85

"""`simulate()`: run the stages in order and write the dataset plus its ground truth."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from perfml.simulate.activities import VISIT, Activities, generate_activities
from perfml.simulate.collusion import plan_collusion
from perfml.simulate.config import PARAMS, SCALES
from perfml.simulate.feedback import audit, surveys
from perfml.simulate.funnel import plan_funnel, push_to_month_end
from perfml.simulate.leads import generate_leads
from perfml.simulate.orders import NEW, Orders, make_orders
from perfml.simulate.ownership import build_customers, change_reasons, draw_territory_moves, resolve_ownership
from perfml.simulate.tables import write_all
from perfml.simulate.targets import count_targets, revenue_targets
from perfml.simulate.timeline import Calendar, DaySampler
from perfml.simulate.workforce import Workforce, build_workforce
from perfml.simulate.world import World

# One independent random stream per stage: changing one stage never reshuffles another. New stages
# go at the end (spawned children are numbered, so the earlier stages keep their streams).
STAGES = (
    "workforce",
    "leads",
    "customers",
    "territory",
    "ownership",
    "orders",
    "targets",
    "collusion",
    "activities",
    "surveys",
    "audit",
    "reasons",
    "demographics",
    "funnel",
)

Progress = Callable[[str, float], None]


def simulate(
    out: str | Path,
    *,
    seed: int = 0,
    teams: int | None = None,
    months: int | None = None,
    scale: str = "medium",
    start: str = "2024-11-01",
    progress: Progress | None = None,
    funnel: bool = False,
) -> dict:
    """Simulate a company's CRM + HR data into `out/` (ground truth in `out/truth/`); returns a summary.

    `funnel`: add a qualifier -> closer funnel (`perfml.simulate.funnel`); the employees then carry
    a `job_function` (the closers' `role` reads assistant) and the truth an `is_funnel` flag. Without it
    the output is unchanged."""
    teams, months = preset_size(scale, teams, months)
    report = progress or (lambda stage, fraction: None)
    world = build_world(seed, scale=scale, teams=teams, months=months, start=start, progress=report, funnel=funnel)
    summary = write_all(Path(out), world, lambda f: report("write", 0.6 + 0.4 * f))
    report("done", 1.0)
    extra = {"funnel": True} if funnel else {}
    return {"seed": seed, "scale": scale, "teams": teams, "months": months, **extra, **summary}


def preset_size(scale: str, teams: int | None, months: int | None) -> tuple[int, int]:
    """(teams, months) of a size preset, with the given overrides; refuses unknown presets and no teams."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}")
    preset = SCALES[scale]
    teams = preset.teams if teams is None else int(teams)
    if teams < 1:
        raise ValueError(f"teams must be at least 1, got {teams}")
    return teams, preset.months if months is None else int(months)


def build_world(
    seed: int | Sequence[int],
    *,
    scale: str,
    teams: int,
    months: int,
    start: str,
    progress: Progress,
    funnel: bool = False,
) -> World:
    """Run every stage in memory; `seed` is the root entropy of the stages' streams (an int or ints)."""
    seeds = dict(zip(STAGES, np.random.SeedSequence(seed).spawn(len(STAGES)), strict=True))
    return _run(SCALES[scale], Calendar.build(start, months), teams, seeds, progress, funnel)


def _run(preset, cal: Calendar, teams: int, seeds: dict, report: Progress, with_funnel: bool = False) -> World:
    def rng(stage: str) -> np.random.Generator:
        return np.random.default_rng(seeds[stage])

    p = PARAMS
    report("workforce", 0.0)
    wf = build_workforce(preset, cal, p, rng("workforce"), teams)
    avail = DaySampler(wf.avail)
    funnel = plan_funnel(wf, seeds["funnel"]) if with_funnel else None
    report("leads", 0.05)
    leads = generate_leads(wf, cal, p, rng("leads"), DaySampler(wf.intake), avail)
    if funnel is not None:
        leads = push_to_month_end(funnel, leads, cal)
    cust = build_customers(wf, leads, cal, p, rng("customers"))
    moves = draw_territory_moves(wf, cal, p, rng("territory"))
    report("ownership", 0.12)
    # pass 1 without collusion tells each assistant's month-to-date standing against target
    own = resolve_ownership(wf, leads, cust, moves, cal, p, avail, seeds["ownership"], None, funnel)
    orders = make_orders(wf, leads, cust, own, cal, p, seeds["orders"])
    provisional = revenue_targets(wf, cal, p, orders.revenue(wf.n, cal), rng("targets"))
    collusion = plan_collusion(wf, leads, cal, avail, orders, provisional, rng("collusion"))
    leads = leads.with_close(collusion.lead, collusion.close)
    report("ownership", 0.25)
    collusive = (collusion.lead, collusion.time, collusion.assistant)
    own = resolve_ownership(wf, leads, cust, moves, cal, p, avail, seeds["ownership"], collusive, funnel)
    orders = make_orders(wf, leads, cust, own, cal, p, seeds["orders"])
    report("activities", 0.35)
    acts = generate_activities(wf, leads, cust, own, cal, p, avail, rng("activities"))
    report("targets", 0.5)
    targets = _targets(wf, cal, orders, acts, rng("targets"))
    demo = _demographics(wf.n, rng("demographics"))
    return World(
        cal,
        wf,
        leads,
        cust,
        own,
        orders,
        acts,
        targets,
        surveys(wf, orders, cal, p.surveys_share, rng("surveys")),
        audit(wf, own, orders, cal, rng("audit")),
        change_reasons(own, cust, leads, rng("reasons")),
        demo,
        funnel,
    )


def _targets(wf: Workforce, cal: Calendar, orders: Orders, acts: Activities, rng: np.random.Generator) -> dict:
    visits = acts.type == VISIT
    month = cal.month_of_day(acts.time[visits] // 86_400)
    visit_counts = np.bincount(acts.employee[visits] * cal.months + month, minlength=wf.n * cal.months).reshape(
        wf.n, cal.months
    )
    return {
        "revenue": revenue_targets(wf, cal, PARAMS, orders.revenue(wf.n, cal), rng),
        "new_customers": count_targets(wf, cal, orders.count(wf.n, cal, NEW), rng),
        "visits": count_targets(wf, cal, visit_counts, rng),
    }


def _demographics(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Protected attributes from their own random stream: nothing in the simulation reads them."""
    gender = np.array(["female", "male", "undisclosed"], dtype=object)[rng.choice(3, n, p=[0.46, 0.5, 0.04])]
    age = np.array(["<25", "25-34", "35-44", "45+"], dtype=object)[rng.choice(4, n, p=[0.15, 0.45, 0.28, 0.12])]
    return {"gender": gender, "age_band": age}

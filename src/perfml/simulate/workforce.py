"""The people: teams, hires and departures, leave, latent traits, decline, collusion pairs, demand.

Produces `Workforce`: per-employee arrays, the employee x day availability masks and the
employee x month effort matrix that every later stage reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfml.simulate.config import Params, Scale
from perfml.simulate.timeline import Calendar

ROLES = ("sales", "assistant", "manager")
SALES, ASSISTANT, MANAGER = 0, 1, 2
NO_END = 10**7  # "no termination inside the window" as a day offset
REGIONS = ("north", "south", "east", "west", "central")
SLUMP_CAUSES = ("local market", "key account loss", "competitor promotion", "regulation")


@dataclass
class Workforce:
    """Everything known about employees, as arrays indexed by employee number (0..E-1)."""

    team_region: np.ndarray
    role: np.ndarray
    team: np.ndarray
    manager: np.ndarray
    hire_day: np.ndarray
    probation_end_day: np.ndarray
    term_day: np.ndarray  # NO_END when still employed at the window end
    hand_day: np.ndarray  # day the leaver hands over customers; NO_END if not leaving
    traits: dict[str, np.ndarray]  # latent: skill, development, effort, response_hours, early_share, visit_rate
    partner: np.ndarray  # first colluding assistant of a colluding rep; a rep of a colluding assistant; else -1
    collude_rate: np.ndarray
    onset: np.ndarray  # decline onset month index, -1 for non-decliners
    decline_depth: np.ndarray
    recover_month: np.ndarray
    attrs: dict[str, np.ndarray]
    leaves: np.ndarray  # (n, 3): employee, first day, last day of each leave spell
    avail: np.ndarray  # (E, D) at work: employed, not on leave, weekday
    intake: np.ndarray  # (E, D) may receive new leads: avail and not in the notice period
    effort: np.ndarray  # (E, M) activity multiplier (traits x ramp x decline x noise)
    skill_now: np.ndarray  # (E, M) skill net of the new-hire learning curve
    decline: np.ndarray  # (E, M) decline multiplier alone (1 = none)
    demand: np.ndarray  # (T, M) market demand per team and month
    slumps: list[dict]

    @property
    def n(self) -> int:
        return len(self.role)

    @property
    def strength(self) -> np.ndarray:
        """`performance_z` of everyone (latent selling strength, about N(0, 1))."""
        tr = self.traits
        return performance_z(tr["skill"], tr["response_hours"], tr["early_share"], tr["visit_rate"])


def build_workforce(scale: Scale, cal: Calendar, p: Params, rng: np.random.Generator, teams: int) -> Workforce:
    """Draw the whole workforce of `teams` teams over the window."""
    rows = _draw_people(scale, cal, p, rng, teams)
    order = np.lexsort((np.arange(len(rows["role"])), rows["team"], rows["hire_day"]))
    rows = {k: v[order] for k, v in rows.items()}
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    rows["manager"] = np.where(rows["manager"] >= 0, remap[np.maximum(rows["manager"], 0)], -1)
    rows["partner"] = np.where(rows["partner"] >= 0, remap[np.maximum(rows["partner"], 0)], -1)
    leaves = _draw_leaves(rows, cal, p, rng)
    avail, intake = _availability(rows, leaves, cal, p)
    decline = _decline_matrix(rows, cal)
    effort, skill_now = _effort_matrix(rows, decline, cal, rng)
    demand, slumps = _demand(teams, cal, p, rng)
    trait_names = ("skill", "development", "effort", "response_hours", "early_share", "visit_rate")
    attr_names = ("attr_prior_experience_years", "attr_education", "attr_referral")
    return Workforce(
        team_region=np.array([REGIONS[t % _n_regions(teams)] for t in range(teams)]),
        role=rows["role"],
        team=rows["team"],
        manager=rows["manager"],
        hire_day=rows["hire_day"],
        probation_end_day=rows["probation_end_day"],
        term_day=rows["term_day"],
        hand_day=rows["hand_day"],
        traits={k: rows[k] for k in trait_names},
        partner=rows["partner"],
        collude_rate=rows["collude_rate"],
        onset=rows["onset"],
        decline_depth=rows["decline_depth"],
        recover_month=rows["recover_month"],
        attrs={k: rows[k] for k in attr_names},
        leaves=leaves,
        avail=avail,
        intake=intake,
        effort=effort,
        skill_now=skill_now,
        decline=decline,
        demand=demand,
        slumps=slumps,
    )


def _n_regions(teams: int) -> int:
    return int(np.clip(teams // 3, 1, len(REGIONS)))


# --- people ---------------------------------------------------------------------------------


def _draw_people(scale: Scale, cal: Calendar, p: Params, rng: np.random.Generator, teams: int) -> dict[str, np.ndarray]:
    """Initial staff of every team plus replacement hires until the window end (a work queue)."""
    people: list[dict] = []
    for t in range(teams):
        mgr = len(people)
        people.append(_person(rng, p, cal, t, MANAGER, hire_day=-int(rng.integers(3 * 365, 10 * 365)), manager=-1))
        n_reps = 8 + scale.extra_reps + rng.choice(3, p=np.array(scale.rep_count_probs))
        n_ast = 1 + rng.choice(3, p=np.array(scale.assistant_count_probs))
        for role in [SALES] * n_reps + [ASSISTANT] * n_ast:
            tenure = int(np.exp(rng.normal(np.log(900), 0.9)))
            tenure = tenure if 20 <= tenure <= 12 * 365 else int(rng.integers(20, 12 * 365))
            people.append(_person(rng, p, cal, t, role, hire_day=-tenure, manager=mgr))
        if scale.initial_staffing < 1.0:
            _open_positions(people[mgr + 1 :], rng, p, cal, scale, n_reps)
    queue = list(range(len(people)))
    while queue:
        i = queue.pop(0)
        _fate(people[i], rng, p, cal, scale.turnover)
        hire = _replacement_day(people[i], rng, p, cal)
        if hire is not None:
            q = people[i]
            person = _person(rng, p, cal, q["team"], q["role"], hire_day=hire, manager=q["manager"])
            person["replaces"] = i
            people.append(person)
            queue.append(len(people) - 1)
    _pair_colluders(people, rng, p, teams)
    return {k: np.array([q[k] for q in people]) for k in people[0] if k != "replaces"}


def _open_positions(
    team: list[dict], rng: np.random.Generator, p: Params, cal: Calendar, scale: Scale, n_reps: int
) -> None:
    """Growth: keep `initial_staffing` of the planned positions (at least 2 reps and 1 assistant);
    the rest become hires spread over the first `growth_months` months (faster early on)."""
    growth_days = int(cal.month_start[min(scale.growth_months, cal.months)]) - 20
    for lo, hi, keep_min in ((0, n_reps, 2), (n_reps, len(team), 1)):
        n = hi - lo
        keep = max(keep_min, int(round(scale.initial_staffing * n)))
        for q in team[lo + keep : hi]:
            day = int(growth_days * rng.random() ** 1.3)
            q["hire_day"] = int(cal.next_weekday(np.array([day]))[0])
            q["probation_end_day"] = _add_months(cal, q["hire_day"], p.probation_months)


def _person(
    rng: np.random.Generator, p: Params, cal: Calendar, team: int, role: int, hire_day: int, manager: int
) -> dict:
    """One employee with latent traits and weakly skill-linked HR attributes."""
    skill = rng.normal()
    if role == MANAGER:
        skill = abs(skill) + 0.5
    edu_logits = np.array([0.0, 0.4 + 0.15 * skill, -1.0 + 0.35 * skill])
    edu = rng.choice(3, p=np.exp(edu_logits) / np.exp(edu_logits).sum())
    pe = _add_months(cal, hire_day, p.probation_months)
    return {
        "team": team,
        "role": role,
        "manager": manager,
        "hire_day": hire_day,
        "probation_end_day": pe,
        "term_day": NO_END,
        "hand_day": NO_END,
        "skill": skill,
        "development": float(rng.normal(0, 0.4)),
        "effort": float(np.exp(rng.normal(0.0, 0.22))),
        "response_hours": float(np.exp(rng.normal(np.log(8.0), 0.85))),
        "early_share": float(rng.beta(2.2, 10.0)),
        "visit_rate": float(rng.beta(3.0, 9.0) if role == SALES else rng.beta(2.0, 10.0)),
        "partner": -1,
        "collude_rate": 0.0,
        "replaces": -1,
        "onset": -1,
        "decline_depth": 1.0,
        "recover_month": -1,
        "attr_prior_experience_years": round(float(np.clip(rng.normal(2.5 + 1.0 * skill, 2.3), 0, 25)), 1),
        "attr_education": ("college", "bachelor", "master")[edu],
        "attr_referral": int(rng.random() < 1 / (1 + np.exp(1.1 - 0.35 * skill))),
    }


def _add_months(cal: Calendar, day: int, months: int) -> int:
    date = cal.start + np.timedelta64(int(day), "D")
    month = date.astype("datetime64[M]") + months
    dom = int((date - date.astype("datetime64[M]").astype("datetime64[D]")).astype(int))
    target = month.astype("datetime64[D]") + dom
    last = (month + 1).astype("datetime64[D]") - 1
    return int((min(target, last) - cal.start).astype(int))


def _fate(q: dict, rng: np.random.Generator, p: Params, cal: Calendar, turnover: float) -> None:
    """Probation failure, quitting, and (for reps) a post-probation decline with its own attrition."""
    if q["role"] == MANAGER:
        return
    days = cal.days
    start = max(q["hire_day"], 0)
    fail_p = 1 / (1 + np.exp(-(p.probation_fail_base - 0.9 * q["skill"])))
    if 10 < q["probation_end_day"] < days and rng.random() < fail_p:
        q["term_day"] = q["probation_end_day"] - int(rng.integers(0, 11))
    else:
        hazard = turnover * p.annual_quit_hazard[ROLES[q["role"]]] * np.exp(-0.35 * q["skill"])
        quit_day = max(start, q["probation_end_day"]) + int(rng.exponential(365 / hazard))
        q["term_day"] = quit_day if quit_day < days else NO_END
        if q["role"] == SALES:
            _maybe_decline(q, rng, p, cal)
    if q["term_day"] < days:
        q["term_day"] = max(q["term_day"], q["hire_day"] + 20)
        hand = q["term_day"] - int(rng.integers(0, 6))
        while 0 < hand < cal.days and not cal.weekday[hand]:  # hand-overs happen on a working day
            hand -= 1
        q["hand_day"] = max(hand, q["hire_day"] + 15, 0)


def performance_z(skill, response_hours, early_share, visit_rate):
    """Latent selling strength, about N(0, 1): skill and the three planted traits, weighted as they
    move a lead's win odds (fast follow-up, early-hour contact and visits each about as much)."""
    z = 0.2 * skill - 0.95 * np.log(response_hours) + 8.0 * early_share + 5.0 * visit_rate
    return (z - 0.715) / 1.34


def _maybe_decline(q: dict, rng: np.random.Generator, p: Params, cal: Calendar) -> None:
    """Pick an onset some months after probation (inside the window with 3 months of room on each side)."""
    pe_month = int(cal.month_of_day(np.array([q["probation_end_day"]]))[0]) if q["probation_end_day"] >= 0 else -99
    lo_after, hi_after = p.decline_onset_after_probation
    if pe_month >= 0:
        onset = pe_month + int(rng.integers(lo_after, hi_after + 1))
    else:  # probation long past: the onset can be any month with room on both sides
        onset = int(rng.integers(3, cal.months - 2))
    # reps who struggle disengage more often than strong sellers (same share on average)
    z = performance_z(q["skill"], q["response_hours"], q["early_share"], q["visit_rate"])
    share = p.decliner_share * 2 / (1 + np.exp(0.8 * z))
    if not 3 <= onset <= cal.months - 3 or rng.random() >= share:
        return
    q["onset"] = onset
    q["decline_depth"] = float(rng.uniform(0.3, 0.55))
    if rng.random() < p.recover_share:
        q["recover_month"] = onset + int(rng.integers(6, 11))
    # disengaged reps leave more often, but only after the decline has shown (onset + 4 months)
    stay = int(cal.month_start[min(onset + 4, cal.months)])
    leave_day = stay + int(rng.exponential(200))
    if q["term_day"] < stay:
        q["term_day"] = leave_day
    elif rng.random() < 0.35:
        q["term_day"] = min(q["term_day"], leave_day)
    if q["term_day"] >= cal.days:
        q["term_day"] = NO_END


def _replacement_day(q: dict, rng: np.random.Generator, p: Params, cal: Calendar) -> int | None:
    if q["term_day"] >= cal.days - 30 or rng.random() >= p.replacement_prob:
        return None
    hire = int(cal.next_weekday(np.array([q["term_day"] + int(rng.integers(*p.replacement_delay_days))]))[0])
    return hire if hire < cal.days - 20 else None


def _pair_colluders(people: list[dict], rng: np.random.Generator, p: Params, teams: int) -> None:
    """In most teams one assistant colludes with 3-5 of the team's reps (planned positions, not replacements).

    A rep's `partner` is his first colluding assistant; an assistant's is one of her reps. When
    she leaves, her successor is usually drawn in too, so the scheme outlives one person.
    """
    successor = {q["replaces"]: i for i, q in enumerate(people) if q["replaces"] >= 0}
    for t in range(teams):
        # the team's planned positions (staff at the start and growth hires), not replacements
        staff = [i for i, q in enumerate(people) if q["team"] == t and q["replaces"] < 0 and q["role"] != MANAGER]
        assistants = [i for i in staff if people[i]["role"] == ASSISTANT]
        reps = [i for i in staff if people[i]["role"] == SALES]
        if not assistants or rng.random() >= p.collusion_team_share:
            continue
        a = int(rng.choice(assistants))
        n = min(len(reps), 3 + rng.choice(3, p=[0.3, 0.4, 0.3]))
        chosen = [int(r) for r in rng.choice(reps, size=n, replace=False)]
        for r in chosen:
            people[r]["partner"] = a
            people[r]["collude_rate"] = float(rng.uniform(0.7, 1.0))
        while a >= 0:
            people[a]["partner"], people[a]["collude_rate"] = chosen[0], 1.0
            a = successor.get(a, -1) if rng.random() < 0.7 else -1


# --- leave and availability -----------------------------------------------------------------


def _draw_leaves(rows: dict, cal: Calendar, p: Params, rng: np.random.Generator) -> np.ndarray:
    """Leave spells (2-6 weeks) after probation, never overlapping each other or the exit."""
    out = []
    for e in range(len(rows["role"])):
        if rows["role"][e] == MANAGER:
            continue
        lo = max(int(rows["probation_end_day"][e]), 0)
        hi = min(int(rows["term_day"][e]), cal.days) - p.leave_days[1] - 7
        if hi <= lo:
            continue
        n = rng.poisson(p.leave_per_year * (hi - lo) / 365)
        taken_until = -1
        # a decline is measured against a normal working baseline: no leave in the 3 months before it
        onset = rows["onset"][e]
        calm = (cal.month_start[onset - 3], cal.month_start[onset]) if onset >= 3 else (0, 0)
        for first in np.sort(rng.integers(lo, hi, size=n)):
            length = int(rng.integers(p.leave_days[0], p.leave_days[1] + 1))
            if first + length > calm[0] and first < calm[1]:
                continue
            if first > taken_until + 30:
                out.append((e, int(first), int(first) + length - 1))
                taken_until = int(first) + length - 1
    return np.array(out, dtype=np.int64).reshape(-1, 3)


def _availability(rows: dict, leaves: np.ndarray, cal: Calendar, p: Params) -> tuple[np.ndarray, np.ndarray]:
    days = np.arange(cal.days)
    hire = rows["hire_day"][:, None]
    term = rows["term_day"][:, None]
    employed = (days >= hire) & (days <= term)
    on_leave = np.zeros_like(employed)
    for e, first, last in leaves:
        on_leave[e, first : last + 1] = True
    avail = employed & ~on_leave & cal.weekday
    intake = avail & (days < np.minimum(term - p.notice_days, rows["hand_day"][:, None]))
    return avail, intake


# --- monthly matrices -----------------------------------------------------------------------


def _decline_matrix(rows: dict, cal: Calendar) -> np.ndarray:
    """Activity multiplier of decliners: drops within two months, partial recovery for some."""
    out = np.ones((len(rows["role"]), cal.months))
    m = np.arange(cal.months)
    for e in np.flatnonzero(rows["onset"] >= 0):
        depth, k = rows["decline_depth"][e], m - rows["onset"][e]
        level = np.select([k < 0, k == 0, k == 1], [1.0, 1 - 0.75 * (1 - depth), 1 - 0.9 * (1 - depth)], depth)
        rec = rows["recover_month"][e]
        if rec >= 0:
            regained = 0.5 * (1 - depth) * np.minimum(m - rec + 1, 3) / 3  # half the loss, over 3 months
            level = np.where(m >= rec, np.minimum(level + regained, 1.0), level)
        out[e] = level
    return out


def _effort_matrix(
    rows: dict, decline: np.ndarray, cal: Calendar, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Effort (activity volume) and current skill per employee-month; new hires ramp up."""
    mid = cal.month_start[:-1] + np.diff(cal.month_start) / 2
    tenure = np.maximum((mid[None, :] - rows["hire_day"][:, None]) / 30.44, 0)
    ramp = 1 - 0.3 * np.exp(-tenure / 2)
    noise = np.exp(rng.normal(0, 0.07, size=decline.shape))
    effort = rows["effort"][:, None] * ramp * decline * noise
    # learning curve for new hires, plus how each develops over the first year (some grow, some
    # stall) — what months 1-6 cannot show about months 7-12
    growth = rows["development"][:, None] * np.minimum(tenure / 12, 1)
    skill_now = rows["skill"][:, None] - 0.7 * np.exp(-tenure / 4) + growth
    return effort, skill_now


def _demand(teams: int, cal: Calendar, p: Params, rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """Seasonal x team level x trend demand, with team-wide slumps cut in (recorded as truth)."""
    months = cal.start.astype("datetime64[M]") + np.arange(cal.months)
    season = np.array(p.season)[months.astype(int) % 12]
    level = np.exp(rng.normal(0, 0.08, size=teams))[:, None]
    trend = 1 + rng.normal(0, 0.04, size=teams)[:, None] * np.arange(cal.months)[None, :] / 12
    demand = season[None, :] * level * trend
    slumps = []
    periods = cal.periods()
    for t in range(teams):
        n = rng.poisson(p.slumps_per_team_year * cal.months / 12)
        busy = np.zeros(cal.months, dtype=bool)
        for _ in range(n):
            length = int(rng.integers(2, 5))
            first = int(rng.integers(1, cal.months - length))
            if busy[max(first - 2, 0) : first + length + 2].any():
                continue
            factor = float(rng.uniform(*p.slump_factor))
            busy[first : first + length] = True
            demand[t, first : first + length] *= factor
            slumps.append(
                {
                    "team": t,
                    "start_period": periods[first],
                    "end_period": periods[first + length - 1],
                    "months": length,
                    "demand_factor": factor,
                    "cause": SLUMP_CAUSES[int(rng.integers(len(SLUMP_CAUSES)))],
                }
            )
    return demand, slumps

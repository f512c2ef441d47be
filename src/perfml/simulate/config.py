"""Size presets and the behavioural constants of the simulator.

Sizes (`Scale`) say how big a company is; `Params` says how its people behave. Both are
frozen so a run is fully described by (scale, seed, start) and the constants below.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scale:
    """How big the simulated company is."""

    teams: int
    months: int
    # Initial team make-up: probabilities over 8/9/10 reps and 1/2/3 assistants. Departures are
    # replaced, so a team holds 8-12 reps over time (vacancies dip it a little below 8).
    rep_count_probs: tuple[float, float, float] = (0.55, 0.35, 0.10)
    assistant_count_probs: tuple[float, float, float] = (0.50, 0.38, 0.12)
    # Multiplies the quit hazard. The large company churns more, which also yields enough new
    # hires with a full first year in the window to study early-tenure behaviour.
    turnover: float = 1.0
    # Company growth: each team's planned reps get `extra_reps` more, and only `initial_staffing`
    # of the planned reps and assistants are on board at the window start; the open positions are
    # filled over the first `growth_months` months (the CRM goes live as the company scales). This
    # is what gives the default size enough hires with a full first year inside the window.
    extra_reps: int = 0
    initial_staffing: float = 1.0
    growth_months: int = 12


SCALES: dict[str, Scale] = {
    "small": Scale(teams=4, months=18),
    "medium": Scale(teams=12, months=24, extra_reps=3, initial_staffing=0.25),
    "large": Scale(teams=80, months=36, turnover=2.5),
}


@dataclass(frozen=True)
class Params:
    """Behavioural constants (rates are per available workday unless noted)."""

    # --- workforce -------------------------------------------------------------------------
    probation_months: int = 3
    leave_per_year: float = 0.4  # leave spells per employee-year
    leave_days: tuple[int, int] = (14, 42)
    annual_quit_hazard: dict[str, float] = field(default_factory=lambda: {"sales": 0.06, "assistant": 0.05})
    probation_fail_base: float = -1.8  # logit of failing probation at skill 0
    replacement_prob: float = 0.85
    replacement_delay_days: tuple[int, int] = (15, 60)
    notice_days: int = 14  # no new leads in the last weeks before leaving
    decliner_share: float = 0.20  # of reps who pass probation and have room for an onset
    decline_onset_after_probation: tuple[int, int] = (2, 9)  # months
    recover_share: float = 0.3
    collusion_team_share: float = 0.9  # teams with a colluding assistant
    # --- demand ----------------------------------------------------------------------------
    season: tuple[float, ...] = (0.86, 0.86, 1.0, 1.0, 1.02, 1.05, 0.94, 0.9, 1.0, 1.03, 1.08, 1.12)
    slumps_per_team_year: float = 0.35
    slump_factor: tuple[float, float] = (0.4, 0.65)
    # --- leads -----------------------------------------------------------------------------
    leads_per_month: dict[str, float] = field(default_factory=lambda: {"sales": 6.0, "assistant": 1.3})
    segment_probs: tuple[float, float, float] = (0.62, 0.30, 0.08)  # smb, mid, enterprise
    cycle_days: tuple[float, float, float] = (28.0, 45.0, 70.0)  # median days to win
    deal_size: tuple[float, float, float] = (6000.0, 18000.0, 45000.0)  # median new order
    contact_rate: float = 0.25  # lead contacts per available day while a lead is open
    # --- accounts ----------------------------------------------------------------------------
    legacy_accounts: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {"sales": (15, 35), "assistant": (20, 45)}
    )
    repeat_per_month: tuple[float, float, float] = (0.10, 0.14, 0.20)
    repeat_size: float = 0.45  # repeat order size relative to a new order
    care: dict[str, float] = field(default_factory=lambda: {"sales": 0.9, "assistant": 1.15, "manager": 0.5})
    maintenance_per_month: dict[str, float] = field(
        default_factory=lambda: {"sales": 0.7, "assistant": 1.3, "manager": 0.2}
    )
    maintenance_handover: tuple[float, float, float] = (0.35, 0.30, 0.15)  # share of new accounts
    legacy_handover_per_month: float = 0.008
    territory_moves_per_year: float = 1.5
    territory_share: tuple[float, float] = (0.15, 0.35)
    # --- background work (prospecting calls, mails, admin) ---------------------------------
    background_per_day: dict[str, float] = field(
        default_factory=lambda: {"sales": 6.0, "assistant": 5.0, "manager": 2.0}
    )
    # --- transfers -------------------------------------------------------------------------
    workload_handover: float = 0.035  # share of reps' new leads passed on early
    customer_request: float = 0.10  # share of won leads handed over late on the client's wish
    signing_handover: float = 0.10  # share of reps' won leads passed to an assistant at signing
    surveys_share: float = 0.3


PARAMS = Params()

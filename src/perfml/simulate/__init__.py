"""perfml.simulate — a seeded, deterministic simulator of a sales company's CRM + HR records.

``simulate(out, seed=0, scale="medium")`` writes the ten tables of the data contract
(`perfml.schema`, README's data contract table) as CSV into ``out/`` and the ground truth into
``out/truth/``. Same arguments give byte-identical files: every stage draws from its own ``numpy``
stream spawned from ``seed``, rows are written in a fixed order, numbers with fixed decimals (money 2),
times as ``YYYY-MM-DDTHH:MM:SS`` (naive UTC), and nothing reads the wall clock.

Sizes (``SCALES``; ``teams``/``months`` override): ``small`` 4 teams x 18 months (~50 people,
~150k activities), ``medium`` 12 teams x 24 months (a company scaling up: ~50 staff at the start,
~150 on the payroll after the first year, ~200 people in all, >= 100 of them hired in the first
year and observed for a full year; ~0.6M activities), ``large``
80 teams x 36 months with 2.5x the staff turnover (~1,250 people, ~300 in-window hires,
~5.9M activities).

Mechanics
=========

Window and calendar
    ``months`` calendar months from ``start`` (a month's first day). Staff work weekdays; every
    activity, lead and first contact falls on a day its employee is at work. Records describing
    the state before the window may predate it (hire dates, the legacy customers' creation);
    every event (activity, lead, change, order, survey, audit) lies inside it.

People (``employees``, ``truth/employees.csv``)
    Each team has one manager, 8-10 reps (``sales``) and 1-3 assistants at the start. People
    quit (hazard falls with skill), some hires fail their 3-month probation
    (``probation_end_date`` = hire + 3 months), most departures are replaced within weeks, and
    people take 2-6-week leave spells (no activity at all). At ``medium`` the company grows: each
    team plans 11-13 reps and 1-3 assistants, a quarter are on board when the window opens, and the
    open positions are filled over the first 12 months (more of them early). Latent traits per person: ``skill``,
    ``development`` (growth over the first year), ``effort`` (activity volume),
    ``response_speed``/``median_response_hours`` (lead follow-up), ``early_hour_contact``
    (share of contacts 07:00-09:00) and ``visit_rate``; ``performance_z`` combines skill and the
    three planted traits into one latent selling strength. ``attr_prior_experience_years``,
    ``attr_education`` and ``attr_referral`` are weakly linked to skill. ``demographics``
    (gender, age band) come from a separate stream and drive nothing.

Demand and team slumps (``truth/team_slumps.csv``)
    Demand per team and month = seasonality x team level x slow trend, with a few team-wide
    slumps (2-4 months at 40-65% of normal) that cut everyone's leads, win rates, deal sizes and
    repeat orders in that team. They are not individual declines.

Leads (``leads``; each opens a prospect in ``customers``)
    Reps get ~6 leads a month, assistants ~1.3: an inbound part scaled by demand and a
    self-sourced part scaled by effort. First contact comes after a trait-driven delay, moved
    into the owner's working hours and days. Win odds rise with a fast first contact, early-hour
    contact and visit rate (each about 0.6-0.8 logit per standard deviation), less with skill (net
    of the new-hire learning curve), with effort that month and demand, plus noise. Deal size
    also grows with selling strength. So the planted traits, visible in months 1-6 of a hire,
    make the high performers of months 7-12. Deals close after weeks (median 28/45/70
    days for smb/mid/enterprise); deal size depends on segment, skill and demand. ``owner_id``
    is the original owner; leads still open at the window end have neither ``converted_at``
    nor ``lost_at``.

Orders (``orders``)
    A won lead is a ``new`` order credited to the customer's owner at the close. Accounts (won
    customers, plus a legacy book held by everyone at the start) place ``repeat`` orders at a
    rate set by their owner *at that time* (role care, monthly effort, selling strength) and team
    demand. The legacy book of a rep grows with tenure and selling strength. Orders
    are only ever credited to someone employed that day.

Ownership changes (``ownership_changes``; ``truth/transfers.csv`` gives the kind)
    * ``first_assignment`` — each prospect to its lead owner; legacy accounts on the first day
      (reason "crm migration").
    * ``maintenance_handover`` — a rep passes a fresh account (15-35% of new accounts, 1-8 weeks
      after the first order; a trickle from the legacy book) to an assistant, who then works it
      (maintenance activities follow, repeat orders get credited to her); the rep often pays
      one introduction visit. Some reps hand over at signing instead (~10% of reps' long
      deals, 2-15 days before the close): little receiver work before the first order, as in
      collusion, but the reason usually says so ("handover at signing", "onboarding"), the
      assistant usually holds an onboarding meeting/call before the order (~80%) and really
      looks after the account afterwards.
    * ``leaving_handover`` — a leaver's accounts and open pipeline go to colleagues (assistants
      included) in one batch a few days before the exit.
    * ``leave_handover`` — a rep's deals that would close during his leave go to a colleague in
      one batch on his last working day before it. Late-stage ones close soon after with little
      or no receiver activity (they look like collusion), but the giver is visibly absent (no
      activity) and his other deals move at the same moment.
    * ``workload_handover`` — early-stage leads passed on; the receiver works them normally.
    * ``customer_request`` — a long-worked deal handed over 2-20 days before the close at the
      client's wish (the hardest lookalike): the receiver does little, but the reason usually
      names the request (~80%), she usually meets or calls the client before the close (~80%),
      and the giver steps back.
    * ``territory_move`` — a share of one team's accounts moves to a team of the same region,
      all at the same timestamp.
    * ``collusive`` — in most teams one assistant colludes with 3-5 reps (~30% of reps); when
      she leaves, her successor is usually drawn in. A colluding rep hands a won deal he has
      worked for weeks (18+ days) to her 1-25 days (mostly under a week) before it closes,
      almost only in months she would otherwise miss her revenue target (one to three deals: enough
      to get her over the line), timed for her period end (deals due early next month get
      pulled into the last days of this one). She logs nothing or one token touch before the close and barely
      looks after the account afterwards; the rep keeps working the deal up to the order and
      often calls the client afterwards; the order,
      and later repeat orders, are credited to her. Reasons are mostly empty or borrowed
      ("account maintenance"). Collusive changes are ~5-9% of transfers into assistants.
      Designed so no single feature separates the class: receiver inactivity, a fast close and
      heavy prior giver effort are shared with client-requested, at-signing and late leave
      hand-overs; period-end timing, the receiver's shortfall, the pair's history, the giver
      staying in touch and the assistant's neglect afterwards tell them apart only in
      combination.

Post-probation decline (``truth/employees.csv``: ``is_decliner``, ``decline_onset``)
    ~20% of reps who pass probation (more among weak sellers, fewer among strong ones) start
    declining 2-9 months after it (veterans: any month
    with 3 months of room on both sides; no leave in the 3 months before the onset, so the
    baseline is normal work). In the onset month effort falls to 50-70% of normal and to 30-55%
    two months later, so activity in months onset..onset+2 (and onset+1..onset+3) is at most
    ~70% of the 3 months before. Win odds of new leads, lead intake, follow-up speed and account
    care fall with effort, so revenue follows 1-3 months later as the earlier pipeline still
    closes. ~30% recover partly after 6-10 months; decliners stay at least 4 months past the
    onset, and a third of them leave some months later.

Targets (``targets``)
    Monthly per rep and assistant: ``revenue`` (role norm with seasonality and a first-year ramp
    for new hires; from the second year 70% norm, 30% own trailing six months), and
    ``new_customers`` and ``visits`` from role norms, all prorated for partial months.
    Assistants carry revenue targets too — the origin of the transfer dilemma.

Feedback (``satisfaction``, ``transfer_labels``)
    ~30% of orders get a survey 3-25 days later, scored 0-100 from the skill and effort of
    whoever really did the work (for collusive orders: the rep), plus noise. The audit reviews
    ~40% of transfers into assistants (most of those followed by a fast order) and ~5% of other
    transfers, 20-90 days after the change; auditors are careful (they check the reason, the
    client contacts, the giver's absence, the pair's record) and err on ~1-2% of verdicts,
    mostly on collusive cases (~4%) and their look-alikes (2-3%), so ``is_anomalous`` is a
    verdict, ``truth/transfers.csv`` the fact.
"""

from perfml.simulate.config import SCALES, Scale
from perfml.simulate.runner import simulate

__all__ = ["SCALES", "Scale", "simulate"]

"""perfml.simulate — a seeded, deterministic simulator of a sales company's CRM + HR records.

``simulate(out, seed=0, scale="medium")`` writes the ten tables of the data contract
(DESIGN §3) as CSV into ``out/`` and the ground truth into ``out/truth/``. Same arguments give
byte-identical files: every stage draws from its own ``numpy`` stream spawned from ``seed``, rows
are written in a fixed order, numbers with fixed decimals (money 2), times as
``YYYY-MM-DDTHH:MM:SS`` (naive UTC), and nothing reads the wall clock.

Sizes (``SCALES``; ``teams``/``months`` override): ``small`` 4 teams x 18 months (~50 people,
~150k activities), ``medium`` 12 teams x 24 months (~150 people, ~0.6M activities), ``large``
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
    people take 2-6-week leave spells (no activity at all). Latent traits per person: ``skill``,
    ``development`` (growth over the first year), ``effort`` (activity volume),
    ``response_speed``/``median_response_hours`` (lead follow-up), ``early_hour_contact``
    (share of contacts 07:00-09:00) and ``visit_rate``. ``attr_prior_experience_years``,
    ``attr_education`` and ``attr_referral`` are weakly linked to skill. ``demographics``
    (gender, age band) come from a separate stream and drive nothing.

Demand and team slumps (``truth/team_slumps.csv``)
    Demand per team and month = seasonality x team level x slow trend, with a few team-wide
    slumps (2-4 months at 40-65% of normal) that cut everyone's leads, win rates, deal sizes and
    repeat orders in that team. They are not individual declines.

Leads (``leads``; each opens a prospect in ``customers``)
    Reps get ~6 leads a month, assistants ~1.3: an inbound part scaled by demand and a
    self-sourced part scaled by effort. First contact comes after a trait-driven delay, moved
    into the owner's working hours and days. Win odds rise with skill (net of the new-hire
    learning curve), effort that month, a fast first contact, early-hour contact, visit rate and
    demand, plus noise (~23% of closed leads are won). Deals close after weeks (median 28/45/70
    days for smb/mid/enterprise); deal size depends on segment, skill and demand. ``owner_id``
    is the original owner; leads still open at the window end have neither ``converted_at``
    nor ``lost_at``.

Orders (``orders``)
    A won lead is a ``new`` order credited to the customer's owner at the close. Accounts (won
    customers, plus a legacy book held by everyone at the start) place ``repeat`` orders at a
    rate set by their owner *at that time* (role care, monthly effort) and team demand. Orders
    are only ever credited to someone employed that day.

Ownership changes (``ownership_changes``; ``truth/transfers.csv`` gives the kind)
    * ``first_assignment`` — each prospect to its lead owner; legacy accounts on the first day
      (reason "crm migration").
    * ``maintenance_handover`` — a rep passes a fresh account (15-35% of new accounts, 1-8 weeks
      after the first order; a trickle from the legacy book) to an assistant, who then works it
      (maintenance activities follow, repeat orders get credited to her); the rep often pays
      one introduction visit. Some teams hand over at signing instead (~10% of reps' long
      deals, days before the close): little receiver work before the first order, as in
      collusion, but the assistant really looks after the account afterwards.
    * ``leaving_handover`` — a leaver's accounts and open pipeline go to colleagues (assistants
      included) in one batch a few days before the exit.
    * ``leave_handover`` — a rep's deals that would close during his leave go to a colleague just
      before it starts. Late-stage ones close soon after with little or no receiver activity:
      legitimately, they look like collusion.
    * ``workload_handover`` — early-stage leads passed on; the receiver works them normally.
    * ``customer_request`` — a long-worked deal handed over days before the close at the
      client's wish; the receiver often does nothing before it closes (the hardest lookalike).
    * ``territory_move`` — a share of one team's accounts moves to a team of the same region,
      all at the same timestamp.
    * ``collusive`` — in most teams one assistant colludes with 1-3 reps (~25% of reps); when
      she leaves, her successor is usually drawn in. A colluding rep hands a won deal he has
      worked for weeks (18+ days) to her 1-25 days (mostly under a week) before it closes,
      mostly in months she would otherwise miss her revenue target (one to three deals: enough
      to get her over the line), timed for her period end (deals due early next month get
      pulled into the last days of this one). She logs nothing or one token touch before the close and barely
      looks after the account afterwards; the rep often keeps calling the client; the order,
      and later repeat orders, are credited to her. Reasons are mostly empty or borrowed
      ("account maintenance"). Collusive changes are ~7-11% of transfers into assistants.
      Designed so no single feature separates the class: receiver inactivity, a fast close and
      heavy prior giver effort are shared with client-requested, at-signing and late leave
      hand-overs; period-end timing, the receiver's shortfall, the pair's history, the giver
      staying in touch and the assistant's neglect afterwards tell them apart only in
      combination.

Post-probation decline (``truth/employees.csv``: ``is_decliner``, ``decline_onset``)
    ~20% of reps who pass probation start declining 2-9 months after it (veterans: any month
    with 3 months of room on both sides; no leave in the 3 months before the onset, so the
    baseline is normal work). In the onset month effort falls to 50-70% of normal and to 30-55%
    two months later, so activity in months onset..onset+2 (and onset+1..onset+3) is at most
    ~70% of the 3 months before. Win odds of new leads, lead intake, follow-up speed and account
    care fall with effort, so revenue follows 1-3 months later as the earlier pipeline still
    closes. ~30% recover partly after 6-10 months; decliners stay at least 4 months past the
    onset, and a third of them leave some months later.

Targets (``targets``)
    Monthly per rep and assistant: ``revenue`` (role norm with seasonality and a first-year ramp
    for new hires; from the second year half norm, half own trailing six months), and
    ``new_customers`` and ``visits`` from role norms, all prorated for partial months.
    Assistants carry revenue targets too — the origin of the transfer dilemma.

Feedback (``satisfaction``, ``transfer_labels``)
    ~30% of orders get a survey 3-25 days later, scored 0-100 from the skill and effort of
    whoever really did the work (for collusive orders: the rep), plus noise. The audit reviews
    ~40% of transfers into assistants (more of those followed by a fast order) and ~5% of other
    transfers, 20-90 days after the change; auditors miss or misread a few percent, so
    ``is_anomalous`` is a verdict, ``truth/transfers.csv`` the fact.
"""
from perfml.simulate.config import SCALES, Scale
from perfml.simulate.runner import simulate

__all__ = ["SCALES", "Scale", "simulate"]

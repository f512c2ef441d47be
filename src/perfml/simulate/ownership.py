"""Who owns each customer when: first assignments, lead hand-overs and the account event machine.

A customer has at most two phases. As a *prospect* (its lead is open) it may change hands once:
the owner leaves or goes on leave before the close (mandatory), or the pipeline is rebalanced
early, the client asks for another contact, or a colluding rep parks the deal with his assistant
(optional). As an *account* (after its first order, or from the start for the legacy book) it
moves through a small event machine: maintenance hand-over to an assistant, territory moves
(batches on one day) and the owner's departure, applied in time order per customer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfml.simulate.config import Params
from perfml.simulate.funnel import Funnel, funnel_times
from perfml.simulate.leads import NEVER, Leads
from perfml.simulate.timeline import DAY, HOUR, Calendar, DaySampler
from perfml.simulate.workforce import ASSISTANT, MANAGER, SALES, Workforce

KINDS = (
    "first_assignment",
    "maintenance_handover",
    "leaving_handover",
    "leave_handover",
    "workload_handover",
    "territory_move",
    "collusive",
    "customer_request",
    "funnel_handover",
)
FIRST, MAINT, LEAVING, LEAVE, WORKLOAD, TERRITORY, COLLUSIVE, REQUEST, FUNNEL = range(len(KINDS))
# How the receiver of a lead works it afterwards (read by `activities`).
MODE_NORMAL, MODE_LIGHT, MODE_TOKEN = 0, 1, 2


@dataclass
class Customers:
    segment: np.ndarray
    team: np.ndarray  # home team (gives the region)
    created: np.ndarray  # seconds; legacy customers predate the window
    lead: np.ndarray  # lead index, -1 for the legacy book
    legacy_owner: np.ndarray  # owner at the window start, -1 for prospects

    @property
    def n(self) -> int:
        return len(self.segment)


@dataclass
class TerritoryMoves:
    time: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    share: np.ndarray


@dataclass
class LeadPlan:
    """The (at most one) hand-over of each open lead."""

    time: np.ndarray  # NEVER if the lead keeps its owner
    receiver: np.ndarray  # -1 if none
    kind: np.ndarray  # -1 if none
    mode: np.ndarray
    final_owner: np.ndarray  # owner at close (or at the window end)


@dataclass
class Ownership:
    """Change log plus the account-phase ownership segments [t0, t1) of every account."""

    customer: np.ndarray
    time: np.ndarray
    src: np.ndarray  # -1 = first assignment
    dst: np.ndarray
    kind: np.ndarray
    plan: LeadPlan
    seg_customer: np.ndarray
    seg_owner: np.ndarray
    seg_t0: np.ndarray
    seg_t1: np.ndarray


def build_customers(wf: Workforce, leads: Leads, cal: Calendar, p: Params, rng: np.random.Generator) -> Customers:
    """Legacy book of everyone at work on day 0, then one prospect per lead (index = creation order)."""
    staff = np.flatnonzero((wf.role != MANAGER) & (wf.hire_day <= 0) & (wf.term_day >= 0))
    lo = np.array([p.legacy_accounts["sales"][0], p.legacy_accounts["assistant"][0]])[wf.role[staff]]
    hi = np.array([p.legacy_accounts["sales"][1], p.legacy_accounts["assistant"][1]])[wf.role[staff]]
    # a book grows with tenure, and good reps (who win and keep clients) hold bigger ones
    years = np.clip(-wf.hire_day[staff] / 365.0 / 1.5, 0.3, 1.3)
    size = rng.integers(lo, hi + 1) * years * np.exp(0.25 * np.clip(wf.strength[staff], -2.5, 2.5))
    owner = np.repeat(staff, np.maximum(np.round(size), 1).astype(np.int64))
    age = rng.integers(30, 6 * 365, len(owner)) * DAY
    created = -age + (9 * HOUR + rng.random(len(owner)) * 9 * HOUR).astype(np.int64)
    order = np.lexsort((owner, created))
    owner, created = owner[order], created[order]
    seg = rng.choice(3, size=len(owner), p=np.array(p.segment_probs)).astype(np.int8)
    return Customers(
        segment=np.concatenate([seg, leads.segment]),
        team=np.concatenate([wf.team[owner], leads.team]),
        created=np.concatenate([created, leads.created]),
        lead=np.concatenate([np.full(len(owner), -1), np.arange(leads.n)]),
        legacy_owner=np.concatenate([owner, np.full(leads.n, -1)]),
    )


def draw_territory_moves(wf: Workforce, cal: Calendar, p: Params, rng: np.random.Generator) -> TerritoryMoves:
    """A few realignments: a share of one team's accounts moves to a team of the same region."""
    teams = len(wf.team_region)
    n = rng.poisson(p.territory_moves_per_year * cal.months / 12) if teams > 1 else 0
    day = cal.next_weekday(rng.integers(60, cal.days - 30, size=n))
    src = rng.integers(0, teams, size=n)
    dst = np.empty(n, dtype=np.int64)
    for i, s in enumerate(src):
        peers = np.flatnonzero((wf.team_region == wf.team_region[s]) & (np.arange(teams) != s))
        peers = peers if len(peers) else np.flatnonzero(np.arange(teams) != s)
        dst[i] = rng.choice(peers)
    share = rng.uniform(*p.territory_share, size=n)
    order = np.argsort(day, kind="stable")
    return TerritoryMoves(day[order] * DAY + 18 * HOUR, src[order], dst[order], share[order])


class Receivers:
    """Picks a colleague to receive customers: same team, at work that day, staying long enough."""

    def __init__(self, wf: Workforce):
        self.wf = wf
        teams = len(wf.team_region)
        members = [np.flatnonzero((wf.team == t) & (wf.role != MANAGER)) for t in range(teams)]
        width = max(len(m) for m in members)
        self.members = np.full((teams, width), -1, dtype=np.int64)
        for t, m in enumerate(members):
            self.members[t, : len(m)] = m
        self.manager = np.array([np.flatnonzero((wf.team == t) & (wf.role == MANAGER))[0] for t in range(teams)])

    def pick(
        self,
        rng: np.random.Generator,
        team: np.ndarray,
        day: np.ndarray,
        until: np.ndarray,
        prefer_assistant: np.ndarray,
        exclude: np.ndarray,
        assistants_only: bool = False,
        pool: np.ndarray | None = None,
    ) -> np.ndarray:
        """One receiver per query (preferred role first, random within it); -1 if nobody fits.
        `pool`: per employee, who may receive at all (default: everyone)."""
        wf = self.wf
        cand = self.members[team]
        real = cand >= 0
        c = np.where(real, cand, 0)
        d = np.clip(day, 0, wf.avail.shape[1] - 1)[:, None]
        stays = (wf.term_day[c] >= until[:, None]) & (wf.hand_day[c] > until[:, None])
        ok = real & (c != exclude[:, None]) & wf.avail[c, d] & stays
        is_ast = wf.role[c] == ASSISTANT
        if assistants_only:
            ok &= is_ast
        if pool is not None:
            ok &= pool[c]
        score = np.where(ok, 1 + 2 * (is_ast == prefer_assistant[:, None]) + rng.random(cand.shape), 0)
        best = score.argmax(axis=1)
        return np.where(score.max(axis=1) > 0, cand[np.arange(len(team)), best], -1)


def resolve_ownership(
    wf: Workforce,
    leads: Leads,
    cust: Customers,
    moves: TerritoryMoves,
    cal: Calendar,
    p: Params,
    avail: DaySampler,
    seed: np.random.SeedSequence,
    collusive: tuple | None,
    funnel: Funnel | None = None,
) -> Ownership:
    """Full ownership history given the collusive hand-overs (lead index, time, assistant) or None,
    and the qualifier -> closer funnel (None: a company without one)."""
    rng = np.random.default_rng(seed)
    recv = Receivers(wf)
    hand_time = np.where(wf.hand_day < cal.days, wf.hand_day * DAY + rng.integers(9 * HOUR, 17 * HOUR, wf.n), NEVER)
    plan = _plan_leads(wf, leads, cal, p, avail, recv, rng, hand_time, collusive, funnel)
    first = _first_assignments(leads, cust)
    lead_chg = _lead_changes(leads, plan, cust)
    acct = _account_starts(wf, leads, cust, plan, cal, p, rng)
    segs, acct_chg = _run_accounts(wf, cal, moves, recv, rng, hand_time, *acct)
    parts = [first, lead_chg, acct_chg]
    cols = [np.concatenate([x[i] for x in parts]) for i in range(5)]
    order = np.lexsort((cols[4], cols[0], cols[1]))
    customer, time, src, dst, kind = (c[order] for c in cols)
    return Ownership(customer, time, src, dst, kind, plan, *segs)


# --- prospect phase -------------------------------------------------------------------------


def _plan_leads(
    wf: Workforce,
    leads: Leads,
    cal: Calendar,
    p: Params,
    avail: DaySampler,
    recv: Receivers,
    rng: np.random.Generator,
    hand_time: np.ndarray,
    collusive,
    funnel: Funnel | None = None,
) -> LeadPlan:
    """Earliest of the mandatory (leave, leaving) and optional hand-overs wins; one per lead."""
    n, o = leads.n, leads.owner
    u = rng.random((n, 6))  # fixed draws per lead keep both passes aligned
    t_man, k_man = _mandatory(wf, leads, avail, hand_time, u[:, 0])
    t_opt, k_opt = _optional(wf, leads, cal, p, avail, u, collusive)
    if funnel is not None:  # a qualifier's leads go to a closer (that is his only optional hand-over)
        t_fun = funnel_times(funnel, leads, avail)
        mine = funnel.qualifier[o]
        t_opt, k_opt = np.where(mine, t_fun, t_opt), np.where(mine, FUNNEL, k_opt)
    colluder_of = np.full(n, -1)
    if collusive is not None:
        colluder_of[collusive[0]] = collusive[2]
    close_day = np.minimum(leads.close // DAY, cal.days - 1)
    use_opt = t_opt < t_man
    time = np.where(use_opt, t_opt, t_man)
    kind = np.where(use_opt, k_opt, k_man)
    day = time // DAY
    live = time < cal.end_seconds
    receiver = np.full(n, -1)
    # collusive deals go to the colluding assistant; everything else to a fitting colleague
    coll = live & (kind == COLLUSIVE)
    receiver[coll] = colluder_of[coll]
    if funnel is not None:
        fun = np.flatnonzero(live & (kind == FUNNEL))
        receiver[fun] = recv.pick(
            rng, leads.team[fun], day[fun], close_day[fun], np.zeros(len(fun), bool), o[fun], pool=funnel.closer
        )
        coll = coll | (live & (kind == FUNNEL))
    other = np.flatnonzero(live & ~coll)
    prefer = np.select(
        [kind[other] == WORKLOAD, kind[other] == REQUEST, kind[other] == LEAVE, kind[other] == MAINT],
        [u[other, 3] < 0.6, u[other, 3] < 0.7, u[other, 3] < 0.45, True],
        u[other, 3] < 0.3,
    )
    receiver[other] = recv.pick(rng, leads.team[other], day[other], close_day[other], prefer, o[other])
    signing = other[kind[other] == MAINT]
    receiver[signing[wf.role[np.maximum(receiver[signing], 0)] != ASSISTANT]] = -1  # assistants only
    # an optional hand-over without a receiver does not happen; a mandatory one falls back
    lost_opt = live & use_opt & (receiver < 0)
    time[lost_opt], kind[lost_opt] = t_man[lost_opt], k_man[lost_opt]
    live = time < cal.end_seconds
    redo = np.flatnonzero(live & (receiver < 0))
    receiver[redo] = recv.pick(rng, leads.team[redo], time[redo] // DAY, close_day[redo], u[redo, 3] < 0.3, o[redo])
    still = redo[receiver[redo] < 0]
    receiver[still] = recv.manager[leads.team[still]]
    time = np.where(live, time, NEVER)
    kind = np.where(live, kind, -1)
    receiver = np.where(live, receiver, -1)
    late = leads.close - time <= 21 * DAY
    mode = np.select(
        [
            kind == COLLUSIVE,
            (kind == REQUEST) | (kind == MAINT) | (kind == FUNNEL),
            (kind == LEAVE) | (kind == LEAVING),
        ],
        [MODE_TOKEN, MODE_LIGHT, np.where(late, MODE_LIGHT, MODE_NORMAL)],
        MODE_NORMAL,
    )
    final = np.where(receiver >= 0, receiver, o)
    return LeadPlan(time, receiver, kind, mode, final)


def _mandatory(
    wf: Workforce, leads: Leads, avail: DaySampler, hand_time: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Owner leaves the company, or starts a leave spell that covers the close, before the close.

    Leave cover is one batch: every deal of the spell moves at the same moment on the owner's last
    working day before the leave (a lead that only arrives after it moves the next morning)."""
    o = leads.owner
    t_leaving = np.where(hand_time[o] < leads.close, hand_time[o], NEVER)
    t_leave = np.full(leads.n, NEVER)
    created_day = leads.created // DAY
    close_day = leads.close // DAY
    for e, first, last in wf.leaves:  # spells are few (hundreds); each is one vector op over its leads
        hit = np.flatnonzero((o == e) & (first > created_day) & (first <= close_day) & (close_day <= last))
        if hit.size:
            last_day = avail.sample(np.array([e]), np.array([first - 7]), np.array([first]), np.array([0.999999]))[0]
            batch = (max(int(last_day), 0) * DAY + 15 * HOUR + int(u[hit[0]] * 3 * HOUR)) if last_day >= 0 else NEVER
            own_day = np.maximum(created_day[hit] + 1, first - 1) * DAY + 9 * HOUR + (u[hit] * HOUR).astype(np.int64)
            t_leave[hit] = np.minimum(t_leave[hit], np.where(leads.created[hit] < batch, batch, own_day))
    t = np.minimum(t_leaving, t_leave)
    return t, np.where(t_leaving <= t_leave, LEAVING, LEAVE)


def _optional(
    wf: Workforce, leads: Leads, cal: Calendar, p: Params, avail: DaySampler, u: np.ndarray, collusive
) -> tuple[np.ndarray, np.ndarray]:
    """Early workload hand-overs, late client-requested ones, at-signing maintenance hand-overs and
    the planned collusive ones (u[:, 5] splits request and signing so a lead never draws both)."""
    n, o = leads.n, leads.owner
    contacted = leads.first_contact < NEVER
    dur = leads.close - leads.created
    # every hand-over gets its own clock time (u[:, 1] spare bits): whole-day offsets from the
    # lead's timestamps would be an artefact a model could learn
    clock = 9 * HOUR + ((u[:, 1] * 11) % 1 * 9 * HOUR).astype(np.int64)
    day_work = np.maximum(leads.first_contact // DAY + 1, leads.created // DAY + 2 + (u[:, 1] * 11).astype(np.int64))
    t_work = day_work * DAY + clock
    t_work = np.where(
        contacted & (wf.role[o] == SALES) & (u[:, 2] < p.workload_handover) & (leads.close - t_work >= 14 * DAY),
        t_work,
        NEVER,
    )
    # client-requested hand-overs come days before the close, like the collusive ones they resemble
    # (at least two days ahead: the new contact meets the client before the signing)
    t_req = (leads.close // DAY - 2 - np.minimum(-np.log1p(-u[:, 4]) / 0.22, 18).astype(np.int64)) * DAY + clock
    t_req = np.where(
        contacted
        & leads.won
        & (dur >= 20 * DAY)
        & (u[:, 5] < p.customer_request)
        & (t_req > leads.first_contact + DAY),
        t_req,
        NEVER,
    )
    # some teams hand a fresh account to the assistant at signing rather than after the first order
    t_sign = (leads.close // DAY - 2 - np.minimum(-np.log1p(-u[:, 4]) / 0.2, 13).astype(np.int64)) * DAY + clock
    t_sign = np.where(
        contacted
        & leads.won
        & (wf.role[o] == SALES)
        & (dur >= 20 * DAY)
        & (u[:, 5] >= 1 - p.signing_handover)
        & (t_sign > leads.first_contact + DAY),
        t_sign,
        NEVER,
    )
    t_col = np.full(n, NEVER)
    if collusive is not None:
        t_col[collusive[0]] = collusive[1]
    times = np.stack([t_work, t_req, t_sign, t_col], axis=1)
    # the giver must be at work on the day he hands over
    day = np.minimum(times // DAY, cal.days)
    for j in range(times.shape[1]):
        ok = avail.is_available(o, day[:, j])
        times[:, j] = np.where(ok, times[:, j], NEVER)
    j = times.argmin(axis=1)
    return times[np.arange(n), j], np.array([WORKLOAD, REQUEST, MAINT, COLLUSIVE])[j]


def _first_assignments(leads: Leads, cust: Customers):
    legacy = np.flatnonzero(cust.lead < 0)
    pros = np.flatnonzero(cust.lead >= 0)
    c = np.concatenate([legacy, pros])
    t = np.concatenate([np.zeros(len(legacy), dtype=np.int64), leads.created[cust.lead[pros]]])
    dst = np.concatenate([cust.legacy_owner[legacy], leads.owner[cust.lead[pros]]])
    return c, t, np.full(len(c), -1), dst, np.full(len(c), FIRST)


def _lead_changes(leads: Leads, plan: LeadPlan, cust: Customers):
    lead_cust = np.full(leads.n, -1)
    lead_cust[cust.lead[cust.lead >= 0]] = np.flatnonzero(cust.lead >= 0)
    idx = np.flatnonzero(plan.receiver >= 0)
    return lead_cust[idx], plan.time[idx], leads.owner[idx], plan.receiver[idx], plan.kind[idx]


# --- account phase --------------------------------------------------------------------------


def _account_starts(
    wf: Workforce, leads: Leads, cust: Customers, plan: LeadPlan, cal: Calendar, p: Params, rng: np.random.Generator
):
    """Accounts: the legacy book from day 0 and every won lead from its close, with the owner then."""
    legacy = np.flatnonzero(cust.lead < 0)
    pros = np.flatnonzero(cust.lead >= 0)
    li = cust.lead[pros]
    won = leads.won[li] & (leads.close[li] < cal.end_seconds)
    pros, li = pros[won], li[won]
    customer = np.concatenate([legacy, pros])
    start = np.concatenate([np.zeros(len(legacy), dtype=np.int64), leads.close[li]])
    owner = np.concatenate([cust.legacy_owner[legacy], plan.final_owner[li]])
    # reps pass part of their fresh accounts to an assistant; the legacy book drips over too
    u = rng.random(len(customer))
    fresh = np.arange(len(customer)) >= len(legacy)
    delay = rng.integers(7, 61, len(customer)) * DAY
    p_new = np.array(p.maintenance_handover)[cust.segment[customer]]
    legacy_wait = (rng.exponential(1 / p.legacy_handover_per_month, len(customer)) * 30.44 * DAY).astype(np.int64)
    maint = np.where(fresh, np.where(u < p_new, start + delay, NEVER), legacy_wait)
    maint = np.where(wf.role[owner] == SALES, maint, NEVER)
    maint_day = cal.next_weekday(np.minimum(maint // DAY, cal.days))
    maint = np.where(maint < cal.end_seconds, maint_day * DAY + rng.integers(9 * HOUR, 18 * HOUR, len(maint)), NEVER)
    maint = np.where(maint < cal.end_seconds, maint, NEVER)
    return customer, start, owner, maint


def _run_accounts(
    wf: Workforce,
    cal: Calendar,
    moves: TerritoryMoves,
    recv: Receivers,
    rng: np.random.Generator,
    hand_time: np.ndarray,
    customer: np.ndarray,
    start: np.ndarray,
    owner0: np.ndarray,
    maint: np.ndarray,
):
    """Apply each account's next event (departure, maintenance, territory) until the window ends."""
    end = cal.end_seconds
    owner, t, maint = owner0.copy(), start.copy(), maint.copy()
    n_moves = len(moves.time)
    u_move = rng.random((len(customer), n_moves))
    done = np.zeros((len(customer), n_moves), dtype=bool)
    segs, chg = [], []
    active = np.arange(len(customer))
    while active.size:
        o, tc = owner[active], t[active]
        nxt_move, k = _next_move(wf, moves, o, tc, u_move[active], done[active])
        c_maint = np.where((maint[active] > tc) & (owner0[active] == o) & (wf.role[o] == SALES), maint[active], NEVER)
        cands = np.stack([hand_time[o], c_maint, nxt_move], axis=1)
        which = cands.argmin(axis=1)
        nxt = cands[np.arange(len(active)), which]
        fin = nxt >= end
        segs.append((active[fin], o[fin], tc[fin], np.full(fin.sum(), end)))
        a, o, tc, nxt, which, k = active[~fin], o[~fin], tc[~fin], nxt[~fin], which[~fin], k[~fin]
        new = _account_receivers(wf, moves, recv, rng, o, nxt // DAY, which, k)
        maint[a[which == 1]] = NEVER
        done[a[which == 2], k[which == 2]] = True
        moved = new >= 0
        kind = np.array([LEAVING, MAINT, TERRITORY])[which]
        segs.append((a[moved], o[moved], tc[moved], nxt[moved]))
        chg.append((customer[a[moved]], nxt[moved], o[moved], new[moved], kind[moved]))
        owner[a[moved]], t[a[moved]] = new[moved], nxt[moved]
        active = a
    seg = [np.concatenate([s[i] for s in segs]) for i in range(4)]
    seg[0] = customer[seg[0]]
    order = np.lexsort((seg[2], seg[0]))
    chg_cols = tuple(np.concatenate([c[i] for c in chg]) if chg else np.zeros(0, dtype=np.int64) for i in range(5))
    return [s[order] for s in seg], chg_cols


def _next_move(wf: Workforce, moves: TerritoryMoves, o: np.ndarray, tc: np.ndarray, u: np.ndarray, done: np.ndarray):
    if not len(moves.time):
        return np.full(len(o), NEVER), np.zeros(len(o), dtype=np.int64)
    hit = (
        (moves.time[None, :] > tc[:, None])
        & (wf.team[o][:, None] == moves.src[None, :])
        & (u < moves.share[None, :])
        & ~done
    )
    times = np.where(hit, moves.time[None, :], NEVER)
    k = times.argmin(axis=1)
    return times[np.arange(len(o)), k], k


def _account_receivers(
    wf: Workforce,
    moves: TerritoryMoves,
    recv: Receivers,
    rng: np.random.Generator,
    o: np.ndarray,
    day: np.ndarray,
    which: np.ndarray,
    k: np.ndarray,
) -> np.ndarray:
    """Leaver's book to anyone in the team (manager as last resort); maintenance only to assistants."""
    new = np.full(len(o), -1)
    team = wf.team[o]
    u = rng.random(len(o))
    for kind, prefer, only_ast in ((0, 0.3, False), (1, 1.0, True), (2, 0.15, False)):
        sel = np.flatnonzero(which == kind)
        if not sel.size:
            continue
        tm = moves.dst[k[sel]] if kind == 2 else team[sel]
        excl = np.full(len(sel), -1) if kind == 2 else o[sel]
        new[sel] = recv.pick(rng, tm, day[sel], day[sel], u[sel] < prefer, excl, assistants_only=only_ast)
        if kind != 1:
            miss = sel[new[sel] < 0]
            new[miss] = recv.manager[moves.dst[k[miss]] if kind == 2 else team[miss]]
    return new


# --- free-text reasons ----------------------------------------------------------------------

_REASONS = {
    FIRST: (("", "new lead"), (0.6, 0.4)),
    MAINT: (("account maintenance", "", "after-sales service"), (0.55, 0.35, 0.10)),
    LEAVING: (("employee leaving", "", "resignation handover"), (0.65, 0.25, 0.10)),
    LEAVE: (("leave cover", "", "vacation"), (0.5, 0.4, 0.1)),
    WORKLOAD: (("workload balancing", "", "capacity"), (0.4, 0.5, 0.1)),
    TERRITORY: (("territory realignment", ""), (0.85, 0.15)),
    # colluders mostly leave the field empty or borrow a legitimate-sounding reason
    COLLUSIVE: (("", "account maintenance", "workload balancing", "customer request"), (0.62, 0.22, 0.1, 0.06)),
    # a client's wish is usually written down: that is what the reviewer checks first
    REQUEST: (
        ("customer request", "client asked for a new contact", "", "client asked for local contact"),
        (0.55, 0.15, 0.2, 0.1),
    ),
    # the funnel's hand-overs are routine: mostly no reason at all
    FUNNEL: (("", "qualified lead", "handover to closer"), (0.88, 0.08, 0.04)),
}
# a hand-over at signing (prospect phase) says so; the maintenance texts are for accounts
_SIGNING = (("handover at signing", "onboarding", "", "account maintenance"), (0.45, 0.25, 0.2, 0.1))


def change_reasons(own: Ownership, cust: Customers, leads: Leads, rng: np.random.Generator) -> np.ndarray:
    """The CRM's free-text reason per change: often empty, sometimes misleading."""
    out = np.full(len(own.kind), "", dtype=object)
    u = rng.random(len(own.kind))
    lead = cust.lead[own.customer]
    at_signing = (own.kind == MAINT) & (lead >= 0) & (own.time < leads.close[np.maximum(lead, 0)])
    for kind, (texts, probs) in [*_REASONS.items(), (-1, _SIGNING)]:
        sel = (own.kind == kind) & ~at_signing if kind >= 0 else at_signing
        pick = np.searchsorted(np.cumsum(probs), u[sel], side="right")
        out[sel] = np.array(texts, dtype=object)[np.minimum(pick, len(texts) - 1)]
    out[(own.kind == FIRST) & (cust.lead[own.customer] < 0)] = "crm migration"
    return out

"""API keys: who may call the service, in which role and scope. Only a sha256 of a key is stored.

Roles (enforced per route in `api/permissions.py`):
- `hr_admin`  - everything: all teams, reviews, model reloads, the audit log;
- `hr_system` - ingest records and score (an HR system's integration account);
- `manager`   - alerts, insights and results of ONE team (`team_id` required);
- `employee`  - their own results and traces (`employee_id` required).

`check_scope` refuses a team or employee the store does not know (a key that would silently see
nothing) and warns when it has no records yet; `perfml keys create` runs it first.
`create_key` returns the plain key exactly once (`CreatedKey.key`); the store keeps
`hash_key(key)` only, so a lost key is replaced, never recovered. `verify_key` maps a presented
key to a `Principal` (or None); a small in-process cache keeps the hot path off the database
for `CACHE_SECONDS`, and `revoke_key` clears it, so a revocation in this process is immediate
and one from another process (the CLI) takes effect within `CACHE_SECONDS`.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perfml import audit_log
from perfml.errors import PerfmlError
from perfml.store import API_ROLES, CANONICAL, api_keys, create_all, engine_for, hash_key, utcnow

KEY_PREFIX = "pfm_"
CACHE_SECONDS = 5.0
ROLE_HELP = {
    "hr_admin": "everything (reviews, reloads, audit log, all teams)",
    "hr_system": "ingest records and score",
    "manager": "alerts, insights and results of one team (needs a team)",
    "employee": "own results and traces (needs an employee id)",
}


class KeyRequestError(PerfmlError):
    """A key cannot be created as asked (unknown role, missing team/employee)."""


@dataclass(frozen=True)
class Principal:
    """The caller behind a verified key: role and scope (team for managers, employee for employees)."""

    key_id: int
    role: str
    team_id: str | None = None
    employee_id: str | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        """How the audit log names this caller, e.g. `key:3/manager:T02`."""
        scope = self.team_id if self.role == "manager" else self.employee_id if self.role == "employee" else None
        return f"key:{self.key_id}/{self.role}" + (f":{scope}" if scope else "")

    @property
    def is_admin(self) -> bool:
        return self.role == "hr_admin"


@dataclass(frozen=True)
class CreatedKey:
    """A new key: `key` is the only time the plain text exists outside the caller's hands."""

    key: str
    principal: Principal


def _validate(role: str, team_id: str | None, employee_id: str | None) -> None:
    if role not in API_ROLES:
        raise KeyRequestError(f"unknown role {role!r}; choose from {', '.join(API_ROLES)}")
    if role == "manager" and not team_id:
        raise KeyRequestError("a manager key needs --team (the team whose alerts and results it may see)")
    if role == "employee" and not employee_id:
        raise KeyRequestError("an employee key needs --employee (the employee whose results it may see)")


_ACTIVITY = (("orders", "employee_id"), ("activities", "employee_id"), ("leads", "owner_id"))
"""Records that make a person visible in results: orders, activities and leads they own."""


def check_scope(
    role: str, team_id: str | None = None, employee_id: str | None = None, *, engine: Engine | str
) -> str | None:
    """Refuse a scope the store does not know (`KeyRequestError`); return a warning when it is known but
    has no orders, activities or leads yet (the key would see nothing today), else None."""

    _validate(role, team_id, employee_id)
    if role not in ("manager", "employee"):
        return None
    employees = CANONICAL["employees"]
    eng = engine_for(engine)
    create_all(eng)
    if role == "manager":
        who, people = f"team {team_id!r}", sa.select(employees.c.employee_id).where(employees.c.team_id == team_id)
    else:
        who, people = (
            f"employee {employee_id!r}",
            sa.select(employees.c.employee_id).where(employees.c.employee_id == employee_id),
        )
    with eng.connect() as conn:
        if conn.execute(people.limit(1)).first() is None:
            known = "team_id of any employee" if role == "manager" else "employee"
            raise KeyRequestError(
                f"{who} is not in the store (no {known} with that id); import it first "
                f"(perfml import DIR or POST /v1/ingest), then create the key"
            )
        for table, column in _ACTIVITY:
            t = CANONICAL[table]
            if conn.execute(sa.select(t.c[column]).where(t.c[column].in_(people)).limit(1)).first() is not None:
                return None
    return f"{who} has no orders, activities or leads yet: the key will see nothing until some are imported"


def create_key(
    *,
    role: str,
    team_id: str | None = None,
    employee_id: str | None = None,
    label: str | None = None,
    engine: Engine | str,
    created_by: str = "cli",
    request_id: str | None = None,
) -> CreatedKey:
    """Create a key for `role` (and scope); store its hash, audit the creation, return the plain key once."""

    _validate(role, team_id, employee_id)
    # Scope columns only where the role uses them, so a key never carries a stray scope.
    team_id = team_id if role == "manager" else None
    employee_id = employee_id if role == "employee" else None
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    eng = engine_for(engine)
    create_all(eng)
    with eng.begin() as conn:
        key_id = conn.execute(
            sa.insert(api_keys)
            .values(
                key_hash=hash_key(key),
                role=role,
                team_id=team_id,
                employee_id=employee_id,
                label=label,
                created_at=utcnow(),
            )
            .returning(api_keys.c.id)
        ).scalar_one()
        principal = Principal(int(key_id), role, team_id, employee_id, label)
        audit_log.write(
            conn,
            principal=created_by,
            action="key.create",
            target=principal.name,
            request_id=request_id,
            details={"role": role, "team_id": team_id, "employee_id": employee_id, "label": label},
        )
    return CreatedKey(key, principal)


_cache: dict[tuple[str, str], tuple[float, Principal | None]] = {}
_cache_lock = threading.Lock()


def verify_key(key: str | None, engine: Engine | str) -> Principal | None:
    """The principal of a valid, unrevoked key; None for anything else (no hint which part failed)."""
    if not key or not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    eng = engine_for(engine)
    digest = hash_key(key)
    cache_key = (str(eng.url), digest)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(cache_key)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    with eng.connect() as conn:
        row = conn.execute(
            sa.select(
                api_keys.c.id, api_keys.c.role, api_keys.c.team_id, api_keys.c.employee_id, api_keys.c.label
            ).where(api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None))
        ).first()
    principal = None if row is None else Principal(int(row.id), row.role, row.team_id, row.employee_id, row.label)
    with _cache_lock:
        if len(_cache) > 10_000:  # bounded: unknown keys must not grow it forever
            _cache.clear()
        _cache[cache_key] = (now, principal)
    return principal


def revoke_key(key_id: int, *, engine: Engine | str, revoked_by: str = "cli", request_id: str | None = None) -> bool:
    """Revoke a key by id (it stops working at once in this process); False if no such active key."""

    eng = engine_for(engine)
    create_all(eng)
    with eng.begin() as conn:
        done = conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        ).rowcount
        if done:
            audit_log.write(
                conn, principal=revoked_by, action="key.revoke", target=f"key:{key_id}", request_id=request_id
            )
    clear_cache()
    return bool(done)


def list_keys(engine: Engine | str) -> list[dict]:
    """Every key's id, role, scope, label and dates (never a hash, never a key)."""
    eng = engine_for(engine)
    create_all(eng)
    cols = [
        api_keys.c.id,
        api_keys.c.role,
        api_keys.c.team_id,
        api_keys.c.employee_id,
        api_keys.c.label,
        api_keys.c.created_at,
        api_keys.c.revoked_at,
    ]
    with eng.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(*cols).order_by(api_keys.c.id))]


def clear_cache() -> None:
    """Forget verified keys (after a revocation; tests)."""
    with _cache_lock:
        _cache.clear()


__all__ = [
    "CACHE_SECONDS",
    "CreatedKey",
    "KEY_PREFIX",
    "KeyRequestError",
    "Principal",
    "ROLE_HELP",
    "check_scope",
    "clear_cache",
    "create_key",
    "list_keys",
    "revoke_key",
    "verify_key",
]

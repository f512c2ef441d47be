"""Who may do what (the roles of `perfml.keys`), declared per route, and who may see which record.

Role gates are dependencies: a route takes e.g. `principal: Reviewer` and the gate answers 403
for any other role. Record visibility is separate: a manager sees one team, an employee one
person; anything outside answers 404 exactly like a record that does not exist, so a caller
cannot probe for other teams' ids.

| role      | score | ingest | alerts (read, review) | refresh | KPI / employees | models | reload, audit |
|-----------|-------|--------|-----------------------|---------|-----------------|--------|---------------|
| hr_admin  | yes   | yes    | all                   | yes     | all             | yes    | yes           |
| hr_system | yes   | yes    | -                     | yes     | -               | read   | -             |
| manager   | by id, own team | - | own team             | -       | own team        | -      | -             |
| employee  | -     | -      | -                     | -       | self            | -      | -             |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends

from api.deps import CurrentPrincipal
from api.errors import ApiProblem, not_found
from perfml.keys import Principal


def require(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only `roles` (403 problem otherwise); returns the principal."""
    allowed = frozenset(roles)

    async def gate(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise ApiProblem(
                403,
                f"role {principal.role!r} may not do this (allowed: {', '.join(sorted(allowed))})",
                kind="forbidden",
            )
        return principal

    gate.__name__ = f"require_{'_'.join(sorted(allowed))}"
    return gate


Admin = Annotated[Principal, Depends(require("hr_admin"))]
Integrator = Annotated[Principal, Depends(require("hr_admin", "hr_system"))]
Scorer = Annotated[Principal, Depends(require("hr_admin", "hr_system"))]
IdScorer = Annotated[Principal, Depends(require("hr_admin", "hr_system", "manager"))]
Reviewer = Annotated[Principal, Depends(require("hr_admin", "manager"))]
ResultReader = Annotated[Principal, Depends(require("hr_admin", "manager", "employee"))]
ModelReader = Annotated[Principal, Depends(require("hr_admin", "hr_system"))]


def team_scope(principal: Principal) -> str | None:
    """The only team a principal may see (managers), or None for no team restriction."""
    return principal.team_id if principal.role == "manager" else None


def can_see(principal: Principal, *, employee_id: str | None, team_id: str | None) -> bool:
    """Whether a record about `employee_id` in `team_id` is visible to the principal."""
    if principal.role in ("hr_admin", "hr_system"):
        return True
    if principal.role == "manager":
        return team_id is not None and team_id == principal.team_id
    if principal.role == "employee":
        return employee_id is not None and employee_id == principal.employee_id
    return False


def ensure_visible(principal: Principal, what: str, *, employee_id: str | None, team_id: str | None) -> None:
    """404 (not 403) for a record outside the principal's scope: indistinguishable from a missing one."""
    if not can_see(principal, employee_id=employee_id, team_id=team_id):
        raise not_found(what)

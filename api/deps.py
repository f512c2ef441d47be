"""Dependencies, declared once: settings, store session, loaded models, current principal.

Routes take them as `Annotated` aliases: `SettingsDep`, `StoreSession`, `Models`, `Data`,
`Context`, `CurrentPrincipal`, `RequestId`. Role checks live in `api.permissions`. The trivial
ones are `async def` on purpose: FastAPI runs a plain `def` dependency in the threadpool, a hop
that costs more than the dependency itself on the scoring hot path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.context import ServiceContext
from api.errors import ApiProblem
from perfml.config import Settings
from perfml.keys import Principal, verify_key
from perfml.serving.champions import ServingModels
from perfml.serving.snapshot import DatasetCache
from perfml.store import session_scope

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="pfm_...",
    description="An API key as `Authorization: Bearer pfm_...`; create one with "
    "`perfml keys create --role ROLE [--team T] [--employee E]`.",
)


async def get_context(request: Request) -> ServiceContext:
    return request.app.state.ctx


Context = Annotated[ServiceContext, Depends(get_context)]


async def settings_of(ctx: Context) -> Settings:
    return ctx.settings


SettingsDep = Annotated[Settings, Depends(settings_of)]


def get_session(ctx: Context) -> Iterator[Session]:
    """A store session for the request: committed when the route returns, rolled back if it raises."""
    with session_scope(ctx.engine) as session:
        yield session


StoreSession = Annotated[Session, Depends(get_session)]


async def get_models(ctx: Context) -> ServingModels:
    return ctx.models


Models = Annotated[ServingModels, Depends(get_models)]


async def get_data(ctx: Context) -> DatasetCache:
    return ctx.data


Data = Annotated[DatasetCache, Depends(get_data)]


async def get_request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


RequestId = Annotated[str | None, Depends(get_request_id)]


async def current_principal(
    request: Request, ctx: Context, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> Principal:
    """The caller behind the bearer key; 401 problem when it is missing, unknown or revoked."""
    # verify_key answers from an in-process cache almost always; a miss is one indexed lookup.
    principal = verify_key(credentials.credentials, ctx.engine) if credentials else None
    if principal is None:
        raise ApiProblem(
            401,
            "missing or invalid API key (send `Authorization: Bearer pfm_...`)",
            kind="unauthenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

"""Request dependencies: the services, and the platform a bearer key belongs to."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.services import Services
from storage.agents import find_agent
from storage.machine import Actor
from storage.platforms import KeyOwner

_bearer = HTTPBearer(auto_error=False, description="The platform's API key")


def services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]


async def current_platform(
    svc: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> KeyOwner:
    if credentials is None:
        raise ApiError(
            401,
            "unauthorized",
            "send the platform's API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    owner = await svc.keys.owner(credentials.credentials)
    if owner is None:
        raise ApiError(
            401,
            "unauthorized",
            "the API key is not valid",
            headers={"WWW-Authenticate": "Bearer"},
        )
    wait = await svc.limiter.acquire(owner.key_id)
    if wait is not None:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests for this API key; retry in {wait:.0f}s",
            {"retry_after": wait},
            headers={"Retry-After": str(int(wait))},
        )
    return owner


PlatformDep = Annotated[KeyOwner, Depends(current_platform)]


async def resolve_agent(svc: Services, ident: str) -> Actor:
    """An agent named by Slack user id or email, with the name customers will see."""
    known = await find_agent(svc.db, ident)
    if known is not None:
        return Actor(known.id, known.name)
    if "@" in ident:
        return Actor(ident, ident.split("@", 1)[0])
    return Actor(ident, ident)


def platform_actor(owner: KeyOwner) -> Actor:
    return Actor(f"platform:{owner.platform_name}", owner.platform_name)

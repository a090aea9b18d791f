"""Request dependencies: the services, the platform a bearer key belongs to, and the
agents a request names."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.http.errors import ApiError
from api.services import Services
from bot.people import NotAnAgent, SlackUnreachable, padding_problem
from storage.agents import find_agent
from storage.machine import Actor
from storage.platforms import KeyOwner

bearer = HTTPBearer(auto_error=False, description="The platform's API key")


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


ServicesDep = Annotated[Services, Depends(services)]


async def current_platform(
    svc: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
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


async def resolve_agent(svc: Services, ident: str, field: str, *, current: bool = True) -> Actor:
    """The agent a request names in ``field``, with the name customers will see. With
    Slack, the Slack person a user id or an email names (``People.resolve``; ``current``
    as it takes it): a value that names nobody is a 422 naming the field, and Slack not
    answering a 503. Without Slack, the value as given."""
    try:
        if svc.people is not None:
            return await svc.people.resolve(ident, current=current)
        return await _as_given(svc, ident)
    except NotAnAgent as exc:
        raise ApiError(
            422, "validation_error", f"{field}: {exc}", [{"field": field, "message": str(exc)}]
        ) from None
    except SlackUnreachable as exc:
        wait = exc.retry_after or 1
        raise ApiError(
            503,
            "unavailable",
            f"{field}: Slack could not be asked who {ident} is ({exc.reason}); "
            f"try again in {wait}s",
            {"field": field},
            headers={"Retry-After": str(wait)},
        ) from None


async def _as_given(svc: Services, ident: str) -> Actor:
    problem = padding_problem(ident)
    if problem is not None:
        raise NotAnAgent(problem)
    known = await find_agent(svc.db, ident)
    if known is not None:
        return Actor(known.id, known.name)
    if "@" in ident:
        return Actor(ident, ident.split("@", 1)[0])
    return Actor(ident, ident)


def platform_actor(owner: KeyOwner) -> Actor:
    return Actor(f"platform:{owner.platform_name}", owner.platform_name)

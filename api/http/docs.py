"""The app as its reference presents it: ``/docs`` (Swagger UI) and ``/redoc`` served with
their assets from Baton itself (the ``fastapi-offline`` package ships them: no CDN, so they
work with no internet access), the API's introduction, its tags, and the events as webhooks.
"""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from api.http.webhooks import declare_webhooks

ASSETS_URL = "/docs/assets"

DESCRIPTION = """
A bot platform escalates a conversation here; Baton posts it to Slack as a card, relays the
team's replies to the customer through the platform's callback URL, and hands the
conversation back to the bot when the team is done.

**Authentication.** Every `/v1` request carries the platform's API key:
`Authorization: Bearer <api key>`. A platform sees only its own escalations: another
platform's id answers 404.

**Errors** always have one shape, `{"error": {"code", "message", "details"}}`, with codes
`unauthorized` (401), `forbidden` (403), `not_found` (404), `conflict` (409: someone else owns
it, or an `Idempotency-Key` is still in flight), `invalid_transition` (409: not allowed from
the escalation's current status), `validation_error` and `idempotency_mismatch` (422),
`payload_too_large` (413: bodies over 1 MiB), `rate_limited` (429) and `unavailable` (503).
Unknown fields and wrong types answer 422 naming the field.

**Rate limit.** Each API key may make 50 requests/s by default, in bursts of up to twice
that (`[api] rate_limit` in the configuration file); past it, 429 with `Retry-After`.

**Events.** Baton POSTs what happens to each escalation (taken, a reply for the customer,
returned, closed…) to the platform's callback URL, signed per Standard Webhooks: see
*Webhooks* below.
"""

TAGS = [
    {"name": "escalations", "description": "Conversations handed to the team, and their moves."},
    {"name": "files", "description": "Files agents share in Slack, for the customer's side."},
    {"name": "stats", "description": "What the platform tells Baton about its bot's day."},
    {"name": "health", "description": "Liveness and readiness probes; no API key needed."},
    {"name": "metrics", "description": "Prometheus metrics; no API key needed."},
    {"name": "events", "description": "What Baton POSTs to platforms and webhook subscribers."},
]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def documented_app(lifespan: Lifespan) -> FastAPI:
    """The FastAPI app, with its reference pages and its webhooks declared."""
    app = FastAPIOffline(
        title="Baton",
        summary="Hand conversations from an AI bot to a support team in Slack, and back.",
        description=DESCRIPTION,
        version="0.1.0",
        openapi_tags=TAGS,
        lifespan=lifespan,
        static_url=ASSETS_URL,
        # Swagger UI would otherwise ask validator.swagger.io about the document.
        swagger_ui_parameters={"validatorUrl": None},
    )
    declare_webhooks(app)
    return app

"""``POST /slack/events``: events, interactivity and slash commands, signed by Slack, for bolt."""

from collections.abc import Mapping

from fastapi import APIRouter, HTTPException, Request, Response
from slack_sdk.signature import SignatureVerifier

from api.http.deps import ServicesDep
from api.http.errors import error_response

router = APIRouter()


def _signed_by_slack(signing_secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    try:
        return SignatureVerifier(signing_secret).is_valid_request(body, headers)
    except ValueError:  # a timestamp that is not a number, a body that is not UTF-8
        return False


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request, svc: ServicesDep) -> Response:
    handler = getattr(request.app.state, "slack_handler", None)
    if handler is None or svc.slack is None:
        raise HTTPException(404, "Slack is not set up here (SLACK_BOT_TOKEN is not set)")
    # Bolt decodes and parses the body, and reads the timestamp as a number, before it checks
    # the signature: a stranger's malformed request would crash it. Refuse those first.
    if not _signed_by_slack(svc.slack.signing_secret, await request.body(), request.headers):
        return error_response(401, "unauthorized", "the request is not signed by Slack")
    response: Response = await handler.handle(request)
    return response

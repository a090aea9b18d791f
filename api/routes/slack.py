"""``POST /slack/events``: events, interactivity and slash commands, verified by bolt."""

from fastapi import APIRouter, HTTPException, Request, Response

router = APIRouter()


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    handler = getattr(request.app.state, "slack_handler", None)
    if handler is None:
        raise HTTPException(404, "Slack is not set up here (SLACK_BOT_TOKEN is not set)")
    response: Response = await handler.handle(request)
    return response

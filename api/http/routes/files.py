"""Agents' files, for the customer's side: ``GET /v1/files/{id}``.

Answered to a link Baton made (its signature and expiry checked), or to the API key of the
platform whose escalation the file belongs to. The bytes stream from Slack as they come:
never a whole file in memory.
"""

import re
from contextlib import AsyncExitStack
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.background import BackgroundTask

from api.http.deps import ServicesDep, bearer, current_platform
from api.http.errors import ApiError
from api.http.responses import errors_of
from api.http.schemas import NoNul
from api.services import Services
from api.slack_files import NotServed
from storage import attachments
from storage.models import FileAttachment

router = APIRouter(prefix="/v1/files", tags=["files"])

FileId = Annotated[
    str, Path(min_length=1, max_length=64, description="The file's id, `att_…`."), NoNul
]
_UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f"\\/;]')


@router.get(
    "/{attachment_id}",
    operation_id="downloadFile",
    summary="Download a file an agent shared",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The file's bytes", "content": {"application/octet-stream": {}}},
        **errors_of(
            403,
            404,
            502,
            503,
            body=False,
            meanings={
                401: "`unauthorized`: no signed link and no valid API key.",
                403: "`forbidden`: the link's signature is wrong or it has expired.",
                404: "`not_found`: no such file for this platform, or Slack no longer has it.",
                503: "`unavailable`: Slack is not set up here, or the database did not answer.",
            },
        ),
    },
)
async def download_file(
    attachment_id: FileId,
    svc: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    expires: Annotated[
        str | None, Query(max_length=20, description="The signed link's expiry, as given.")
    ] = None,
    signature: Annotated[
        str | None, Query(max_length=100, description="The signed link's signature, as given.")
    ] = None,
) -> StreamingResponse:
    """A file an agent shared in the card's thread, streamed from Slack: as the link in an
    event's `message.attachments` gives it (its `expires` and `signature`, no API key
    needed until it expires), or with the API key of the platform the escalation belongs
    to. **403** for a link whose signature is wrong or that has expired; **404** for a file
    of another platform's, or one Slack no longer has; **502** if Slack would not give it;
    **503** if Slack is not set up here."""
    links = svc.machine.file_links
    platform: str | None = None  # whose key asks; None: a signed link
    if expires is not None or signature is not None:
        if links is None or not links.valid(attachment_id, expires or "", signature or ""):
            raise ApiError(403, "forbidden", "the link's signature is wrong or it has expired")
    else:
        platform = (await current_platform(svc, credentials)).platform_id
    found = await attachments.for_customer(svc.db, attachment_id)
    if found is None or (platform is not None and found[1] != platform):
        raise ApiError(404, "not_found", f"no file {attachment_id}")
    return await _streamed(svc, found[0])


async def _streamed(svc: Services, file: FileAttachment) -> StreamingResponse:
    if svc.slack_files is None:
        raise ApiError(503, "unavailable", "Slack is not set up: files cannot be fetched")
    stack = AsyncExitStack()
    try:
        upstream = await stack.enter_async_context(
            svc.slack_files.open(file.source_url, file.mime_type, file.size)
        )
    except NotServed as exc:
        await stack.aclose()
        if exc.gone:
            raise ApiError(404, "not_found", f"{file.id}: {exc.reason}") from None
        raise ApiError(502, "bad_gateway", f"{file.id}: {exc.reason}") from None

    headers = {
        "content-disposition": content_disposition(file.name),
        "x-content-type-options": "nosniff",
        "cache-control": "private, no-store",
    }
    if upstream.size is not None:
        headers["content-length"] = str(upstream.size)
    media_type = file.mime_type or upstream.content_type
    # Slack's answer is closed once the response ends, the customer's side gone or not.
    return StreamingResponse(
        upstream.body,
        headers=headers,
        media_type=media_type,
        background=BackgroundTask(stack.aclose),
    )


def content_disposition(name: str) -> str:
    """``attachment`` with the name as plain ASCII (quotes, slashes and control characters
    replaced) and in full as RFC 6266's ``filename*``: no name can break out of the header
    or name a path."""
    safe = _UNSAFE_IN_NAME.sub("_", name)
    plain = safe.encode("ascii", "replace").decode().replace("?", "_")
    full = quote(safe, safe="")
    return f"attachment; filename=\"{plain or 'file'}\"; filename*=UTF-8''{full}"

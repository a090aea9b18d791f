"""The error answers as the OpenAPI document describes them.

``api.http.errors`` writes them; these models and texts only document them.
"""

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from api.http import errors


class ErrorBody(errors.ErrorBody):
    """What went wrong."""

    code: str = Field(
        description="`bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`, "
        "`invalid_transition`, `payload_too_large`, `validation_error`, "
        "`idempotency_mismatch`, `rate_limited`, `unavailable`, `bad_gateway`…"
    )
    message: str = Field(description="What went wrong, for a person to read.")
    details: Any = Field(
        None,
        description="More, by code: for `validation_error`, a list of `{field, message}`; for "
        "`conflict` and `forbidden`, the `owner`; for `invalid_transition`, the current "
        "`status`; otherwise usually null.",
    )


class ErrorEnvelope(errors.ErrorEnvelope):
    """Every error answer: one envelope."""

    error: ErrorBody = Field(description="The error: its code, message and details.")


MEANINGS: dict[int, str] = {
    400: "`bad_request`: the body could not be read (it is not UTF-8).",
    401: "`unauthorized`: no `Authorization: Bearer` API key, or one that is not valid.",
    403: "`forbidden`: only the escalation's owner may do this; the message names the owner.",
    404: "`not_found`: the platform has no escalation with this id.",
    409: "`conflict` or `invalid_transition`: see the description.",
    413: "`payload_too_large`: the body is over 1 MiB.",
    422: "`validation_error`: a field is missing, unknown or wrong; `details` names each.",
    429: "`rate_limited`: over the API key's request budget; retry after `Retry-After`.",
    502: "`bad_gateway`: Slack would not give the file.",
    503: "`unavailable`: the database (or Slack, asked who an agent is) did not answer in "
    "time; retry after `Retry-After`.",
}


def errors_of(
    *statuses: int, body: bool = True, meanings: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The error answers of an operation: those every one may give (401, 413, 422, 429, and
    400 with a body) and ``statuses``, each with its meaning (``meanings`` overrides some)."""
    common: tuple[int, ...] = (401, 413, 422, 429)
    if body:  # a body that is not UTF-8 cannot even be read as JSON: FastAPI answers 400
        common += (400,)
    described = {**MEANINGS, **(meanings or {})}
    return {
        status: {"model": ErrorEnvelope, "description": described[status]}
        for status in sorted({*common, *statuses})
    }

"""One error envelope for every error: ``{"error": {"code", "message", "details"}}``."""

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from storage.database import DatabaseError, cause, unavailable
from storage.errors import (
    Conflict,
    IdempotencyInFlight,
    IdempotencyMismatch,
    InvalidTransition,
    NotFound,
    NotOwner,
    StorageError,
)

log = logging.getLogger("baton.api")

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def storage_error_response(exc: StorageError) -> JSONResponse:
    message = str(exc)
    match exc:
        case NotFound():
            return error_response(404, "not_found", message)
        case Conflict():
            return error_response(
                409, "conflict", message, {"owner": _owner(exc.owner_id, exc.owner_name)}
            )
        case InvalidTransition():
            return error_response(409, "invalid_transition", message, {"status": str(exc.status)})
        case NotOwner():
            owner = _owner(exc.owner_id, exc.owner_name) if exc.owner_id else None
            return error_response(403, "forbidden", message, {"owner": owner})
        case IdempotencyMismatch():
            return error_response(422, "idempotency_mismatch", message)
        case IdempotencyInFlight():
            return error_response(409, "conflict", message, headers={"Retry-After": "1"})
    return error_response(400, "bad_request", message)


def _owner(owner_id: str | None, name: str | None) -> dict[str, str | None]:
    """Who owns an escalation, as a 403 and a 409 both name them."""
    return {"id": owner_id, "name": name}


def _field(loc: tuple[Any, ...], kind: str = "") -> str:
    if kind == "json_invalid":  # the location is a character position, not a field
        return "body"
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    if parts and parts[-1] == "[key]":  # a map's key, itself refused: the map, and which key
        parts = parts[:-1] if parts[-2:-1] != [""] else parts[:-2]
    return ".".join(parts) or "body"


def _validation_message(error: dict[str, Any]) -> str:
    if error["loc"] and error["loc"][-1] == "[key]":
        return f"a name: {error['msg']}"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "json_invalid":
        reason = (error.get("ctx") or {}).get("error")
        where = f" at character {error['loc'][-1]}" if isinstance(error["loc"][-1], int) else ""
        return f"not valid JSON{where}" + (f": {reason}" if reason else "")
    return str(error["msg"])


def validation_response(exc: RequestValidationError) -> JSONResponse:
    details = [
        {"field": _field(tuple(e["loc"]), e["type"]), "message": _validation_message(e)}
        for e in exc.errors()
    ]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    return error_response(422, "validation_error", summary or "invalid request", details)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(StorageError)
    async def _storage_error(_: Request, exc: StorageError) -> JSONResponse:
        return storage_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES_BY_STATUS.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message, headers=exc.headers)

    @app.exception_handler(DatabaseError)
    async def _database_error(_: Request, exc: DatabaseError) -> JSONResponse:
        if unavailable(exc):
            log.warning("database unavailable: %s", type(cause(exc)).__name__)
            return error_response(
                503,
                "unavailable",
                "the database is unavailable; try again shortly",
                headers={"Retry-After": "1"},
            )
        log.exception("database error")
        return error_response(500, "internal_error", "internal error")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal error")

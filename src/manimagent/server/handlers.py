"""The one place failures become JSON: `{"error": ...}` (plus `details` for fields) with a REST status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from manimagent.errors import ManimagentError, RateLimited, Unauthorized
from manimagent.settings import debug_enabled

log = logging.getLogger("manimagent.server")

HTTP_MESSAGES = {
    401: "Authentication required.",
    404: "Not found.",
    405: "Method not allowed.",
    406: "Not acceptable.",
    413: "Request body too large.",
    415: "Unsupported media type.",
}


def error_body(message: str, *, details: Any = None, hint: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message}
    if hint:
        body["hint"] = hint
    if details is not None:
        body["details"] = details
    return body


async def on_manimagent_error(_request: Request, exc: ManimagentError) -> JSONResponse:
    headers = {}
    if isinstance(exc, RateLimited) and isinstance(exc.details, dict):
        headers["Retry-After"] = str(exc.details.get("retry_after", 60))
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    details = exc.details if isinstance(exc.details, list) else None
    message = exc.message if exc.message.endswith(".") else f"{exc.message}."
    return JSONResponse(
        error_body(message, details=details, hint=exc.hint), status_code=exc.http_status, headers=headers
    )


async def on_validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return JSONResponse(error_body("Malformed JSON body."), status_code=400)
    details = [_field_error(error) for error in errors]
    summary = "; ".join(f"{item['field']}: {item['message']}" for item in details[:3])
    return JSONResponse(
        error_body(f"Invalid request: {summary}." if summary else "Invalid request.", details=details),
        status_code=422,
    )


def _field_error(error: dict[str, Any]) -> dict[str, str]:
    location = [str(part) for part in error.get("loc", ())]
    if location and location[0] == "body":
        location = location[1:]
    return {
        "field": ".".join(location) or "body",
        "message": str(error.get("msg", "")),
        "type": str(error.get("type", "")),
    }


async def on_http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    message = HTTP_MESSAGES.get(exc.status_code) or (
        exc.detail if isinstance(exc.detail, str) else "Request failed."
    )
    return JSONResponse(
        error_body(message), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    from manimagent.store.db import store_fault

    fault = store_fault(exc, request.app.state.settings.database_url_effective)
    if fault is not None:  # a damaged database, a full disk, an unwritable home: 503 with its fix
        log.error("store failure on %s %s: %s", request.method, request.url.path, fault.one_line())
        return await on_manimagent_error(request, fault)
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    message = (
        f"Internal server error: {type(exc).__name__}: {exc}" if debug_enabled() else "Internal server error."
    )
    return JSONResponse(error_body(message), status_code=500)


def install_handlers(app: FastAPI) -> None:
    # the decorator form: add_exception_handler's type takes only handlers of any Exception
    app.exception_handler(ManimagentError)(on_manimagent_error)
    app.exception_handler(RequestValidationError)(on_validation_error)
    app.exception_handler(HTTPException)(on_http_error)
    app.exception_handler(Exception)(on_unexpected_error)

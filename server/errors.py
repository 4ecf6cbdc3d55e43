"""Typed errors raised inside the server and their RFC 9457 problem-details form.

Code raises these (or Litestar's HTTP exceptions); `problem_details_plugin()` turns every one
of them, and any unexpected exception, into an `application/problem+json` answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import sentry_sdk
import structlog
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)

from server.text import DISPLAY_TEXT

log = structlog.get_logger(__name__)


class GalaxyError(Exception):
    """Base of the errors a request can end with; `detail` is shown to the user."""

    status_code = 400
    slug = "bad-request"

    def __init__(self, detail: str, *, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = dict(extra or {})

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(GalaxyError):
    pass


class Unauthorized(GalaxyError):
    status_code = 401
    slug = "unauthorized"


class Forbidden(GalaxyError):
    status_code = 403
    slug = "forbidden"


class NotFound(GalaxyError):
    status_code = 404
    slug = "not-found"


class Conflict(GalaxyError):
    status_code = 409
    slug = "conflict"


class PayloadTooLarge(GalaxyError):
    status_code = 413
    slug = "payload-too-large"


class Invalid(GalaxyError):
    """The request was well-formed but its content is not acceptable; `errors` lists why."""

    status_code = 422
    slug = "invalid"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, extra={"errors": errors or []})


class TooManyRequests(GalaxyError):
    status_code = 429
    slug = "rate-limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, extra={"retry_after": retry_after})
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def _problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemDetailsException:
    phrase = HTTPStatus(status).phrase
    return ProblemDetailsException(
        status_code=status,
        title=phrase,
        detail=detail,
        type_=f"urn:galaxy:problem:{slug or phrase.lower().replace(' ', '-')}",
        extra=dict(extra or {}),
        headers=dict(headers or {}),
    )


def _from_galaxy_error(exc: GalaxyError) -> ProblemDetailsException:
    return _problem(exc.status_code, exc.detail, slug=exc.slug, extra=exc.extra, headers=exc.headers())


# msgspec names the pattern a string failed; say what the display-name pattern means instead.
_DISPLAY_TEXT_RULE = (
    f"`str` matching regex {DISPLAY_TEXT!r}",
    "visible text (no control, bidi or zero-width characters)",
)


def _readable(message: str) -> str:
    return message.replace(*_DISPLAY_TEXT_RULE)


def _from_validation(exc: ValidationException) -> ProblemDetailsException:
    errors = exc.extra if isinstance(exc.extra, list) else []
    errors = [{**e, "message": _readable(str(e.get("message", "")))} if isinstance(e, dict) else e for e in errors]
    messages = [str(e.get("message", "")) for e in errors if isinstance(e, dict)]
    detail = (
        "The request is not valid: " + "; ".join(m for m in messages if m)
        if messages
        else (exc.detail or "The request is not valid.")
    )
    status = 400 if exc.status_code == 400 else exc.status_code
    return _problem(status, detail, slug="invalid-request", extra={"errors": errors})


def _from_http(exc: HTTPException) -> ProblemDetailsException:
    if isinstance(exc, ValidationException):
        return _from_validation(exc)
    detail = exc.detail
    if exc.status_code == 413:
        detail = "The request body is larger than this endpoint accepts."
    extra = exc.extra if isinstance(exc.extra, dict) else {}
    if exc.status_code >= 500:
        log.error("http_exception", status=exc.status_code, detail=detail, exc_info=exc)
    return _problem(exc.status_code, detail, extra=extra, headers=exc.headers)


def _from_recursion(exc: RecursionError) -> ProblemDetailsException:
    # Only hostile input nests deep enough for this: JSON bodies thousands of levels deep.
    return _problem(400, "The request is nested too deeply to be processed.", slug="invalid-request")


def _from_unexpected(exc: Exception) -> ProblemDetailsException:
    log.error("unhandled_exception", exc_info=exc)
    sentry_sdk.capture_exception(exc)  # deduplicated if the integration already saw it
    return _problem(500, "Something went wrong on our side; it has been logged.")


def problem_details_plugin() -> ProblemDetailsPlugin:
    """Every error answer, expected or not, becomes RFC 9457 problem details."""
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(
            exception_to_problem_detail_map={
                GalaxyError: _from_galaxy_error,
                HTTPException: _from_http,
                RecursionError: _from_recursion,
                Exception: _from_unexpected,
            }
        )
    )

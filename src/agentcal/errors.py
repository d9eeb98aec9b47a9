"""The one error base of agentcal and its RFC 9457 problem-details rendering.

Services raise `AgentcalError` subclasses; a single exception handler turns them
into `application/problem+json`. `ToolError` is the root of the tool errors, whose
tree `agentcal.providers.base` draws: a tool call answers them as results.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

PROBLEM_JSON = "application/problem+json"


def problem_type(slug: str) -> str:
    return f"urn:agentcal:problem:{slug}"


class AgentcalError(Exception):
    """An error with an HTTP status and a message that tells the caller what to do."""

    status_code: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    # Seconds a 503 asks the caller to wait when the error itself names no time.
    retry_after: ClassVar[str | None] = None

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        if self.status_code == 503 and self.retry_after:
            self.headers.setdefault("Retry-After", self.retry_after)

    def body(self) -> dict[str, Any]:
        return {
            "type": problem_type(self.slug),
            "title": HTTPStatus(self.status_code).phrase,
            "status": self.status_code,
            "detail": self.detail,
        }


class Unauthorized(AgentcalError):
    status_code = 401
    slug = "unauthorized"

    def __init__(self, detail: str, *, error: str | None = "invalid_token") -> None:
        # A request with no credentials gets a bare Bearer challenge, with no error code.
        challenge = 'Bearer realm="agentcal"'
        if error:
            safe = detail.replace('"', "'")
            challenge += f', error="{error}", error_description="{safe}"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(AgentcalError):
    status_code = 403
    slug = "forbidden"


class NotFound(AgentcalError):
    status_code = 404
    slug = "not-found"

    def __init__(self, what: str, ident: object) -> None:
        super().__init__(f"{what} {ident} does not exist or is not visible to this token")


class Conflict(AgentcalError):
    status_code = 409
    slug = "conflict"


class ContentTooLarge(AgentcalError):
    status_code = 413
    slug = "content-too-large"


class UnsupportedMediaType(AgentcalError):
    status_code = 415
    slug = "unsupported-media-type"


class TooManyRequests(AgentcalError):
    status_code = 429
    slug = "rate-limited"


class HeadersTooLarge(AgentcalError):
    status_code = 431
    slug = "headers-too-large"


class InvalidInput(AgentcalError):
    """422 for rules that need the database (a bot of another unit, …)."""

    status_code = 422
    slug = "validation-error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.errors = [{"field": field, "message": message}]

    def body(self) -> dict[str, Any]:
        return {**super().body(), "errors": self.errors}


class ToolError(AgentcalError):
    """A tool call that could not do what was asked; answered as a result with `ok: false`.

    `code` is what a model reads; `retryable` says whether the same call may succeed
    later; `data` holds facts to act on (the nearest free times, the event types to
    choose from), as JSON values.
    """

    status_code = 422
    slug = "tool-error"
    code: ClassVar[str] = "error"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        detail: str,
        *,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail, headers=headers)
        self.data: dict[str, Any] = data or {}

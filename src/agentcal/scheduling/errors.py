"""Tool errors about times, with a message a model can act on and `data` it can reuse.

They are `AgentcalError`s like the provider errors, so the management API could render
them as problem details; the tool runtime reports `code`, `detail` and `data` instead.
"""

from __future__ import annotations

from typing import Any, ClassVar

from agentcal.errors import AgentcalError


class SchedulingError(AgentcalError):
    """A time argument the scheduler cannot use. Repeating the call unchanged never helps."""

    status_code = 422
    slug = "scheduling-error"
    code: ClassVar[str] = "invalid_request"
    retryable: ClassVar[bool] = False

    def __init__(self, detail: str, *, data: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        # Structured facts behind the message (nearest valid times, the earliest
        # acceptable start, …) for a result's `data`: ISO 8601 strings, never datetimes.
        self.data: dict[str, Any] = data or {}


class InvalidDatetime(SchedulingError):
    """Unreadable, non-existent (DST gap), past, too soon, or out of range (SPEC §4.4)."""

    slug = "invalid-datetime"
    code = "invalid_datetime"


class InvalidTimezone(SchedulingError):
    """A `timeZone` argument that is not an IANA zone name."""

    slug = "invalid-timezone"
    code = "invalid_timezone"

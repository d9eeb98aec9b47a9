"""Tool errors about times, with a message a model can act on and `data` it can reuse.

Leaves of the tool error tree (`agentcal.providers.base` draws it): the runtime
answers their `code`, `detail` and `data`. `data` holds ISO 8601 strings (the nearest
valid times, the earliest acceptable start), never datetimes.
"""

from __future__ import annotations

from agentcal.errors import ToolError


class SchedulingError(ToolError):
    """A time argument the scheduler cannot use. Repeating the call unchanged never helps."""

    status_code = 422
    slug = "scheduling-error"
    code = "invalid_request"


class InvalidDatetime(SchedulingError):
    """Unreadable, non-existent (a DST gap), past, too soon, or out of range."""

    slug = "invalid-datetime"
    code = "invalid_datetime"


class InvalidTimezone(SchedulingError):
    """A `timeZone` argument that is not an IANA zone name."""

    slug = "invalid-timezone"
    code = "invalid_timezone"

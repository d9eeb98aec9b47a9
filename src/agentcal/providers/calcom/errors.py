"""Cal.com failures, each carrying the tool error code the runtime reports to a model.

They are `AgentcalError`s, so the management API renders them as problem details;
none of them ever carries the API key.
"""

from __future__ import annotations

from agentcal.errors import AgentcalError


class CalcomError(AgentcalError):
    """Cal.com could not do what was asked."""

    status_code = 502
    slug = "calcom-error"
    code = "upstream_unavailable"


class CalcomAuthError(CalcomError):
    """Cal.com refused the API key (401/403)."""

    slug = "calcom-auth-invalid"
    code = "auth_invalid"


class CalcomNotFound(CalcomError):
    slug = "calcom-not-found"
    code = "not_found"


class CalcomSlotUnavailable(CalcomError):
    """The slot is taken, or outside the user's availability."""

    status_code = 409
    slug = "calcom-slot-unavailable"
    code = "slot_unavailable"


class CalcomRateLimited(CalcomError):
    status_code = 503
    slug = "calcom-rate-limited"
    code = "rate_limited"


class CalcomUnavailable(CalcomError):
    """Cal.com answered 5xx, timed out or could not be reached."""

    slug = "calcom-unavailable"
    code = "upstream_unavailable"


class CalcomRequestError(CalcomError):
    """Cal.com refused the request as invalid (400/422)."""

    slug = "calcom-invalid-request"
    code = "invalid_request"

"""Cal.com's errors: leaves of the tool error tree (`agentcal.providers.base`).

Each is a `CalcomError` (anything Cal.com said) and the category that says what it
means, which gives its tool code, HTTP status and whether a retry may help. None ever
carries the API key.
"""

from __future__ import annotations

from agentcal.providers.base import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRequestError,
    ProviderSlotTaken,
    ProviderUnavailable,
)


class CalcomError(ProviderError):
    """Cal.com could not do what was asked."""

    slug = "calcom-error"


class CalcomAuthError(CalcomError, ProviderAuthError):
    """Cal.com refused the API key (401/403)."""

    slug = ProviderAuthError.slug  # one problem type for every refused credential


class CalcomNotFound(CalcomError, ProviderNotFound):
    slug = "calcom-not-found"


class CalcomSlotUnavailable(CalcomError, ProviderSlotTaken):
    """The slot is taken, or outside the user's availability."""

    slug = "calcom-slot-unavailable"


class CalcomRateLimited(CalcomError, ProviderRateLimited):
    slug = "calcom-rate-limited"


class CalcomUnavailable(CalcomError, ProviderUnavailable):
    """Cal.com answered 5xx, timed out or could not be reached."""

    slug = "calcom-unavailable"


class CalcomRequestError(CalcomError, ProviderRequestError):
    """Cal.com refused the request as invalid (400/422)."""

    slug = "calcom-invalid-request"

"""Google Calendar's errors: leaves of the tool error tree (`agentcal.providers.base`).

Each is a `GoogleError` (anything Google said) and the category that says what it
means, which gives its tool code, HTTP status and whether a retry may help. None ever
carries an access token, a refresh token or the client secret: messages are built
from statuses, Google's `reason` codes and our own words.
"""

from __future__ import annotations

from agentcal.providers.base import (
    CredentialsExpired,
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRequestError,
    ProviderUnavailable,
)


class GoogleError(ProviderError):
    """Google Calendar could not do what was asked."""

    slug = "google-error"


class GoogleAuthError(GoogleError, ProviderAuthError):
    """Google refused agentcal itself: the operator's OAuth client (invalid_client), or
    the account has no right to the calendar (403 other than a rate limit)."""

    slug = ProviderAuthError.slug  # one problem type for every refused credential


class GoogleCredentialsExpired(GoogleError, CredentialsExpired):
    """The function's Google authorization no longer works; only a new token helps."""

    slug = CredentialsExpired.slug


class GoogleAccessTokenRefused(GoogleCredentialsExpired):
    """Google answered 401 to an access token. With a refresh token this is recoverable:
    the function's `httpx.Auth` (`credentials.FunctionAuth`) refreshes once and repeats."""


class GoogleInvalidGrant(GoogleCredentialsExpired):
    """The token endpoint answered `invalid_grant`: the refresh token is expired or revoked."""


class GoogleRateLimited(GoogleError, ProviderRateLimited):
    """429, or 403 `rateLimitExceeded` / `userRateLimitExceeded` (Google's usage limits)."""

    slug = "google-rate-limited"


class GoogleNotFound(GoogleError, ProviderNotFound):
    """404, or 410 (the event was deleted)."""

    slug = "google-not-found"


class GoogleUnavailable(GoogleError, ProviderUnavailable):
    """Google answered 5xx, timed out, ran out of the time budget, or could not be reached."""

    slug = "google-unavailable"


class GoogleRequestError(GoogleError, ProviderRequestError):
    """Google refused the request as invalid (400, 409, 412, …)."""

    slug = "google-invalid-request"

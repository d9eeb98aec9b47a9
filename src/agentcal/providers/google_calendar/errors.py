"""Google Calendar failures, each carrying the tool error code the runtime reports to a model.

They are `AgentcalError`s, so the management API renders them as problem details.
None of them ever carries an access token, a refresh token or the client secret:
messages are built from statuses, Google's `reason` codes and our own words.
"""

from __future__ import annotations

from agentcal.errors import AgentcalError


class GoogleError(AgentcalError):
    """Google Calendar could not do what was asked."""

    status_code = 502
    slug = "google-error"
    code = "upstream_unavailable"


class GoogleAuthError(GoogleError):
    """Google refused agentcal itself: the operator's OAuth client (invalid_client), or
    the account has no right to the calendar (403 other than a rate limit)."""

    slug = "google-auth-invalid"
    code = "auth_invalid"


class GoogleCredentialsExpired(GoogleError):
    """The function's Google authorization no longer works; only a new token helps."""

    slug = "google-calendar-auth-expired"
    code = "calendar_auth_expired"


class GoogleAccessTokenRefused(GoogleCredentialsExpired):
    """Google answered 401 to an access token. With a refresh token this is recoverable:
    `credentials.with_access_token` refreshes once and repeats the call."""


class GoogleInvalidGrant(GoogleCredentialsExpired):
    """The token endpoint answered `invalid_grant`: the refresh token is expired or revoked."""


class GoogleRateLimited(GoogleError):
    """429, or 403 `rateLimitExceeded` / `userRateLimitExceeded` (Google's usage limits)."""

    status_code = 503
    slug = "google-rate-limited"
    code = "rate_limited"


class GoogleNotFound(GoogleError):
    """404, or 410 (the event was deleted)."""

    slug = "google-not-found"
    code = "not_found"


class GoogleUnavailable(GoogleError):
    """Google answered 5xx, timed out, ran out of the time budget, or could not be reached."""

    slug = "google-unavailable"
    code = "upstream_unavailable"


class GoogleRequestError(GoogleError):
    """Google refused the request as invalid (400, 409, 412, …)."""

    slug = "google-invalid-request"
    code = "invalid_request"

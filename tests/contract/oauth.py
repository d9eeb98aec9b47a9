"""The Google OAuth token endpoint, checked by hand against RFC 6749.

Neither Google document describes `POST https://oauth2.googleapis.com/token`, so the rules are
the RFC's (sections cited inline) plus what specs/README.md records from google-auth
(`refresh_grant`: form-encoded grant_type, client_id, client_secret, refresh_token, scope?).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

OPERATION = "oauth2.token"
FORM = "application/x-www-form-urlencoded"
# RFC 6749 §5.2 error codes. Google also answers `temporarily_unavailable` / `server_error`
# from its token endpoint; the README lists them as retryable.
ERROR_CODES = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "temporarily_unavailable",
        "server_error",
        "internal_failure",
    }
)
# Parameters that would leak if sent in the URL (logged by every proxy on the way).
_SECRETS = ("client_secret", "refresh_token", "code", "password")


def operation_for(body: bytes | None) -> str:
    """`oauth2.token (refresh_token)` etc.: the grant is what distinguishes the operations."""
    grants = [value for name, value in _form(body) if name == "grant_type"]
    grant = grants[0] if grants else "?"
    return f"{OPERATION} ({grant})"


def _form(body: bytes | None) -> list[tuple[str, str]]:
    try:
        return parse_qsl((body or b"").decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return []


def check_request(
    method: str, query: Sequence[tuple[str, str]], headers: Mapping[str, str], body: bytes | None
) -> list[str]:
    errors: list[str] = []
    # §3.2: "The client MUST use the HTTP POST method when making access token requests."
    if method.upper() != "POST":
        errors.append(f"the token endpoint takes POST, not {method.upper()}")
    # §4.1.3 / §6: parameters use "application/x-www-form-urlencoded" in the request body.
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        errors.append(f"Content-Type must be {FORM}, got {content_type or 'none'!r}")
    leaked = [name for name, _ in query if name in _SECRETS]
    if leaked:
        errors.append(f"secrets in the URL query: {', '.join(leaked)} (they belong in the body)")
    pairs = _form(body)
    given: dict[str, list[str]] = defaultdict(list)
    for name, value in pairs:
        given[name].append(value)
    # §3.2: "Request and response parameters MUST NOT be included more than once."
    for name, values in given.items():
        if len(values) > 1:
            errors.append(f"parameter {name!r} sent {len(values)} times")
    form = {name: values[0] for name, values in given.items()}
    grant = form.get("grant_type")
    if not grant:
        errors.append("grant_type is missing")
    elif grant == "refresh_token":
        # §6: grant_type "REQUIRED. Value MUST be set to refresh_token"; refresh_token REQUIRED.
        if not form.get("refresh_token"):
            errors.append("refresh_token is missing (required with grant_type=refresh_token)")
    elif grant == "authorization_code":
        # §4.1.3: code REQUIRED (redirect_uri when the authorization request had one).
        if not form.get("code"):
            errors.append("code is missing (required with grant_type=authorization_code)")
    else:
        errors.append(f"grant_type {grant!r} is not a grant agentcal's flows use")
    scope = form.get("scope")
    if scope is not None and (not scope.strip() or "," in scope):
        # §3.3: scope is a space-delimited list.
        errors.append(f"scope {scope!r} is not a space-delimited list")
    errors.extend(_client_authentication(headers, form))
    return errors


def _client_authentication(headers: Mapping[str, str], form: Mapping[str, str]) -> list[str]:
    """§2.3.1: HTTP Basic, or client_id + client_secret in the body - never both."""
    basic = None
    authorization = headers.get("authorization", "")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "basic":
            return [f"the token request carries a {scheme!r} Authorization; only Basic is valid"]
        try:
            basic = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ["the Basic Authorization header is not base64 of client_id:client_secret"]
    in_body = "client_secret" in form
    if basic is not None and in_body:
        # §2.3: "The client MUST NOT use more than one authentication method in each request."
        return ["client credentials are sent both in the Basic header and in the body"]
    if basic is not None:
        client_id, sep, secret = basic.partition(":")
        return [] if sep and client_id and secret else ["Basic credentials lack id or secret"]
    missing = [name for name in ("client_id", "client_secret") if not form.get(name)]
    if missing:
        return [f"client authentication is missing: {', '.join(missing)}"]
    return []


def check_response(status: int, headers: Mapping[str, str], body: bytes | None) -> list[str]:
    if status >= 500:
        return []  # Front-end errors; RFC 6749 says nothing about them.
    try:
        data: Any = json.loads(body or b"")
    except ValueError:
        return [f"the token endpoint answered {status} with a body that is not JSON"]
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    errors = [] if content_type == "application/json" else [f"Content-Type {content_type!r}"]
    if not isinstance(data, dict):
        return [*errors, "the token endpoint answered something that is not a JSON object"]
    if 200 <= status < 300:
        # §5.1: access_token and token_type REQUIRED; expires_in RECOMMENDED, in seconds.
        if not isinstance(data.get("access_token"), str) or not data["access_token"]:
            errors.append("access_token is missing")
        if str(data.get("token_type", "")).lower() != "bearer":
            errors.append(f"token_type is {data.get('token_type')!r}, not Bearer")
        expires = data.get("expires_in")
        if expires is not None and (not isinstance(expires, int) or isinstance(expires, bool)):
            errors.append(f"expires_in is {expires!r}, not a number of seconds")
        if "refresh_token" in data and not isinstance(data["refresh_token"], str):
            errors.append("refresh_token is not a string")
        return errors
    # §5.2: 400 (401 for invalid_client) with {"error": <code>, "error_description"?}.
    code = data.get("error")
    if code not in ERROR_CODES:
        errors.append(f"error {code!r} is not an RFC 6749 §5.2 error code")
    description = data.get("error_description")
    if description is not None and not isinstance(description, str):
        errors.append("error_description is not a string")
    return errors

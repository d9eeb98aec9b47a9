"""Cal.com API v2 client: one pooled `httpx.AsyncClient`, owned by the app's lifespan.

Each operation sends the `cal-api-version` its endpoint requires and parses the
`{"status": "success", "data": …}` envelope into Pydantic models.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentcal import __version__
from agentcal.calcom.errors import (
    CalcomAuthError,
    CalcomError,
    CalcomNotFound,
    CalcomRateLimited,
    CalcomRequestError,
    CalcomUnavailable,
)

EVENT_TYPES_VERSION = "2024-06-14"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class EventType(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: int
    slug: str
    title: str
    length_in_minutes: int = Field(alias="lengthInMinutes")


class CalcomClient:
    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": f"agentcal/{__version__}"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def event_types(self, api_key: str, username: str) -> list[EventType]:
        """`GET /v2/event-types?username=` — the user's event types."""
        data = await self._get(
            "/v2/event-types", api_key, EVENT_TYPES_VERSION, params={"username": username}
        )
        try:
            return [EventType.model_validate(item) for item in data]
        except (ValidationError, TypeError) as exc:
            raise CalcomError("Cal.com answered event types in an unexpected shape") from exc

    async def _get(self, path: str, api_key: str, version: str, params: dict[str, str]) -> Any:
        headers = {"Authorization": f"Bearer {api_key}", "cal-api-version": version}
        try:
            response = await self._http.get(path, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise CalcomUnavailable("Cal.com did not answer in time") from exc
        except httpx.HTTPError as exc:  # transport, decoding, redirects: Cal.com is unusable
            raise CalcomUnavailable(f"Cal.com could not be reached ({type(exc).__name__})") from exc
        return _data(response)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or response.reason_phrase)[:300]


def _data(response: httpx.Response) -> Any:
    status = response.status_code
    if status in (401, 403):
        raise CalcomAuthError(
            f"Cal.com refused the integration's API key ({status}); "
            "set a valid key with PUT /api/v1/calcom/integration/{id} and `apiKey`"
        )
    if status == 404:
        raise CalcomNotFound(f"Cal.com: {_error_message(response)}")
    if status == 429:
        retry = response.headers.get("Retry-After")
        raise CalcomRateLimited(
            "Cal.com is rate-limiting this API key" + (f"; retry after {retry} s" if retry else ""),
            headers={"Retry-After": retry} if retry else None,
        )
    if status >= 500:
        raise CalcomUnavailable(f"Cal.com is unavailable ({status})")
    if status >= 400:
        raise CalcomRequestError(
            f"Cal.com refused the request ({status}): {_error_message(response)}"
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise CalcomError("Cal.com answered with something that is not JSON") from exc
    if not isinstance(body, dict) or body.get("status") != "success" or "data" not in body:
        raise CalcomError("Cal.com answered without its success envelope")
    return body["data"]

"""The Cal.com API v2 sandbox: users with API keys and event types.

Answers in Cal.com's own shapes: the `{"status": "success", "data": …}` envelope, the
required fields of the spec's output schemas, and the NestJS error envelope.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from agentcal.validation import Slug, Timezone, Username

DEMO_USERNAME = "demo"
DEMO_API_KEY = "cal_sandbox_demo"
DEMO_TIMEZONE = "America/Sao_Paulo"
EVENT_TYPES_VERSION = "2024-06-14"


@dataclass
class SandboxEventType:
    id: int
    slug: str
    length_in_minutes: int
    owner_id: int
    username: str
    hidden: bool = False

    @property
    def title(self) -> str:
        return f"{self.length_in_minutes} min meeting"

    def output(self) -> dict[str, Any]:
        """`EventTypeOutput_2024_06_14`, with every field the spec marks required."""
        return {
            "id": self.id,
            "lengthInMinutes": self.length_in_minutes,
            "title": self.title,
            "slug": self.slug,
            "description": "",
            "locations": [],
            "bookingFields": [],
            "disableGuests": False,
            "recurrence": None,
            "metadata": {},
            "price": 0,
            "currency": "usd",
            "lockTimeZoneToggleOnBookingPage": False,
            "forwardParamsSuccessRedirect": None,
            "successRedirectUrl": None,
            "isInstantEvent": False,
            "scheduleId": None,
            "hidden": self.hidden,
            "bookingRequiresAuthentication": False,
            "ownerId": self.owner_id,
            "users": [self.username],
            "bookingUrl": f"https://cal.com/{self.username}/{self.slug}",
        }


@dataclass
class SandboxUser:
    id: int
    username: str
    api_key: str
    time_zone: str
    event_types: list[SandboxEventType] = field(default_factory=list)


class CalcomState:
    """Everything the Cal.com sandbox knows; starts with the demo account of SPEC §8."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.users: dict[str, SandboxUser] = {}
        self.add_user(DEMO_USERNAME, DEMO_TIMEZONE, [("30min", 30), ("60min", 60)], DEMO_API_KEY)

    def add_user(
        self,
        username: str,
        time_zone: str,
        event_types: list[tuple[str, int]],
        api_key: str | None = None,
    ) -> SandboxUser:
        user = SandboxUser(
            id=next(self._ids),
            username=username,
            api_key=api_key or f"cal_sandbox_{secrets.token_hex(12)}",
            time_zone=time_zone,
        )
        for slug, minutes in event_types:
            user.event_types.append(
                SandboxEventType(next(self._ids), slug, minutes, user.id, username)
            )
        self.users[username] = user
        return user

    def by_key(self, api_key: str) -> SandboxUser | None:
        return next((u for u in self.users.values() if u.api_key == api_key), None)


def calcom_error(request: Request, status: int, code: str, message: str) -> JSONResponse:
    """Cal.com's NestJS error envelope."""
    return JSONResponse(
        {
            "status": "error",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "path": request.url.path,
            "error": {"code": code, "message": message},
        },
        status_code=status,
    )


def _caller(state: CalcomState, authorization: str | None) -> SandboxUser | None | bool:
    """The user of a bearer API key; None without one; False for an invalid one."""
    if not authorization:
        return None
    scheme, _, key = authorization.partition(" ")
    user = state.by_key(key.strip()) if scheme.lower() == "bearer" else None
    return user if user is not None else False


def create_calcom_api(state: CalcomState) -> FastAPI:
    """The `/v2/...` endpoints, to be mounted at `/calcom`."""
    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @api.get("/v2/event-types")
    async def event_types(
        request: Request,
        cal_api_version: Annotated[str | None, Header(alias="cal-api-version")] = None,
        authorization: Annotated[str | None, Header()] = None,
        username: str | None = None,
    ) -> JSONResponse:
        if cal_api_version != EVENT_TYPES_VERSION:
            return calcom_error(
                request, 400, "BadRequestException",
                f"cal-api-version must be {EVENT_TYPES_VERSION} for this sandbox",
            )  # fmt: skip
        caller = _caller(state, authorization)
        if caller is False:
            return calcom_error(request, 401, "UnauthorizedException", "Invalid API key")
        owner = state.users.get(username) if username else caller
        if not isinstance(owner, SandboxUser):
            return calcom_error(request, 404, "NotFoundException", f"User {username} not found")
        # Hidden event types only for their owner, as Cal.com documents.
        visible = [e for e in owner.event_types if not e.hidden or caller is owner]
        return JSONResponse({"status": "success", "data": [e.output() for e in visible]})

    @api.get("/v2/me")
    async def me(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        caller = _caller(state, authorization)
        if not isinstance(caller, SandboxUser):
            return calcom_error(request, 401, "UnauthorizedException", "Invalid Access Token")
        return JSONResponse(
            {
                "status": "success",
                "data": {
                    "id": caller.id,
                    "username": caller.username,
                    "email": f"{caller.username}@sandbox.cal.test",
                    "name": caller.username,
                    "avatarUrl": None,
                    "bio": None,
                    "timeFormat": 24,
                    "defaultScheduleId": None,
                    "weekStart": "Monday",
                    "timeZone": caller.time_zone,
                    "organizationId": None,
                },
            }
        )

    return api


class _EventTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    slug: Slug
    length_in_minutes: int = Field(alias="lengthInMinutes", strict=True, ge=5, le=480)


class _UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    username: Username
    time_zone: Timezone = Field(alias="timeZone")
    event_types: list[_EventTypeIn] = Field(
        alias="eventTypes",
        default_factory=lambda: [_EventTypeIn(slug="30min", length_in_minutes=30)],
    )


def create_calcom_admin(state: CalcomState) -> APIRouter:
    """`/sandbox/calcom/...`: set up accounts from outside."""
    router = APIRouter(prefix="/sandbox/calcom", tags=["Cal.com sandbox"])

    @router.post("/users", status_code=201, response_model=None)
    async def add_user(body: _UserIn, request: Request) -> dict[str, Any] | JSONResponse:
        if body.username in state.users:
            return calcom_error(request, 409, "ConflictException", "username already taken")
        user = state.add_user(
            body.username, body.time_zone, [(e.slug, e.length_in_minutes) for e in body.event_types]
        )
        return {
            "apiKey": user.api_key,
            "username": user.username,
            "eventTypes": [
                {"id": e.id, "slug": e.slug, "lengthInMinutes": e.length_in_minutes}
                for e in user.event_types
            ],
        }

    return router

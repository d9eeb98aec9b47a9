"""The Cal.com API v2 sandbox: users with API keys and event types.

Answers in Cal.com's own shapes: the `{"status": "success", "data": …}` envelope, the
required fields of the spec's output schemas, and the NestJS error envelope.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from agentcal.kit.validation import Slug, Timezone, Username

DEMO_USERNAME = "demo"
DEMO_API_KEY = "cal_sandbox_demo"
DEMO_TIMEZONE = "America/Sao_Paulo"
EVENT_TYPES_VERSION = "2024-06-14"
SLOTS_VERSION = "2024-09-04"
BOOKINGS_VERSION = "2024-08-13"
# Every sandbox user works Mon–Fri 09:00–18:00 in their own timezone.
WORKDAYS = frozenset(range(5))
DAY_START, DAY_END = time(9, 0), time(18, 0)
# Cal.com's answer to a taken slot (its error-code-to-status map gives 409).
NOT_AVAILABLE = "no_available_users_found_error"
# Bookings that hold their slot: accepted, and those waiting for the host's confirmation.
LIVE = frozenset({"accepted", "pending"})


@dataclass
class SandboxEventType:
    id: int
    slug: str
    length_in_minutes: int
    owner_id: int
    username: str
    hidden: bool = False
    # Bookings wait for the host's confirmation (status "pending"), and block their slot
    # meanwhile (Cal.com's `confirmationPolicy`, with `blockUnconfirmedBookingsInBooker`).
    requires_confirmation: bool = False

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
            **(
                {"confirmationPolicy": {"type": "always", "blockUnconfirmedBookingsInBooker": True}}
                if self.requires_confirmation
                else {}
            ),
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

    @property
    def email(self) -> str:
        return f"{self.username}@sandbox.cal.test"

    def working_windows(self, day: date) -> list[tuple[datetime, datetime]]:
        """The user's working hours on a local `day`, as aware datetimes."""
        if day.weekday() not in WORKDAYS:
            return []
        tz = ZoneInfo(self.time_zone)
        return [(datetime.combine(day, DAY_START, tz), datetime.combine(day, DAY_END, tz))]


@dataclass
class SandboxBooking:
    id: int
    uid: str
    user: SandboxUser
    event_type: SandboxEventType
    start: datetime
    end: datetime
    attendee: dict[str, Any]
    created_at: datetime
    status: str = "accepted"
    notes: str | None = None
    cancellation_reason: str | None = None
    rescheduled_from_uid: str | None = None
    rescheduled_to_uid: str | None = None
    reschedule_reason: str | None = None
    updated_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def output(self) -> dict[str, Any]:
        """`BookingOutput_2024_08_13`, with every field the spec marks required."""
        email = self.attendee.get("email") or ""
        out: dict[str, Any] = {
            "id": self.id,
            "uid": self.uid,
            "title": f"{self.event_type.title} with {self.attendee['name']}",
            "description": self.notes or "",
            "hosts": [
                {
                    "id": self.user.id,
                    "name": self.user.username,
                    "email": self.user.email,
                    "displayEmail": self.user.email,
                    "username": self.user.username,
                    "timeZone": self.user.time_zone,
                }
            ],
            "status": self.status,
            "start": _z(self.start),
            "end": _z(self.end),
            "duration": int((self.end - self.start).total_seconds() // 60),
            "eventTypeId": self.event_type.id,
            "eventType": {"id": self.event_type.id, "slug": self.event_type.slug},
            "location": f"https://sandbox.cal.test/video/{self.uid}",
            "absentHost": False,
            "createdAt": _z(self.created_at),
            "updatedAt": _z(self.updated_at or self.created_at),
            "attendees": [
                {
                    "name": self.attendee["name"],
                    "email": email,
                    "displayEmail": email,
                    "timeZone": self.attendee["timeZone"],
                    "absent": False,
                    **({"phoneNumber": p} if (p := self.attendee.get("phoneNumber")) else {}),
                }
            ],
            "bookingFieldsResponses": {
                "name": self.attendee["name"],
                "email": email,
                **({"notes": self.notes} if self.notes else {}),
            },
            "metadata": dict(self.metadata),
        }
        for key, value in (
            ("cancellationReason", self.cancellation_reason),
            ("rescheduledFromUid", self.rescheduled_from_uid),
            ("rescheduledToUid", self.rescheduled_to_uid),
            ("reschedulingReason", self.reschedule_reason),
        ):
            if value:
                out[key] = value
        return out


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CalcomState:
    """Everything the Cal.com sandbox knows; starts with the demo account."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.users: dict[str, SandboxUser] = {}
        self.bookings: dict[str, SandboxBooking] = {}
        self.add_user(DEMO_USERNAME, DEMO_TIMEZONE, [("30min", 30), ("60min", 60)], DEMO_API_KEY)

    def add_user(
        self,
        username: str,
        time_zone: str,
        event_types: list[tuple[str, int]],
        api_key: str | None = None,
        confirming: frozenset[str] = frozenset(),
    ) -> SandboxUser:
        """A user with these (slug, minutes) event types; those whose slug is in
        `confirming` require the host's confirmation of each booking."""
        user = SandboxUser(
            id=next(self._ids),
            username=username,
            api_key=api_key or f"cal_sandbox_{secrets.token_hex(12)}",
            time_zone=time_zone,
        )
        for slug, minutes in event_types:
            user.event_types.append(
                SandboxEventType(
                    next(self._ids),
                    slug,
                    minutes,
                    user.id,
                    username,
                    requires_confirmation=slug in confirming,
                )
            )
        self.users[username] = user
        return user

    def by_key(self, api_key: str) -> SandboxUser | None:
        return next((u for u in self.users.values() if u.api_key == api_key), None)

    def event_type(
        self, event_type_id: int | None, slug: str | None, username: str | None
    ) -> SandboxEventType | None:
        for user in self.users.values():
            for event_type in user.event_types:
                if event_type_id is not None and event_type.id == event_type_id:
                    return event_type
                if slug and event_type.slug == slug and user.username == username:
                    return event_type
        return None

    def is_free(
        self, user: SandboxUser, start: datetime, end: datetime, ignore: str | None = None
    ) -> bool:
        """Inside working hours, in the future, and clear of the user's live bookings."""
        if start <= datetime.now(UTC):
            return False
        local = start.astimezone(ZoneInfo(user.time_zone))
        inside = any(a <= start and end <= b for a, b in user.working_windows(local.date()))
        clash = any(
            b.user is user
            and b.status in LIVE
            and b.uid != ignore
            and b.start < end
            and start < b.end
            for b in self.bookings.values()
        )
        return inside and not clash

    def slots(
        self, event_type: SandboxEventType, start: datetime, end: datetime, length: int
    ) -> list[tuple[datetime, datetime]]:
        """Free slots of `length` minutes starting in [start, end), one per `length`."""
        user = self.users[event_type.username]
        tz = ZoneInfo(user.time_zone)
        found: list[tuple[datetime, datetime]] = []
        day = start.astimezone(tz).date() - timedelta(days=1)
        while datetime.combine(day, time(0), tz) < end:
            for window_start, window_end in user.working_windows(day):
                slot = window_start
                while slot + timedelta(minutes=length) <= window_end:
                    slot_end = slot + timedelta(minutes=length)
                    if start <= slot < end and self.is_free(user, slot, slot_end):
                        found.append((slot, slot_end))
                    slot = slot_end
            day += timedelta(days=1)
        return found

    def book(
        self,
        event_type: SandboxEventType,
        start: datetime,
        length: int,
        attendee: dict[str, Any],
        notes: str | None,
        ignore: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> SandboxBooking | None:
        user = self.users[event_type.username]
        end = start + timedelta(minutes=length)
        if not self.is_free(user, start, end, ignore=ignore):
            return None
        booking = SandboxBooking(
            id=next(self._ids),
            uid=secrets.token_hex(11),
            user=user,
            event_type=event_type,
            start=start,
            end=end,
            attendee=attendee,
            created_at=datetime.now(UTC),
            status="pending" if event_type.requires_confirmation else "accepted",
            notes=notes,
            metadata=dict(metadata or {}),
        )
        self.bookings[booking.uid] = booking
        return booking


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
                request,
                400,
                "BadRequestException",
                f"cal-api-version must be {EVENT_TYPES_VERSION} for this sandbox",
            )
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

    @api.get("/v2/slots")
    async def slots(
        request: Request,
        cal_api_version: Annotated[str | None, Header(alias="cal-api-version")] = None,
        start: str | None = None,
        end: str | None = None,
        eventTypeId: int | None = None,  # noqa: N803 - Cal.com's query names
        eventTypeSlug: str | None = None,  # noqa: N803
        username: str | None = None,
        timeZone: str = "UTC",  # noqa: N803
        duration: int | None = None,
        format: str | None = None,  # noqa: A002
    ) -> JSONResponse:
        if cal_api_version != SLOTS_VERSION:
            return calcom_error(
                request, 400, "BadRequestException", f"cal-api-version must be {SLOTS_VERSION}"
            )
        begin, finish = _moment(start), _moment(end)
        if begin is None or finish is None or finish <= begin:
            return calcom_error(
                request, 400, "BadRequestException", "start and end must be ISO 8601, start < end"
            )
        event_type = state.event_type(eventTypeId, eventTypeSlug, username)
        if event_type is None:
            return calcom_error(request, 404, "NotFoundException", "Event type not found")
        try:
            tz = ZoneInfo(timeZone)
        except (KeyError, ValueError):
            return calcom_error(request, 400, "BadRequestException", "invalid timeZone")
        length = duration or event_type.length_in_minutes
        grouped: dict[str, list[dict[str, str]]] = {}
        for slot_start, slot_end in state.slots(event_type, begin, finish, length):
            local = slot_start.astimezone(tz)
            entry = {"start": local.isoformat(timespec="milliseconds")}
            if format == "range":
                entry["end"] = slot_end.astimezone(tz).isoformat(timespec="milliseconds")
            grouped.setdefault(local.date().isoformat(), []).append(entry)
        return JSONResponse({"status": "success", "data": grouped})

    def _booking_version(request: Request, version: str | None) -> JSONResponse | None:
        if version != BOOKINGS_VERSION:
            return calcom_error(
                request, 400, "BadRequestException", f"cal-api-version must be {BOOKINGS_VERSION}"
            )
        return None

    def _booking(
        request: Request, uid: str, version: str | None, authorization: str | None
    ) -> SandboxBooking | JSONResponse:
        """The booking `uid`, after the version and key checks every booking route makes."""
        if refused := _booking_version(request, version):
            return refused
        caller = _caller(state, authorization)
        if caller is False:
            return calcom_error(request, 401, "UnauthorizedException", "Invalid API key")
        booking = state.bookings.get(uid)
        if booking is None or (isinstance(caller, SandboxUser) and booking.user is not caller):
            return calcom_error(request, 404, "NotFoundException", f"Booking {uid} not found")
        return booking

    @api.post("/v2/bookings", status_code=201)
    async def create_booking(
        request: Request,
        cal_api_version: Annotated[str | None, Header(alias="cal-api-version")] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        if refused := _booking_version(request, cal_api_version):
            return refused
        if _caller(state, authorization) is False:
            return calcom_error(request, 401, "UnauthorizedException", "Invalid API key")
        try:
            body = await request.json()
        except ValueError:
            return calcom_error(request, 400, "BadRequestException", "body must be JSON")
        problem = _booking_problem(body)
        if problem:
            return calcom_error(request, 400, "BAD_REQUEST", problem)
        event_type = state.event_type(
            body.get("eventTypeId"), body.get("eventTypeSlug"), body.get("username")
        )
        if event_type is None:
            return calcom_error(request, 404, "NotFoundException", "Event type not found")
        start = _moment(body["start"])
        assert start is not None  # checked by _booking_problem
        notes = (body.get("bookingFieldsResponses") or {}).get("notes")
        length = body.get("lengthInMinutes") or event_type.length_in_minutes
        booking = state.book(
            event_type, start, int(length), body["attendee"], notes, metadata=body.get("metadata")
        )
        if booking is None:
            return calcom_error(request, 409, "ConflictException", NOT_AVAILABLE)
        return JSONResponse({"status": "success", "data": booking.output()}, status_code=201)

    @api.get("/v2/bookings")
    async def list_bookings(
        request: Request,
        cal_api_version: Annotated[str | None, Header(alias="cal-api-version")] = None,
        authorization: Annotated[str | None, Header()] = None,
        attendeeEmail: str | None = None,  # noqa: N803 - Cal.com's query names
        afterStart: str | None = None,  # noqa: N803
        beforeEnd: str | None = None,  # noqa: N803
        sortStart: str | None = None,  # noqa: N803
        take: int = 100,
    ) -> JSONResponse:
        """The caller's bookings (authentication required, as Cal.com documents it), by
        start time (latest first with `sortStart=desc`)."""
        if refused := _booking_version(request, cal_api_version):
            return refused
        caller = _caller(state, authorization)
        if not isinstance(caller, SandboxUser):
            return calcom_error(request, 401, "UnauthorizedException", "Invalid API key")
        after, before = _moment(afterStart), _moment(beforeEnd)
        email = attendeeEmail.lower() if attendeeEmail else None
        if sortStart not in (None, "asc", "desc"):
            return calcom_error(
                request, 400, "BAD_REQUEST", "sortStart - must be one of: asc, desc"
            )
        ordered = sorted(state.bookings.values(), key=lambda b: b.start)
        found = [
            b
            for b in (reversed(ordered) if sortStart == "desc" else ordered)
            if b.user is caller
            and (email is None or (b.attendee.get("email") or "").lower() == email)
            and (after is None or b.start >= after)
            and (before is None or b.end <= before)
        ]
        page = found[: max(1, take)]
        return JSONResponse(
            {
                "status": "success",
                "data": [b.output() for b in page],
                "pagination": {
                    "totalItems": len(found),
                    "remainingItems": len(found) - len(page),
                    "returnedItems": len(page),
                    "itemsPerPage": max(1, take),
                    "currentPage": 1,
                    "totalPages": 1 if found else 0,
                    "hasNextPage": len(found) > len(page),
                    "hasPreviousPage": False,
                },
            }
        )

    @api.get("/v2/bookings/{uid}")
    async def get_booking(
        request: Request,
        uid: str,
        cal_api_version: Annotated[str | None, Header(alias="cal-api-version")] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        found = _booking(request, uid, cal_api_version, authorization)
        if isinstance(found, JSONResponse):
            return found
        return JSONResponse({"status": "success", "data": found.output()})

    @api.post("/v2/bookings/{uid}/cancel")
    async def cancel_booking(
        request: Request,
        uid: str,
        cal_api_version: Annotated[str | None, Header(alias="cal-api-version")] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        found = _booking(request, uid, cal_api_version, authorization)
        if isinstance(found, JSONResponse):
            return found
        if found.status == "cancelled":
            return calcom_error(
                request, 400, "BadRequestException", "This booking has already been cancelled."
            )
        try:
            body = await request.json()
        except ValueError:
            body = {}
        found.status = "cancelled"
        found.cancellation_reason = (body or {}).get("cancellationReason")
        found.updated_at = datetime.now(UTC)
        return JSONResponse({"status": "success", "data": found.output()})

    @api.post("/v2/bookings/{uid}/reschedule", status_code=201)
    async def reschedule_booking(
        request: Request,
        uid: str,
        cal_api_version: Annotated[str | None, Header(alias="cal-api-version")] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        found = _booking(request, uid, cal_api_version, authorization)
        if isinstance(found, JSONResponse):
            return found
        try:
            body = await request.json()
        except ValueError:
            body = None
        start = _moment(body.get("start")) if isinstance(body, dict) else None
        if start is None:
            return calcom_error(request, 400, "BAD_REQUEST", "start - Required")
        if found.status not in LIVE:  # a pending booking can be moved, and stays pending
            return calcom_error(request, 400, "BadRequestException", "Booking is not active")
        length = int((found.end - found.start).total_seconds() // 60)
        new = state.book(
            found.event_type, start, length, found.attendee, found.notes, ignore=found.uid
        )
        if new is None:
            return calcom_error(request, 409, "ConflictException", NOT_AVAILABLE)
        new.rescheduled_from_uid = found.uid
        new.reschedule_reason = body.get("reschedulingReason") if isinstance(body, dict) else None
        found.status = "cancelled"
        found.rescheduled_to_uid = new.uid
        found.updated_at = datetime.now(UTC)
        return JSONResponse({"status": "success", "data": new.output()}, status_code=201)

    return api


def _moment(value: object) -> datetime | None:
    """An ISO 8601 date or date-time as aware UTC (a bare date is midnight UTC)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(value), time(0), UTC)
        except ValueError:
            return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _booking_problem(body: object) -> str | None:
    """Cal.com's own validation of a booking body, in its `path - message` style."""
    if not isinstance(body, dict):
        return "body - Expected object"
    if _moment(body.get("start")) is None:
        return "start - Required (ISO 8601 in UTC)"
    attendee = body.get("attendee")
    if not isinstance(attendee, dict) or not attendee.get("name") or not attendee.get("timeZone"):
        return "attendee - name and timeZone are required"
    if body.get("eventTypeId") is None and not (body.get("eventTypeSlug") and body.get("username")):
        return "eventTypeId - Required (or eventTypeSlug with username)"
    if "metadata" in body and not _metadata_ok(body["metadata"]):
        return f"metadata - {METADATA_RULES}"
    return None


METADATA_RULES = (
    "Metadata must have at most 50 keys, each key up to 40 characters, "
    "and string values up to 500 characters."
)


def _metadata_ok(metadata: object) -> bool:
    """Cal.com's rules for a booking's `metadata`: a flat object of at most 50 keys of up
    to 40 characters, each value a string of up to 500 characters, a number or a boolean."""
    if not isinstance(metadata, dict) or len(metadata) > 50:
        return False
    for key, value in metadata.items():
        if len(key) > 40 or not isinstance(value, str | int | float | bool):
            return False
        if isinstance(value, str) and len(value) > 500:
            return False
    return True


class _EventTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    slug: Slug
    length_in_minutes: int = Field(alias="lengthInMinutes", strict=True, ge=5, le=480)
    requires_confirmation: bool = Field(alias="requiresConfirmation", default=False)


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
            body.username,
            body.time_zone,
            [(e.slug, e.length_in_minutes) for e in body.event_types],
            confirming=frozenset(e.slug for e in body.event_types if e.requires_confirmation),
        )
        return {
            "apiKey": user.api_key,
            "username": user.username,
            "eventTypes": [
                {"id": e.id, "slug": e.slug, "lengthInMinutes": e.length_in_minutes}
                for e in user.event_types
            ],
        }

    @router.get("/bookings")
    async def list_bookings() -> dict[str, list[dict[str, Any]]]:
        """Every booking the sandbox holds, newest first, for checking from outside."""
        ordered = sorted(state.bookings.values(), key=lambda b: b.created_at, reverse=True)
        return {"bookings": [b.output() for b in ordered]}

    return router

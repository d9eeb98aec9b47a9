"""The provider contract: what every provider gives the provider-neutral runtime.

A provider (Cal.com, Google Calendar, …) is one package under `agentcal.providers`
whose `PROVIDER` (a `Provider`) is listed in `agentcal.providers.registry`. Through it
the runtime finds the functions linked to a bot, names and describes their tools, and
runs them:

* `Action`: what a tool does; every provider offers all five.
* `ToolArguments`: one model per action and provider. It validates a call's arguments,
  and its fields are the very parameters the catalog renders (`parameters()`), so the
  two cannot drift apart.
* `ToolSource`: what the catalog needs of one function, provider-neutral.
* `ToolSpec`: one tool of one function, as the catalog names and describes it.
* `CallContext` and `Outcome`: what a handler gets beyond its arguments, and gives back.
* `ToolResult`: what the runtime answers for a call, successful or not.

The tool errors. A handler that cannot do what was asked raises a `ToolError`; the
runtime answers it as a result with `ok: false`, its `code` and `retryable`, and
`data` when there are facts to act on. The tree:

    AgentcalError                       agentcal.errors: an HTTP status, problem details
    └── ToolError                       error
        ├── InvalidArguments            invalid_arguments
        ├── SchedulingError             invalid_request         agentcal.scheduling.errors
        │   ├── InvalidDatetime         invalid_datetime
        │   └── InvalidTimezone         invalid_timezone
        ├── SlotUnavailable             slot_unavailable        data.alternatives
        ├── EventTypeRequired           event_type_required     data.eventTypes
        ├── BookingNotFound             booking_not_found
        ├── AmbiguousBooking            ambiguous_booking
        ├── BookingCancelled            booking_cancelled
        ├── CalendarNotFound            calendar_not_found
        └── ProviderError               upstream_unavailable    retryable
            ├── ProviderUnavailable     upstream_unavailable    retryable: 5xx, time-outs
            ├── ProviderRateLimited     rate_limited            retryable
            ├── ProviderAuthError       auth_invalid
            ├── CredentialsExpired      calendar_auth_expired   only a new token helps
            ├── ProviderNotFound        not_found
            ├── ProviderSlotTaken       slot_unavailable        the provider refused the slot
            └── ProviderRequestError    invalid_request

Each provider's own errors are the leaves: `CalcomUnavailable` is both a
`CalcomError` (anything Cal.com said) and a `ProviderUnavailable` (what it means).

When a provider error reaches the management API (e.g. listing a Cal.com user's event
types), its category also gives the HTTP answer, never a 5xx for the caller's data:
a refused credential is 409 `credential-refused` naming the fix, what the provider
refuses of the stored settings is 409, and an outage or rate limit is 503 with
`Retry-After`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from types import ModuleType
from typing import Any, Literal, Protocol, Self

import annotated_types
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, PydanticCustomError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agentcal.bookings.index import Change
from agentcal.crypto.keyring import Keyring
from agentcal.db.locks import KeyedLocks
from agentcal.errors import ToolError
from agentcal.notifications.events import Notification
from agentcal.notifications.senders import Destination
from agentcal.scheduling.speech import say, translatable
from agentcal.settings import Settings

__all__ = [
    "AVAILABILITY_OFF",
    "BOOKING_ACTIONS",
    "BOOKING_OFF",
    "MAX_CONTENT",
    "Action",
    "AmbiguousBooking",
    "BookingCancelled",
    "BookingNotFound",
    "CalendarNotFound",
    "CallContext",
    "CredentialsExpired",
    "ErrorInfo",
    "EventTypeRequired",
    "Handler",
    "handlers_in",
    "InvalidArguments",
    "one_line",
    "Outcome",
    "Parameter",
    "Provider",
    "ProviderAuthError",
    "ProviderError",
    "ProviderNotFound",
    "ProviderRateLimited",
    "ProviderRequestError",
    "ProviderRuntime",
    "ProviderSlotTaken",
    "ProviderUnavailable",
    "Services",
    "SlotUnavailable",
    "tool_argument_error",
    "ToolArguments",
    "ToolError",
    "ToolResult",
    "ToolSource",
    "ToolSpec",
]


class Action(StrEnum):
    """What a tool does; also the `name` of `POST …/{id}/call`."""

    CHECK_AVAILABILITY = "check_availability"
    CREATE_BOOKING = "create_booking"
    CANCEL_BOOKING = "cancel_booking"
    RESCHEDULE_BOOKING = "reschedule_booking"
    FIND_BOOKING = "find_booking"


# Offered with the booking switch: finding one's booking is how a caller gets to
# cancelling or moving it.
BOOKING_ACTIONS = (
    Action.CREATE_BOOKING,
    Action.CANCEL_BOOKING,
    Action.RESCHEDULE_BOOKING,
    Action.FIND_BOOKING,
)


# ------------------------------------------------------------------------ the errors


class InvalidArguments(ToolError):
    """The arguments are missing, of the wrong type, or out of range."""

    slug = "invalid-arguments"
    code = "invalid_arguments"


class SlotUnavailable(ToolError):
    """The time is taken, or no bookable time; `data.alternatives` holds the nearest free ones."""

    status_code = 409
    slug = "slot-unavailable"
    code = "slot_unavailable"


class EventTypeRequired(ToolError):
    """The call must say which event type: `data.eventTypes` lists them."""

    slug = "event-type-required"
    code = "event_type_required"


class BookingNotFound(ToolError):
    status_code = 404
    slug = "booking-not-found"
    code = "booking_not_found"


class AmbiguousBooking(ToolError):
    """Several bookings match the attendee and time given; the call must name one."""

    status_code = 409
    slug = "ambiguous-booking"
    code = "ambiguous_booking"


class BookingCancelled(ToolError):
    status_code = 409
    slug = "booking-cancelled"
    code = "booking_cancelled"


class CalendarNotFound(ToolError):
    """The provider cannot find the function's calendar for its account."""

    slug = "calendar-not-found"
    code = "calendar_not_found"


class ProviderError(ToolError):
    """The provider could not do what was asked."""

    status_code = 503
    slug = "provider-error"
    code = "upstream_unavailable"
    retryable = True
    retry_after = "10"  # on the management API, when the provider named no time


class ProviderUnavailable(ProviderError):
    """The provider answered 5xx, timed out, ran out of the call's budget, or was unreachable."""

    slug = "provider-unavailable"


class ProviderRateLimited(ProviderError):
    slug = "provider-rate-limited"
    code = "rate_limited"


class ProviderAuthError(ProviderError):
    """The provider refused agentcal's key or OAuth client, or the account's access."""

    status_code = 409
    slug = "credential-refused"
    code = "auth_invalid"
    retryable = False


class CredentialsExpired(ProviderError):
    """The function's authorization no longer works; only a new token from the integrator helps."""

    status_code = 409
    slug = "credential-refused"
    code = "calendar_auth_expired"
    retryable = False


class ProviderNotFound(ProviderError):
    """The provider has no such user, calendar or booking: the stored settings name it."""

    status_code = 409
    slug = "provider-not-found"
    code = "not_found"
    retryable = False


class ProviderSlotTaken(ProviderError):
    """The provider refused a booking because the time is taken or outside availability."""

    status_code = 409
    slug = "provider-slot-unavailable"
    code = "slot_unavailable"
    retryable = False


class ProviderRequestError(ProviderError):
    """The provider refused the request as invalid."""

    status_code = 409
    slug = "provider-invalid-request"
    code = "invalid_request"
    retryable = False


# ------------------------------------------------------------------- the arguments


@dataclass(frozen=True, slots=True)
class Parameter:
    """One argument of a tool, as the catalog renders it into JSON Schema."""

    name: str
    type: Literal["string", "integer"]
    description: str
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None


def tool_argument_error(message: str) -> PydanticCustomError:
    """For an argument validator: the message is the one the model reads."""
    return PydanticCustomError("tool_argument", message)


def _unset(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class ToolArguments(BaseModel):
    """The arguments of one action. Field names are snake_case, the wire camelCase.

    Field descriptions are templates: `{name}` is filled in from the words of the
    function (`ToolSource.words`) when the catalog renders the parameters, so the same
    field says "in America/Sao_Paulo" for one function and "in Europe/Lisbon" for another.
    Strings are trimmed, and a blank or null argument means "not given" (OpenAI's
    strict mode sends every optional argument, as null when unused). Arguments a
    model invents are ignored.
    """

    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=False,
        str_strip_whitespace=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not _unset(v)}
        return data

    @classmethod
    def parse(cls, arguments: Mapping[str, Any]) -> Self:
        """The arguments, or `InvalidArguments` saying what is wrong with the first bad one."""
        try:
            return cls.model_validate(arguments)
        except ValidationError as exc:
            raise InvalidArguments(cls._message(exc.errors()[0])) from None

    @classmethod
    def _message(cls, error: ErrorDetails) -> str:
        name = str(error["loc"][0]) if error["loc"] else "arguments"
        kind = error["type"]
        if kind == "tool_argument":
            return error["msg"]
        if kind == "missing":
            return say("{name} is required", name=name)
        parameter = next((p for p in cls.parameters({}, strict=False) if p.name == name), None)
        if parameter is not None and parameter.type == "integer":
            low, high = parameter.minimum, parameter.maximum
            if low is not None and high is not None:
                return say(
                    "{name} must be a whole number from {low} to {high}",
                    name=name,
                    low=low,
                    high=high,
                )
            return say("{name} must be a whole number", name=name)
        if kind == "string_type":
            return say("{name} must be a string", name=name)
        return f"{name}: {error['msg']}"  # pydantic's own words, in English

    @classmethod
    def parameters(cls, words: Mapping[str, str], *, strict: bool = True) -> tuple[Parameter, ...]:
        """The fields as tool parameters, descriptions filled in with `words`.

        `strict`: every placeholder must have its word (off only to read the bounds).
        Rendered once per model and words: a catalog is rebuilt whenever a function
        changes, and its functions mostly share their words.
        """
        return _parameters(cls, tuple(sorted(words.items())), strict)


@lru_cache(maxsize=1024)
def _parameters(
    model: type[ToolArguments], words: tuple[tuple[str, str], ...], strict: bool
) -> tuple[Parameter, ...]:
    filled = dict(words)
    found = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        kind: Literal["string", "integer"] = "string"
        if int in (info.annotation, *getattr(info.annotation, "__args__", ())):
            kind = "integer"
        low = next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), None)
        high = next((m.le for m in info.metadata if isinstance(m, annotated_types.Le)), None)
        template = info.description or ""
        text = template.format_map(filled) if strict else template
        found.append(
            Parameter(
                alias,
                kind,
                text,
                required=info.is_required(),
                minimum=None if low is None else int(low),  # type: ignore[call-overload]
                maximum=None if high is None else int(high),  # type: ignore[call-overload]
            )
        )
    return tuple(found)


# --------------------------------------------------------------- tools and results


@dataclass(frozen=True, slots=True)
class ToolSource:
    """What the catalog needs of one function (an integration, a calendar function)."""

    kind: str
    function_id: uuid.UUID
    bot_id: uuid.UUID | None
    created_at: datetime  # creation order decides who keeps a bare tool name
    title: str  # the integrator's name for it; the tool names' slug comes from it
    prompt: str  # the integrator's instruction to the model, appended to descriptions
    timezone: str  # arguments without an offset or timeZone are read in it
    owner: str  # "whose calendar", in the generated first sentence of descriptions
    inactive: str | None  # why the whole function is off, in the integrator's words
    availability_off: str | None
    booking_off: str | None
    # Placeholders of this provider's argument descriptions (a default event type, …).
    words: Mapping[str, str]
    # The row as read, for the handlers: a call needs no second read. Shared by
    # concurrent calls: read it, never change it.
    row: object = field(compare=False, repr=False)


# Why a tool is disabled, in the words of the switch an integrator would flip back.
AVAILABILITY_OFF = translatable(
    "availability checks are switched off (checkAvailabilityEnabled: false)"
)
BOOKING_OFF = translatable("bookings are switched off (createBookingEnabled: false)")


def one_line(text: str) -> str:
    """Integrator text placed inside a generated sentence: one line, single spaces."""
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool, with what the executor needs to run it: which function, which action."""

    name: str
    action: Action
    kind: str
    function_id: uuid.UUID
    title: str
    timezone: str
    description: str
    parameters: tuple[Parameter, ...]
    arguments: type[ToolArguments] = field(compare=False, repr=False)
    # Why the tool is not offered (switch off, function inactive); None when it is.
    disabled_reason: str | None = None
    row: object = field(default=None, compare=False, repr=False)

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a handler may need to know about the call beyond its arguments."""

    # Unique per call and stable across its repeats ("<scope>:<call id>"); None for a
    # call without an id. Providers that accept client-chosen ids derive them from it.
    key: str | None = None
    # The key was taken over from a process that died mid-call: this call's effects
    # (an event it created) may already exist and must be looked for, not repeated.
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action produced: a sentence for the model, and the full data.

    `notifications` and `bookings` (what the bookings index must learn: a booking made,
    cancelled or moved) are written by the runtime with the call's audit record, in
    one transaction: a booking is never left without its record, nor the reverse.
    """

    content: str
    data: dict[str, Any]
    booking_id: str | None = None  # for the audit record
    notifications: tuple[Notification, ...] = ()
    bookings: tuple[Change, ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    code: str
    message: str
    retryable: bool


MAX_CONTENT = 600  # characters of a result's `content`: a few spoken sentences


def _short(text: str) -> str:
    return text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The answer to one tool call, whatever became of it.

    Its JSON (`to_json`) is what every channel sends and what a repeat replays:
    `toolCallId`, `ok`, `content` (at most 600 characters, for the model), `data`
    (everything, for a program), `error` when not ok, and `notifications`.
    """

    tool_call_id: str | None
    ok: bool
    content: str
    data: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    notifications: tuple[dict[str, Any], ...] = ()

    @classmethod
    def success(cls, call_id: str | None, outcome: Outcome) -> ToolResult:
        return cls(
            call_id,
            True,
            _short(outcome.content),
            outcome.data,
            notifications=tuple(n.to_json() for n in outcome.notifications),
        )

    @classmethod
    def failure(
        cls,
        call_id: str | None,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        data: dict[str, Any] | None = None,
    ) -> ToolResult:
        # `data` only with facts to act on, e.g. `alternatives` for a taken slot.
        error = ErrorInfo(code, message, retryable)
        return cls(call_id, False, _short(message), data or None, error)

    @classmethod
    def from_error(cls, call_id: str | None, error: ToolError) -> ToolResult:
        return cls.failure(
            call_id, error.code, error.detail, retryable=error.retryable, data=error.data
        )

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ToolResult:
        """A stored result, as `to_json` wrote it."""
        error = raw.get("error")
        return cls(
            raw.get("toolCallId"),
            bool(raw["ok"]),
            str(raw["content"]),
            raw.get("data"),
            ErrorInfo(error["code"], error["message"], error["retryable"]) if error else None,
            tuple(raw.get("notifications") or ()),
        )

    def for_call(self, call_id: str | None) -> ToolResult:
        """This result, answering the call `call_id` (a replay answers the repeat's id)."""
        return ToolResult(call_id, self.ok, self.content, self.data, self.error, self.notifications)

    def ended_with(self, sentence: str) -> ToolResult:
        """This result, `sentence` closing its `content` (and the error's message, when
        it is the content); the content is shortened first if both would not fit."""
        if not sentence:
            return self
        room = MAX_CONTENT - len(sentence) - 1
        body = self.content if len(self.content) <= room else self.content[: room - 1] + "…"
        content = f"{body} {sentence}"
        error = self.error
        if error is not None and error.message == self.content:
            error = ErrorInfo(error.code, content, error.retryable)
        return ToolResult(self.tool_call_id, self.ok, content, self.data, error, self.notifications)

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "toolCallId": self.tool_call_id,
            "ok": self.ok,
            "content": self.content,
        }
        if self.error is not None:
            result["error"] = {
                "code": self.error.code,
                "message": self.error.message,
                "retryable": self.error.retryable,
            }
        if self.data is not None:
            result["data"] = self.data
        result["notifications"] = list(self.notifications)
        return result

    def message(self) -> dict[str, Any]:
        """The `role: tool` message to append to the conversation as it is."""
        return {"role": "tool", "tool_call_id": self.tool_call_id, "content": self.content}


# ----------------------------------------------------------------- the provider entry


@dataclass(frozen=True, slots=True)
class Services:
    """What the app shares with every provider: the database, the keys, the calendar locks."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    keyring: Keyring
    calendar_locks: KeyedLocks = field(default_factory=KeyedLocks)


class ProviderRuntime(Protocol):
    """A provider's long-lived state (its HTTP client, caches), owned by the app's lifespan."""

    services: Services

    async def aclose(self) -> None: ...


# A handler runs one action: (the provider's runtime, the tool, its parsed arguments,
# the call's context) → the outcome, or a `ToolError`.
Handler = Callable[[Any, ToolSpec, Any, CallContext], Awaitable[Outcome]]


def handlers_in(module: ModuleType) -> dict[Action, Handler]:
    """The handlers a provider's module defines, one coroutine named after each action."""
    return {action: getattr(module, action.value) for action in Action}


Loader = Callable[[AsyncSession, uuid.UUID, uuid.UUID], Awaitable[Sequence[ToolSource]]]
# (session, keyring, institution, function) → where its notifications go, opened for
# sending; raises `notifications.senders.Undeliverable` naming why there is nowhere.
DestinationLoader = Callable[[AsyncSession, Keyring, uuid.UUID, uuid.UUID], Awaitable[Destination]]
OneLoader = Callable[[AsyncSession, uuid.UUID, uuid.UUID], Awaitable[ToolSource | None]]


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider, as the registry lists it.

    Its `router` is its management API; the runtime serves `{path}/{id}/tools` and
    `{path}/{id}/call` beside it for each of its functions, `path` being its prefix.
    """

    kind: str  # "calcom": tool sources, audit records and idempotency scopes say it
    label: str  # "Cal.com", for people
    noun: str  # what its functions are called: "integration", "function"
    router: APIRouter  # its management API, under its path (the router's prefix)
    tables: frozenset[str]  # what its functions are read from; a change empties the caches
    linked: Loader  # (session, institution, bot) → the bot's functions, active or not
    load: OneLoader  # (session, institution, function) → one function; NotFound otherwise
    arguments: Mapping[Action, type[ToolArguments]]
    handlers: Mapping[Action, Handler]
    start: Callable[[Settings, Services], ProviderRuntime]
    # Only providers whose functions have notification settings.
    destination: DestinationLoader | None = None

    @property
    def path(self) -> str:
        """Where its functions live in the management API, e.g. `/api/v1/functions`."""
        return self.router.prefix

    def __post_init__(self) -> None:
        if not self.router.prefix:  # its /tools and /call routes would have no home
            raise TypeError(f"provider {self.kind}: its router needs a prefix, its path")
        missing = [a for a in Action if a not in self.arguments or a not in self.handlers]
        if missing:  # a provider offering no tool for an action would fail silently
            raise TypeError(f"provider {self.kind} lacks arguments or handlers for {missing}")

"""The tools a function offers to an agent (SPEC §4.1), before any LLM provider's format.

A bot's catalog lists, for every Cal.com integration and Google Calendar function linked
to it, one `ToolSpec` per action of SPEC §4.1. Specs of switched-off actions and inactive
functions stay in the catalog, marked disabled: they are never offered, but the executor
can still `resolve` their names and answer `tool_disabled` (rather than "unknown tool")
when a model calls one from an older tool list. `formats.py` renders the offered specs
for OpenAI, Anthropic and MCP.

Names are `<action>_<slug>`. The slug is the function's title (Cal.com) or name (Google)
in lowercase ASCII; one slug serves all four actions of a function, so a name always
splits into action and function. Within a bot, functions are taken in creation order and
a slug already taken gets `_2`, `_3`, …: a function's name depends only on its own title
and on the functions created before it in the same bot, never on newer ones, on prompts,
switches or activation.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import joinedload

from agentcal.bots.service import get_bot
from agentcal.db.caches import Memo
from agentcal.providers.calcom.models import CalcomIntegration
from agentcal.providers.calcom.service import get_integration
from agentcal.providers.google_calendar.models import Function
from agentcal.providers.google_calendar.service import get_function


class Action(StrEnum):
    """What a tool does; also the `name` of `POST …/{id}/call` (SPEC §4.2)."""

    CHECK_AVAILABILITY = "check_availability"
    CREATE_BOOKING = "create_booking"
    CANCEL_BOOKING = "cancel_booking"
    RESCHEDULE_BOOKING = "reschedule_booking"


class FunctionKind(StrEnum):
    """Which provider a tool reaches, so the executor knows which row `function_id` names."""

    CALCOM = "calcom"  # a CalcomIntegration
    GOOGLE_CALENDAR = "google_calendar"  # a Function of type google-calendar


BOOKING_ACTIONS = (Action.CREATE_BOOKING, Action.CANCEL_BOOKING, Action.RESCHEDULE_BOOKING)

# OpenAI and Anthropic both refuse tool names longer than 64 characters.
MAX_NAME_LENGTH = 64
# All four actions share a function's slug, so the slug must fit the longest action.
MAX_SLUG_LENGTH = MAX_NAME_LENGTH - max(len(action) for action in Action) - 1

# Meeting lengths a model may ask for (Google `durationMinutes`), as for `slotMinutes`.
MIN_DURATION_MINUTES = 5
MAX_DURATION_MINUTES = 480
MAX_RANGE_DAYS = 31  # `check_availability`: endDate at most this many days after startDate


# ------------------------------------------------------------------------------- names

# Latin letters that Unicode does not decompose into a base letter and an accent.
_LETTERS = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# A title with nothing transliterable (emoji only, Japanese, …) still needs a name.
_FALLBACK_SLUG = {FunctionKind.CALCOM: "calcom", FunctionKind.GOOGLE_CALENDAR: "google_calendar"}


def slugify(title: str) -> str:
    """`title` as lowercase ASCII `[a-z0-9_]`: accents dropped, anything else one `_`.

    "Agenda da Dra. Conceição" → "agenda_da_dra_conceicao"; "" when nothing survives.
    """
    text = unicodedata.normalize("NFKD", title.lower().translate(_LETTERS))
    ascii_text = text.encode("ascii", "ignore").decode("ascii").lower()
    return _NOT_SLUG.sub("_", ascii_text).strip("_")


def _fit(base: str, suffix: str) -> str:
    return base[: MAX_SLUG_LENGTH - len(suffix)].rstrip("_") + suffix


def unique_slugs(titles: Sequence[tuple[FunctionKind, str]]) -> list[str]:
    """One slug per `(kind, title)`, unique among them, each at most `MAX_SLUG_LENGTH`.

    `titles` must be in creation order: the first function keeps the bare slug, later
    ones with the same slug (after truncation) get `_2`, `_3`, … — so adding a function
    never renames an older one.
    """
    taken: set[str] = set()
    slugs: list[str] = []
    for kind, title in titles:
        base = slugify(title) or _FALLBACK_SLUG[kind]
        slug, n = _fit(base, ""), 2
        while slug in taken:  # also steps over a literal "agenda_2" title
            slug, n = _fit(base, f"_{n}"), n + 1
        taken.add(slug)
        slugs.append(slug)
    return slugs


def tool_name(action: Action, slug: str) -> str:
    return f"{action}_{slug}"


# -------------------------------------------------------------------------- the specs


@dataclass(frozen=True, slots=True)
class Parameter:
    """One argument of a tool; `formats.py` turns it into JSON Schema."""

    name: str
    type: Literal["string", "integer"]
    description: str
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool, with what the executor needs to run it: which function, which action."""

    name: str
    action: Action
    kind: FunctionKind
    function_id: uuid.UUID
    title: str  # the integration's title or the function's name, as the integrator wrote it
    timezone: str  # the function's; arguments without an offset or timeZone are read in it
    description: str
    parameters: tuple[Parameter, ...]
    # Why the tool is not offered (switch off, function inactive); None when it is.
    disabled_reason: str | None = None
    # The integration or function as read when the catalog was built, so a call needs
    # no second read. Shared by concurrent calls: read it, never change it.
    row: CalcomIntegration | Function | None = field(default=None, compare=False, repr=False)

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None


class Catalog:
    """The tools of a bot (or of one function), offered or not, in a stable order."""

    __slots__ = ("_by_name", "tools")

    def __init__(self, tools: Iterable[ToolSpec]) -> None:
        self.tools = tuple(tools)
        self._by_name = {tool.name: tool for tool in self.tools}

    def offered(self) -> list[ToolSpec]:
        """The tools an agent is given: enabled actions of active functions."""
        return [tool for tool in self.tools if tool.enabled]

    def resolve(self, name: str) -> ToolSpec | None:
        """The tool called `name`, enabled or not (the caller answers `tool_disabled`)."""
        return self._by_name.get(name)

    def find(self, kind: FunctionKind, function_id: uuid.UUID, action: Action) -> ToolSpec | None:
        """One function's tool for `action` (`POST …/{id}/call` names only the action)."""
        for tool in self.tools:
            if tool.kind == kind and tool.function_id == function_id and tool.action == action:
                return tool
        return None

    def of_function(self, kind: FunctionKind, function_id: uuid.UUID) -> Catalog:
        """The tools of one function, named as in its bot's catalog."""
        return Catalog(t for t in self.tools if t.kind == kind and t.function_id == function_id)


# ----------------------------------------------------------------- what a function is


@dataclass(frozen=True, slots=True)
class _Source:
    """What the catalog needs of an integration or a function, provider-neutral."""

    kind: FunctionKind
    function_id: uuid.UUID
    created_at: datetime
    title: str
    prompt: str
    timezone: str
    owner: str  # "for whom" in the generated sentence
    inactive: str | None  # why the whole function is off
    availability_off: str | None
    booking_off: str | None
    row: CalcomIntegration | Function
    default_event_type: str | None = None  # Cal.com
    slot_minutes: int | None = None  # Google


# Why a tool is disabled, in the words of the switch an integrator would flip back.
_AVAILABILITY_OFF = "availability checks are switched off (checkAvailabilityEnabled: false)"
_BOOKING_OFF = "bookings are switched off (createBookingEnabled: false)"


def _one_line(text: str) -> str:
    """Integrator text placed inside a generated sentence: one line, single spaces."""
    return " ".join(text.split())


def _source(row: CalcomIntegration | Function) -> _Source | None:
    if isinstance(row, CalcomIntegration):
        default = None
        if row.default_event_type_slug:
            default = f"{row.default_event_type_slug}, the integration's default"
        elif row.default_event_type_id is not None:
            default = "the integration's default event type"
        return _Source(
            kind=FunctionKind.CALCOM,
            function_id=row.id,
            created_at=row.created_at,
            title=row.title,
            prompt=row.prompt,
            timezone=row.timezone,
            owner=f'the Cal.com calendar "{_one_line(row.title)}" of user {row.calcom_username}',
            inactive=None if row.is_active else "the integration is inactive (isActive: false)",
            availability_off=None if row.check_availability_enabled else _AVAILABILITY_OFF,
            booking_off=None if row.create_booking_enabled else _BOOKING_OFF,
            row=row,
            default_event_type=default,
        )
    plugin = row.google_calendar
    if plugin is None:  # only while a concurrent DELETE removes the function
        return None
    user = plugin.google_user
    person = _one_line(str(user.get("name") or user.get("email") or plugin.calendar_id))
    return _Source(
        kind=FunctionKind.GOOGLE_CALENDAR,
        function_id=row.id,
        created_at=row.created_at,
        title=row.name,
        prompt=row.description,
        timezone=plugin.timezone,
        owner=f"{person}'s Google Calendar ({plugin.calendar_id})",
        inactive=None if row.is_activated else "the function is inactive (isActivated: false)",
        availability_off=None if plugin.check_availability_enabled else _AVAILABILITY_OFF,
        booking_off=None if plugin.create_booking_enabled else _BOOKING_OFF,
        row=row,
        slot_minutes=plugin.slot_minutes,
    )


# ------------------------------------------------------------ descriptions, arguments


@lru_cache(maxsize=256)
def _offset_example(timezone: str) -> str:
    """An RFC 3339 example in the function's own offset, so a model copying it is right."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return "2026-03-02T14:30:00Z"
    return datetime(2026, 3, 2, 14, 30, tzinfo=zone).isoformat()


def _forms(source: _Source, *, dates: bool) -> str:
    """The accepted forms of a date-time argument (SPEC §4.4), in words."""
    local = (
        "YYYY-MM-DDTHH:MM for a local time (e.g. 2026-03-02T14:30) in timeZone, else in "
        f"{source.timezone}"
    )
    offset = f"RFC 3339 with an offset (e.g. {_offset_example(source.timezone)})"
    if dates:
        return f"YYYY-MM-DD for a whole day, {local}, or {offset}"
    return f"{local}, or {offset}"


def _unless(source: _Source) -> str:
    return f"times are in {source.timezone} unless you pass timeZone"


def _sentence(source: _Source, action: Action, check_name: str | None) -> str:
    """The generated first sentence: what the tool does, for whom, in which timezone."""
    owner, tz = source.owner, _unless(source)
    if action is Action.CHECK_AVAILABILITY:
        return f"Finds the free times to book on {owner}; {tz}."
    if action is Action.CREATE_BOOKING:
        when = f"a free start time found with {check_name}" if check_name else "a start time"
        return f"Books a meeting on {owner} at {when}; {tz}."
    if action is Action.CANCEL_BOOKING:
        return (
            f"Cancels a meeting booked on {owner}, given its bookingId or the attendee's "
            f"e-mail and start time; {tz}."
        )
    return f"Moves a meeting booked on {owner} to a new start time; {tz}."


def _time_zone(source: _Source) -> Parameter:
    return Parameter(
        "timeZone",
        "string",
        "IANA timezone (e.g. America/New_York) of the person you are talking to: dates and "
        "times without an offset are read in it, and results are written in it; by default "
        f"{source.timezone}, the calendar's.",
    )


def _event_type(source: _Source) -> Parameter:
    default = source.default_event_type or (
        "the user's only event type (if there are several, the error lists their slugs)"
    )
    return Parameter(
        "eventTypeSlug",
        "string",
        f"Slug of the Cal.com event type, the kind of meeting (e.g. 30min); by default {default}.",
    )


def _duration(source: _Source) -> Parameter:
    return Parameter(
        "durationMinutes",
        "integer",
        f"Length of the meeting in minutes, {MIN_DURATION_MINUTES} to {MAX_DURATION_MINUTES}; "
        f"by default {source.slot_minutes}.",
        minimum=MIN_DURATION_MINUTES,
        maximum=MAX_DURATION_MINUTES,
    )


def _booking_id(*, required: bool) -> Parameter:
    text = "The bookingId that create_booking returned"
    if not required:
        text += "; without it, give attendeeEmail and start"
    return Parameter("bookingId", "string", text + ".", required=required)


def _parameters(source: _Source, action: Action) -> tuple[Parameter, ...]:
    calcom = source.kind is FunctionKind.CALCOM
    if action is Action.CHECK_AVAILABILITY:
        return (
            Parameter(
                "startDate",
                "string",
                f"Where the search starts: {_forms(source, dates=True)}.",
                required=True,
            ),
            Parameter(
                "endDate",
                "string",
                "Last day to search, inclusive, as YYYY-MM-DD (startDate 2026-03-02 with "
                "endDate 2026-03-06 searches Monday to Friday), or an exact end in the forms "
                "of startDate; by default startDate's day only; at most "
                f"{MAX_RANGE_DAYS} days after startDate.",
            ),
            _time_zone(source),
            _event_type(source) if calcom else _duration(source),
        )
    if action is Action.CREATE_BOOKING:
        start = Parameter(
            "start",
            "string",
            f"Start of the meeting, one of the free times: {_forms(source, dates=False)}.",
            required=True,
        )
        common = (
            start,
            Parameter(
                "attendeeName",
                "string",
                "Full name of the person the meeting is for.",
                required=True,
            ),
            Parameter(
                "attendeeEmail",
                "string",
                "E-mail address of that person; the invitation goes there.",
                required=True,
            ),
            Parameter(
                "attendeePhone",
                "string",
                "Their phone number in international format (e.g. +5511987654321), if given.",
            ),
            _time_zone(source),
            Parameter(
                "notes",
                "string",
                "What the person wants the host to know: the reason for the meeting, questions.",
            ),
        )
        if calcom:
            return (*common, _event_type(source))
        return (
            *common,
            _duration(source),
            Parameter(
                "title",
                "string",
                "Title of the calendar event; by default one naming the attendee.",
            ),
        )
    if action is Action.CANCEL_BOOKING:
        return (
            _booking_id(required=False),
            Parameter(
                "attendeeEmail",
                "string",
                "E-mail address of the attendee, to find the booking with start when you "
                "have no bookingId.",
            ),
            Parameter(
                "start",
                "string",
                f"Start of the booking to cancel, with attendeeEmail: "
                f"{_forms(source, dates=False)}.",
            ),
            Parameter("reason", "string", "Why the meeting is cancelled, in a few words."),
            _time_zone(source),
        )
    return (
        _booking_id(required=True),
        Parameter(
            "newStart",
            "string",
            f"New start of the meeting, one of the free times: {_forms(source, dates=False)}.",
            required=True,
        ),
        Parameter("reason", "string", "Why the meeting is moved, in a few words."),
        _time_zone(source),
    )


def _specs(source: _Source, slug: str) -> list[ToolSpec]:
    off = {
        Action.CHECK_AVAILABILITY: source.inactive or source.availability_off,
        **{action: source.inactive or source.booking_off for action in BOOKING_ACTIONS},
    }
    check = tool_name(Action.CHECK_AVAILABILITY, slug)
    check_name = None if off[Action.CHECK_AVAILABILITY] else check
    return [
        ToolSpec(
            name=tool_name(action, slug),
            action=action,
            kind=source.kind,
            function_id=source.function_id,
            title=source.title,
            timezone=source.timezone,
            # The integrator's prompt verbatim: it is their instruction to the model.
            description=f"{_sentence(source, action, check_name)}\n\n{source.prompt}",
            parameters=_parameters(source, action),
            disabled_reason=off[action],
            row=source.row,
        )
        for action in Action
    ]


def build_catalog(rows: Iterable[CalcomIntegration | Function]) -> Catalog:
    """The catalog of these integrations and functions, named as one bot's.

    Pass every function linked to the bot, active or not: inactive ones keep their
    slugs, so switching one off and on never renames another.
    """
    sources = [s for s in map(_source, rows) if s is not None]
    # Creation order decides who keeps the bare slug; the id breaks ties.
    sources.sort(key=lambda s: (s.created_at, str(s.function_id)))
    slugs = unique_slugs([(s.kind, s.title) for s in sources])
    return Catalog(spec for s, slug in zip(sources, slugs, strict=True) for spec in _specs(s, slug))


# --------------------------------------------------------------------------- loading


async def _linked(
    session: AsyncSession, institution_id: uuid.UUID, bot_id: uuid.UUID
) -> list[CalcomIntegration | Function]:
    integrations = await session.scalars(
        select(CalcomIntegration).where(
            CalcomIntegration.institution_id == institution_id,
            CalcomIntegration.bot_id == bot_id,
        )
    )
    functions = await session.scalars(
        select(Function)
        .options(joinedload(Function.google_calendar))
        .where(Function.institution_id == institution_id, Function.bot_id == bot_id)
    )
    return [*integrations, *functions]


# ("bot" | "calcom" | "google_calendar", institution id, bot or function id) → tools
CatalogKey = tuple[str, uuid.UUID, uuid.UUID]
CatalogMemo = Memo[CatalogKey, Catalog]


def catalog_memo(ttl: float) -> CatalogMemo:
    """Catalogs recently built; a change to a bot, a function or what holds them
    empties it (see `agentcal.db.caches`)."""
    # `users` too: deleting a user deletes their functions (ON DELETE CASCADE).
    tables = {"bots", "calcom_integrations", "functions", "google_calendar_plugins", "units",
              "institutions", "users"}  # fmt: skip
    return Memo(tables, ttl=ttl)


# Loaders open a session of their own, only when the catalog is not cached: the rows it
# keeps (`ToolSpec.row`) must not belong to a request's session, whose rollback would
# expire them under every call that shares them.
Sessions = async_sessionmaker[AsyncSession]


async def _memoized(
    memo: CatalogMemo | None, key: CatalogKey, build: Callable[[], Awaitable[Catalog]]
) -> Catalog:
    if memo is None:
        return await build()
    catalog = memo.get(key)
    if catalog is None:
        generation = memo.generation
        catalog = await build()
        memo.put(key, catalog, generation)
    return catalog


async def bot_catalog(
    sessions: Sessions, institution_id: uuid.UUID, bot_id: uuid.UUID,
    memo: CatalogMemo | None = None,
) -> Catalog:  # fmt: skip
    """Every tool of the bot's integrations and functions; another institution's bot → 404."""

    async def build() -> Catalog:
        async with sessions() as session:
            await get_bot(session, institution_id, bot_id)
            return build_catalog(await _linked(session, institution_id, bot_id))

    return await _memoized(memo, ("bot", institution_id, bot_id), build)


async def _in_bot(
    session: AsyncSession, institution_id: uuid.UUID, row: CalcomIntegration | Function
) -> list[CalcomIntegration | Function]:
    """`row` with the other functions of its bot, which its name must not collide with."""
    if row.bot_id is None:
        return [row]
    others = await _linked(session, institution_id, row.bot_id)
    # `row` itself, as read, even if a concurrent unlink hid it from the second query.
    return [*(r for r in others if (type(r), r.id) != (type(row), row.id)), row]


_Getter = Callable[[AsyncSession, uuid.UUID, uuid.UUID], Awaitable[CalcomIntegration | Function]]
_GETTERS: dict[FunctionKind, _Getter] = {
    FunctionKind.CALCOM: get_integration,
    FunctionKind.GOOGLE_CALENDAR: get_function,
}


async def function_catalog(
    sessions: Sessions, kind: FunctionKind, institution_id: uuid.UUID,
    function_id: uuid.UUID, memo: CatalogMemo | None = None,
) -> Catalog:  # fmt: skip
    """A Cal.com integration's or a Google Calendar function's tools, named as its bot
    names them; another institution's → 404."""

    async def build() -> Catalog:
        async with sessions() as session:
            row = await _GETTERS[kind](session, institution_id, function_id)
            rows = await _in_bot(session, institution_id, row)
        return build_catalog(rows).of_function(kind, row.id)

    return await _memoized(memo, (kind, institution_id, function_id), build)

"""The tools a bot's functions offer to an agent, before any agent stack's format.

A bot's catalog lists, for every function linked to it (a Cal.com integration, a
Google Calendar function, any registered provider's), one `ToolSpec` per `Action`.
Specs of switched-off actions and inactive functions stay in the catalog, marked
disabled: they are never offered, but the executor can still `resolve` their names and
answer `tool_disabled` (rather than "unknown tool") when a model calls one from an
older tool list. `formats.py` renders the offered specs for each agent stack.

Names are `<action>_<slug>`. The slug is the function's title in lowercase ASCII; one
slug serves all the actions of a function, so a name always splits into action and
function. Within a bot, functions are taken in creation order and a slug already taken
gets `_2`, `_3`, …: a function's name depends only on its own title and on the functions
created before it in the same bot, never on newer ones, on prompts, switches or
activation.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentcal.bots.models import Bot
from agentcal.bots.service import get_bot
from agentcal.db.caches import TtlCache
from agentcal.providers import registry
from agentcal.providers.base import BOOKING_ACTIONS, Action, ToolSource, ToolSpec

# OpenAI and Anthropic both refuse tool names longer than 64 characters.
MAX_NAME_LENGTH = 64
# All actions share a function's slug, so the slug must fit the longest action.
MAX_SLUG_LENGTH = MAX_NAME_LENGTH - max(len(action) for action in Action) - 1


# ------------------------------------------------------------------------------- names

# Latin letters that Unicode does not decompose into a base letter and an accent.
_LETTERS = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(title: str) -> str:
    """`title` as lowercase ASCII `[a-z0-9_]`: accents dropped, anything else one `_`.

    "Agenda da Dra. Conceição" → "agenda_da_dra_conceicao"; "" when nothing survives.
    """
    text = unicodedata.normalize("NFKD", title.lower().translate(_LETTERS))
    ascii_text = text.encode("ascii", "ignore").decode("ascii").lower()
    return _NOT_SLUG.sub("_", ascii_text).strip("_")


def _fit(base: str, suffix: str) -> str:
    return base[: MAX_SLUG_LENGTH - len(suffix)].rstrip("_") + suffix


def unique_slugs(titles: Sequence[tuple[str, str]]) -> list[str]:
    """One slug per `(kind, title)`, unique among them, each at most `MAX_SLUG_LENGTH`.

    `titles` must be in creation order: the first function keeps the bare slug, later
    ones with the same slug (after truncation) get `_2`, `_3`, … — so adding a function
    never renames an older one. A title with nothing transliterable (emoji only,
    Japanese, …) is named after its provider's kind.
    """
    taken: set[str] = set()
    slugs: list[str] = []
    for kind, title in titles:
        base = slugify(title) or kind
        slug, n = _fit(base, ""), 2
        while slug in taken:  # also steps over a literal "agenda_2" title
            slug, n = _fit(base, f"_{n}"), n + 1
        taken.add(slug)
        slugs.append(slug)
    return slugs


def tool_name(action: Action, slug: str) -> str:
    return f"{action}_{slug}"


class Catalog:
    """The tools of a bot (or of one function), offered or not, in a stable order."""

    __slots__ = ("_by_name", "language", "tools")

    def __init__(self, tools: Iterable[ToolSpec], language: str = "en") -> None:
        self.tools = tuple(tools)
        self._by_name = {tool.name: tool for tool in self.tools}
        self.language = language  # the bot's: results are written in it

    def in_language(self, language: str) -> Catalog:
        """These tools, their results written in `language`."""
        if language == self.language:
            return self
        return Catalog(self.tools, language)

    def offered(self) -> list[ToolSpec]:
        """The tools an agent is given: enabled actions of active functions."""
        return [tool for tool in self.tools if tool.enabled]

    def resolve(self, name: str) -> ToolSpec | None:
        """The tool called `name`, enabled or not (the caller answers `tool_disabled`)."""
        return self._by_name.get(name)

    def find(self, kind: str, function_id: uuid.UUID, action: Action) -> ToolSpec | None:
        """One function's tool for `action` (`POST …/{id}/call` names only the action)."""
        for tool in self.tools:
            if tool.kind == kind and tool.function_id == function_id and tool.action == action:
                return tool
        return None

    def of_function(self, kind: str, function_id: uuid.UUID) -> Catalog:
        """The tools of one function, named as in its bot's catalog."""
        mine = (t for t in self.tools if t.kind == kind and t.function_id == function_id)
        return Catalog(mine, self.language)


# ------------------------------------------------------------ descriptions, arguments


@lru_cache(maxsize=256)
def _offset_example(timezone: str) -> str:
    """An RFC 3339 example in the function's own offset, so a model copying it is right."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return "2026-03-02T14:30:00Z"
    return datetime(2026, 3, 2, 14, 30, tzinfo=zone).isoformat()


def _forms(source: ToolSource, *, dates: bool) -> str:
    """The accepted forms of a date-time argument, in words."""
    local = (
        "YYYY-MM-DDTHH:MM for a local time (e.g. 2026-03-02T14:30) in timeZone, else in "
        f"{source.timezone}"
    )
    offset = f"RFC 3339 with an offset (e.g. {_offset_example(source.timezone)})"
    if dates:
        return f"YYYY-MM-DD for a whole day, {local}, or {offset}"
    return f"{local}, or {offset}"


def _unless(source: ToolSource) -> str:
    return f"times are in {source.timezone} unless you pass timeZone"


def _sentence(source: ToolSource, action: Action, check_name: str | None) -> str:
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
            f"e-mail or phone and start time; {tz}."
        )
    if action is Action.FIND_BOOKING:
        return (
            f"Finds a person's upcoming meetings on {owner} by their phone number or e-mail "
            f"(at most 5, soonest first, each with its bookingId), to cancel or move one; {tz}."
        )
    return (
        f"Moves a meeting booked on {owner} to a new start time, given its bookingId or the "
        f"attendee's e-mail or phone and current start time; {tz}."
    )


def _words(source: ToolSource) -> dict[str, str]:
    """The placeholders of argument descriptions: the provider's, and the time forms."""
    return {
        "timezone": source.timezone,
        "date_forms": _forms(source, dates=True),
        "time_forms": _forms(source, dates=False),
        **source.words,
    }


def _specs(source: ToolSource, slug: str) -> list[ToolSpec]:
    off = {
        Action.CHECK_AVAILABILITY: source.inactive or source.availability_off,
        **{action: source.inactive or source.booking_off for action in BOOKING_ACTIONS},
    }
    check = tool_name(Action.CHECK_AVAILABILITY, slug)
    check_name = None if off[Action.CHECK_AVAILABILITY] else check
    provider, words = registry.get(source.kind), _words(source)
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
            parameters=provider.arguments[action].parameters(words),
            arguments=provider.arguments[action],
            disabled_reason=off[action],
            row=source.row,
        )
        for action in Action
    ]


def build_catalog(sources: Iterable[ToolSource]) -> Catalog:
    """The catalog of these functions, named as one bot's.

    Pass every function linked to the bot, active or not: inactive ones keep their
    slugs, so switching one off and on never renames another.
    """
    # Creation order decides who keeps the bare slug; the id breaks ties.
    ordered = sorted(sources, key=lambda s: (s.created_at, str(s.function_id)))
    slugs = unique_slugs([(s.kind, s.title) for s in ordered])
    return Catalog(spec for s, slug in zip(ordered, slugs, strict=True) for spec in _specs(s, slug))


# --------------------------------------------------------------------------- loading


async def _linked(
    session: AsyncSession, institution_id: uuid.UUID, bot_id: uuid.UUID
) -> list[ToolSource]:
    """Every provider's functions linked to the bot, active or not."""
    sources: list[ToolSource] = []
    for provider in registry.providers():
        sources.extend(await provider.linked(session, institution_id, bot_id))
    return sources


# (kind, or "bot"; institution id; bot or function id) → tools
CatalogKey = tuple[str, uuid.UUID, uuid.UUID]
CatalogCache = TtlCache[CatalogKey, Catalog]


def catalog_cache(ttl: float) -> CatalogCache:
    """Catalogs recently built; a change to a bot, a function or what holds them
    empties it (see `agentcal.db.caches`)."""
    # `users` too: deleting a user deletes their functions (ON DELETE CASCADE).
    tables = {"bots", "units", "institutions", "users", *registry.tables()}
    return TtlCache(tables, ttl=ttl)


# Loaders open a session of their own, only when the catalog is not cached: the rows it
# keeps (`ToolSpec.row`) must not belong to a request's session, whose rollback would
# expire them under every call that shares them.
Sessions = async_sessionmaker[AsyncSession]


async def _cached(
    cache: CatalogCache | None, key: CatalogKey, build: Callable[[], Awaitable[Catalog]]
) -> Catalog:
    if cache is None:
        return await build()
    catalog = cache.get(key)
    if catalog is None:
        generation = cache.generation
        catalog = await build()
        cache.put(key, catalog, generation)
    return catalog


async def bot_catalog(
    sessions: Sessions,
    institution_id: uuid.UUID,
    bot_id: uuid.UUID,
    cache: CatalogCache | None = None,
) -> Catalog:
    """Every tool of the bot's functions; another institution's bot → 404."""

    async def build() -> Catalog:
        async with sessions() as session:
            bot = await get_bot(session, institution_id, bot_id)
            catalog = build_catalog(await _linked(session, institution_id, bot_id))
            return catalog.in_language(bot.language)

    return await _cached(cache, ("bot", institution_id, bot_id), build)


async def function_catalog(
    sessions: Sessions,
    kind: str,
    institution_id: uuid.UUID,
    function_id: uuid.UUID,
    cache: CatalogCache | None = None,
) -> Catalog:
    """One function's tools, named as its bot names them; another institution's → 404."""

    async def build() -> Catalog:
        async with sessions() as session:
            source = await registry.get(kind).load(session, institution_id, function_id)
            if source is None:  # being deleted
                return Catalog(())
            sources = [source]
            language = "en"
            if source.bot_id is not None:  # its name must not collide with its bot's others
                bot = await session.get(Bot, source.bot_id)
                language = bot.language if bot is not None else language
                others = await _linked(session, institution_id, source.bot_id)
                # `source` itself, as read, even if a concurrent unlink hid it from the query.
                mine = (source.kind, source.function_id)
                sources = [*(s for s in others if (s.kind, s.function_id) != mine), source]
        return build_catalog(sources).of_function(kind, function_id).in_language(language)

    return await _cached(cache, (kind, institution_id, function_id), build)

"""Notification templates: `{{placeholder}}` substitution and nothing else.

A template is text in which `{{name}}` (spaces inside the braces allowed) stands for a
fact of the booking. There are no expressions, filters or loops, so a template cannot
run code or reach anything but the booking's facts; a name that is not a placeholder
is refused when the function is saved (`problem`).

With the `json` content type the template is a JSON document whose strings hold the
placeholders: it is parsed first and the placeholders are replaced inside its strings,
so a value (an attendee's name with a quote in it) can never change the document's
shape.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from agentcal.notifications.events import BookingFacts, EventType
from agentcal.scheduling.speech import translatable, translated

PLACEHOLDERS: dict[str, str] = {
    "attendeeName": "the attendee's name",
    "attendeeEmail": "the attendee's e-mail",
    "start": "the start, local in the function's timezone, the zone named",
    "end": "the end, likewise",
    "startIso": "the start as RFC 3339 with its offset",
    "endIso": "the end as RFC 3339 with its offset",
    "timeZone": "the function's timezone (IANA name)",
    "title": "the meeting's title",
    "meetLink": "the Google Meet link, if one was made",
    "bookingId": "the booking's id",
    "event": "booking.created, booking.cancelled or booking.rescheduled",
}

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

# Written in the bot's language (`render`'s `locale`), as are `{{start}}` and `{{end}}`.
DEFAULT_TEXT: dict[EventType, str] = {
    "booking.created": translatable("New booking: {{title}} with {{attendeeName}}, {{start}}."),
    "booking.cancelled": translatable(
        "Booking cancelled: {{title}} with {{attendeeName}}, {{start}}."
    ),
    "booking.rescheduled": translatable(
        "Booking moved: {{title}} with {{attendeeName}}, now {{start}}."
    ),
}
DEFAULT_JSON = json.dumps(
    {
        "event": "{{event}}",
        "bookingId": "{{bookingId}}",
        "title": "{{title}}",
        "start": "{{startIso}}",
        "end": "{{endIso}}",
        "timeZone": "{{timeZone}}",
        "attendeeName": "{{attendeeName}}",
        "attendeeEmail": "{{attendeeEmail}}",
        "meetLink": "{{meetLink}}",
    }
)

# Babel's own "full" date, except English, which reads as "Monday 7 December 2026".
_DATE_PATTERNS = {"en": "EEEE d MMMM y"}


def problem(template: str, content_type: str) -> str | None:
    """Why `template` cannot be saved for `content_type`, or None when it can."""
    unknown = sorted({n for n in _PLACEHOLDER.findall(template) if n not in PLACEHOLDERS})
    if unknown:
        names = ", ".join("{{" + n + "}}" for n in PLACEHOLDERS)
        listed = ", ".join("{{" + n + "}}" for n in unknown)
        word = "placeholder" if len(unknown) == 1 else "placeholders"
        return f"unknown {word} {listed}; the placeholders are {names}"
    if content_type == "json":
        try:
            document = json.loads(template)
        except (ValueError, RecursionError) as exc:
            return (
                "with notificationContentType 'json' the content must be a JSON document, "
                f"placeholders inside its strings ({exc})"
            )
        if _depth(document) > MAX_DEPTH:
            return f"the JSON content nests deeper than {MAX_DEPTH} levels"
    return None


MAX_DEPTH = 32  # of a JSON template: far beyond any message, far below the stack's limit


def _depth(document: Any) -> int:
    """How deeply `document` nests, counted without recursion (a template is untrusted)."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        stack.extend((child, level + 1) for child in children)
    return deepest


def spoken_time(moment: datetime, zone: str, locale: str) -> str:
    """ "Monday 7 December 2026, 09:00 (America/Sao_Paulo)" in `locale`."""
    local = moment.astimezone(ZoneInfo(zone))
    day = format_date(local.date(), _DATE_PATTERNS.get(locale, "full"), locale=locale)
    clock = format_time(local.time(), "HH:mm", locale=locale)
    return f"{day}, {clock} ({zone})"


def values(event: EventType, facts: BookingFacts, locale: str) -> dict[str, str]:
    """Each placeholder's text for this booking; an unknown fact is empty."""
    zone = ZoneInfo(facts.time_zone)
    return {
        "attendeeName": facts.attendee_name or "",
        "attendeeEmail": facts.attendee_email or "",
        "start": spoken_time(facts.start, facts.time_zone, locale),
        "end": spoken_time(facts.end, facts.time_zone, locale),
        "startIso": facts.start.astimezone(zone).isoformat(),
        "endIso": facts.end.astimezone(zone).isoformat(),
        "timeZone": facts.time_zone,
        "title": facts.title or "",
        "meetLink": facts.meet_link or "",
        "bookingId": facts.booking_id,
        "event": event,
    }


def _substitute(text: str, known: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: known.get(m.group(1), m.group(0)), text)


def _in_strings(document: Any, known: dict[str, str]) -> Any:
    if isinstance(document, str):
        return _substitute(document, known)
    if isinstance(document, list):
        return [_in_strings(item, known) for item in document]
    if isinstance(document, dict):
        return {key: _in_strings(value, known) for key, value in document.items()}
    return document


def render(
    template: str | None,
    content_type: str,
    event: EventType,
    known: dict[str, str],
    locale: str = "en",
) -> Any:
    """The content: a string for `text`, the JSON document for `json`; `known` is what
    `values` gives for the booking, and `locale` the language of the default text."""
    if content_type == "json":
        return _in_strings(json.loads(template or DEFAULT_JSON), known)
    if template is None:
        template = translated(DEFAULT_TEXT[event], locale.replace("_", "-"))
    return _substitute(template, known).strip()

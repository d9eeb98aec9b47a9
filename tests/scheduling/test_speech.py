"""Results in the bot's language, and written to be heard on voice channels.

The catalogues are checked against the messages the code says (read from its syntax
tree). Heard times are checked by reading the sentences back: every spoken date and
clock is parsed out of the text, with babel's names of weekdays and months, and
compared with the local times that were offered.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import pytest
from babel.dates import get_day_names, get_month_names
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agentcal
from agentcal.providers import results
from agentcal.providers.base import MAX_CONTENT, ToolResult
from agentcal.scheduling import speech
from agentcal.scheduling.errors import InvalidDatetime
from agentcal.scheduling.phrases import (
    MAX_HEARD_OPTIONS,
    speakable,
    speakable_span,
    speakable_times,
    zone_words,
)
from agentcal.scheduling.speech import (
    LANGUAGES,
    TRANSLATED,
    Speech,
    babel_locale,
    catalogue_path,
    say,
    say_plural,
    speaking,
)
from agentcal.scheduling.times import check_start, parse_time
from tests.scheduling.support import messages_in, placeholders

SOURCE = Path(agentcal.__file__).parent
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NEW_YORK = ZoneInfo("America/New_York")
# Every zone of the tz database but the machine's own, which is no fixed zone.
ZONES = sorted(z for z in available_timezones() if z != "localtime")
PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# What a listener must never hear: ISO dates or times, offsets, UTC or GMT.
UNHEARD = re.compile(r"\d{4}-\d{2}-\d{2}|T\d{2}:\d{2}|[+-]\d{2}:\d{2}|UTC|GMT")


# ------------------------------------------------------------------------ catalogues


@cache
def catalogue(language: str) -> Catalog:
    with catalogue_path(language).open("rb") as file:
        return read_po(file, locale=babel_locale(language))


def test_the_code_says_messages_and_the_scan_finds_them() -> None:
    said = messages_in(SOURCE)
    assert ("{weekday} the {day} of {month}",) in said
    assert ("{date} at {times}", "{date} at {times}") in said
    assert ("availability checks are switched off (checkAvailabilityEnabled: false)",) in said


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_the_code_says_is_translated(language: str) -> None:
    messages = catalogue(language)
    untranslated = []
    for key, where in messages_in(SOURCE).items():
        entry = messages.get(key[0])
        if entry is None or entry.fuzzy:
            untranslated.append(f"{where}: {key[0]!r}")
            continue
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        if ids != key or not all(forms):
            untranslated.append(f"{where}: {key[0]!r}")
    assert untranslated == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_exactly_the_placeholders_and_literal_braces(language: str) -> None:
    wrong = []
    for entry in catalogue(language):
        if not entry.id:
            continue  # the header
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = placeholders(ids[-1])
        for text in (*ids, *forms):
            if placeholders(text) != wanted or text.count("{{") != ids[0].count("{{"):
                wrong.append((ids[0], text))
    assert wrong == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalogues_hold_only_messages_the_code_says(language: str) -> None:
    said = {key[0] for key in messages_in(SOURCE)}
    ids = [e.id[0] if e.pluralizable else e.id for e in catalogue(language) if e.id]
    stale = [i for i in ids if i not in said]
    assert stale == []


def test_a_message_without_a_translation_is_said_in_english() -> None:
    with speaking(Speech("pt-BR")):
        assert say("A sentence no catalogue has, for {name}.", name="Ana") == (
            "A sentence no catalogue has, for Ana."
        )
        assert say("") == ""  # never the catalogue's header


@pytest.mark.parametrize(
    ("language", "one", "two"),
    [
        ("en", "and 1 more time that day", "and 2 more times that day"),
        ("pt-BR", "e mais 1 horário nesse dia", "e mais 2 horários nesse dia"),
        ("es", "y 1 horario más ese día", "y 2 horarios más ese día"),
    ],
)
def test_plural_forms_agree_with_the_count(language: str, one: str, two: str) -> None:
    singular, plural = "and {count} more time that day", "and {count} more times that day"
    with speaking(Speech(language)):
        assert say_plural(singular, plural, 1) == one
        assert say_plural(singular, plural, 2) == two


def test_an_unknown_language_is_said_in_english() -> None:
    with speaking(Speech("fr")):
        assert say("the arguments are not valid JSON") == "the arguments are not valid JSON"


# ----------------------------------------------------------------- times, to be read


@pytest.mark.parametrize(
    ("language", "instant", "span"),
    [
        (
            "pt-BR",
            "segunda-feira, 23 de novembro de 2026, 10:00 (UTC-03:00)",
            "segunda-feira, 23 de novembro de 2026, de 10:00 a 10:30 (UTC-03:00)",
        ),
        (
            "es",
            "lunes, 23 de noviembre de 2026, 10:00 (UTC-03:00)",
            "lunes, 23 de noviembre de 2026, de 10:00 a 10:30 (UTC-03:00)",
        ),
        (
            "en",
            "Monday 23 November 2026, 10:00 (UTC-03:00)",
            "Monday 23 November 2026, 10:00 to 10:30 (UTC-03:00)",
        ),
    ],
)
def test_read_times_are_in_the_bots_language(language: str, instant: str, span: str) -> None:
    start = datetime(2026, 11, 23, 13, tzinfo=UTC)
    with speaking(Speech(language)):
        assert speakable(start, SAO_PAULO) == instant
        assert speakable_span(start, start + timedelta(minutes=30), SAO_PAULO) == span


@PROPERTIES
@given(
    instant=st.datetimes(datetime(1990, 1, 1), datetime(2060, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(ZONES),
    language=st.sampled_from(LANGUAGES),
)
def test_read_times_name_babels_weekday_and_month_the_clock_and_the_offset(
    instant: datetime, zone: str, language: str
) -> None:
    tz = ZoneInfo(zone)
    local = instant.astimezone(tz)
    locale = babel_locale(language)
    with speaking(Speech(language)):
        said = speakable(instant, tz)
    assert said.startswith(get_day_names("wide", locale=locale)[local.weekday()])
    assert f" {get_month_names('wide', locale=locale)[local.month]} " in said
    assert f" {local.day} " in said
    assert str(local.year) in said
    assert f", {local:%H:%M}" in said
    assert re.search(r"\(UTC[+-]\d{2}:\d{2}\)$", said)


# -------------------------------------------------------------- times, to be heard


def _named(language: str, kind: str) -> dict[str, int]:
    """Babel's weekday (0 = Monday) or month (1 = January) names of `language`, to numbers."""
    locale = babel_locale(language)
    names = (
        get_day_names("wide", locale=locale)
        if kind == "day"
        else get_month_names("wide", locale=locale)
    )
    return {str(name): number for number, name in names.items()}


_HEADS = {
    "en": r"(?P<weekday>\w+) the (?P<day>\d{1,2})(?:st|nd|rd|th) of (?P<month>\w+)"
    r"(?: (?P<year>\d{4}))? at (?P<times>.+)",
    "pt-BR": r"(?P<weekday>[\w-]+), (?P<day>\d{1,2})º? de (?P<month>\w+)"
    r"(?: de (?P<year>\d{4}))?, às? (?P<times>.+)",
    "es": r"(?P<weekday>\w+), (?P<day>\d{1,2}) de (?P<month>\w+)"
    r"(?: de (?P<year>\d{4}))?, a las? (?P<times>.+)",
}
_MORE = {
    "en": r"and (\d+) more times?\b",
    "pt-BR": r"e mais (\d+) horários?\b",
    "es": r"y (\d+) horarios? más\b",
}
_CLOCKS = {
    "en": r"(\d{1,2})(?::(\d{2}))?|noon|midnight|in the morning|in the afternoon"
    r"|in the evening|at night",
    "pt-BR": r"(\d{1,2})h(\d{2})?",
    "es": r"(\d{1,2}):(\d{2})",
}


def _english_clocks(text: str) -> list[time]:
    """`9, 9:30, or 11 in the morning, noon, or 2 in the afternoon` → 24-hour times: the
    part of the day said after a run of times holds for the whole run."""
    clocks: list[time] = []
    waiting: list[tuple[int, int]] = []
    for match in re.finditer(_CLOCKS["en"], text):
        word = match.group(0)
        if match.group(1):
            waiting.append((int(match.group(1)), int(match.group(2) or 0)))
        elif word in ("noon", "midnight"):
            assert not waiting, text
            clocks.append(time(12 if word == "noon" else 0))
        else:
            assert waiting, text
            for hour, minute in waiting:
                assert 1 <= hour <= 12, text
                later = word in ("in the afternoon", "in the evening") or (
                    word == "at night" and 6 <= hour < 12
                )
                clocks.append(time(hour % 12 + (12 if later else 0), minute))
            waiting = []
    assert not waiting, f"times without their part of the day: {text}"
    return clocks


def read_back(text: str, language: str, tz: ZoneInfo) -> tuple[list[tuple[date, time]], int]:
    """The (local date, local clock) of every time `text` offers, and how many more it
    says there are."""
    heard: list[tuple[date, time]] = []
    more = 0
    weekdays, months = _named(language, "day"), _named(language, "month")
    this_year = datetime.now(tz).year
    for part in text.split("; "):
        if counted := re.fullmatch(_MORE[language] + r".*", part):
            more = int(counted.group(1))
            continue
        head = re.fullmatch(_HEADS[language], part)
        assert head is not None, f"not a day with its times: {part!r} in {text!r}"
        year = int(head.group("year") or this_year)
        assert head.group("year") is None or year != this_year, "this year is never said"
        day = date(year, months[head.group("month")], int(head.group("day")))
        assert weekdays[head.group("weekday")] == day.weekday(), part
        said = head.group("times")
        if language == "en":
            clocks = _english_clocks(said)
        else:
            found = re.findall(_CLOCKS[language], said)
            clocks = [time(int(h), int(m or 0)) for h, m in found]
        assert clocks, part
        heard += [(day, clock) for clock in clocks]
    return heard, more


@cache
def _changes(zone: str, year: int) -> tuple[date, ...]:
    """The local days of `year` on which `zone` changes its offset, found day by day."""
    tz, found = ZoneInfo(zone), []
    day = datetime(year, 1, 1, 12, tzinfo=UTC)
    before = day.astimezone(tz).utcoffset()
    while day.year == year:
        day += timedelta(days=1)
        after = day.astimezone(tz).utcoffset()
        if after != before:
            found.append((day - timedelta(days=1)).date())
            before = after
    return tuple(found)


@st.composite
def offers(draw: st.DrawFn) -> tuple[ZoneInfo, list[datetime]]:
    """A zone and free start times over three days from some day of the years around
    this one (a day the clocks change, when the zone has one), on a 5-minute grid."""
    zone = draw(st.sampled_from(ZONES))
    year = draw(st.integers(datetime.now(UTC).year - 1, datetime.now(UTC).year + 2))
    changes = _changes(zone, year)
    if changes and draw(st.booleans()):
        first = draw(st.sampled_from(changes))
    else:
        first = date(year, 1, 1) + timedelta(days=draw(st.integers(0, 360)))
    start = datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(hours=14)
    steps = draw(st.lists(st.integers(0, 3 * 24 * 12), min_size=1, max_size=40, unique=True))
    return ZoneInfo(zone), [start + timedelta(minutes=5 * k) for k in steps]


@PROPERTIES
@given(offer=offers(), language=st.sampled_from(LANGUAGES))
def test_heard_times_name_only_offered_times_each_in_local_time(
    offer: tuple[ZoneInfo, list[datetime]], language: str
) -> None:
    tz, starts = offer
    with speaking(Speech(language, voice=True)):
        text = speakable_times(starts, tz)
    heard, more = read_back(text, language, tz)
    offered = Counter((s.astimezone(tz).date(), s.astimezone(tz).time()) for s in starts)
    assert not Counter(heard) - offered, f"{text!r} names a time not offered"
    assert 1 <= len(heard) <= MAX_HEARD_OPTIONS
    assert len(heard) + more == len(starts)  # the rest are counted, none lost
    assert not UNHEARD.search(text), text


@PROPERTIES
@given(offer=offers(), language=st.sampled_from(LANGUAGES))
def test_heard_availability_names_the_zone_once_and_reads_no_offset(
    offer: tuple[ZoneInfo, list[datetime]], language: str
) -> None:
    tz, starts = offer
    slots = [(s, s + timedelta(minutes=30)) for s in starts]
    with speaking(Speech(language, voice=True)):
        content = results.slots_content("Dr Ana", slots, tz, starts[0], starts[-1], 30)
        words = zone_words(tz, min(starts))
        closing = speech.ending()
    said = f"{content} {closing}"
    assert said.count(words) == 1, said
    assert not UNHEARD.search(said), said


def test_heard_times_group_by_day_spread_over_it_and_count_the_rest() -> None:
    year = datetime.now(SAO_PAULO).year
    monday = datetime(year, 12, 7, 12, tzinfo=UTC)  # 9:00 in São Paulo
    day = [monday + timedelta(minutes=30 * i) for i in range(16)]  # 9:00 to 16:30
    with speaking(Speech("en", voice=True)):
        weekday = speakable(monday, SAO_PAULO).split(" the ")[0]
        assert speakable_times(day, SAO_PAULO) == (
            f"{weekday} the 7th of December at 9 or 11:30 in the morning, or 2 or 4:30 in the "
            "afternoon; and 12 more times that day"
        )
        closing = speech.ending()
    assert closing == "All times are São Paulo time."


@pytest.mark.parametrize(
    ("language", "at_one", "span", "closing"),
    [
        (
            "en",
            "Tuesday the 7th of December 2027 at 1 in the morning",
            "Tuesday the 7th of December 2027 from 11:30 in the morning to 12:30 in the afternoon",
            "All times are New York time.",
        ),
        (
            "pt-BR",
            "terça-feira, 7 de dezembro de 2027, à 1h",
            "terça-feira, 7 de dezembro de 2027, das 11h30 às 12h30",
            "Todos os horários estão no fuso horário de Nova York.",
        ),
        (
            "es",
            "martes, 7 de diciembre de 2027, a la 1:00",
            "martes, 7 de diciembre de 2027, de las 11:30 a las 12:30",
            "Todos los horarios están en la hora de Nueva York.",
        ),
    ],
)
def test_heard_dates_say_the_year_only_when_not_this_one_and_articles_agree(
    language: str, at_one: str, span: str, closing: str
) -> None:
    if datetime.now(NEW_YORK).year == 2027:
        pytest.skip("the year would not be said in 2027")
    one = datetime(2027, 12, 7, 1, tzinfo=NEW_YORK)
    late = datetime(2027, 12, 7, 11, 30, tzinfo=NEW_YORK)
    with speaking(Speech(language, voice=True)):
        assert speakable(one, NEW_YORK) == at_one
        assert speakable_span(late, late + timedelta(hours=1), NEW_YORK) == span
        assert speech.ending() == closing


@pytest.mark.parametrize(
    ("zone", "words"),
    [
        ("America/Sao_Paulo", "São Paulo time"),
        ("Europe/London", "London time"),
        ("UTC", "Greenwich time"),
        ("Etc/GMT+5", "Greenwich time minus 5 hours"),
        ("Etc/GMT-1", "Greenwich time plus 1 hour"),
    ],
)
def test_a_zone_is_heard_by_its_place_or_its_distance_from_greenwich(zone: str, words: str) -> None:
    with speaking(Speech("en", voice=True)):
        assert zone_words(ZoneInfo(zone), datetime(2026, 6, 1, tzinfo=UTC)) == words


def test_heard_errors_leave_offsets_and_iso_strings_out() -> None:
    now = datetime(2026, 11, 23, 13, 7, 30, tzinfo=UTC)
    with speaking(Speech("pt-BR", voice=True)):
        with pytest.raises(InvalidDatetime) as past:
            check_start(now - timedelta(hours=1), now=now, tz=SAO_PAULO, min_notice_minutes=0)
        with pytest.raises(InvalidDatetime) as gap:
            parse_time("2026-03-08T02:30", NEW_YORK)
        note = parse_time("2026-11-01T01:30", NEW_YORK).note
        closing = speech.ending()
    assert past.value.detail.startswith("O horário de segunda-feira, 23 de novembro, às 9h07")
    assert "às 10h07" in past.value.detail  # now, in São Paulo
    assert "nesse dia os relógios são adiantados de 2h para 3h" in gap.value.detail
    assert note is not None
    assert "acontece duas vezes" in note
    for said in (past.value.detail, gap.value.detail, note, closing):
        assert not UNHEARD.search(said), said
    assert (
        closing
        == "Todos os horários estão no fuso horário de São Paulo e fuso horário de Nova York."
    )


def test_a_closing_sentence_never_pushes_content_past_its_limit() -> None:
    long = ToolResult.failure("c1", "slot_unavailable", "x" * MAX_CONTENT)
    ended = long.ended_with("All times are São Paulo time.")
    assert len(ended.content) == MAX_CONTENT
    assert ended.content.endswith("… All times are São Paulo time.")
    assert ended.error is not None
    assert ended.error.message == ended.content
    short = ToolResult.failure("c1", "slot_unavailable", "Taken.")
    assert short.ended_with("").content == "Taken."


@pytest.mark.parametrize(
    ("language", "minutes"),
    [("en", "for 60 minutes"), ("pt-BR", "com duração de 60 minutos"), ("es", "60 minutos")],
)
def test_a_heard_span_across_the_clocks_going_back_says_how_long(
    language: str, minutes: str
) -> None:
    """01:30 EDT to 01:30 EST is an hour; "from 1:30 to 1:30" would say nothing."""
    new_york = ZoneInfo("America/New_York")
    start = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first one
    with speaking(Speech(language, voice=True)):
        said = speakable_span(start, start + timedelta(hours=1), new_york)
    assert minutes in said
    assert said.count("1:30") + said.count("1h30") == 1, said

"""How results are written: in the bot's language, to be read or to be heard.

A tool call runs `speaking(Speech(language, voice))`; everything that writes a
`content` sentence below it asks `current()` how, and says its sentences with `say`
(or `say_plural` when a number decides the wording).

The sentences are English in the code and translated through gettext catalogues
shipped in the package (`agentcal/locale/<lang>/LC_MESSAGES/agentcal.po`), read with
babel the first time a language is spoken and kept: there is no compile step at build
time. A message a catalogue lacks is said in English. A sentence's `{placeholders}`
are filled after translation, so a translation may reorder them but never add one.

`voice` is set on voice channels, whose results are heard rather than read: no ISO
strings or offsets, few options, grouped, and the timezone named once. The time
phrases (`agentcal.scheduling.times`) leave the zone out on voice and note it here
(`heard_zone`); the runtime ends the result with one sentence naming it (`ending`).
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("en", "pt-BR", "es")
DOMAIN = "agentcal"
# The languages with a catalogue; English is the catalogues' source language.
TRANSLATED = ("pt-BR", "es")


def babel_locale(language: str) -> str:
    """Babel's name for one of `LANGUAGES`: `pt-BR` → `pt_BR`."""
    return language.replace("-", "_")


@dataclass(frozen=True, slots=True)
class Speech:
    language: str = "en"
    voice: bool = False
    # Zones whose times were said on voice without naming them (see `heard_zone`).
    zones: list[str] = field(default_factory=list, compare=False, repr=False)


# The default is never changed: `heard_zone` notes zones only when speaking on voice.
_current: ContextVar[Speech] = ContextVar("agentcal_speech", default=Speech())  # noqa: B039


def current() -> Speech:
    return _current.get()


@contextmanager
def speaking(speech: Speech) -> Iterator[Speech]:
    # A fresh list of zones for each call: one Speech may serve several.
    token = _current.set(replace(speech, zones=[]))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def catalogue_path(language: str) -> Traversable:
    """Where the catalogue of `language` (one of `TRANSLATED`) is shipped."""
    locale = babel_locale(language)
    return resources.files("agentcal") / "locale" / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The messages of `language`, read once. English, or a language without a
    catalogue, says every message as written."""
    if language not in TRANSLATED:
        return gettext.NullTranslations()
    with catalogue_path(language).open("rb") as file:
        catalog = read_po(file, locale=babel_locale(language), domain=DOMAIN)
    # gettext's own reader then gives plural forms and the fallback for free; fuzzy
    # entries (unchecked translations) are left out, so they fall back to English.
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _fill(text: str, message: str, values: dict[str, object]) -> str:
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):  # a broken translation: say it in English
        return message.format(**values)


def say(message: str, /, **values: object) -> str:
    """`message` in the current language, its `{placeholders}` filled with `values`."""
    if not message:  # gettext's translation of "" is the catalogue's header
        return message
    text = translations(current().language).gettext(message)
    return _fill(text, message, values)


def translated(message: str, language: str) -> str:
    """`message` in `language`, as it is: no placeholders filled (a notification
    template's `{{name}}` is filled by the template's own rules)."""
    return translations(language).gettext(message) if message else message


def translatable(message: str, /) -> str:
    """`message` itself, marked for the catalogues: a sentence kept in a constant and
    said later with `say(constant)`."""
    return message


def say_plural(singular: str, plural: str, count: int, /, **values: object) -> str:
    """The form of the message that agrees with `count` (also its `{count}`)."""
    text = translations(current().language).ngettext(singular, plural, count)
    return _fill(text, singular if count == 1 else plural, {"count": count, **values})


def heard_zone(words: str) -> None:
    """Note that times of the zone `words` ("São Paulo time") were said without it."""
    speech = current()
    if speech.voice and words not in speech.zones:
        speech.zones.append(words)


def ending() -> str:
    """The sentence that names the zones of the times said on voice, or ""."""
    speech = current()
    if not speech.zones:
        return ""
    zones = format_list(speech.zones, locale=babel_locale(speech.language))
    return say("All times are {zone}.", zone=zones)

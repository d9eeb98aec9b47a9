"""How results are written: in the bot's language, to be read or to be heard.

A tool call runs `speaking(Speech(language, voice))`; everything that writes a
`content` sentence below it asks `current()` how, and says its sentences with `say`.
The bot's language is one of `LANGUAGES`; `voice` is set on voice channels, whose
results are heard rather than read (no ISO strings or offsets, few options, grouped).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

LANGUAGES = ("en", "pt-BR", "es")


@dataclass(frozen=True, slots=True)
class Speech:
    language: str = "en"
    voice: bool = False


_current: ContextVar[Speech] = ContextVar("agentcal_speech", default=Speech())  # noqa: B039 - frozen


def current() -> Speech:
    return _current.get()


@contextmanager
def speaking(speech: Speech) -> Iterator[Speech]:
    token = _current.set(speech)
    try:
        yield speech
    finally:
        _current.reset(token)


def say(message: str, /, **values: object) -> str:
    """`message` in the current language, its `{placeholders}` filled with `values`."""
    return message.format(**values)

"""Input types shared by every request schema.

JSON booleans and integers are strict (no `"true"` or `"5"`); strings are trimmed,
and refuse NUL and unpaired surrogates, which PostgreSQL cannot store, so bad input
ends as a 422 instead of a database error.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

# Requests refuse unknown fields and speak camelCase, as the Toolzz documents do.
REQUEST_CONFIG = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=False)
RESPONSE_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True)

MAX_INT32 = 2**31 - 1


def storable(value: str) -> str:
    """Refuse what a database cannot store as text: NUL and unpaired surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no unpaired surrogates)") from None
    return value


def _matching(pattern: str, message: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(message)
        return value

    return check


@lru_cache(maxsize=1)
def timezone_names() -> frozenset[str]:
    """The IANA zone names this machine's tz database knows."""
    return frozenset(zoneinfo.available_timezones())


def _timezone(value: str) -> str:
    if value not in timezone_names():
        raise ValueError(
            f"{value!r} is not an IANA timezone name; use one such as "
            "'UTC', 'America/Sao_Paulo' or 'Europe/Lisbon'"
        )
    return value


_STORABLE = AfterValidator(storable)


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


# On optional text fields, "" (or only spaces) means "not set", as forms send it.
BLANK_IS_NULL = BeforeValidator(_blank_to_none)


def _trimmed(max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


Name = Annotated[str, _trimmed(120), _STORABLE]
Prompt = Annotated[str, _trimmed(20_000), _STORABLE]
ShortText = Annotated[str, _trimmed(255), _STORABLE]
LongText = Annotated[str, _trimmed(4_000), _STORABLE]
Secret = Annotated[
    str,
    _trimmed(4_096),
    AfterValidator(_matching(r"[\x21-\x7e]+", "must be printable ASCII without spaces")),
]
Timezone = Annotated[str, _trimmed(64), AfterValidator(_timezone)]
Slug = Annotated[
    str,
    _trimmed(100),
    AfterValidator(
        _matching(r"[a-z0-9][a-z0-9_-]*", "must be a slug: lowercase letters, digits, '-', '_'")
    ),
]
Username = Annotated[
    str,
    _trimmed(100),
    AfterValidator(
        _matching(r"[A-Za-z0-9._-]+", "may hold only letters, digits, '.', '_' and '-'")
    ),
]
# Deliberately loose: one @, a dot in the domain, no spaces. The mail server decides.
_EMAIL = re.compile(r"[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00.]+")


def is_email(value: str) -> bool:
    return _EMAIL.fullmatch(value) is not None


def _email(value: str) -> str:
    if not is_email(value):
        raise ValueError("must be an e-mail address")
    return value


Email = Annotated[str, _trimmed(254), AfterValidator(_email)]
Digits = Annotated[
    str, _trimmed(64), AfterValidator(_matching(r"[0-9]+", "must be a string of digits"))
]
PositiveInt32 = Annotated[int, Field(strict=True, ge=1, le=MAX_INT32)]

__all__ = [
    "BLANK_IS_NULL",
    "MAX_INT32",
    "REQUEST_CONFIG",
    "RESPONSE_CONFIG",
    "Digits",
    "Email",
    "LongText",
    "Name",
    "PositiveInt32",
    "Prompt",
    "Secret",
    "ShortText",
    "Slug",
    "StrictBool",
    "Timezone",
    "Username",
    "is_email",
    "storable",
    "timezone_names",
]

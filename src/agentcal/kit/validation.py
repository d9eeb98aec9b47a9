"""Input types shared by every request schema.

JSON booleans and integers are strict (no `"true"` or `"5"`); strings are trimmed,
and refuse NUL and unpaired surrogates, which PostgreSQL cannot store, so bad input
ends as a 422 instead of a database error.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticKnownError, core_schema

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


# What trimming removes: Unicode White_Space, as pydantic's `strip_whitespace` has it.
# Spelled out, because `\s` means three different sets in Python's regexes, in the API
# document's (ECMA) regexes and in `str.strip()`: the document must say what we check.
SPACE = r"[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_NOT_SPACE = "[^" + SPACE[1:]
# Neither a space nor a control character, in either sense of the two regex dialects.
VISIBLE = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
_BLANK = re.compile(f"{SPACE}*")


def documented_pattern(pattern: str, *, trimmed: bool = True) -> str:
    """`pattern` (matched whole) as the document states it: spaces around are trimmed."""
    space = f"{SPACE}*" if trimmed else ""
    return f"^{space}(?:{pattern}){space}$"


def _integral(value: object) -> object:
    # JSON has one number type: 30.0 is the integer 30 to JSON Schema, and to us.
    return int(value) if isinstance(value, float) and value.is_integer() else value


@dataclass(frozen=True, slots=True)
class Integer:
    """A JSON integer from `ge` to `le`: never a string, a boolean or a fraction."""

    ge: int
    le: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        number = core_schema.int_schema(strict=True, ge=self.ge, le=self.le)
        return core_schema.no_info_before_validator_function(_integral, number)


@dataclass(frozen=True, slots=True)
class Trimmed:
    """Text trimmed of the spaces around it, then `min_length` to `max_length` long.

    The document speaks of the text as sent, so the limit applies before trimming
    too: at most `max_length` characters however many of them are spaces, and at
    least one character that is not one.
    """

    max_length: int
    min_length: int = 1

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        limit = self.max_length

        def not_too_long(value: object) -> object:
            if isinstance(value, str) and len(value) > limit:
                raise PydanticKnownError("string_too_long", {"max_length": limit})
            return value

        text = core_schema.str_schema(
            strip_whitespace=True, min_length=self.min_length, max_length=limit
        )
        return core_schema.no_info_before_validator_function(not_too_long, text)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler.resolve_ref_schema(handler(schema))
        json_schema["pattern"] = _NOT_SPACE
        return json_schema


@dataclass(frozen=True, slots=True)
class Pattern:
    """Text that must match `pattern` whole (after trimming); `message` says what it
    must be. The document carries the pattern too."""

    pattern: str
    message: str
    trimmed: bool = True  # False: the field is not trimmed, so no spaces around either

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        compiled = re.compile(self.pattern)
        message = self.message

        def check(value: str) -> str:
            if not compiled.fullmatch(value):
                raise ValueError(message)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler.resolve_ref_schema(handler(schema))
        json_schema["pattern"] = documented_pattern(self.pattern, trimmed=self.trimmed)
        return json_schema


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


@dataclass(frozen=True, slots=True)
class _ZoneNames:
    """Documents what `_timezone` checks: one of the zone names, listed."""

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler.resolve_ref_schema(handler(schema))
        json_schema["enum"] = sorted(timezone_names())
        return json_schema


_STORABLE = AfterValidator(storable)


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and _BLANK.fullmatch(value) else value


@dataclass(frozen=True, slots=True)
class _BlankIsNull:
    """On optional text fields, "" (or only spaces) means "not set", as forms send it;
    the document offers blank text as one more choice, so it accepts what the API does."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(_blank_to_none, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler.resolve_ref_schema(handler(schema))
        blank = {"type": "string", "pattern": f"^{SPACE}*$", "description": "blank: not set"}
        options = json_schema.get("anyOf")
        if options is not None:
            options.insert(len(options) - 1 if options[-1] == {"type": "null"} else 0, blank)
        else:
            json_schema = {"anyOf": [json_schema, blank]}
        return json_schema


BLANK_IS_NULL = _BlankIsNull()


Name = Annotated[str, Trimmed(120), _STORABLE]
Prompt = Annotated[str, Trimmed(20_000), _STORABLE]
ShortText = Annotated[str, Trimmed(255), _STORABLE]
LongText = Annotated[str, Trimmed(4_000), _STORABLE]
Secret = Annotated[
    str, Trimmed(4_096), Pattern(r"[\x21-\x7e]+", "must be printable ASCII without spaces")
]
Timezone = Annotated[str, Trimmed(64), AfterValidator(_timezone), _ZoneNames()]
Slug = Annotated[
    str,
    Trimmed(100),
    Pattern(r"[a-z0-9][a-z0-9_-]*", "must be a slug: lowercase letters, digits, '-', '_'"),
]
Username = Annotated[
    str,
    Trimmed(100),
    Pattern(r"[A-Za-z0-9._-]+", "may hold only letters, digits, '.', '_' and '-'"),
]
# Deliberately loose: one @, a dot in the domain, no spaces or control characters. The
# mail server decides. (Every excluded character is listed, for both regex dialects.)
_MAIL_PART = "[^@" + VISIBLE[2:]
_EMAIL = rf"{_MAIL_PART}+@{_MAIL_PART}+\.{_MAIL_PART[:-1]}.]+"


def is_email(value: str) -> bool:
    return re.fullmatch(_EMAIL, value) is not None


Email = Annotated[str, Trimmed(254), Pattern(_EMAIL, "must be an e-mail address")]
Digits = Annotated[str, Trimmed(64), Pattern(r"[0-9]+", "must be a string of digits")]
PositiveInt32 = Annotated[int, Integer(1, MAX_INT32)]

__all__ = [
    "BLANK_IS_NULL",
    "SPACE",
    "VISIBLE",
    "Pattern",
    "Trimmed",
    "documented_pattern",
    "Integer",
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

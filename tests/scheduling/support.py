"""Helpers for the scheduling tests, written independently of the code under test."""

from __future__ import annotations

import ast
import string
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
DST_ZONES = (NEW_YORK, LONDON, LORD_HOWE)


def offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    value = instant.astimezone(tz).utcoffset()
    assert value is not None
    return value


@cache
def transitions(tz: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """Every offset change of `tz` in `year`: (instant in UTC, offset before, offset after).

    Scans in 15-minute steps (every zone changes on a quarter hour), so it finds the
    instant exactly without trusting anything but zoneinfo's utcoffset.
    """
    found = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    before = offset(t, tz)
    while t.year == year:
        t += timedelta(minutes=15)
        after = offset(t, tz)
        if after != before:
            found.append((t, before, after))
            before = after
    return found


def local(instant: datetime, tz: ZoneInfo) -> str:
    """`2026-03-08T03:00-04:00`: a compact local reading for readable assertions."""
    return instant.astimezone(tz).isoformat(timespec="minutes")


# --- the messages of the catalogues --------------------------------------------------------

SAYING = {"say": 1, "say_plural": 2, "translatable": 1}  # how many leading messages each takes


def messages_in(source: Path) -> dict[tuple[str, ...], str]:
    """Every message said in the modules under `source`: (msgid,) or (singular, plural),
    each with where it is first said. Read from the syntax tree, as `say("…")`,
    `say_plural("…", "…", n)` and `translatable("…")` name them; a `say(name)` says a
    message some `translatable` marked."""
    found: dict[tuple[str, ...], str] = {}
    for path in sorted(source.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in SAYING:
                continue
            leading = node.args[: SAYING[name]]
            texts = [a.value for a in leading if isinstance(a, ast.Constant)]
            if len(texts) == SAYING[name] and all(isinstance(t, str) for t in texts):
                found.setdefault(tuple(texts), f"{path.relative_to(source.parent)}:{node.lineno}")
    return found


def placeholders(message: str) -> set[str]:
    """The `{names}` `str.format` fills in `message` (`{{` and `}}` are literal braces)."""
    return {field for _, field, _, _ in string.Formatter().parse(message) if field is not None}

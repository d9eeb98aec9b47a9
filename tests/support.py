"""Helpers every part of the suite shares."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def next_monday() -> date:
    """The next Monday in São Paulo (the sandboxes' demo zone), never today: a day whose
    working hours all lie ahead, whatever day and hour the suite runs."""
    today = datetime.now(SAO_PAULO).date()
    return today + timedelta(days=(7 - today.weekday()) or 7)

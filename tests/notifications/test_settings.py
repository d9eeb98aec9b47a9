"""Notification settings that cannot work are refused when the process starts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agentcal.settings import Settings


def test_a_lease_shorter_than_an_attempt_is_refused() -> None:
    with pytest.raises(ValidationError, match="LEASE_SECONDS must exceed"):
        Settings(notification_lease_seconds=10, notification_timeout_seconds=10)


@pytest.mark.parametrize("waits", ["", "ten", "10,-1"])
def test_retry_waits_must_be_seconds(waits: str) -> None:
    with pytest.raises(ValidationError):
        Settings(notification_retry_seconds=waits)


def test_the_default_schedule_backs_off_to_hourly() -> None:
    assert Settings().notification_retry_waits == (10, 30, 120, 600, 3600)

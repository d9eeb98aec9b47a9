"""Timestamp formats of the Toolzz documents, kept exactly as the seeds show them."""

from __future__ import annotations

from datetime import UTC, datetime


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


def micros(dt: datetime) -> str:
    """`YYYY-MM-DD HH:mm:ss.SSSSSS` in UTC (Cal.com integration `createdAt`)."""
    return _utc(dt).strftime("%Y-%m-%d %H:%M:%S.%f")


def millis(dt: datetime) -> str:
    """`YYYY-MM-DD HH:mm:ss.SSS` in UTC (Cal.com integration `updatedAt`)."""
    return micros(dt)[:-3]


def iso_millis(dt: datetime) -> str:
    """ISO 8601 UTC with milliseconds and `Z`, e.g. `2026-01-31T12:00:00.000Z`."""
    utc = _utc(dt)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"

"""The availability cache on its own (`agentcal.providers.availability`): what is kept,
what a question waits for, and what empties it. Its use by the providers is tested in
tests/providers/*/test_availability_cache.py, across replicas in test_availability_sync.py."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from agentcal.providers import availability
from agentcal.providers.availability import AvailabilityCache
from tests.support import wait_until

DAY = datetime(2030, 3, 4, tzinfo=UTC)
WEEK = (DAY, DAY + timedelta(days=7))


class Provider:
    """A provider that answers the ranges it is asked about, when let."""

    def __init__(self) -> None:
        self.asked: list[tuple[datetime, datetime]] = []
        self.answered = 0
        self.go = asyncio.Event()
        self.go.set()

    async def fetch(self, start: datetime, end: datetime) -> list[int]:
        """The answer: which request it was (the first is 1)."""
        self.asked.append((start, end))
        number = len(self.asked)
        await self.go.wait()
        self.answered += 1
        return [number]


def _calendar() -> availability.Calendar:
    return ("test", uuid.uuid4())


async def test_a_range_inside_a_kept_answer_is_answered_from_it() -> None:
    cache: AvailabilityCache[list[int]] = AvailabilityCache(30)
    provider, calendar = Provider(), _calendar()
    first = await cache.answer(calendar, 1, DAY, DAY + timedelta(1), provider.fetch, wide=WEEK)
    later = await cache.answer(
        calendar, 1, DAY + timedelta(3), DAY + timedelta(4), provider.fetch, wide=WEEK
    )
    assert provider.asked == [WEEK]
    assert later is first
    assert first.fresh is True
    assert first.stamp()["asOf"].endswith("Z")
    # Another detail (an event type, the calendars asked) is another answer.
    await cache.answer(calendar, 2, DAY, DAY + timedelta(1), provider.fetch)
    assert provider.asked == [WEEK, (DAY, DAY + timedelta(1))]


async def test_questions_covered_by_a_request_in_flight_wait_for_it() -> None:
    cache: AvailabilityCache[list[int]] = AvailabilityCache(30)
    provider, calendar = Provider(), _calendar()
    provider.go.clear()
    asks = [
        asyncio.ensure_future(
            cache.answer(
                calendar, 1, DAY + timedelta(d), DAY + timedelta(d + 1), provider.fetch, wide=WEEK
            )
        )
        for d in (0, 0, 2)
    ]
    await asyncio.sleep(0)  # every question has started
    provider.go.set()
    answers = await asyncio.gather(*asks)
    assert provider.asked == [WEEK]
    assert answers[0] is answers[1] is answers[2]


async def test_a_calendar_emptied_while_asking_answers_the_waiting_but_keeps_nothing() -> None:
    cache: AvailabilityCache[list[int]] = AvailabilityCache(30)
    provider, calendar = Provider(), _calendar()
    provider.go.clear()
    asked = asyncio.ensure_future(cache.answer(calendar, 1, *WEEK, provider.fetch))
    await asyncio.sleep(0)
    availability.forget(*calendar)  # a booking committed while the request was out
    # A question after the change does not join the request from before it.
    after = asyncio.ensure_future(cache.answer(calendar, 1, *WEEK, provider.fetch))
    await asyncio.sleep(0)
    provider.go.set()
    await asked
    await after
    assert len(provider.asked) == 2
    await cache.answer(calendar, 1, *WEEK, provider.fetch)
    assert len(provider.asked) == 2  # the second answer, from after the change, is kept


async def test_forget_empties_only_its_calendar_and_forget_all_every_one() -> None:
    cache: AvailabilityCache[list[int]] = AvailabilityCache(30)
    provider, one, other = Provider(), _calendar(), _calendar()
    await cache.answer(one, 1, *WEEK, provider.fetch)
    await cache.answer(other, 1, *WEEK, provider.fetch)
    availability.forget(*one)
    await cache.answer(one, 1, *WEEK, provider.fetch)
    await cache.answer(other, 1, *WEEK, provider.fetch)
    assert len(provider.asked) == 3
    availability.forget_all()
    await cache.answer(other, 1, *WEEK, provider.fetch)
    assert len(provider.asked) == 4


async def test_a_failed_request_is_not_kept() -> None:
    cache: AvailabilityCache[list[int]] = AvailabilityCache(30)
    calendar, calls = _calendar(), []

    async def failing(start: datetime, end: datetime) -> list[int]:
        calls.append(start)
        raise RuntimeError("provider down")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            await cache.answer(calendar, 1, *WEEK, failing)
    assert len(calls) == 2


async def test_off_asks_every_time_and_the_wide_range_must_contain_the_asked_one() -> None:
    cache: AvailabilityCache[list[int]] = AvailabilityCache(0)
    provider, calendar = Provider(), _calendar()
    for _ in range(2):
        await cache.answer(calendar, 1, DAY, DAY + timedelta(1), provider.fetch, wide=WEEK)
    assert provider.asked == [(DAY, DAY + timedelta(1))] * 2  # no prefetch for nothing
    with pytest.raises(ValueError, match="contain"):
        await AvailabilityCache[list[int]](30).answer(
            calendar, 1, DAY, DAY + timedelta(8), provider.fetch, wide=WEEK
        )


async def test_past_the_deadline_the_last_answer_is_given_stale_while_the_request_goes_on() -> None:
    # Fresh for no time at all: every kept answer is stale at once.
    cache: AvailabilityCache[list[int]] = AvailabilityCache(1e-9, deadline_seconds=0.05)
    provider, calendar = Provider(), _calendar()
    kept = await cache.answer(calendar, 1, *WEEK, provider.fetch)
    assert kept.stale_note() == ""
    provider.go.clear()  # the provider is slow now

    late = await cache.answer(calendar, 1, DAY, DAY + timedelta(1), provider.fetch, wide=WEEK)
    assert late.fresh is False
    assert late.as_of == kept.as_of
    assert late.stamp()["fresh"] is False
    assert late.stale_note() == "These times are as of 1 minute ago."
    # A second question meanwhile waits for the same request, and gets the same.
    again = await cache.answer(calendar, 1, DAY, DAY + timedelta(1), provider.fetch, wide=WEEK)
    assert again.fresh is False
    assert len(provider.asked) == 2

    provider.go.set()
    await wait_until(lambda: provider.answered == 2)
    await asyncio.sleep(0)  # its completion is handled
    provider.go.clear()
    # The slow answer was kept when it came: it is what is given stale now.
    latest = await cache.answer(calendar, 1, *WEEK, provider.fetch)
    assert latest.fresh is False
    assert latest.value == [2]
    assert kept.value == [1]
    provider.go.set()


async def test_without_an_answer_to_fall_back_on_the_provider_is_awaited() -> None:
    cache: AvailabilityCache[list[int]] = AvailabilityCache(30, deadline_seconds=0.01)
    provider, calendar = Provider(), _calendar()
    provider.go.clear()
    asked = asyncio.ensure_future(cache.answer(calendar, 1, *WEEK, provider.fetch))
    await wait_until(lambda: len(provider.asked) == 1)
    done, _ = await asyncio.wait({asked}, timeout=0.1)  # well past the deadline
    assert not done
    provider.go.set()
    assert (await asked).fresh is True

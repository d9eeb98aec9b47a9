"""The provider contract: argument models, results, and the tool error tree."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pydantic import Field

from agentcal.errors import ToolError
from agentcal.notifications.events import Notification
from agentcal.providers import base
from agentcal.providers.arguments import CreateBookingArguments
from agentcal.providers.base import (
    Outcome,
    ProviderRateLimited,
    ToolArguments,
    ToolResult,
)
from agentcal.providers.calcom.errors import CalcomError, CalcomRateLimited
from agentcal.providers.google_calendar.errors import GoogleError, GoogleInvalidGrant
from agentcal.providers.google_calendar.tools import GoogleBookingArguments
from agentcal.scheduling.errors import InvalidDatetime

WORDS = {"timezone": "Europe/Lisbon", "time_forms": "HH:MM", "slot_minutes": "45"}
BOOKING = {"start": "2030-01-07T10:00", "attendeeName": "Ana", "attendeeEmail": "ana@example.com"}


class Sized(ToolArguments):
    size: int | None = Field(None, ge=1, le=9, description="How many, by default {default}.")
    label: str = Field(description="A label.")


def test_the_public_surface_is_what_all_names() -> None:
    public = {
        name
        for name, value in vars(base).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == base.__name__
    }
    assert public == set(base.__all__) - {"ToolError"} - {
        name for name in base.__all__ if name.isupper() or name == "Handler"
    }
    assert all(hasattr(base, name) for name in base.__all__)


def test_parameters_are_the_model_fields_with_their_words_filled_in() -> None:
    parameters = GoogleBookingArguments.parameters(WORDS)
    names = [p.name for p in parameters]
    assert names == [
        "start",
        "attendeeName",
        "attendeeEmail",
        "attendeePhone",
        "timeZone",
        "notes",
        "durationMinutes",
        "title",
    ]
    by_name = {p.name: p for p in parameters}
    assert by_name["start"].required
    assert by_name["start"].description.endswith("HH:MM.")
    assert not by_name["title"].required
    duration = by_name["durationMinutes"]
    assert (duration.type, duration.minimum, duration.maximum) == ("integer", 5, 480)
    assert duration.description.endswith("by default 45.")
    assert "Europe/Lisbon" in by_name["timeZone"].description


def test_a_description_naming_an_unknown_word_fails_loudly() -> None:
    with pytest.raises(KeyError, match="default"):
        Sized.parameters({})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "label is required"),
        ({"label": "  "}, "label is required"),
        ({"label": 5}, "label must be a string"),
        ({"label": "x", "size": 0}, "size must be a whole number from 1 to 9"),
        ({"label": "x", "size": "3"}, "size must be a whole number from 1 to 9"),
        ({"label": "x", "size": True}, "size must be a whole number from 1 to 9"),
        ({"label": "x", "size": 2.0}, "size must be a whole number from 1 to 9"),
    ],
)
def test_bad_arguments_say_what_is_wrong(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(base.InvalidArguments) as raised:
        Sized.parse(arguments)
    assert raised.value.detail == message
    assert raised.value.code == "invalid_arguments"


def test_arguments_are_trimmed_blank_means_unset_and_inventions_are_ignored() -> None:
    parsed = Sized.parse({"label": "  room  ", "size": None, "colour": "red"})
    assert (parsed.label, parsed.size) == ("room", None)
    booking = CreateBookingArguments.parse({**BOOKING, "notes": " ", "attendeePhone": ""})
    assert (booking.notes, booking.attendee_phone) == (None, None)


def test_a_provider_check_speaks_to_the_model() -> None:
    with pytest.raises(base.InvalidArguments) as raised:
        GoogleBookingArguments.parse({**BOOKING, "attendeeEmail": "Ana Souza"})
    assert raised.value.detail == (
        "attendeeEmail 'Ana Souza' is not an e-mail address; ask the person for theirs."
    )


def test_a_result_round_trips_through_its_json() -> None:
    notification = Notification("booking.created", "webhook", "text", 0, 1500)
    outcome = Outcome("Booked.", {"bookingId": "b1"}, "b1", (notification,))
    result = ToolResult.success("call-1", outcome)
    assert result.to_json() == {
        "toolCallId": "call-1",
        "ok": True,
        "content": "Booked.",
        "data": {"bookingId": "b1"},
        "notifications": [
            {
                "event": "booking.created",
                "type": "webhook",
                "contentType": "text",
                "delayMs": 0,
                "waitForSpeechMs": 1500,
            }
        ],
    }
    assert list(result.to_json()) == ["toolCallId", "ok", "content", "data", "notifications"]
    failure = ToolResult.failure("c", "slot_unavailable", "Taken.", data={"alternatives": []})
    assert list(failure.to_json()) == [
        "toolCallId",
        "ok",
        "content",
        "error",
        "data",
        "notifications",
    ]
    assert ToolResult.from_json(result.to_json()) == result
    assert ToolResult.from_json(result.to_json()).for_call("call-2").tool_call_id == "call-2"


def test_a_failure_carries_its_code_and_facts_and_content_is_kept_short() -> None:
    error = InvalidDatetime("x" * 700, data={"earliest": "2030-01-07T10:00"})
    result = ToolResult.from_error(None, error).to_json()
    assert result["error"] == {"code": "invalid_datetime", "message": "x" * 700, "retryable": False}
    assert result["data"] == {"earliest": "2030-01-07T10:00"}
    assert len(result["content"]) == 600
    assert result["content"].endswith("…")
    assert "data" not in ToolResult.failure(None, "unknown_tool", "no such tool").to_json()


CATEGORIES = (
    base.ProviderUnavailable,
    base.ProviderRateLimited,
    base.ProviderAuthError,
    base.CredentialsExpired,
    base.ProviderNotFound,
    base.ProviderSlotTaken,
    base.ProviderRequestError,
)


def _tree(cls: type[ToolError]) -> list[type[ToolError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _tree(sub))]


@pytest.mark.parametrize("provider_base", [CalcomError, GoogleError])
def test_each_provider_error_is_also_exactly_one_category(provider_base: type[ToolError]) -> None:
    """The provider's base says only who failed (its slug); what it means (code, status,
    retryable) comes from the category, which every leaf must have."""
    assert set(vars(provider_base)) & {"code", "status_code", "retryable"} == set()
    leaves = [c for c in _tree(provider_base) if c is not provider_base]
    assert len(leaves) >= 6
    for leaf in leaves:
        categories = [c for c in CATEGORIES if issubclass(leaf, c)]
        assert len(categories) == 1, (leaf, categories)
        (category,) = categories
        assert (leaf.code, leaf.status_code, leaf.retryable) == (
            category.code,
            category.status_code,
            category.retryable,
        )
        if issubclass(leaf, (base.ProviderAuthError, base.CredentialsExpired)):
            # A refused credential is one problem type, whoever refused it.
            assert leaf.slug == "credential-refused"
        else:
            assert leaf.slug.startswith(provider_base.slug.removesuffix("error"))


def test_the_categories_carry_the_codes_models_act_on() -> None:
    assert [c.code for c in CATEGORIES] == [
        "upstream_unavailable", "rate_limited", "auth_invalid", "calendar_auth_expired",
        "not_found", "slot_unavailable", "invalid_request",
    ]  # fmt: skip
    assert [c.retryable for c in CATEGORIES] == [True, True, False, False, False, False, False]
    assert issubclass(GoogleInvalidGrant, base.CredentialsExpired)
    assert issubclass(CalcomRateLimited, ProviderRateLimited)
    # On the management API: the caller's data is a 409, a provider outage a 503.
    assert [c.status_code for c in CATEGORIES] == [503, 503, 409, 409, 409, 409, 409]
    for cls in _tree(ToolError):
        assert cls.code != "error" or cls is ToolError, cls

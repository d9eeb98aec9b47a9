"""Templates: placeholders only, checked when saved, rendered in the function's zone."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentcal.notifications import templates
from agentcal.notifications.events import BookingFacts, EventType
from tests.conftest import SandboxServer
from tests.factories import Tenant
from tests.notifications.support import save_function
from tests.providers.google_calendar.functions_support import error_fields

FACTS = BookingFacts(
    booking_id="evt123",
    start=datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
    end=datetime(2026, 12, 7, 12, 30, tzinfo=UTC),
    time_zone="America/Sao_Paulo",
    attendee_name="Maria Silva",
    attendee_email="maria@example.com",
    title="Consulta",
)


def render(
    template: str | None, content_type: str, event: EventType, facts: BookingFacts, locale: str
) -> Any:
    return templates.render(template, content_type, event, templates.values(event, facts, locale))


def test_start_and_end_read_as_local_time_with_the_zone_named() -> None:
    text = render("{{start}} to {{ end }}; {{startIso}}", "text", "booking.created", FACTS, "en")
    assert text == (
        "Monday 7 December 2026, 09:00 (America/Sao_Paulo) to "
        "Monday 7 December 2026, 09:30 (America/Sao_Paulo); 2026-12-07T09:00:00-03:00"
    )


def test_dates_follow_the_language() -> None:
    text = render("{{start}}", "text", "booking.created", FACTS, "pt_BR")
    assert text == "segunda-feira, 7 de dezembro de 2026, 09:00 (America/Sao_Paulo)"


def test_an_unknown_fact_renders_empty_and_defaults_read_per_event() -> None:
    bare = BookingFacts("evt1", FACTS.start, FACTS.end, "UTC")
    assert render("[{{meetLink}}]", "text", "booking.created", bare, "en") == "[]"
    cancelled = render(None, "text", "booking.cancelled", FACTS, "en")
    assert cancelled.startswith("Booking cancelled: Consulta with Maria Silva, Monday")


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("Hi {{attendeeNmae}}", "{{attendeeNmae}}"),
        ("{{ start.__class__ }}", "{{start.__class__}}"),
        ("{{title|upper}} {{x}}", "{{title|upper}}, {{x}}"),
    ],
)
def test_unknown_placeholders_are_named(template: str, named: str) -> None:
    problem = templates.problem(template, "text")
    assert problem is not None
    assert problem.startswith(f"unknown placeholder{'s' if ',' in named else ''} {named};")
    assert "{{attendeeName}}" in problem  # and the known ones are listed


@given(st.text(max_size=60))
def test_values_never_change_a_json_documents_shape(name: str) -> None:
    facts = BookingFacts("evt", FACTS.start, FACTS.end, "UTC", attendee_name=name)
    content = render('{"to": "{{attendeeName}}", "n": [1]}', "json", "booking.created", facts, "en")
    assert content == {"to": name, "n": [1]}
    json.dumps(content)


async def test_saving_refuses_an_unknown_placeholder_and_a_broken_json_template(
    tenant: Tenant, sandbox: SandboxServer
) -> None:
    for content, content_type, said in (
        ("Hello {{attendee}}", "text", "unknown placeholder {{attendee}}"),
        ("{{title}} at {{start}}", "json", "must be a JSON document"),
    ):
        response = await save_function(
            tenant, sandbox, notificationContent=content, notificationContentType=content_type
        )
        assert error_fields(response) == ["googleCalendar.notificationContent"]
        assert said in response.json()["errors"][0]["message"]

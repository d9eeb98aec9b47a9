"""The tool catalog without HTTP: names, switches, descriptions, formats."""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Any

import mcp.types
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentcal.providers.base import Action
from agentcal.runtime.catalog import (
    MAX_NAME_LENGTH,
    MAX_SLUG_LENGTH,
    Catalog,
    slugify,
    unique_slugs,
)
from agentcal.runtime.formats import anthropic_tools, json_schema, mcp_tools, openai_tools
from tests.runtime.support import (
    CALCOM,
    GOOGLE,
    PROMPT,
    TOOL_NAME,
    catalog_of,
    google_function,
    integration,
    openai_violations,
    strict_violations,
)

BOOKING = {"create_booking", "cancel_booking", "reschedule_booking", "find_booking"}
ALL_ACTIONS = {"check_availability"} | BOOKING


def actions(names: list[str], slug: str) -> set[str]:
    """The actions among `names` that belong to the function with `slug`."""
    return {n.removesuffix(f"_{slug}") for n in names if n.endswith(f"_{slug}")}


def check_name(catalog: Catalog, kind: str, function_id: uuid.UUID) -> str:
    spec = catalog.find(kind, function_id, Action.CHECK_AVAILABILITY)
    assert spec is not None
    return spec.name


def dumped(tools: list[Any]) -> list[dict[str, Any]]:
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]


# --------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Calcom", "calcom"),
        ("Agenda da Dra. Conceição", "agenda_da_dra_conceicao"),
        ("Café São João — Reuniões", "cafe_sao_joao_reunioes"),
        ("Straße & Søren Ærø Łódź", "strasse_soren_aero_lodz"),
        ("🦷 Dentist 🦷 booking!!", "dentist_booking"),
        ("  __Already_snake__case__  ", "already_snake_case"),
        ("ＦＵＬＬ Width 2024", "full_width_2024"),
        ("🦷📅", ""),
        ("予約カレンダー", ""),
    ],
)
def test_slugify_transliterates_accents_and_collapses_the_rest(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_titles_with_nothing_transliterable_fall_back_to_the_provider() -> None:
    cal = integration("🦷📅")
    google = google_function("予約カレンダー")
    names = [t.name for t in catalog_of([cal, google]).tools]
    assert "check_availability_calcom" in names
    assert "check_availability_google_calendar" in names


def test_accented_and_emoji_titles_give_ascii_names() -> None:
    catalog = catalog_of([integration("Agenda da Dra. Conceição 🦷")])
    assert [t.name for t in catalog.tools] == [
        "check_availability_agenda_da_dra_conceicao",
        "create_booking_agenda_da_dra_conceicao",
        "cancel_booking_agenda_da_dra_conceicao",
        "reschedule_booking_agenda_da_dra_conceicao",
        "find_booking_agenda_da_dra_conceicao",
    ]


def test_very_long_titles_are_cut_to_64_characters_per_name() -> None:
    title = "Consultório odontológico da Doutora Ana Souza " * 3  # 120+ characters
    catalog = catalog_of([integration(title[:120]), google_function(title[:120])])
    names = [t.name for t in catalog.tools]
    assert all(len(n) <= MAX_NAME_LENGTH and TOOL_NAME.fullmatch(n) for n in names)
    assert "reschedule_booking_consultorio_odontologico_da_doutora_ana_souza" in names
    # The cut slug of the second function still gets its suffix within the limit.
    assert "reschedule_booking_consultorio_odontologico_da_doutora_ana_sou_2" in names
    assert len(set(names)) == len(names)
    # No name ends in the "_" a cut can leave behind.
    assert not any(n.endswith("_") for n in names)


def test_all_actions_of_a_function_share_one_slug() -> None:
    catalog = catalog_of([integration("x" * 120)])
    slugs = {t.name.removeprefix(f"{t.action}_") for t in catalog.tools}
    assert len(slugs) == 1
    assert len(slugs.pop()) == MAX_SLUG_LENGTH


def test_duplicate_titles_in_a_bot_get_suffixes_in_creation_order() -> None:
    first = integration("Agenda")
    second = google_function("agenda")
    third = integration("AGENDA!")
    # The order rows are passed in does not matter: creation time decides.
    catalog = catalog_of([third, first, second])
    by_function = {t.function_id: t.name for t in catalog.tools if t.action == "cancel_booking"}
    assert by_function == {
        first.id: "cancel_booking_agenda",
        second.id: "cancel_booking_agenda_2",
        third.id: "cancel_booking_agenda_3",
    }


def test_a_literal_suffix_in_a_title_does_not_collide_with_a_generated_one() -> None:
    slugs = unique_slugs(
        [
            (CALCOM, "Agenda"),
            (CALCOM, "Agenda 2"),
            (GOOGLE, "Agenda"),
        ]
    )
    assert slugs == ["agenda", "agenda_2", "agenda_3"]


def test_same_creation_time_is_ordered_by_id() -> None:
    a = integration("Agenda", id=uuid.UUID(int=1))
    b = integration("Agenda", id=uuid.UUID(int=2), created_at=a.created_at)
    for rows in ([a, b], [b, a]):
        catalog = catalog_of(rows)
        assert check_name(catalog, CALCOM, a.id) == "check_availability_agenda"
        assert check_name(catalog, CALCOM, b.id) == "check_availability_agenda_2"


def test_names_are_stable_across_calls_and_unrelated_changes() -> None:
    older = integration("Agenda")
    mine = google_function("Agenda")
    before = [t.name for t in catalog_of([older, mine]).of_function(GOOGLE, mine.id).tools]
    assert before == [t.name for t in catalog_of([older, mine]).tools[len(Action) :]]

    # Prompt, switches, timezone and activation of either one, and a newer function
    # with the same title, change nothing in the names.
    older.prompt = "A new prompt."
    older.is_active = False
    older.create_booking_enabled = False
    assert mine.google_calendar is not None
    mine.google_calendar.check_availability_enabled = False
    mine.google_calendar.timezone = "Europe/Lisbon"
    mine.description = "Another description."
    newer = integration("Agenda")
    catalog = catalog_of([newer, mine, older])
    after = [t.name for t in catalog.of_function(GOOGLE, mine.id).tools]
    assert (
        after
        == before
        == [
            "check_availability_agenda_2",
            "create_booking_agenda_2",
            "cancel_booking_agenda_2",
            "reschedule_booking_agenda_2",
            "find_booking_agenda_2",
        ]
    )


@given(st.lists(st.text(min_size=1, max_size=120), max_size=12), st.text(max_size=120))
def test_slugs_are_unique_short_ascii_and_never_renamed_by_newer_functions(
    titles: list[str], newer: str
) -> None:
    rows = [(CALCOM, t) for t in titles]
    slugs = unique_slugs(rows)
    assert len(set(slugs)) == len(slugs)
    for slug in slugs:
        assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", slug), slug
        assert len(slug) <= MAX_SLUG_LENGTH
        for action in Action:
            assert TOOL_NAME.fullmatch(f"{action}_{slug}")
    assert unique_slugs([*rows, (GOOGLE, newer)])[:-1] == slugs


# ------------------------------------------------------------------ switches, activation


@pytest.mark.parametrize(
    ("availability", "booking", "offered"),
    [
        (True, True, ALL_ACTIONS),
        (True, False, {"check_availability"}),
        (False, True, BOOKING),
        (False, False, set()),
    ],
)
@pytest.mark.parametrize("kind", ["calcom", "google"])
def test_switches_decide_which_actions_are_offered(
    kind: str, availability: bool, booking: bool, offered: set[str]
) -> None:
    switches: dict[str, Any] = {
        "check_availability_enabled": availability,
        "create_booking_enabled": booking,
    }
    row = (
        integration("Agenda", **switches)
        if kind == "calcom"
        else google_function("Agenda", **switches)
    )
    catalog = catalog_of([row])
    assert actions([t.name for t in catalog.offered()], "agenda") == offered
    # Switched-off tools stay resolvable, so a call answers tool_disabled, not "unknown".
    for action in ALL_ACTIONS - offered:
        spec = catalog.resolve(f"{action}_agenda")
        assert spec is not None
        assert not spec.enabled
        assert "switched off" in (spec.disabled_reason or "")


def test_inactive_integration_offers_no_tool() -> None:
    catalog = catalog_of([integration("Agenda", is_active=False)])
    assert catalog.offered() == []
    spec = catalog.resolve("create_booking_agenda")
    assert spec is not None
    assert spec.disabled_reason == "the integration is inactive (isActive: false)"


def test_inactive_function_offers_no_tool() -> None:
    catalog = catalog_of([google_function("Agenda", is_activated=False)])
    assert catalog.offered() == []
    spec = catalog.resolve("check_availability_agenda")
    assert spec is not None
    assert spec.disabled_reason == "the function is inactive (isActivated: false)"


def test_resolve_and_find_give_what_the_executor_needs() -> None:
    cal, google = integration("Agenda"), google_function("Agenda")
    catalog = catalog_of([cal, google])
    spec = catalog.resolve("reschedule_booking_agenda_2")
    assert spec is not None
    assert (spec.kind, spec.function_id, spec.action) == (
        GOOGLE,
        google.id,
        Action.RESCHEDULE_BOOKING,
    )
    assert spec.timezone == "America/Sao_Paulo"
    assert check_name(catalog, CALCOM, cal.id) == "check_availability_agenda"
    assert catalog.resolve("check_availability_nothing") is None
    assert catalog.find(CALCOM, google.id, Action.CHECK_AVAILABILITY) is None


# --------------------------------------------------------------------------- descriptions


def test_description_is_one_sentence_then_the_prompt_verbatim() -> None:
    prompt = "  Only book *weekdays*.\n\nNever share the calendar link.\n  "
    catalog = catalog_of(
        [integration("Agenda", prompt=prompt), google_function("Agenda", description=prompt)]
    )
    for spec in catalog.tools:
        sentence, _, rest = spec.description.partition("\n\n")
        assert rest == prompt  # byte for byte, whitespace and markdown included
        assert "\n" not in sentence
        assert sentence.endswith(".")
        assert sentence.count(";") == 1  # one sentence: what it does; in which timezone


def test_description_says_for_whom_and_in_which_timezone() -> None:
    cal = integration("Dra. Ana\nconsultas", timezone="Europe/Lisbon")
    google = google_function(
        "Agenda", timezone="Asia/Tokyo", calendar_id="team@group.calendar.google.com"
    )
    catalog = catalog_of([cal, google])
    for spec in catalog.of_function(CALCOM, cal.id).tools:
        assert 'the Cal.com calendar "Dra. Ana consultas" of user dr-ana.souza' in spec.description
        assert "times are in Europe/Lisbon unless you pass timeZone" in spec.description
    for spec in catalog.of_function(GOOGLE, google.id).tools:
        assert "Ana Souza's Google Calendar (team@group.calendar.google.com)" in spec.description
        assert "times are in Asia/Tokyo unless you pass timeZone" in spec.description


def test_create_booking_points_to_the_availability_tool_only_when_offered() -> None:
    with_check = catalog_of([integration("Agenda")]).resolve("create_booking_agenda")
    without = catalog_of([integration("Agenda", check_availability_enabled=False)]).resolve(
        "create_booking_agenda"
    )
    assert with_check is not None
    assert without is not None
    assert "found with check_availability_agenda" in with_check.description
    assert "check_availability" not in without.description


def test_arguments_describe_the_accepted_time_forms_and_defaults() -> None:
    catalog = catalog_of(
        [
            integration("Agenda", default_event_type_slug="60min", timezone="America/New_York"),
            google_function("Agenda", slot_minutes=45),
        ]
    )
    cal = catalog.resolve("check_availability_agenda")
    google = catalog.resolve("create_booking_agenda_2")
    assert cal is not None
    assert google is not None
    params = {p.name: p for p in cal.parameters}
    start = params["startDate"].description
    for form in ("YYYY-MM-DD", "YYYY-MM-DDTHH:MM", "RFC 3339"):
        assert form in start
    # The RFC 3339 example carries the calendar's own offset on that date.
    assert "2026-03-02T14:30:00-05:00" in start
    assert "31 days" in params["endDate"].description
    assert "60min, the integration's default" in params["eventTypeSlug"].description
    google_params = {p.name: p for p in google.parameters}
    assert "by default 45" in google_params["durationMinutes"].description
    assert "YYYY-MM-DD " not in google_params["start"].description  # a start is a time


# ------------------------------------------------------------------------ argument lists


def _arguments(spec_parameters: Any) -> tuple[list[str], list[str]]:
    return [p.name for p in spec_parameters], [p.name for p in spec_parameters if p.required]


@pytest.mark.parametrize(
    ("action", "calcom", "google", "required"),
    [
        (
            "check_availability",
            ["startDate", "endDate", "timeZone", "eventTypeSlug"],
            ["startDate", "endDate", "timeZone", "durationMinutes"],
            ["startDate"],
        ),
        (
            "create_booking",
            ["start", "attendeeName", "attendeeEmail", "attendeePhone", "timeZone", "notes"]
            + ["eventTypeSlug"],
            ["start", "attendeeName", "attendeeEmail", "attendeePhone", "timeZone", "notes"]
            + ["durationMinutes", "title"],
            ["start", "attendeeName", "attendeeEmail"],
        ),
        (
            "cancel_booking",
            ["bookingId", "attendeeEmail", "attendeePhone", "start", "reason", "timeZone"],
            ["bookingId", "attendeeEmail", "attendeePhone", "start", "reason", "timeZone"],
            [],
        ),
        (
            "reschedule_booking",
            ["bookingId", "attendeeEmail", "attendeePhone", "start", "newStart", "reason"]
            + ["timeZone"],
            ["bookingId", "attendeeEmail", "attendeePhone", "start", "newStart", "reason"]
            + ["timeZone"],
            ["newStart"],
        ),
        (
            "find_booking",
            ["attendeePhone", "attendeeEmail", "timeZone"],
            ["attendeePhone", "attendeeEmail", "timeZone"],
            [],
        ),
    ],
)
def test_arguments_follow_the_spec_table(
    action: str, calcom: list[str], google: list[str], required: list[str]
) -> None:
    catalog = catalog_of([integration("Agenda"), google_function("Agenda")])
    cal_spec = catalog.resolve(f"{action}_agenda")
    google_spec = catalog.resolve(f"{action}_agenda_2")
    assert cal_spec is not None
    assert google_spec is not None
    assert _arguments(cal_spec.parameters) == (calcom, required)
    assert _arguments(google_spec.parameters) == (google, required)
    assert all(p.description for p in (*cal_spec.parameters, *google_spec.parameters))


# ---------------------------------------------------------------------------- the formats


def every_variant() -> list[Any]:
    """A catalog of every kind of function and every setting that changes its tools."""
    rows: list[Any] = []
    for availability, booking in itertools.product([True, False], repeat=2):
        switches: dict[str, Any] = {
            "check_availability_enabled": availability,
            "create_booking_enabled": booking,
        }
        rows.append(integration("Agenda", **switches))
        rows.append(integration("Agenda", default_event_type_slug="30min", **switches))
        rows.append(integration("Agenda", default_event_type_id=12, **switches))
        rows.append(google_function("Agenda", **switches))
        rows.append(google_function("🦷" * 3 + "é" * 200, timezone="UTC", **switches))
    return rows


def test_every_openai_schema_satisfies_strict_mode() -> None:
    catalog = catalog_of(every_variant())
    tools = dumped(openai_tools(catalog.tools))  # offered or not: every schema there is
    assert len(tools) == len(Action) * 20
    for tool in tools:
        assert openai_violations(tool) == []


def test_the_strict_checker_catches_each_rule() -> None:
    ok = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
    assert strict_violations(ok) == []
    open_object = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    assert strict_violations(open_object) == [
        "parameters: an object needs additionalProperties: false"
    ]
    optional = {**ok, "properties": {"a": {"type": ["string", "null"]}}}
    assert "required [] must list exactly ['a']" in strict_violations(optional)[0]
    nested = {
        **ok,
        "properties": {"a": {"type": "object", "properties": {}, "additionalProperties": True}},
        "required": ["a"],
    }
    assert strict_violations(nested) == [
        "parameters.a: an object needs additionalProperties: false"
    ]
    ranged = {**ok, "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"]}
    assert strict_violations(ranged) == [
        "parameters.n: keyword 'minimum' is not supported in strict mode"
    ]


def test_openai_optional_arguments_are_nullable_and_required_ones_are_not() -> None:
    catalog = catalog_of([integration("Agenda"), google_function("Agenda")])
    for spec in catalog.tools:
        properties = json_schema(spec.parameters, strict=True)["properties"]
        for parameter in spec.parameters:
            kind = properties[parameter.name]["type"]
            if parameter.required:
                assert kind == parameter.type
            else:
                assert kind == [parameter.type, "null"]


def test_anthropic_tools_use_plain_json_schema_with_real_required() -> None:
    catalog = catalog_of([integration("Agenda"), google_function("Agenda")])
    tools = dumped(anthropic_tools(catalog.tools))
    for tool, spec in zip(tools, catalog.tools, strict=True):
        assert set(tool) == {"name", "description", "input_schema"}
        assert (tool["name"], tool["description"]) == (spec.name, spec.description)
        schema = tool["input_schema"]
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        assert schema.get("required", []) == [p.name for p in spec.parameters if p.required]
        assert all(isinstance(p["type"], str) for p in schema["properties"].values())
    duration = tools[len(Action)]["input_schema"]["properties"]["durationMinutes"]
    assert (duration["type"], duration["minimum"], duration["maximum"]) == ("integer", 5, 480)


def test_mcp_tools_are_valid_sdk_tools_with_the_same_names_and_schemas() -> None:
    catalog = catalog_of([integration("Agenda"), google_function("Agenda", is_activated=False)])
    tools = dumped(mcp_tools(catalog.tools))
    anthropic = dumped(anthropic_tools(catalog.tools))
    for tool, twin in zip(tools, anthropic, strict=True):
        parsed = mcp.types.Tool.model_validate(tool)
        assert parsed.name == twin["name"]
        assert parsed.description == twin["description"]
        assert parsed.input_schema == twin["input_schema"]
        assert set(tool) == {"name", "title", "description", "inputSchema", "annotations"}
    check = mcp.types.Tool.model_validate(tools[0])
    cancel = mcp.types.Tool.model_validate(tools[2])
    assert check.title == "Check availability (Cal.com: Agenda)"
    assert check.annotations is not None
    assert check.annotations.read_only_hint is True
    assert cancel.annotations is not None
    assert cancel.annotations.destructive_hint is True


def test_the_three_formats_offer_the_same_tools_in_the_same_order() -> None:
    catalog = catalog_of(every_variant())
    offered = catalog.offered()
    names = [t.name for t in offered]
    assert [t["function"]["name"] for t in dumped(openai_tools(offered))] == names
    assert [t["name"] for t in dumped(anthropic_tools(offered))] == names
    assert [t["name"] for t in dumped(mcp_tools(offered))] == names
    assert PROMPT in offered[0].description

"""Callers' numbers normalised to E.164."""

from __future__ import annotations

import pytest

from agentcal.kit.phones import e164, region_of_zone


@pytest.mark.parametrize(
    ("given", "region", "expected"),
    [
        ("+55 11 98765-4321", None, "+5511987654321"),
        ("(11) 98765-4321", "BR", "+5511987654321"),
        ("0044 20 7946 0958", None, "+442079460958"),
        ("+1 (212) 555-0123", "BR", "+12125550123"),
        ("11987654321", None, None),  # no country code and no region to read it in
        ("+55 11 1234", None, None),  # too short to be a number
        ("call me", "BR", None),
    ],
)
def test_numbers_are_normalised_to_e164_or_refused(
    given: str, region: str | None, expected: str | None
) -> None:
    assert e164(given, region) == expected


def test_a_calendar_zone_gives_the_country_its_local_numbers_are_read_in() -> None:
    assert region_of_zone("America/Sao_Paulo") == "BR"
    assert region_of_zone("Europe/Madrid") == "ES"
    assert region_of_zone("UTC") is None

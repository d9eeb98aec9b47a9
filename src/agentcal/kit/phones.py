"""Phone numbers, as callers and models give them, normalised to E.164."""

from __future__ import annotations

from collections.abc import Mapping

import phonenumbers
from babel.core import get_global


def e164(text: str, region: str | None = None) -> str | None:
    """`text` as an E.164 number (`+5511987654321`), or None when it is not a valid one.

    A number without a country code is read as a number of `region` (ISO 3166 alpha-2,
    e.g. "BR"); without a region it must start with `+` (or `00`).
    """
    text = text.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def region_of_zone(zone: str) -> str | None:
    """The country of an IANA zone (`America/Sao_Paulo` → "BR"), from babel's CLDR data:
    a local number a caller gives is read as a number of the calendar's country."""
    territories: Mapping[str, str] = get_global("zone_territories")
    region = territories.get(zone)
    return region if region and region.isalpha() and len(region) == 2 else None

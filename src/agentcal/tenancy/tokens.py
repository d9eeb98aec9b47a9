"""Access token material: random, shown once, stored as a SHA-256 hash.

A fast hash is right here: the tokens carry 256 bits of randomness, so unlike
passwords there is nothing for a slow hash to protect against.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "agc_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def display_prefix(token: str) -> str:
    return token[:10]

"""Authenticated encryption of secrets at rest (AES-256-GCM) with key rotation.

Each sealed value carries the id of the key that sealed it, so several keys can be
configured at once: the first encrypts, every one of them decrypts, and
`agentcal admin rotate-keys` re-seals old values under the first.

The caller binds each value to where it lives through `aad` (associated data, e.g.
``b"calcom_integrations.api_key:<row id>"``): a ciphertext copied into another row or
column fails to open instead of silently decrypting as someone else's secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12
_KEY_BYTES = 32
_KID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class SecretKeyError(Exception):
    """A key is malformed, missing or cannot open a value."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """An encrypted value: the id of its key and ``nonce || ciphertext || tag``."""

    key_id: str
    blob: bytes


@dataclass(frozen=True, slots=True)
class Key:
    id: str
    aead: AESGCM
    mac_key: bytes  # for fingerprints; derived, so one secret serves both


def _mac_key(raw: bytes) -> bytes:
    # Its own key, derived with HKDF: the AES key is never used for anything but AES.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"agentcal fingerprint")
    return hkdf.derive(raw)


def generate_key() -> str:
    """A fresh 256-bit key in the text form `AGENTCAL_SECRET_KEYS` accepts."""
    return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode().rstrip("=")


def _decode_key(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise SecretKeyError("a secret key is not valid base64url") from exc
    if len(raw) != _KEY_BYTES:
        raise SecretKeyError(
            f"a secret key must decode to {_KEY_BYTES} bytes, not {len(raw)}; "
            "create one with `agentcal admin generate-key`"
        )
    return raw


def parse_key(entry: str) -> Key:
    """Parse ``[id:]base64url`` into a key; without an id, the id is derived from the key."""
    entry = entry.strip()
    if ":" in entry:
        kid, material = entry.split(":", 1)
        if not _KID_RE.match(kid):
            raise SecretKeyError(
                "a key id may hold only letters, digits, '.', '_' and '-' (max 32)"
            )
    else:
        kid, material = "", entry
    raw = _decode_key(material)
    if not kid:
        kid = hashlib.sha256(raw).hexdigest()[:12]
    return Key(id=kid, aead=AESGCM(raw), mac_key=_mac_key(raw))


class Keyring:
    """The configured keys; seals under the first, opens with whichever sealed."""

    def __init__(self, keys: list[Key]) -> None:
        if not keys:
            raise SecretKeyError("at least one secret key is needed")
        ids = [k.id for k in keys]
        if len(set(ids)) != len(ids):
            raise SecretKeyError("two secret keys have the same id")
        self._current = keys[0]
        self._by_id = {k.id: k for k in keys}

    @classmethod
    def from_text(cls, text: str) -> Keyring:
        return cls([parse_key(part) for part in text.split(",") if part.strip()])

    @property
    def current_id(self) -> str:
        return self._current.id

    def fingerprint(self, data: bytes) -> str:
        """HMAC-SHA256 of `data` under the current key, in hex: equal data, equal
        fingerprints, yet no one without the key can test a guess (an e-mail) against it."""
        return hmac.new(self._current.mac_key, data, hashlib.sha256).hexdigest()

    def fingerprints(self, data: bytes) -> frozenset[str]:
        """`data`'s fingerprint under every configured key: one made before a rotation
        still matches."""
        return frozenset(
            hmac.new(key.mac_key, data, hashlib.sha256).hexdigest() for key in self._by_id.values()
        )

    def seal(self, plaintext: str, aad: bytes) -> Sealed:
        nonce = os.urandom(_NONCE_BYTES)
        ct = self._current.aead.encrypt(nonce, plaintext.encode("utf-8"), aad)
        return Sealed(self._current.id, nonce + ct)

    def open(self, sealed: Sealed, aad: bytes) -> str:
        key = self._by_id.get(sealed.key_id)
        if key is None:
            raise SecretKeyError(
                f"a secret was sealed with key {sealed.key_id!r}, which is not configured; "
                "add it to AGENTCAL_SECRET_KEYS (after the current key)"
            )
        nonce, ct = sealed.blob[:_NONCE_BYTES], sealed.blob[_NONCE_BYTES:]
        try:
            return key.aead.decrypt(nonce, ct, aad).decode("utf-8")
        except InvalidTag as exc:
            raise SecretKeyError(
                "a stored secret failed authentication (wrong key or tampered)"
            ) from exc


def load_keyring(secret_keys: str | None, key_file: Path) -> Keyring:
    """Keys from the environment, else from the data dir's key file, created on first use.

    The generated file is written with mode 0600 before any key material goes in, in a
    directory it creates 0700.
    """
    if secret_keys and secret_keys.strip():
        return Keyring.from_text(secret_keys)
    if not key_file.exists():
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(generate_key() + "\n")
    return Keyring.from_text(key_file.read_text())

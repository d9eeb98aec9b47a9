"""Secrets stored in model rows: a `<name>_ciphertext` + `<name>_key_id` column pair.

A model lists its secret columns in `__secrets__`; `SecretColumn` seals and opens
them with the row's table, column and id as associated data, and `agentcal admin
rotate-keys` finds every such column through the mapper registry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from agentcal.crypto.keyring import Keyring, Sealed


@dataclass(frozen=True, slots=True)
class SecretColumn:
    table: str
    name: str

    def aad(self, row_id: uuid.UUID) -> bytes:
        return f"{self.table}.{self.name}:{row_id}".encode()

    def sealed(self, row: Any) -> Sealed | None:
        blob = getattr(row, f"{self.name}_ciphertext")
        key_id = getattr(row, f"{self.name}_key_id")
        return None if blob is None else Sealed(key_id, blob)

    def seal(self, keyring: Keyring, row: Any, plaintext: str | None) -> None:
        """Store `plaintext` encrypted in `row` (None clears it). Gives `row` an id if needed."""
        if row.id is None:
            row.id = uuid.uuid4()
        if plaintext is None:
            setattr(row, f"{self.name}_ciphertext", None)
            setattr(row, f"{self.name}_key_id", None)
            return
        sealed = keyring.seal(plaintext, self.aad(row.id))
        setattr(row, f"{self.name}_ciphertext", sealed.blob)
        setattr(row, f"{self.name}_key_id", sealed.key_id)

    def open(self, keyring: Keyring, row: Any) -> str | None:
        sealed = self.sealed(row)
        return None if sealed is None else keyring.open(sealed, self.aad(row.id))


MASK = "*" * 16


def masked(secret: str, keep_prefix: str | None = None) -> str:
    """What a response shows instead of a secret: 16 `*`, after `keep_prefix` if it has it."""
    if keep_prefix and secret.startswith(keep_prefix):
        return keep_prefix + MASK
    return MASK

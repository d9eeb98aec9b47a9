"""AES-256-GCM sealing, key ids, rotation and the generated key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agentcal.crypto.keyring import Keyring, SecretKeyError, generate_key, load_keyring, parse_key


def test_sealed_value_opens_with_the_same_key_and_context() -> None:
    keyring = Keyring.from_text(generate_key())
    sealed = keyring.seal("cal_live_secret", b"calcom_integrations.api_key:1")
    assert b"cal_live_secret" not in sealed.blob
    assert keyring.open(sealed, b"calcom_integrations.api_key:1") == "cal_live_secret"


def test_sealing_twice_gives_different_ciphertexts() -> None:
    keyring = Keyring.from_text(generate_key())
    assert keyring.seal("x", b"a").blob != keyring.seal("x", b"a").blob


def test_a_value_moved_to_another_row_does_not_open() -> None:
    keyring = Keyring.from_text(generate_key())
    sealed = keyring.seal("secret", b"t.c:row-1")
    with pytest.raises(SecretKeyError, match="failed authentication"):
        keyring.open(sealed, b"t.c:row-2")


def test_a_tampered_value_does_not_open() -> None:
    keyring = Keyring.from_text(generate_key())
    sealed = keyring.seal("secret", b"ctx")
    tampered = type(sealed)(sealed.key_id, sealed.blob[:-1] + bytes([sealed.blob[-1] ^ 1]))
    with pytest.raises(SecretKeyError):
        keyring.open(tampered, b"ctx")


def test_first_key_seals_and_older_keys_still_open() -> None:
    old, new = generate_key(), generate_key()
    sealed_old = Keyring.from_text(old).seal("v", b"c")
    rotated = Keyring.from_text(f"{new},{old}")
    assert rotated.seal("v", b"c").key_id == rotated.current_id == parse_key(new).id
    assert rotated.open(sealed_old, b"c") == "v"


def test_a_value_of_an_unconfigured_key_names_the_key() -> None:
    sealed = Keyring.from_text(generate_key()).seal("v", b"c")
    with pytest.raises(SecretKeyError, match=sealed.key_id):
        Keyring.from_text(generate_key()).open(sealed, b"c")


def test_explicit_key_ids_are_kept() -> None:
    assert parse_key(f"2026-11:{generate_key()}").id == "2026-11"


@pytest.mark.parametrize("bad", ["", "not base64 !!", "c2hvcnQ", "x:" + "A" * 43 + "A"])
def test_malformed_keys_are_refused_with_a_hint(bad: str) -> None:
    with pytest.raises(SecretKeyError):
        Keyring.from_text(bad)


def test_duplicate_key_ids_are_refused() -> None:
    key = generate_key()
    with pytest.raises(SecretKeyError, match="same id"):
        Keyring.from_text(f"{key},{key}")


def test_generated_key_file_is_private_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "secret.key"
    first = load_keyring(None, key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    second = load_keyring(None, key_file)
    assert first.current_id == second.current_id
    sealed = first.seal("v", b"c")
    assert second.open(sealed, b"c") == "v"


def test_environment_keys_win_over_the_key_file(tmp_path: Path) -> None:
    key = generate_key()
    keyring = load_keyring(key, tmp_path / "secret.key")
    assert keyring.current_id == parse_key(key).id
    assert not (tmp_path / "secret.key").exists()

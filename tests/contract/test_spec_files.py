"""The provider specs are in the repository, exactly as specs/README.md records them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from tests.contract import specs

README = specs.SPECS_DIR / "README.md"
# A row of the README's file table: | `name` | what | bytes | `sha256` |
_ROW = re.compile(r"^\| `([^`]+)` \|.*\| ([\d,]+) \| `([0-9a-f]{64})` \|$", re.MULTILINE)


def recorded() -> dict[str, tuple[int, str]]:
    """file name -> (bytes, sha256), from the README's table."""
    rows = _ROW.findall(README.read_text(encoding="utf-8"))
    return {name: (int(size.replace(",", "")), digest) for name, size, digest in rows}


def test_every_document_the_validator_reads_is_recorded() -> None:
    used = {specs.CALCOM_SPEC, specs.GOOGLE_SPEC, specs.GOOGLE_DISCOVERY}
    assert {path.name for path in used} <= set(recorded())
    assert all(path.parent == specs.SPECS_DIR for path in used)


def test_the_stored_documents_are_the_recorded_ones_and_no_others() -> None:
    table = recorded()
    stored = {path.name for path in specs.SPECS_DIR.iterdir()} - {"README.md"}
    assert stored == set(table)
    for name, (size, digest) in table.items():
        data = (specs.SPECS_DIR / name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, digest), name


def test_a_missing_document_is_an_error_that_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "calcom-v2-openapi.json"
    monkeypatch.setattr(specs, "CALCOM_SPEC", missing)
    # The uncached loader: the session's parsed copy stays as it is.
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        specs.calcom_document.__wrapped__()

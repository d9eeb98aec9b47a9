"""Key rotation: re-seal every stored secret under the current key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentcal.crypto.columns import SecretColumn
from agentcal.crypto.keyring import Keyring
from agentcal.db.engine import Base

_BATCH = 500


@dataclass
class RotationReport:
    resealed: int = 0
    current: int = 0


def secret_models() -> list[tuple[type[Base], tuple[SecretColumn, ...]]]:
    """Every mapped model with sealed columns (from `__secrets__`).

    Only the models imported so far are mapped: the caller imports them all first
    (`agentcal.models`), as the CLI does.
    """
    found = []
    for mapper in Base.registry.mappers:
        columns = getattr(mapper.class_, "__secrets__", ())
        if columns:
            found.append((mapper.class_, tuple(columns)))
    return sorted(found, key=lambda item: item[0].__tablename__)


async def rotate(
    session: AsyncSession, keyring: Keyring, progress: Callable[[str], None] | None = None
) -> RotationReport:
    """Re-encrypt, under the current key, each secret sealed with an older key.

    Fails (and the caller's transaction rolls back) if a secret's key is not configured.
    """
    report = RotationReport()
    for model, columns in secret_models():
        offset = 0
        while True:
            rows = list(
                await session.scalars(
                    select(model).order_by(model.id).offset(offset).limit(_BATCH)  # type: ignore[attr-defined]
                )
            )
            if not rows:
                break
            for row in rows:
                for column in columns:
                    sealed = column.sealed(row)
                    if sealed is None:
                        continue
                    if sealed.key_id == keyring.current_id:
                        report.current += 1
                        continue
                    column.seal(keyring, row, column.open(keyring, row))
                    report.resealed += 1
            await session.flush()
            offset += len(rows)
            if progress:
                progress(f"{model.__tablename__}: {offset} row(s) checked")
    return report

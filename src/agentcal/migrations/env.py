"""Alembic environment: runs on the connection agentcal hands over (see `agentcal.db.migrate`)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from agentcal.models import Base

# Any number of replicas may start at once; on PostgreSQL they queue on this lock so
# exactly one applies each migration. SQLite serialises writers by itself.
_MIGRATION_LOCK_ID = 0x6167656E7463616C  # "agentcal"


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
            )
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `agentcal migrate`, not the alembic command")
run_migrations(connection)

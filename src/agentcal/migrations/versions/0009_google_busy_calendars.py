"""Other calendars whose busy times block a Google Calendar function's slots.

Why: a person's time is often spread over several calendars of one Google account (a
personal one, a team's, the clinic's). A function books into its own calendar, but a
slot is free only if none of them is busy then, so it lists the others in
`googleCalendar.busyCalendarIds`, asked in the same freeBusy request as its own.
Existing functions get an empty list through the server default.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("google_calendar_plugins", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("busy_calendar_ids", sa.JSON(), server_default="[]", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("google_calendar_plugins", schema=None) as batch_op:
        batch_op.drop_column("busy_calendar_ids")

"""Google credential state: the access token's expiry and whether the credentials work.

Why: agentcal refreshes Google access tokens itself. To refresh *ahead* of
expiry it must remember when the token it stored expires (`access_token_expires_at`,
null for tokens the integrator supplied, whose expiry is unknown). When Google answers
`invalid_grant`, no retry can help until the integrator supplies a new token; that is
recorded in `credential_status` ('valid' | 'invalid', shown as
`googleCalendarPlugin[0].credentialStatus`) so every tool call can say so at once.
Existing rows get 'valid' through the server default.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("google_calendar_plugins", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("access_token_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "credential_status",
                sa.String(length=16),
                server_default="valid",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("google_calendar_plugins", schema=None) as batch_op:
        batch_op.drop_column("credential_status")
        batch_op.drop_column("access_token_expires_at")

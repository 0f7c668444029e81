"""instance owner: the first account to sign up becomes the instance's admin

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instance_owner",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_instance_owner_one_row")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_instance_owner_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance_owner")),
    )
    # An instance that already has accounts has had its first sign-up: the claim is
    # taken (by its earliest admin, else its earliest account, whose role stays as it
    # is), so no later sign-up becomes admin by the upgrade.
    op.execute(
        """
        INSERT INTO instance_owner (id, user_id, created_at)
        SELECT 1, id, CURRENT_TIMESTAMP FROM users
        ORDER BY CASE WHEN role = 'admin' THEN 0 ELSE 1 END, created_at, id
        LIMIT 1
        """
    )


def downgrade() -> None:
    op.drop_table("instance_owner")

"""video tags: an index for filtering the library by tag

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 18:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "video_tags",
        sa.Column("video_id", sa.String(length=16), nullable=False),
        sa.Column("tag", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_tags_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("video_id", "tag", name=op.f("pk_video_tags")),
    )
    op.create_index(op.f("ix_video_tags_tag"), "video_tags", ["tag"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_video_tags_tag"), table_name="video_tags")
    op.drop_table("video_tags")

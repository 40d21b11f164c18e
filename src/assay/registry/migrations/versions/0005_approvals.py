"""Approvals: reviewers' approve and reject decisions on model versions (only ever added).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        sa.ForeignKeyConstraint(
            ["model_name"], ["registered_models.name"], name="fk_approvals_model_name_registered_models"
        ),
    )
    op.create_index("ix_approvals_model_name_version", "approvals", ["model_name", "version"])


def downgrade() -> None:
    op.drop_index("ix_approvals_model_name_version", table_name="approvals")
    op.drop_table("approvals")

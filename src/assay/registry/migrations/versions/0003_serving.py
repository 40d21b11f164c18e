"""Serving: API keys (hashes only) and the deployment state (canary, shadow) replicas converge on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("hash", sa.String(128), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
    )
    op.create_table(
        "deployments",
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("canary_version", sa.Integer(), nullable=True),
        sa.Column("canary_percent", sa.Float(), nullable=False),
        sa.Column("shadow_version", sa.Integer(), nullable=True),
        sa.Column("fallback_version", sa.Integer(), nullable=True),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("model_name", name="pk_deployments"),
        sa.ForeignKeyConstraint(
            ["model_name"], ["registered_models.name"], name="fk_deployments_model_name_registered_models"
        ),
    )


def downgrade() -> None:
    op.drop_table("deployments")
    op.drop_table("api_keys")

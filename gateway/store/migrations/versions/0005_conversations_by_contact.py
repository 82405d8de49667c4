"""conversations by contact

An index on ``conversations (contact_id, last_message_at)``: the e-mail loop guard counts the
automatic answers recently sent to one sender on every inbound mail, and without it that count
scanned every conversation (cost growing with the platform's whole history).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_conversations_contact", "conversations", ["contact_id", "last_message_at"])


def downgrade() -> None:
    op.drop_index("ix_conversations_contact", table_name="conversations")

"""lookup indexes

Two lookups on every message that had no index of their own, so that their cost grew with the
platform's whole history (EXPLAIN QUERY PLAN showed a scan):

* ``conversations (contact_id, last_message_at)``: the e-mail loop guard counts the automatic
  answers recently sent to the sender of every inbound mail;
* ``messages (in_reply_to_id)``: the voice channel looks up the answer to a caller's question.

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
    op.create_index("ix_messages_in_reply_to", "messages", ["in_reply_to_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_in_reply_to", table_name="messages")
    op.drop_index("ix_conversations_contact", table_name="conversations")

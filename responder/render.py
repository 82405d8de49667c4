"""Rendering a decision for the channel it goes out on.

The responder decides once; this module fits the reply to what the channel can carry
(:class:`channels.base.Capabilities`): plain text, a length limit, SMS segments, whether numbered
options can be shown as buttons. The queued-inquiry acknowledgement with its work-order number is
rendered here too, so every channel tells the citizen the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels.base import Capabilities
from responder.acknowledgement import queue_acknowledgement
from responder.policy import Decision


@dataclass(frozen=True, slots=True)
class RenderContext:
    """Facts the rendering needs besides the decision.

    work_order: the conversation id quoted to citizens. reply_hours: the promised reply time.
    public_url: base URL for links to the full answer on the gateway's own pages.
    """

    work_order: int
    reply_hours: int
    public_url: str


def render_for_channel(decision: Decision, capabilities: Capabilities, context: RenderContext) -> str:
    """The reply text for ``decision`` on a channel with ``capabilities``."""
    if decision.decision == "queue":
        text = queue_acknowledgement(decision.language, context.work_order, context.reply_hours)
    else:
        text = decision.reply
    limit = capabilities.max_text_chars
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text

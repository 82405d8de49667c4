"""Rendering a decision for the channel it goes out on.

The responder decides once; this module fits the reply to what the channel can carry
(:class:`channels.base.Capabilities`): plain text, a length limit, SMS segments, whether numbered
options can be shown as buttons. The queued-inquiry acknowledgement with its work-order number is
rendered here too, so every channel tells the citizen the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels.base import Capabilities
from normalizer.sms import fit_to_segments, numbered_menu
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


def answer_link(public_url: str, entry_id: str) -> str:
    """The public page with an entry's full answer (``gateway/web/answers.py``)."""
    return f"{public_url.rstrip('/')}/answers/{entry_id}"


def render_for_segments(decision: Decision, max_segments: int, context: RenderContext) -> str:
    """The reply for an SMS-like channel: at most ``max_segments`` carrier segments.

    An answer is the entry's ``short_answer`` (the responder already picks it for ``sms``), cut at
    a sentence end when still too long and followed by a link to the full answer on the gateway's
    page; a clarify is a numbered menu (the citizen replies "1", "2"...); the queued-inquiry
    acknowledgement keeps its work-order number and promised time. Sent at once, well within the
    3 minutes GB/T 33358 allows the 12345 hotline for an SMS response.
    """
    if decision.decision == "clarify":
        text = numbered_menu([option.title for option in decision.options], decision.language)
        return fit_to_segments(text, max_segments, language=decision.language)
    if decision.decision == "queue":
        text = queue_acknowledgement(decision.language, context.work_order, context.reply_hours)
        return fit_to_segments(text, max_segments, language=decision.language)
    link = answer_link(context.public_url, decision.entry_id) if decision.entry_id else None
    return fit_to_segments(decision.reply, max_segments, link, language=decision.language)


# A clarify on a channel that shows the options as buttons: the text only asks, the buttons list.
_CHOOSE = {
    "zh": "您是想问以下哪一项？请点选，或回复序号。",
    "en": "Which of these did you mean? Choose one, or reply with its number.",
}


def render_for_channel(decision: Decision, capabilities: Capabilities, context: RenderContext) -> str:
    """The reply text for ``decision`` on a channel with ``capabilities``."""
    if capabilities.max_segments is not None:
        return render_for_segments(decision, capabilities.max_segments, context)
    if decision.decision == "clarify" and capabilities.supports_options:
        return _CHOOSE.get(decision.language, _CHOOSE["zh"])
    if decision.decision == "queue":
        text = queue_acknowledgement(decision.language, context.work_order, context.reply_hours)
    else:
        text = decision.reply
    limit = capabilities.max_text_chars
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text

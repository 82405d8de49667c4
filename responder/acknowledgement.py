"""The acknowledgement a citizen gets when their inquiry waits for a person.

It carries the work-order number (the conversation id) and the promised reply time, so the
citizen can refer to the inquiry later; the national 12345 hotline standard GB/T 33358 expects
such an acknowledgement with a number for every inquiry that is not answered at once.
"""

from __future__ import annotations

_TEMPLATES = {
    "zh": "您好，您的问题已收到，工单号 {work_order}。工作人员将在 {hours} 小时内答复您。",
    "en": "Thank you, we have received your question (work order {work_order}). "
    "A member of staff will reply within {hours} hours.",
}


def queue_acknowledgement(language: str, work_order: int, reply_hours: int) -> str:
    """The acknowledgement text in ``language`` (``zh`` or ``en``; anything else gets ``zh``)."""
    template = _TEMPLATES.get(language, _TEMPLATES["zh"])
    return template.format(work_order=work_order, hours=reply_hours)

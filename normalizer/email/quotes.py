"""Strip quoted history and signatures from plain-text mail, keeping the sender's new words.

The scan is line based and linear: every line is looked at a bounded number of times, with
anchored patterns over at most a few joined lines, so a 100 kB quoted GitHub notification costs
milliseconds (no catastrophic backtracking; cf. the "pathological" case of email_reply_parser).

What starts the quoted part ("hard" separators: everything from there on is history)
  * ``-----Original Message-----`` and its translations: ``-----原始邮件-----``,
    ``----- 原始邮件 -----``, ``-----邮件原件-----``, ``-----原始郵件-----``...;
  * a rule line (``____``/``----``) followed by a header block;
  * a header block without a rule: ``From:``/``发件人:``/``寄件者:``/``*From:*``/``*发件人：*``
    followed within a few lines by ``Sent:``/``发送时间:``/``寄件日期:``/``主   题：``...
    (full-width colons and spaced-out names included);
  * an attribution line not followed by ``>`` quotes: ``On … wrote:`` (also wrapped over two or
    three lines), Coremail ``At … wrote:``, ``Am … schrieb …:``, ``在 … 写道：``,
    ``X <…> 在 2026年… 写道：``, ``Dnia … napisał(a):``, ``… пользователь … написал:``.

Quoted lines (``>``) are removed wherever they are, together with the attribution line that
introduces them, so an inline (interleaved) answer keeps the sender's parts. A quoted block that
starts with ``Begin forwarded message:`` is a forward, not history, and is kept.

Signatures (:func:`strip_signature`) end the new text at a ``-- `` line (RFC 3676 4.3, also
without the trailing space), a long ``——`` rule or a mobile footer ("Sent from my iPhone",
"从我的iPhone发送", "從我的 iPhone 傳送", "发自我的iPhone", "Envoyé depuis mon iPhone"...).
"""

from __future__ import annotations

import re

_MAX_HEADER_WINDOW = 6

_ORIGINAL_WORDS = (
    "original message|原始邮件|原始郵件|邮件原件|郵件原件|原邮件|原郵件|ursprüngliche nachricht|"
    "original-nachricht|message d'origine|mensaje original|messaggio originale|"
    "oorspronkelijk bericht|wiadomość oryginalna|исходное сообщение|reply message"
)
_ORIGINAL = re.compile(
    r"[ \t]*[-=_*]{2,}[ \t]*(?:" + _ORIGINAL_WORDS + r")[ \t]*[-=_*]{2,}[ \t]*$", re.IGNORECASE
)
_RULE = re.compile(r"[ \t]*(?:_{8,}|-{8,}|—{4,}|─{8,}|={8,})[ \t]*$")

# "Name:" at the start of a line: optional markdown/Outlook bold stars, ASCII or full-width colon.
_HEADER_LINE = re.compile(r"[ \t]*\*{0,2}([^:：*\n]{1,24})\*{0,2}[ \t]*[:：]")
_FROM_NAMES = {"from", "发件人", "發件人", "寄件者", "寄件人", "von", "de", "van", "od", "от", "da", "fra"}
_OTHER_NAMES = {
    "sent",
    "date",
    "to",
    "cc",
    "subject",
    "发送时间",
    "發送時間",
    "时间",
    "日期",
    "收件人",
    "收件者",
    "抄送",
    "抄送人",
    "副本",
    "主题",
    "主題",
    "主旨",
    "寄件日期",
    "gesendet",
    "an",
    "betreff",
    "envoyé",
    "à",
    "objet",
    "enviado",
    "para",
    "asunto",
    "verzonden",
    "aan",
    "onderwerp",
    "wysłano",
    "do",
    "temat",
    "отправлено",
    "кому",
    "тема",
    "inviato",
    "oggetto",
    "a",
}

_ATTRIBUTION_START = re.compile(r"(?:-+[ \t]*)?(?:on|at|am|le|el|op|dnia|il|em|den|w dniu)\b", re.IGNORECASE)
_ATTRIBUTION_END = (
    "wrote:",
    "wrote",
    "schrieb:",
    "a écrit :",
    "a écrit:",
    "escribió:",
    "schreef:",
    "napisał(a):",
    "napisał:",
    "ha scritto:",
    "escreveu:",
    "skrev:",
    "написал:",
    "написала:",
    "写道：",
    "写道:",
    "寫道：",
    "寫道:",
)
_SCHRIEB = re.compile(r"\bschrieb\b.*:$")
_FORWARD = re.compile(
    r"(?:begin forwarded message:|-{2,}[ \t]*forwarded message[ \t]*-{2,}|"
    r"-{2,}[ \t]*(?:转发的邮件|轉寄的郵件)[ \t]*-{2,})",
    re.IGNORECASE,
)

_SIGNATURE = re.compile(
    r"(?:"
    r"(?:sent|envoyé|enviado|gesendet|verzonden|inviato|wysłane|отправлено)[ \t]+"
    r"(?:from|with|via|by|depuis|von|met|da|z|с|from my)\b"
    r"|von meinem\b|diese nachricht wurde von meinem\b|get outlook for\b|get \[outlook for\b"
    r"|<<sent by\b|\((?:sent from|sent via)\b"
    r"|从我的|從我的|发自我的|發自我的|来自我的|來自我的"
    r")",
    re.IGNORECASE,
)
_SIG_DASHES = re.compile(r"(?:-- ?|—{6,}[ \t]*|─{6,}[ \t]*|-{20,}[ \t]*)$")


def _header_name(line: str) -> str | None:
    match = _HEADER_LINE.match(line)
    if match is None:
        return None
    return re.sub(r"\s+", "", match.group(1)).lower()


def _is_header_block(lines: list[str], start: int) -> bool:
    """A From-like header line at ``start`` followed soon by another known header line."""
    name = _header_name(lines[start])
    if name not in _FROM_NAMES and name not in _OTHER_NAMES:
        return False
    seen = {name}
    for line in lines[start + 1 : start + 1 + _MAX_HEADER_WINDOW]:
        other = _header_name(line)
        if other in _FROM_NAMES or other in _OTHER_NAMES:
            seen.add(other)
    return bool(seen & _FROM_NAMES) and len(seen) >= 2


def _is_quoted(line: str) -> bool:
    return line.lstrip(" \t").startswith(">")


def _unquote(line: str) -> str:
    return line.lstrip(" \t>").strip()


def _attribution_span(lines: list[str], i: int, defer: bool = True) -> int:
    """Return how many lines (1-3) form an attribution starting at ``i``, or 0 if none.

    A wrapped match defers to one that starts on the next line ("Am heutigen Tage" followed by
    "Am So., 1. Jan. 2023 … schrieb …:" is text plus an attribution, not one attribution).
    """
    first = lines[i].strip()
    if not first or len(first) > 300 or _is_quoted(first):
        return 0
    joined = first
    # A wrapped attribution must *look* like one from its first line, otherwise a short
    # paragraph followed by "On … wrote:" would be swallowed with it.
    may_wrap = not first.endswith((".", "!", "?", "。", "！", "？")) and bool(
        _ATTRIBUTION_START.match(first)
        or first[:1].isdigit()
        or first.endswith("<")
        or "пользователь" in first
    )
    for span in range(1, 4):
        if span > 1:
            if not may_wrap:
                break
            if i + span - 1 >= len(lines):
                break
            nxt = lines[i + span - 1].strip()
            if not nxt or _is_quoted(nxt):
                break
            joined = f"{joined} {nxt}"
            if len(joined) > 400:
                break
        lowered = joined.lower()
        if (
            span > 1
            and defer
            and _is_attribution_end(lowered, joined)
            and _attribution_span(lines, i + 1, defer=False)
        ):
            return 0
        if lowered.endswith(_ATTRIBUTION_END):
            # "…wrote:" on its own is enough (any client); Chinese "写道" likewise.
            return span
        if _ATTRIBUTION_START.match(joined) and _SCHRIEB.search(joined):
            return span
        if "пользователь" in lowered and lowered.endswith(("написал:", "написала:")):
            return span
    return 0


def _is_attribution_end(lowered: str, joined: str) -> bool:
    return (
        lowered.endswith(_ATTRIBUTION_END)
        or bool(_SCHRIEB.search(joined))
        or ("пользователь" in lowered and lowered.endswith(("написал:", "написала:")))
    )


def _next_content(lines: list[str], i: int) -> int:
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i


def split_quotes(text: str) -> tuple[str, str]:
    """Split ``text`` into ``(new_text, quoted_history)``. Linear in the length of ``text``."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    dropped: list[str] = []
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if _is_quoted(line):
            # A ">" block: drop it, unless it is a forwarded message (keep forwards).
            j = i
            while j < n and (_is_quoted(lines[j]) or not lines[j].strip()):
                j += 1
            block = lines[i:j]
            first = next((_unquote(b) for b in block if _unquote(b)), "")
            (kept if _FORWARD.match(first) else dropped).extend(block)
            i = j
            continue
        if _FORWARD.match(stripped):
            # A forward (Apple "Begin forwarded message:", Gmail "---- Forwarded message ----")
            # is content the sender chose to pass on, not history: keep it and what follows.
            kept.extend(lines[i:])
            break
        if _ORIGINAL.match(line):
            dropped.extend(lines[i:])
            break
        if _RULE.match(line):
            k = _next_content(lines, i + 1)
            if k < n and _is_header_block(lines, k):
                dropped.extend(lines[i:])
                break
        elif _is_header_block(lines, i):
            dropped.extend(lines[i:])
            break
        span = _attribution_span(lines, i)
        if span:
            k = _next_content(lines, i + span)
            if k < n and _is_quoted(lines[k]):
                # Attribution for a ">" block: drop just it; the block goes on the next turn.
                dropped.extend(lines[i:k])
                i = k
                continue
            dropped.extend(lines[i:])
            break
        kept.append(line)
        i += 1
    return "\n".join(kept).strip("\n"), "\n".join(dropped).strip("\n")


def strip_quotes(text: str) -> str:
    """Return ``text`` without quoted history (signatures kept). See the module docstring."""
    return split_quotes(text)[0].rstrip()


def strip_signature(text: str) -> str:
    """Cut ``text`` at its signature: a ``--`` line, a long rule or a mobile-client footer.

    The first line is never treated as a signature, so a message that is only a footer keeps it.
    """
    lines = text.split("\n")
    for idx in range(1, len(lines)):
        line = lines[idx].strip()
        if not line:
            continue
        if (
            _SIG_DASHES.fullmatch(lines[idx].rstrip("\n"))
            or _SIG_DASHES.fullmatch(line)
            or (len(line) < 120 and _SIGNATURE.match(line))
        ):
            head = "\n".join(lines[:idx]).rstrip()
            if head.strip():
                return head
    return text.rstrip()


def extract_new_text(text: str) -> str:
    """The sender's new words: quotes stripped, then the signature."""
    return strip_signature(strip_quotes(text)).strip()

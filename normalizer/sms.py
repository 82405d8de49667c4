"""Carrier-level SMS rules: segment counting, fitting replies, menus and opt-out keywords.

Segment arithmetic follows 3GPP TS 23.038 (alphabets) and TS 23.040 (concatenation):

* a message that fits the GSM 7-bit default alphabet (plus its extension table, whose characters
  cost an escape septet each, so 2) is sent as GSM-7: 160 septets in one SMS, 153 per part once
  it is split, because the concatenation header (UDH, 6 octets) takes 7 septets;
* anything else is sent as UCS-2 (UTF-16 code units): 70 in one SMS, 67 per part. Characters
  outside the BMP (most emoji) are surrogate pairs: 2 units.

Phones do not split an escape sequence or a surrogate pair across parts, so parts are packed
greedily and may hold one unit less than the maximum.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from normalizer.text import guess_language

# TS 23.038 §6.2.1, the default alphabet in code order (0x1B, the escape, is left out).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# TS 23.038 §6.2.1.1, the default extension table: each costs ESC + char = 2 septets.
GSM7_EXTENSION = "\f^{}\\[~]|€"
_GSM_COST = {ch: 1 for ch in GSM7_BASIC} | {ch: 2 for ch in GSM7_EXTENSION}

GSM7 = "GSM-7"
UCS2 = "UCS-2"
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How a text travels as SMS.

    encoding: ``"GSM-7"`` or ``"UCS-2"``.
    segments: number of SMS parts (an empty text still costs one).
    units: septets (GSM-7) or UTF-16 code units (UCS-2) in the whole text.
    units_per_segment: 160/70 when it fits one SMS, 153/67 when concatenated.
    """

    encoding: str
    segments: int
    units: int
    units_per_segment: int


def _costs(text: str) -> tuple[str, list[int]]:
    gsm = [_GSM_COST.get(ch, 0) for ch in text]
    if all(gsm):
        return GSM7, gsm
    return UCS2, [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def count_segments(text: str) -> SegmentInfo:
    """Count the SMS parts ``text`` needs (see the module docstring for the rules)."""
    encoding, costs = _costs(text)
    single, multi = _LIMITS[encoding]
    units = sum(costs)
    if units <= single:
        return SegmentInfo(encoding, 1, units, single)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:  # never split an escape sequence or a surrogate pair
            segments, used = segments + 1, 0
        used += cost
    return SegmentInfo(encoding, segments, units, multi)


def _fits(text: str, max_segments: int) -> bool:
    return count_segments(text).segments <= max_segments


# Cut points, best first. A cut goes *after* the matched character.
_SENTENCE_END = re.compile(r"[。！？；!?;…]|\.(?=\s|$)")
_CLOSERS = "”’」』）)】》\"'"
_CLAUSE_END = re.compile(r"[，,、：:]")
_GLUE = {"\u200d", "\ufe0f", "\ufe0e"}  # ZWJ and variation selectors bind to their neighbours


def _longest_prefix(text: str, tail: str, max_segments: int) -> int:
    """Largest ``n`` with ``text[:n].rstrip() + tail`` within ``max_segments`` (0 if none)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _fits(text[:mid].rstrip() + tail, max_segments):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _boundary(text: str, limit: int) -> int | None:
    """Best cut ≤ ``limit``: sentence end, then newline, then clause end.

    A tier is used only if its last cut keeps at least half of what would fit, so one early
    full stop does not throw away most of the answer.
    """
    head = text[:limit]
    for pattern in (_SENTENCE_END, re.compile("\n"), _CLAUSE_END):
        ends = [m.end() for m in pattern.finditer(head)]
        if ends and ends[-1] * 2 >= limit:
            cut = ends[-1]
            while cut < limit and text[cut] in _CLOSERS:  # keep 」 or ” with its sentence
                cut += 1
            return cut
    return None


def _hard_cut(text: str, limit: int) -> int:
    # Python strings hold code points, so a surrogate pair is never split here; step back
    # over combining marks and joiners so an accent or emoji sequence stays whole.
    cut = limit
    while 0 < cut < len(text) and (
        unicodedata.combining(text[cut]) or text[cut] in _GLUE or text[cut - 1] in _GLUE
    ):
        cut -= 1
    return cut


def fit_to_segments(
    text: str, max_segments: int, link: str | None = None, *, language: str | None = None
) -> str:
    """Return ``text`` unchanged if it fits ``max_segments`` SMS parts, else a shortened copy.

    The copy is cut at the last sentence end (。！？；.!?;), else newline, else clause mark
    (，,、:), else anywhere ("…" is added then). When ``link`` (a URL) is given it is appended
    after a label (" 详情: " for Chinese, " More: " otherwise) so the reader can get the rest. The
    whole result, link included, fits; if the link alone would not, it is dropped.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    if _fits(text, max_segments):
        return text
    lang = language or guess_language(text)
    suffix = ""
    if link:
        suffix = (" 详情: " if lang.startswith("zh") else " More: ") + link
        if not _fits(suffix.strip(), max_segments):
            suffix = ""
    limit = _longest_prefix(text, suffix, max_segments)
    cut = _boundary(text, limit)
    if cut is not None:
        return text[:cut].rstrip() + suffix
    ellipsis = "..." if count_segments(text).encoding == GSM7 else "…"  # "…" would force UCS-2
    limit = _longest_prefix(text, ellipsis + suffix, max_segments)
    return text[: _hard_cut(text, limit)].rstrip() + ellipsis + suffix


def numbered_menu(options: list[str], language: str = "zh") -> str:
    """Render clarify options for SMS: ``"回复序号：\\n1. ...\\n2. ..."`` (English for ``en``)."""
    header = "回复序号：" if language.startswith("zh") else "Reply with a number:"
    lines = [f"{n}. {' '.join(option.split())}" for n, option in enumerate(options, start=1)]
    return "\n".join([header, *lines])


# Opt-out handling. Twilio's default keywords for long codes (help.twilio.com article 223134027
# and the Advanced Opt-Out docs): opt-out STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE,
# OPTOUT; opt-in START, YES, UNSTOP; help HELP, INFO. YES is included on purpose: Twilio lifts its
# block when it receives YES, and our state must mirror Twilio's, else we would keep a citizen
# opted out whom Twilio delivers to. 退订/TD/取消订阅 (opt-out) and 订阅 (opt-in) are the Chinese
# carrier conventions ("回复TD退订").
_KEYWORDS = {
    "stop": {
        "stop",
        "stopall",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "revoke",
        "optout",
        "退订",
        "td",
        "取消订阅",
    },
    "start": {"start", "unstop", "yes", "订阅"},
    "help": {"help", "info", "帮助"},
}
_KEYWORD_OF = {word: kind for kind, words in _KEYWORDS.items() for word in words}


def classify_keyword(text: str) -> str | None:
    """Return ``"stop"``, ``"start"`` or ``"help"`` when the whole message is such a keyword.

    Like carriers and Twilio, only a message that *is* the keyword counts ("stop please" → None).
    Case, surrounding whitespace, full-width forms (NFKC: ＳＴＯＰ) and trailing punctuation
    ("Stop!", "退订。") are ignored.
    """
    folded = unicodedata.normalize("NFKC", text).strip().casefold()
    while folded and (unicodedata.category(folded[-1]).startswith("P") or folded[-1].isspace()):
        folded = folded[:-1]
    return _KEYWORD_OF.get(folded)

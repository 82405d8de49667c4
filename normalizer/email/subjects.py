"""Subject lines: reply/forward prefixes, mojibake repair and the work-order tag.

Mail clients stack prefixes in many languages ("Re: 回复: RE: FW:"); threading and display need
the base subject, and replies must not stack another prefix (RFC 5322 section 3.6.5 suggests
exactly one "Re: ").
"""

from __future__ import annotations

import re

# Reply/forward prefixes seen in the wild. "I" is Italian Outlook's forward ("Inoltrato"),
# AW/WG German, SV/VS Nordic, TR French "transféré", RIF Italian. The optional "[2]"/"(2)"
# counter is what some clients add instead of stacking. Colon: ASCII or full-width (U+FF1A).
_PREFIX_WORDS = (
    r"re|fwd?|aw|wg|sv|vs|vb|antw|tr|rif|i|r|"
    r"回复|回覆|答复|答覆|转发|轉寄|转寄|轉發|回覆|"
    # UTF-8 "回复" decoded as Latin-1: full ("å\x9b\x9eå¤\x8d") and with the C1 controls lost.
    "\u00e5\u009b\u009e\u00e5\u00a4\u008d|\u00e5\u00e5\u00a4|"
    "\u00e5\u009b\u009e\u00e8\u00a6\u0086|\u00e5\u00e8\u00a6"
)
_PREFIX = re.compile(
    r"^[ \t]*(?:" + _PREFIX_WORDS + r")[ \t]*(?:\[\d{1,3}\]|\(\d{1,3}\))?[ \t]*[:：][ \t]*",
    re.IGNORECASE,
)
_BLANKS = re.compile(r"\s+")

# Characters a UTF-8 -> Latin-1/cp1252 mis-decoding produces (C1 controls, Latin-1 supplement
# and the cp1252 specials in 0x80-0x9F).
_MOJIBAKE_RUN = re.compile(
    "[\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]{2,}"
)

_WORK_ORDER = re.compile(r"[\[［]\s*[#＃]\s*([0-9０-９]{1,12})\s*[\]］]")


def _run_to_bytes(run: str) -> bytes | None:
    out = bytearray()
    for ch in run:
        try:
            out.extend(ch.encode("latin-1"))
        except UnicodeEncodeError:
            try:
                out.extend(ch.encode("cp1252"))
            except UnicodeEncodeError:
                return None
    return bytes(out)


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 text that was decoded as Latin-1/windows-1252 ("å\\x9b\\x9eå¤\\x8d" -> "回复").

    Only runs of two or more such characters that re-encode to *valid, non-ASCII UTF-8* are
    replaced, so genuine accented Latin text ("café", "Ä") is left alone.
    """

    def fix(match: re.Match[str]) -> str:
        raw = _run_to_bytes(match.group(0))
        if raw is None:
            return match.group(0)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return match.group(0)

    return _MOJIBAKE_RUN.sub(fix, text)


def strip_prefixes(subject: str) -> str:
    """Remove every stacked reply/forward prefix at the start of ``subject``."""
    previous = None
    while previous != subject:
        previous = subject
        subject = _PREFIX.sub("", subject, count=1)
    return subject


def normalize_subject(subject: str | None) -> str:
    """Return the base subject: mojibake repaired, blanks collapsed, prefixes stripped.

    The work-order tag (``[#12345]``) is kept: it is part of the base subject.
    """
    if not subject:
        return ""
    text = _BLANKS.sub(" ", repair_mojibake(subject)).strip()
    return strip_prefixes(text).strip()


def reply_subject(subject: str | None) -> str:
    """Subject for our reply: exactly one ``"Re: "`` before the base subject, never stacked."""
    base = normalize_subject(subject)
    return f"Re: {base}" if base else "Re:"


def find_work_order_tag(subject: str | None) -> int | None:
    """Return the work-order number in a ``[#12345]`` tag (full-width forms too), else ``None``."""
    if not subject:
        return None
    match = _WORK_ORDER.search(subject)
    if match is None:
        return None
    digits = match.group(1).translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    return int(digits)

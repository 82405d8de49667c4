"""Pure text normalisation shared by every channel and by knowledge-base matching.

Two different outputs, on purpose:

* :func:`clean_text` is for *display and storage*: it keeps the citizen's characters (traditional
  Chinese stays traditional) but removes control characters and tidies whitespace.
* :func:`fold_for_matching` is for *search*: NFKC (full-width ＡＢＣ１２３ become ABC123, see
  Unicode UAX #15), case folding, and traditional-to-simplified Chinese, so 身份證 finds 身份证.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CONTROL_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
_KEEP_CONTROLS = {"\n", "\t"}
_HORIZONTAL_SPACE = re.compile(r"[ \t\u00a0\u3000\u2000-\u200a\u202f\u205f]+")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_LETTER = re.compile(r"[A-Za-z]")


def _strip_controls(text: str) -> str:
    # Zero-width joiners and similar format characters (Cf) are dropped too: they only ever
    # hide text from matching. Emoji sequences lose their joiners, which is acceptable here.
    # Categories are looked up once per distinct character, not once per character: a 2 KB
    # mail body has a few hundred distinct characters, and this runs on every inbound message.
    unwanted = {
        ch for ch in set(text) if ch not in _KEEP_CONTROLS and unicodedata.category(ch) in _CONTROL_CATEGORIES
    }
    if not unwanted:
        return text
    return text.translate(dict.fromkeys(map(ord, unwanted)))


def clean_text(text: str) -> str:
    """Return ``text`` fit for storage and display.

    Line endings become ``\\n``; control and format characters are removed; runs of horizontal
    space (including the ideographic space U+3000) collapse to one space; at most one blank line
    is kept between paragraphs; leading and trailing whitespace is trimmed. Characters are not
    otherwise changed.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _strip_controls(text)
    lines = [_HORIZONTAL_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


@lru_cache(maxsize=1)
def _t2s_converter():  # type: ignore[no-untyped-def]
    # Imported lazily: building the OpenCC dictionaries costs ~0.1 s and most processes
    # (the CLI's `migrate`, say) never match text.
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Fold traditional Chinese characters to simplified ones (OpenCC ``t2s`` tables)."""
    if not _CJK.search(text):
        return text
    return str(_t2s_converter().convert(text))


@lru_cache(maxsize=256)
def fold_for_matching(text: str) -> str:
    """Return the form of ``text`` used for search and comparison, never for display.

    NFKC normalisation, case folding, traditional-to-simplified folding, whitespace collapsed.
    Cached: one decision folds the same question three times (policy, search, department names).
    """
    text = unicodedata.normalize("NFKC", clean_text(text)).casefold()
    return to_simplified(text)


def guess_language(text: str) -> str:
    """Guess ``zh`` or ``en`` from the script of ``text``: any Han character wins (``zh``)."""
    if _CJK.search(text):
        return "zh"
    if _LATIN_LETTER.search(text):
        return "en"
    return "zh"

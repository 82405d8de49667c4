"""Robust byte-to-text decoding for e-mail, where charset labels often lie.

Real mail declares ``gb2312`` but contains GBK-only bytes, labels Big5 as ``us-ascii``, uses
Exchange's ``unicode-1-1-utf-7`` or Outlook's ``ks_c_5601-1987``, or names no charset at all.
:func:`decode_bytes` maps the label to the widest compatible codec (a *superset*, so strict
decoding of honest mail never gets worse), decodes strictly, and when that fails sniffs the bytes.
It never raises: the last resort is UTF-8 with ``errors="replace"``.

Sniffing order matters. UTF-8 comes first because random legacy bytes are almost never valid
UTF-8 (RFC 3629's structure makes false positives rare). GB18030 accepts nearly every byte
sequence, so it cannot go first blindly; we score candidates by how "text-like" their output is
(CJK ideographs and ASCII versus rare symbols/private-use code points) and keep the best one.
"""

from __future__ import annotations

import codecs
import unicodedata
from functools import lru_cache

#: Label (lower-case) -> Python codec. Supersets are chosen deliberately (WHATWG Encoding
#: Standard does the same: gb2312/gbk -> gb18030, ks_c_5601-1987 -> windows-949, etc.).
CHARSET_ALIASES: dict[str, str] = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "gb_2312-80": "gb18030",
    "hz-gb-2312": "hz",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "euc-kr": "cp949",
    "x-windows-949": "cp949",
    "big5": "big5hkscs",
    "big-5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode-2-0-utf-7": "utf-7",
    "iso-2022-jp": "iso2022_jp_ext",
    "csiso2022jp": "iso2022_jp_ext",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "euc-jp": "euc_jis_2004",
    # Latin-1 and ASCII labels are routinely windows-1252 in practice (WHATWG maps them so).
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "utf8": "utf-8",
    "x-utf8": "utf-8",
}

# After a failed strict decode we try these, in order, and keep the best-scoring result.
_SNIFF_ORDER = ("gb18030", "big5hkscs", "cp932", "cp949", "cp1252")

FALLBACK_CHARSET = "utf-8"


def normalize_label(declared: str | None) -> str | None:
    """Return the Python codec name for a declared charset label, or ``None`` if unusable.

    Strips quotes, whitespace and stray parameters (``charset="utf-8";``); maps aliases;
    rejects labels Python does not know (``X-IAS-German``, ``NONE``, empty).
    """
    if not declared:
        return None
    label = declared.strip().strip("\"'").strip().lower()
    label = label.split(";", 1)[0].strip()
    if not label:
        return None
    name = CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _is_ascii(data: bytes) -> bool:
    return data.isascii()


def _looks_like_iso2022(data: bytes) -> bool:
    # ISO-2022 (RFC 1468) is 7-bit with ESC sequences; ESC $ B / ESC $ @ / ESC ( J etc.
    return b"\x1b$" in data or b"\x1b(" in data


# Lead-byte ranges of each legacy codec's *frequent* characters: GB2312 level 1, Big5
# "frequently used" block, JIS X 0208 level 1 in Shift_JIS, KS X 1001 hangul.
_FREQUENT_LEAD = {
    "gb18030": (0xB0, 0xD7),
    "big5hkscs": (0xA4, 0xC6),
    "cp932": (0x88, 0x9F),
    "cp949": (0xB0, 0xC8),
}


@lru_cache(maxsize=16384)
def _ideograph_weight(ch: str, codec: str) -> float:
    """Frequent CJK characters score high, rare ones low.

    A wrong legacy decoding of Latin text (windows-1252 "ção" read as GBK) yields *rare*
    characters, while real text is mostly made of each standard's frequent block.
    """
    lead_range = _FREQUENT_LEAD.get(codec)
    if lead_range is None:
        return 2.0
    try:
        lead = ch.encode(codec)[0]
    except UnicodeEncodeError:
        return 0.3
    return 2.0 if lead_range[0] <= lead <= lead_range[1] else 0.3


def _text_score(text: str, codec: str = "utf-8") -> float:
    """Score decoded text: higher means more plausible human text.

    Rewards ASCII letters/digits/punctuation, CJK ideographs, kana, hangul and common Latin
    letters; penalises control characters, private-use and unassigned code points, replacement
    characters and rarely used blocks that wrong legacy decodings tend to produce.
    """
    if not text:
        return 0.0
    good = 0.0
    bad = 0.0
    for ch in text:
        o = ord(ch)
        if o < 0x80:
            if ch.isprintable() or ch in "\r\n\t":
                good += 1
            else:
                bad += 2
        elif 0x4E00 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7A3:  # ideographs, hangul syllables
            good += _ideograph_weight(ch, codec)
        elif 0xFF61 <= o <= 0xFF9F:
            good += 0.3  # half-width katakana: typical of Latin bytes misread as Shift_JIS
        elif 0x3000 <= o <= 0x30FF or 0xFF00 <= o <= 0xFFEF:
            good += 2  # CJK punctuation, kana, full-width forms
        elif 0xC0 <= o <= 0x17F:
            good += 1  # Latin-1 supplement letters / Latin Extended-A
        elif o == 0xFFFD:
            bad += 5
        else:
            cat = unicodedata.category(ch)
            if cat in ("Co", "Cn", "Cc", "Cs"):
                bad += 5
            elif 0x3400 <= o <= 0x4DBF or 0x20000 <= o:
                bad += 1  # CJK extension A / supplementary planes: rare in real mail
            else:
                good += 0.5
    return (good - bad) / len(text)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def sniff(data: bytes) -> tuple[str, str] | None:
    """Guess the charset of ``data`` from its bytes. Returns ``(text, codec)`` or ``None``."""
    if _is_ascii(data):
        if _looks_like_iso2022(data):
            text = _strict(data, "iso2022_jp_ext")
            if text is not None:
                return text, "iso2022_jp_ext"
        return data.decode("ascii"), "ascii"
    text = _strict(data, "utf-8")
    if text is not None:
        return text, "utf-8"
    best: tuple[float, str, str] | None = None
    for codec in _SNIFF_ORDER:
        text = _strict(data, codec)
        if text is None:
            continue
        score = _text_score(text, codec)
        if best is None or score > best[0]:
            best = (score, text, codec)
    if best is not None:
        return best[1], best[2]
    return None


def _last_resort(data: bytes) -> tuple[str, str]:
    # charset-normalizer is a heavier statistical detector; only consulted when every strict
    # decoding above failed (damaged bytes), and optional so that a missing wheel costs nothing.
    try:
        from charset_normalizer import from_bytes

        match = from_bytes(data).best()
        if match is not None and match.encoding:
            codec = normalize_label(match.encoding) or match.encoding
            return data.decode(codec, errors="replace"), codec
    except Exception:  # noqa: BLE001, S110 - a detector bug must never break mail intake
        pass
    # Choose the replace-decoding with the fewest replacement characters.
    candidates = [(data.decode(c, errors="replace"), c) for c in ("utf-8", "gb18030", "big5hkscs")]
    return min(candidates, key=lambda tc: tc[0].count("\ufffd"))


def decode_bytes(data: bytes, declared: str | None) -> tuple[str, str]:
    """Decode ``data`` declared as charset ``declared``; return ``(text, codec_used)``.

    1. the declared label, aliased to its superset (gb2312 -> gb18030 ...), decoded strictly;
       an ``ascii`` label is only trusted when the bytes really are 7-bit;
    2. otherwise sniffing (UTF-8 strict, then scored legacy CJK and windows-1252 candidates);
    3. otherwise a replace-decoding. Never raises.
    """
    if not data:
        return "", normalize_label(declared) or FALLBACK_CHARSET
    codec = normalize_label(declared)
    if codec is not None and codec != "ascii":
        # A 7-bit ISO-2022-JP body mislabelled as anything 8-bit still decodes "fine" as the
        # label; but escape sequences in ASCII data only make sense for ISO-2022.
        text = _strict(data, codec)
        if text is not None:
            if codec in ("cp1252", "latin_1", "iso8859-1") and not data.isascii():
                # windows-1252 accepts almost anything: prefer UTF-8 if the bytes are valid
                # UTF-8 (a frequent mislabel), else keep the label.
                utf = _strict(data, "utf-8")
                if utf is not None:
                    return utf, "utf-8"
            return text, codec
    sniffed = sniff(data)
    if sniffed is not None:
        return sniffed
    return _last_resort(data)

"""Attachment names and types that are safe to store and show.

Names come from the sender and may contain paths (``../../etc/passwd``, ``C:\\x\\y.pdf``),
control characters, bidi overrides that disguise the extension (U+202E), Windows device names,
or be absurdly long. Types are declared by the sender and often wrong (``application/octet-stream``
for a PDF); for the common formats we trust the magic bytes instead.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata

from normalizer.inquiry import Attachment

MAX_NAME_LENGTH = 120
_MAX_EXT_LENGTH = 16
_RESERVED = re.compile(r'[<>:"|?*\\/]')
_WINDOWS_DEVICES = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}
_OOXML = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
}


def safe_filename(name: str, content_type: str = "application/octet-stream", index: int = 1) -> str:
    """Return a file name without directories, control/format characters or reserved
    characters, at most ``MAX_NAME_LENGTH`` characters, keeping the extension.

    An empty result becomes ``attachment-<index><ext>`` with the extension guessed from
    ``content_type``.
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
    )
    name = _RESERVED.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > _MAX_EXT_LENGTH or " " in ext:
        stem, ext = name, ""
    if stem.lower() in _WINDOWS_DEVICES:
        stem = f"_{stem}"
    if not stem:
        guessed = mimetypes.guess_extension(content_type or "", strict=False) or ""
        return f"attachment-{index}{guessed}"
    suffix = f".{ext}" if ext else ""
    stem = stem[: MAX_NAME_LENGTH - len(suffix)].rstrip(" .") or f"attachment-{index}"
    return stem + suffix


def sniff_content_type(data: bytes, declared: str = "", filename: str = "") -> str:
    """MIME type from magic bytes for PDF, PNG, JPEG, GIF, TIFF, ZIP/OOXML; else ``declared``."""
    head = data[:8]
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith(b"PK\x03\x04"):
        ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        return _OOXML.get(ext, "application/zip")
    declared = (declared or "").strip().lower()
    return declared if "/" in declared else "application/octet-stream"


def make_attachment(name: str, declared_type: str, data: bytes, *, index: int, max_bytes: int) -> Attachment:
    """Build an :class:`Attachment`; content over ``max_bytes`` is dropped with a note."""
    ctype = sniff_content_type(data, declared_type, name)
    filename = safe_filename(name, ctype, index)
    if len(data) > max_bytes:
        return Attachment(filename=filename, content_type=ctype, data=None, note="over size cap")
    return Attachment(filename=filename, content_type=ctype, data=data)

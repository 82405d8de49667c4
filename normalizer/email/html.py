"""HTML mail to readable plain text, with the quoted history identified before conversion.

Uses only :mod:`html.parser` (a tolerant tokenizer; it never raises on bad markup). Block
elements become line breaks, ``script``/``style``/``head`` are dropped, character references
are decoded, and whitespace is collapsed the way a browser would (HTML Living Standard,
"white-space: normal"), except inside ``<pre>``.

Quote markers (the element where a client starts the quoted original) are recognised from the
markup, which is far more reliable than guessing from text:

* Gmail: ``div.gmail_quote`` (and its ``gmail_attr`` "On ... wrote:" line inside it);
* Thunderbird/Apple Mail: ``blockquote type=cite`` and Thunderbird's ``div.moz-cite-prefix``;
* Outlook desktop: the separator ``div`` styled ``border-top:solid ...`` that holds the
  From/Sent/To/Subject block, ``div#divRplyFwdMsg``, ``div#appendonsend`` (new Outlook),
  ``hr#stopSpelling`` (Hotmail), ``div.OutlookMessageHeader``;
* Outlook for Mac: ``span#OLK_SRC_BODY_SECTION``; Yahoo: ``div.yahoo_quoted``.

Everything from the first marker on is the quoted part: these clients put the history below
the new text (top-posting), and the header block and the quoted body are siblings, so cutting
only the marker's subtree would leave the old body behind.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "caption",
}
_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote"}
_SKIP = {"script", "style", "head", "title", "template", "noscript", "xml", "object"}
_VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "wbr"}
_SPACE = re.compile(r"[ \t\r\n\f\u00a0]+")
_BORDER_TOP = re.compile(r"border-top\s*:\s*(?:solid|[^;]*\bsolid\b)", re.IGNORECASE)

_QUOTE_IDS = {"divrplyfwdmsg", "appendonsend", "olk_src_body_section", "stopspelling"}
_QUOTE_CLASSES = {"gmail_quote", "moz-cite-prefix", "yahoo_quoted", "outlookmessageheader"}


def _is_quote_marker(tag: str, attrs: dict[str, str]) -> bool:
    if attrs.get("id", "").lower() in _QUOTE_IDS:
        return True
    classes = {c.lower() for c in attrs.get("class", "").split()}
    if classes & _QUOTE_CLASSES:
        return True
    if tag == "blockquote" and attrs.get("type", "").lower() == "cite":
        return True
    if tag in ("div", "p") and _BORDER_TOP.search(attrs.get("style", "")):
        # Outlook's separator: "border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0 0 0".
        return "padding" in attrs.get("style", "").lower()
    return False


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.quoted: list[str] = []
        self._skip_depth = 0
        self._pre = 0
        self.in_quote = False

    @property
    def _out(self) -> list[str]:
        return self.quoted if self.in_quote else self.parts

    def _newline(self, count: int = 1) -> None:
        # Adjacent block boundaries (</li><li>) must not stack up blank lines: only top up
        # the newlines already at the end of the output to ``count``. The look-back is bounded
        # (a few chunks) so that pathological markup stays linear.
        out = self._out
        if not out:
            return  # no leading blank lines
        have = 0
        for chunk in out[-1:-9:-1]:
            stripped = chunk.rstrip(" \t")
            if stripped.strip("\n"):
                have += len(stripped) - len(stripped.rstrip("\n"))
                break
            have += stripped.count("\n")
        if have < count:
            out.append("\n" * (count - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if tag in _SKIP:
            if tag not in _VOID:
                self._skip_depth += 1
            return
        amap = {k.lower(): (v or "") for k, v in attrs}
        if not self.in_quote and _is_quote_marker(tag, amap):
            self.in_quote = True
        if tag == "br":
            self._newline()
        elif tag == "pre":
            self._pre += 1
            self._newline()
        elif tag in _PARAGRAPH:
            self._newline(2)
        elif tag in _BLOCK:
            self._newline()
        elif tag in ("td", "th"):
            self._out.append(" ")
        elif tag == "img":
            alt = amap.get("alt", "").strip()
            if alt:
                self._out.append(f"[{alt}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <div/>: a start tag with no content; never increases skip depth.
        if tag.lower() in _SKIP:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if tag in _SKIP:
            if self._skip_depth:
                self._skip_depth -= 1
            return
        if tag == "pre" and self._pre:
            self._pre -= 1
        if tag in _PARAGRAPH:
            self._newline(2)
        elif tag in _BLOCK:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if not self._pre:
            data = _SPACE.sub(" ", data)
        self._out.append(data)


def _tidy(chunks: list[str]) -> str:
    text = "".join(chunks)
    lines = [line.strip(" \t\u00a0") for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def split_html(html: str) -> tuple[str, str]:
    """Convert ``html`` to text, split at the first quote marker: ``(new_text, quoted_text)``.

    ``quoted_text`` is empty when no marker was found. Never raises on malformed markup.
    """
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001, S110 - html.parser can assert on pathological markup
        pass
    return _tidy(parser.parts), _tidy(parser.quoted)


def html_to_text(html: str, *, strip_quotes: bool = False) -> str:
    """Return readable text for ``html``; with ``strip_quotes`` only the part before any quote."""
    new, quoted = split_html(html)
    if strip_quotes or not quoted:
        return new
    return f"{new}\n\n{quoted}" if new else quoted

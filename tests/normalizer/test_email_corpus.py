"""parse_rfc822 and the quote stripper against the shared real-world e-mail corpus."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from normalizer.email import extract_new_text, parse_rfc822, split_html, strip_quotes
from normalizer.email.automatic import classify_automatic
from normalizer.email.mime import load_message
from tests.normalizer.email_cases import CASES, EMAIL_DIR, SKIP_REASON, UNSET, Case

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not EMAIL_DIR.is_dir(), reason=SKIP_REASON),
]


def _all_files() -> list[Path]:
    if not EMAIL_DIR.is_dir():
        return []
    return sorted(p for p in EMAIL_DIR.rglob("*") if p.is_file())


FILES = _all_files()


def test_corpus_is_complete() -> None:
    # The corpus README promises 150-odd e-mail files; a truncated checkout must not pass quietly.
    assert len(FILES) >= 140


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(EMAIL_DIR)))
def test_every_corpus_file_parses(path: Path) -> None:
    raw = path.read_bytes()
    parsed = parse_rfc822(raw)
    inquiry = parsed.inquiry
    assert inquiry.channel == "email"
    assert inquiry.provider_message_id
    assert inquiry.received_at.utcoffset() is not None
    assert "\r" not in inquiry.text
    assert inquiry.sender == inquiry.sender.lower()
    for att in inquiry.attachments:
        assert "/" not in att.filename and "\\" not in att.filename
        assert att.filename and len(att.filename) <= 120
    # Classification must not depend on the safety net in parse_rfc822: call it directly.
    assert classify_automatic(load_message(raw)) == parsed.automatic


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.path)
def test_expected_results(case: Case) -> None:
    parsed = parse_rfc822((EMAIL_DIR / case.path).read_bytes())
    inquiry = parsed.inquiry
    original = inquiry.metadata["original_text"]
    for snippet in case.text:
        assert snippet in inquiry.text
    for snippet in case.quoted:
        assert snippet in original, "expectation error: snippet not in the message at all"
        assert snippet not in inquiry.text
    if case.subject is not None:
        assert inquiry.subject == case.subject
    if case.charset is not None:
        assert parsed.charset == case.charset
        assert inquiry.metadata["charset"] == case.charset
    if case.automatic is not UNSET:
        assert parsed.automatic == case.automatic
        assert inquiry.metadata["automatic"] == case.automatic
    if case.attachments is not None:
        assert tuple(a.filename for a in inquiry.attachments) == case.attachments
    if case.attachment_types is not None:
        assert tuple(a.content_type for a in inquiry.attachments) == case.attachment_types
    if case.sender is not None:
        assert inquiry.sender == case.sender
    if case.from_name is not None:
        assert inquiry.metadata["from_name"] == case.from_name
    if case.conversation_key is not None:
        assert inquiry.conversation_key == case.conversation_key
    if case.html_only is not None:
        assert inquiry.metadata["html_only"] is case.html_only
    if case.dsn_original_id is not UNSET:
        if case.dsn_original_id is None and parsed.dsn is None:
            pass
        else:
            assert parsed.dsn is not None
            assert parsed.dsn.original_message_id == case.dsn_original_id
    if case.dsn_status is not None:
        assert parsed.dsn is not None and parsed.dsn.status == case.dsn_status
    if case.dsn_permanent is not None:
        assert parsed.dsn is not None and parsed.dsn.permanent is case.dsn_permanent
    if case.dsn_recipient is not None:
        assert parsed.dsn is not None
        assert case.dsn_recipient in [r.recipient for r in parsed.dsn.recipients]


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 25


# --- quote stripping against the corpus's expected outputs ---------------------------------

BODIES = EMAIL_DIR / "reply_bodies"


def _read(name: str) -> str:
    return (BODIES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["trimmer_embedded_email_chinese", "trimmer_signatures"])
def test_trimmed_expectations(name: str) -> None:
    assert extract_new_text(_read(f"{name}.txt")) == _read(f"{name}.trimmed.txt").strip()


def test_elided_part_is_the_quote() -> None:
    from normalizer.email.quotes import split_quotes

    _new, quoted = split_quotes(_read("trimmer_embedded_email_chinese.txt"))
    assert quoted.strip() == _read("trimmer_embedded_email_chinese.elided.txt").strip()


@pytest.mark.parametrize("name", ["talon_iphone", "talon_sparrow"])
def test_reply_expectations_keep_signature(name: str) -> None:
    # These expected files come from a quote extractor that keeps signatures: compare with
    # strip_quotes (quotes only); extract_new_text additionally drops the signature.
    parsed = parse_rfc822((EMAIL_DIR / "replies" / f"{name}.eml").read_bytes())
    expected = (EMAIL_DIR / "replies" / f"{name}.expected.txt").read_text(encoding="utf-8")
    original = parsed.inquiry.metadata["original_text"]
    assert strip_quotes(original).split() == expected.split()
    assert parsed.inquiry.text == "Hello"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("erp_email_headers_no_delimiter.txt", "And another reply!"),
        ("trimmer_email_headers_1.txt", "This is a reply from Outlook!"),
        ("mpr_email_zh_2.txt", "安安：\n我这边没有别的补充了，按这个安排推进就可以。"),
        ("trimmer_embedded_email_russian_1.txt", "Why don't you override particular strings with JS?"),
        ("trimmer_embedded_email_polish_1.txt", "Oh, I've forgot to add. MIT"),
        ("mpr_multiline_on_de.txt", "Am heutigen Tage"),
    ],
)
def test_reply_bodies(name: str, expected: str) -> None:
    assert extract_new_text(_read(name)) == expected


def test_zh_signature_rule_and_gmail_zh_header() -> None:
    text = extract_new_text(_read("mpr_email_zh_1.txt"))
    assert text.startswith("安安：") and text.endswith("以上，看到后告诉我是否需要调整。")
    assert "小满" not in text and "写道" not in text


def test_interleaved_reply_keeps_answer() -> None:
    text = extract_new_text(_read("erp_email_1_2.txt"))
    assert text.startswith("Hi,\nYou can list the keys")
    assert "Abhishek Kona wrote" not in text and "What is the best way" not in text


def test_forward_is_kept() -> None:
    text = extract_new_text(_read("trimmer_forwarded_apple.txt"))
    assert "Begin forwarded message:" in text and "Lorem ipsum" in text


def test_pathological_body_is_fast() -> None:
    body = _read("erp_pathological.txt")
    started = time.perf_counter()
    for _ in range(20):
        text = extract_new_text(body)
    per_call = (time.perf_counter() - started) / 20
    assert text.endswith("get back to a computer.")
    assert per_call < 0.02, f"{per_call * 1000:.1f} ms per call"
    # Linear time: ten times the input must not cost a hundred times as much.
    big = body + "\n" + "\n".join(f"> {line}" for line in body.split("\n")) * 10
    started = time.perf_counter()
    extract_new_text(big)
    assert time.perf_counter() - started < 0.2


@pytest.mark.parametrize(
    ("name", "new", "quoted"),
    [
        ("talon_gmail.html", "Hi. I am fine.", "Hello! How are you?"),
        ("talon_thunderbird.html", "Hi. I am fine.", "Hello! How are you?"),
        ("talon_OLK_SRC_BODY_SECTION.html", "Reply", "Hi"),
    ],
)
def test_html_quote_markers(name: str, new: str, quoted: str) -> None:
    html = (BODIES / "html" / name).read_text(encoding="utf-8")
    new_text, quoted_text = split_html(html)
    assert new in new_text and quoted in quoted_text
    assert quoted not in new_text.replace(new, "")


def test_outlook_2010_html_quote_via_text_rules() -> None:
    html = (BODIES / "html" / "talon_ms_outlook_2010.html").read_text(encoding="utf-8")
    new_text, _quoted = split_html(html)
    assert extract_new_text(new_text) == "Hi. I am fine.\n\nThanks,\n\nAlex"


def test_whole_corpus_parses_fast() -> None:
    started = time.perf_counter()
    for path in FILES:
        parse_rfc822(path.read_bytes())
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, f"corpus took {elapsed:.2f} s"

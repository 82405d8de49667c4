from __future__ import annotations

import datetime as dt

import pytest

from normalizer import Inquiry
from normalizer.text import clean_text, fold_for_matching, guess_language, to_simplified


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  你好\u3000\u3000世界  ", "你好 世界"),
        ("line one\r\nline two\rline three", "line one\nline two\nline three"),
        ("a\n\n\n\n\nb", "a\n\nb"),
        ("zero\u200bwidth\u200d joiner\x00\x07", "zerowidth joiner"),
        ("tab\tand  spaces", "tab and spaces"),
        ("身份證", "身份證"),  # display text keeps traditional characters
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３", "abc123"),  # full-width forms fold to ASCII (NFKC)
        ("辦理身份證需要什麼材料？", "办理身份证需要什么材料?"),
        ("  Hello   World ", "hello world"),
        ("ﬁle", "file"),  # compatibility ligature
    ],
)
def test_fold_for_matching(raw: str, expected: str) -> None:
    assert fold_for_matching(raw) == expected


def test_to_simplified_leaves_non_chinese_alone() -> None:
    assert to_simplified("plain ascii") == "plain ascii"
    assert to_simplified("臺灣") in {"台湾", "臺湾"}  # OpenCC t2s maps 灣 at least


@pytest.mark.parametrize(("text", "lang"), [("我要办身份证", "zh"), ("How do I renew", "en"), ("12345", "zh"),
                                             ("ID card 身份证", "zh")])
def test_guess_language(text: str, lang: str) -> None:
    assert guess_language(text) == lang


def test_inquiry_requires_dedup_id_and_aware_time() -> None:
    with pytest.raises(ValueError, match="provider_message_id"):
        Inquiry(channel="webchat", sender="s", text="t", provider_message_id="", conversation_key="k")
    with pytest.raises(ValueError, match="timezone-aware"):
        Inquiry(channel="webchat", sender="s", text="t", provider_message_id="p", conversation_key="k",
                received_at=dt.datetime(2026, 1, 1))

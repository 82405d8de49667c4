"""Whole-message opt-out / opt-in / help keywords."""

from __future__ import annotations

import pytest

from normalizer.sms import classify_keyword
from normalizer.twilio import classify_keyword as reexported


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("STOP", "stop"),
        ("stop", "stop"),
        ("Stop!", "stop"),
        ("ＳＴＯＰ", "stop"),
        (" stop \n", "stop"),
        ("STOPALL", "stop"),
        ("Unsubscribe.", "stop"),
        ("cancel", "stop"),
        ("END", "stop"),
        ("quit", "stop"),
        ("OPTOUT", "stop"),
        ("revoke", "stop"),
        ("退订", "stop"),
        ("退订。", "stop"),
        ("TD", "stop"),
        ("ｔｄ", "stop"),
        ("取消订阅！", "stop"),
        ("START", "start"),
        ("unstop", "start"),
        ("Yes", "start"),
        ("订阅", "start"),
        ("HELP", "help"),
        ("help?", "help"),
        ("Info", "help"),
        ("帮助", "help"),
        ("帮助？", "help"),
        ("stop please", None),
        ("please stop", None),
        ("STOP ALL", None),
        ("stopp", None),
        ("取消", None),
        ("我要退订", None),
        ("", None),
        ("   ", None),
        ("!!!", None),
        ("1", None),
    ],
)
def test_classify_keyword(text: str, kind: str | None) -> None:
    assert classify_keyword(text) == kind


def test_twilio_module_reexports_the_same_function() -> None:
    assert reexported is classify_keyword

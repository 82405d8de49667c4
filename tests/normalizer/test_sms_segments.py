"""SMS segment counting (3GPP TS 23.038 / 23.040), fitting replies into segments, menus."""

from __future__ import annotations

import pytest

from normalizer.sms import GSM7, UCS2, SegmentInfo, count_segments, fit_to_segments, numbered_menu


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, SegmentInfo(GSM7, 1, 160, 160)),
        ("a" * 161, SegmentInfo(GSM7, 2, 161, 153)),
        ("a" * 306, SegmentInfo(GSM7, 2, 306, 153)),
        ("a" * 307, SegmentInfo(GSM7, 3, 307, 153)),
        ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", SegmentInfo(GSM7, 1, 44, 160)),
        ("^" * 80, SegmentInfo(GSM7, 1, 160, 160)),  # extension characters cost two septets
        ("{}" * 40 + "a", SegmentInfo(GSM7, 2, 161, 153)),
        ("€\\[~]|", SegmentInfo(GSM7, 1, 12, 160)),
        ("中" * 70, SegmentInfo(UCS2, 1, 70, 70)),
        ("中" * 71, SegmentInfo(UCS2, 2, 71, 67)),
        ("中" * 134, SegmentInfo(UCS2, 2, 134, 67)),
        ("中" * 135, SegmentInfo(UCS2, 3, 135, 67)),
        (
            "a" * 159 + "ç",
            SegmentInfo(UCS2, 3, 160, 67),
        ),  # ç is not GSM-7 (only Ç is): all of it becomes UCS-2
        ("😀" * 35, SegmentInfo(UCS2, 1, 70, 70)),  # an emoji is a surrogate pair: two units
        ("😀" * 36, SegmentInfo(UCS2, 2, 72, 67)),
        ("", SegmentInfo(GSM7, 1, 0, 160)),
    ],
)
def test_count_segments(text: str, expected: SegmentInfo) -> None:
    assert count_segments(text) == expected


def test_surrogate_pair_is_never_split_across_segments() -> None:
    # 134 units would be two full parts, but the emoji cannot straddle parts 1 and 2.
    assert count_segments("a" * 66 + "😀" + "a" * 66).segments == 3
    assert count_segments("a" * 65 + "😀" + "a" * 67).segments == 2


def test_escape_sequence_is_never_split_across_segments() -> None:
    assert count_segments("a" * 152 + "€" + "a" * 152).segments == 3
    assert count_segments("a" * 151 + "€" + "a" * 153).segments == 2


SENTENCES = [
    "首次申领居民身份证，需要携带居民户口簿原件和近期免冠照片。",
    "未满十六周岁的公民，由监护人陪同到户籍所在地公安派出所办理。",
    "办理时间为周一至周五上午八点半至下午五点，法定节假日除外。",
    "申领费用为二十元，符合条件的困难群众可以申请减免。",
    "证件制作完成后，可以选择到窗口领取或者邮寄到家。",
    "如需加急办理，请提前拨打咨询电话预约。",
]
LINK = "https://gw.example.cn/a/42"


def test_fit_long_chinese_text_into_three_segments_cuts_at_full_stop() -> None:
    text = "".join(SENTENCES * 2)
    assert count_segments(text).segments > 3
    fitted = fit_to_segments(text, 3, LINK)
    assert count_segments(fitted).segments <= 3
    head, sep, link = fitted.rpartition(" 详情: ")
    assert sep and link == LINK
    assert text.startswith(head) and head.endswith("。")
    # It kept as many whole sentences as fit: one more would overflow.
    next_end = text.index("。", len(head)) + 1
    assert count_segments(text[:next_end] + " 详情: " + LINK).segments > 3


def test_fit_returns_short_text_unchanged() -> None:
    assert fit_to_segments(SENTENCES[0], 1, LINK) == SENTENCES[0]


def test_fit_without_link_and_one_segment() -> None:
    fitted = fit_to_segments("".join(SENTENCES), 1)
    assert count_segments(fitted).segments == 1
    assert fitted.endswith("。") and "详情" not in fitted


def test_fit_falls_back_to_comma_then_hard_cut() -> None:
    no_stop = "，".join(["这是一个没有句号的很长的句子"] * 20)
    fitted = fit_to_segments(no_stop, 1)
    assert fitted.endswith("，") and count_segments(fitted).segments == 1
    unbroken = "字" * 200
    fitted = fit_to_segments(unbroken, 1)
    assert fitted == "字" * 69 + "…"


def test_fit_english_stays_gsm_and_hard_cut_uses_ascii_dots() -> None:
    text = "word" * 100
    fitted = fit_to_segments(text, 1, "https://x.example/1")
    assert fitted.endswith("... More: https://x.example/1")
    assert count_segments(fitted) == SegmentInfo(GSM7, 1, 160, 160)


def test_fit_english_sentences() -> None:
    text = "Bring your household register. Photos are taken on site! " * 6
    fitted = fit_to_segments(text, 1)
    assert fitted.endswith(("!", "."))
    assert len(fitted) <= 160 and text.startswith(fitted)


def test_fit_never_breaks_an_emoji_sequence() -> None:
    family = "👨\u200d👩\u200d👧"
    fitted = fit_to_segments("中" * 60 + family * 5, 1)
    body = fitted.removesuffix("…")
    assert count_segments(fitted).segments == 1
    assert not body.endswith("\u200d") and body.count("\u200d") % 2 == 0


def test_fit_drops_a_link_that_cannot_fit() -> None:
    fitted = fit_to_segments("中" * 100, 1, "https://x.example/" + "y" * 80)
    assert "https" not in fitted and count_segments(fitted).segments == 1


def test_fit_rejects_zero_segments() -> None:
    with pytest.raises(ValueError):
        fit_to_segments("x", 0)


def test_numbered_menu() -> None:
    assert (
        numbered_menu(["身份证首次申领", "身份证换领"], "zh")
        == "回复序号：\n1. 身份证首次申领\n2. 身份证换领"
    )
    assert (
        numbered_menu(["ID card\nfirst time", "Renewal"], "en")
        == "Reply with a number:\n1. ID card first time\n2. Renewal"
    )

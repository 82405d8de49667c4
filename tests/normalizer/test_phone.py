"""Phone numbers to E.164, short codes, masking."""

from __future__ import annotations

import pytest

from gateway.errors import BadInput
from normalizer.phone import is_short_code, mask_phone, to_e164


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("13812345678", "CN", "+8613812345678"),
        ("138 1234 5678", "CN", "+8613812345678"),
        ("138-1234-5678", "CN", "+8613812345678"),
        ("１３８１２３４５６７８", "CN", "+8613812345678"),  # full-width digits
        ("＋８６ １３８－１２３４－５６７８", "CN", "+8613812345678"),
        ("+86 138 1234 5678", "US", "+8613812345678"),
        ("008613812345678", "CN", "+8613812345678"),
        ("whatsapp:+8613812345678", "CN", "+8613812345678"),
        ("WhatsApp:+14158675309", "CN", "+14158675309"),
        ("tel:+1-415-867-5309", "CN", "+14158675309"),
        ("(415) 867-5309", "US", "+14158675309"),
        ("010-12345678", "CN", "+861012345678"),  # Beijing landline
    ],
)
def test_to_e164(raw: str, region: str, e164: str) -> None:
    assert to_e164(raw, region) == e164


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "+",
        "12",
        "1381234567a",
        "+86 138",
        "whatsapp:",
        "138123456789012345678",
        "+999123456",
    ],
)
def test_invalid_numbers_raise_bad_input(raw: str) -> None:
    with pytest.raises(BadInput):
        to_e164(raw)


def test_strict_and_lenient_validation() -> None:
    # Ofcom's drama range is reserved, hence invalid, but it has a possible length.
    with pytest.raises(BadInput):
        to_e164("+447700900123")
    assert to_e164("+447700900123", strict=False) == "+447700900123"


def test_error_message_does_not_echo_the_number() -> None:
    with pytest.raises(BadInput) as info:
        to_e164("+8613812345")
    assert "13812345" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "short"),
    [("10086", True), ("384387", True), ("12", False), ("+10086", False), ("123456789", False)],
)
def test_is_short_code(value: str, short: bool) -> None:
    assert is_short_code(value) is short


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+8613812345678", "+86138****5678"),
        ("whatsapp:+8613812345678", "+86138****5678"),
        ("+14158675309", "+1415***5309"),
        ("+861012345678", "+86101***5678"),
        ("10086", "***86"),
        ("", ""),
    ],
)
def test_mask_phone(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked

"""Phone numbers: normalise to E.164 and mask for logs.

E.164 (ITU-T Rec. E.164) is the one form stored and compared: ``+`` country code, national
number, no separators, at most 15 digits. Parsing and validation use the ``phonenumbers``
library (Google's libphonenumber metadata), never hand-written rules.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

from gateway.errors import BadInput

# Channel-address prefixes Twilio puts before a number ("whatsapp:+1...", "messenger:..." is not
# a phone number and is rejected). Compared case-insensitively.
_ADDRESS_PREFIXES = ("whatsapp:", "tel:", "sms:")
# Separators people and carriers write inside numbers; NFKC has already folded the full-width
# forms (＋, －, （）) into these. U+2010..U+2015 are the Unicode dashes.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015.()/]+")


def _strip_prefix(number: str) -> str:
    lowered = number.lower()
    for prefix in _ADDRESS_PREFIXES:
        if lowered.startswith(prefix):
            return number[len(prefix) :]
    return number


def to_e164(number: str, default_region: str = "CN", *, strict: bool = True) -> str:
    """Return ``number`` in E.164 form, e.g. ``"138 1234-5678"`` → ``"+8613812345678"``.

    Accepts a ``whatsapp:``/``tel:`` prefix, spaces, dashes, brackets and full-width digits
    (folded by NFKC, Unicode UAX #15). Numbers without ``+`` are read in ``default_region``
    (ISO 3166-1 alpha-2). With ``strict`` (the default) the number must be valid according to
    libphonenumber's metadata; with ``strict=False`` it must only have a possible length, which
    is what a number a carrier already delivered needs (metadata can lag behind new ranges).

    Raises :class:`~gateway.errors.BadInput` for anything that is not such a number. The message
    does not repeat the number: error messages end up in logs.
    """
    if not isinstance(number, str) or not number.strip():
        raise BadInput("phone number is empty")
    text = unicodedata.normalize("NFKC", number).strip()
    text = _SEPARATORS.sub("", _strip_prefix(text))
    if text.startswith("00"):
        # International call prefix used in China and most of Europe ("0086...").
        text = "+" + text[2:]
    if not re.fullmatch(r"\+?\d{3,17}", text):
        raise BadInput("phone number must contain only digits, optionally after '+'")
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise BadInput(f"not a phone number ({exc.error_type!r})") from exc
    ok = phonenumbers.is_valid_number(parsed) if strict else phonenumbers.is_possible_number(parsed)
    if not ok:
        raise BadInput("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_short_code(value: str) -> bool:
    """True for carrier short codes such as ``"10086"`` or ``"384387"`` (3 to 8 digits, no ``+``)."""
    return bool(re.fullmatch(r"\d{3,8}", value.strip()))


def mask_phone(e164: str) -> str:
    """Mask a number for logs: ``"+8613812345678"`` → ``"+86138****5678"``.

    Keeps the country code, the first three national digits (operator/area prefix, useful when
    debugging routing) and the last four; everything between becomes ``*``. Short or unparsable
    values keep at most their last two characters, so the result never reveals a whole number.
    """
    value = _strip_prefix(e164.strip())
    try:
        parsed = phonenumbers.parse(value, None)
        national = phonenumbers.national_significant_number(parsed)
        country = str(parsed.country_code)
    except phonenumbers.NumberParseException:
        national, country = "", ""
    if country and len(national) >= 9:
        hidden = len(national) - 7
        return f"+{country}{national[:3]}{'*' * hidden}{national[-4:]}"
    if country and len(national) >= 4:
        return f"+{country}{'*' * (len(national) - 2)}{national[-2:]}"
    if len(value) <= 2:
        return "*" * len(value)
    return "*" * (len(value) - 2) + value[-2:]

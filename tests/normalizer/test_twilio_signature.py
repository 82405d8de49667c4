"""X-Twilio-Signature: the 44 SDK vectors of the corpus, and a cross-check with the twilio SDK."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from twilio.request_validator import RequestValidator

from normalizer.twilio import compute_signature, validate_signature

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
NO_CORPUS = "../shared/corpus not found (CI always has it beside the clone)"
VECTOR_DIR = CORPUS / "twilio" / "signature_vectors"


def _vectors(keep: Any = lambda vector: True) -> list[Any]:
    """The corpus vectors ``keep`` selects, as parameters (one skipped placeholder without the corpus)."""
    files = sorted(VECTOR_DIR.glob("*.json"))
    if not files:
        return [pytest.param(None, id="no-corpus", marks=pytest.mark.skip(reason=NO_CORPUS))]
    vectors = [(f.stem, json.loads(f.read_text("utf-8"))) for f in files]
    return [pytest.param(v, id=stem, marks=pytest.mark.corpus) for stem, v in vectors if keep(v)]


def _is_valid(vector: dict[str, Any]) -> bool:
    return bool(vector["expected_valid"])


def _sdk_can_express(vector: dict[str, Any]) -> bool:
    # The SDK's plain-dict API cannot take repeated (list) or null values.
    return all(value is not None and not isinstance(value, list) for value in vector["params"].values())


def _body(vector: dict[str, Any]) -> bytes | None:
    # Form bodies are already decoded into "params"; only JSON bodies are passed raw.
    if vector.get("content_type") == "application/json":
        return vector["raw_body"].encode("utf-8")
    return None


@pytest.mark.corpus
def test_all_44_vectors_are_present() -> None:
    if not VECTOR_DIR.is_dir():
        pytest.skip(NO_CORPUS)
    assert len(list(VECTOR_DIR.glob("*.json"))) == 44


@pytest.mark.parametrize("vector", _vectors())
def test_corpus_vector(vector: dict[str, Any]) -> None:
    got = validate_signature(
        vector["auth_token"], vector["url"], vector["params"], vector["expected_signature"], _body(vector)
    )
    assert got is vector["expected_valid"], vector["description"]


@pytest.mark.parametrize("vector", _vectors(_is_valid))
def test_corpus_signed_url_reproduces_signature(vector: dict[str, Any]) -> None:
    """compute_signature over the exact signed string gives the header value (valid vectors)."""
    params = {} if _body(vector) is not None else vector["params"]
    assert (
        compute_signature(vector["auth_token"], vector["signed_url"], params) == vector["expected_signature"]
    )


@pytest.mark.parametrize("vector", _vectors(_is_valid))
def test_corpus_tampered_param_or_token_is_rejected(vector: dict[str, Any]) -> None:
    args = (vector["url"], vector["params"], vector["expected_signature"], _body(vector))
    assert not validate_signature(vector["auth_token"] + "x", *args)
    if _body(vector) is None:
        tampered = dict(vector["params"], Injected="1")
        assert not validate_signature(vector["auth_token"], vector["url"], tampered, *args[2:])
    else:
        assert not validate_signature(vector["auth_token"], *args[:3], _body(vector) + b" ")


# ----------------------------------------------------------------------------- rules in isolation

TOKEN = "12345"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


def test_documented_example() -> None:
    # Twilio's "Webhooks security" page example.
    assert compute_signature(TOKEN, "https://mycompany.com/myapp.php?foo=1&bar=2", PARAMS) == (
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


def test_repeated_values_sorted_and_deduplicated_and_none_is_empty() -> None:
    url = "https://example.com/hook"
    assert compute_signature(TOKEN, url, {"A": ["2", "1", "2"]}) == compute_signature(TOKEN, url + "A1A2", {})
    assert compute_signature(TOKEN, url, {"A": None, "B": ""}) == compute_signature(TOKEN, url + "AB", {})


@pytest.mark.parametrize(
    ("given", "signed"),
    [
        ("https://h.example/p", "https://h.example:443/p"),
        ("http://h.example/p", "http://h.example:80/p"),
        ("https://h.example:8443/p?x=1", "https://h.example/p?x=1"),
        ("https://u:p@h.example/p", "https://u:p@h.example:443/p"),
        ("https://u:p@h.example:9/p", "https://u:p@h.example/p"),
        ("https://[2001:db8::1]:8443/p", "https://[2001:db8::1]/p"),
    ],
)
def test_port_variants_accepted(given: str, signed: str) -> None:
    assert validate_signature(TOKEN, given, PARAMS, compute_signature(TOKEN, signed, PARAMS))


@pytest.mark.parametrize(
    "signed",
    [
        "https://H.example/p",
        "https://h.example/P",
        "http://h.example/p",
        "https://h.example:444/p",
        "https://x@h.example/p",
    ],
)
def test_other_urls_rejected(signed: str) -> None:
    assert not validate_signature(
        TOKEN, "https://h.example/p", PARAMS, compute_signature(TOKEN, signed, PARAMS)
    )


def test_json_body_rules() -> None:
    body = b'{"a": 1}'
    url = "https://h.example/p?bodySHA256=" + hashlib.sha256(body).hexdigest()
    signature = compute_signature(TOKEN, url, {})
    assert validate_signature(TOKEN, url, {}, signature, body)
    assert validate_signature(TOKEN, url, {"ignored": "x"}, signature, body)  # params are not signed then
    assert not validate_signature(TOKEN, url, {}, signature, b'{"a": 2}')
    assert not validate_signature(
        TOKEN, "https://h.example/p", {}, compute_signature(TOKEN, "https://h.example/p", {}), body
    )


@pytest.mark.parametrize("signature", ["", "   ", "RSOYDt4T1cUTdK1PDd93/VVr8B8", "ümlaut"])
def test_garbage_signatures_rejected(signature: str) -> None:
    assert not validate_signature(TOKEN, "https://mycompany.com/myapp.php?foo=1&bar=2", PARAMS, signature)


def test_multidict_forms_keep_repeated_values() -> None:
    from starlette.datastructures import FormData

    form = FormData([("MediaUrl", "b"), ("MediaUrl", "a"), ("Body", "x")])
    url = "https://h.example/p"
    expected = compute_signature(TOKEN, url, {"MediaUrl": ["a", "b"], "Body": "x"})
    assert compute_signature(TOKEN, url, form) == expected
    assert validate_signature(TOKEN, url, form, expected)


def test_empty_token_never_validates() -> None:
    assert not validate_signature(
        "", "https://h.example/p", {}, compute_signature("", "https://h.example/p", {})
    )


# ----------------------------------------------------------------------------- the twilio SDK


class _QueryDict(dict):  # type: ignore[type-arg]
    """Multi-valued form the SDK understands (Django's QueryDict API)."""

    def getlist(self, key: str) -> list[str]:
        return list(self[key])


SDK_CASES = [
    ("https://gw.example.cn/channels/twilio/sms", {"From": "+8613812345678", "Body": "你好，身份证怎么办？"}),
    ("https://gw.example.cn:8443/channels/twilio/sms?x=1", {"Body": "a&b=c", "MediaUrl0": "https://x/y?z=1"}),
    ("http://127.0.0.1:8080/channels/twilio/status", {"MessageSid": "SM1", "MessageStatus": "delivered"}),
    (
        "https://gw.example.cn/hook",
        {"Reason": "a", "ReasonConferenceEnded": "b", "callSid": "c", "CALLSID": "d"},
    ),
    ("https://gw.example.cn/hook", {}),
]


@pytest.mark.parametrize(("url", "params"), SDK_CASES)
def test_sdk_signs_we_validate_and_vice_versa(url: str, params: dict[str, str]) -> None:
    sdk = RequestValidator("sdk-token")
    assert validate_signature("sdk-token", url, params, sdk.compute_signature(url, params))
    ours = compute_signature("sdk-token", url, params)
    assert ours == sdk.compute_signature(url, params)
    assert sdk.validate(url, params, ours)
    assert not sdk.validate(url, dict(params, Extra="1"), ours)


def test_sdk_agrees_on_repeated_keys() -> None:
    raw = "Digits=5678&Digits=1234&Digits=1234&Sid=CA1"
    params = _QueryDict(parse_qs(raw))
    url = "https://gw.example.cn/hook"
    assert compute_signature("t", url, params) == RequestValidator("t").compute_signature(url, params)


def test_sdk_agrees_on_json_bodies() -> None:
    body = '{"event": "x", "中文": true}'
    url = "https://gw.example.cn/hook?bodySHA256=" + hashlib.sha256(body.encode()).hexdigest()
    signature = RequestValidator("t").compute_signature(url, {})
    assert validate_signature("t", url, {}, signature, body.encode())
    assert RequestValidator("t").validate(url, body, compute_signature("t", url, {}))


@pytest.mark.parametrize("vector", _vectors(_sdk_can_express))
def test_sdk_verdicts_match_ours_except_documented_differences(vector: dict[str, Any]) -> None:
    """Where the Python SDK disagrees with the corpus, we follow the corpus (gaps listed below)."""
    body = _body(vector)
    params = dict(vector["params"])
    ours = validate_signature(vector["auth_token"], vector["url"], params, vector["expected_signature"], body)
    known_sdk_gaps = {
        "09_json_body_missing_bodySHA256_rejected",  # the SDK raises TypeError on an unsigned body
        "15_query_with_apostrophe",  # only twilio-node normalises the URL (WHATWG)
        "25_uppercase_scheme",  # the SDK's urlparse lower-cases "HTTP://" before signing
    }
    if vector["id"] in known_sdk_gaps:
        assert ours is vector["expected_valid"]
        return
    sdk_params: Any = body.decode() if body is not None else params
    sdk = RequestValidator(vector["auth_token"]).validate(
        vector["url"], sdk_params, vector["expected_signature"]
    )
    assert ours is sdk

"""X-Twilio-Signature: computing and checking it (Twilio docs, "Webhooks security")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from urllib.parse import parse_qs, quote

from normalizer.twilio.forms import FormValue


def compute_signature(auth_token: str, url: str, params: Mapping[str, FormValue]) -> str:
    """``X-Twilio-Signature`` for ``url`` and the decoded POST ``params``.

    base64(HMAC-SHA1(auth_token, url + key1 + value1 + key2 + value2 ...)) with keys sorted by
    code point (= UTF-8 byte order: ``CALLSID`` < ``CallSid`` < ``callSid``), and the values of a
    repeated key sorted and de-duplicated. ``None`` counts as the empty string. Multi-dicts with
    ``getlist`` (Starlette's FormData, Django's QueryDict) give all values of a repeated key.
    """
    getlist = getattr(params, "getlist", None)
    parts = [url]
    for key in sorted(set(params)):
        value = getlist(key) if callable(getlist) else params[key]
        values = [value] if value is None or isinstance(value, str) else list(value)
        for item in sorted({"" if v is None else str(v) for v in values}):
            parts.append(key + item)
    mac = hmac.new(auth_token.encode("utf-8"), "".join(parts).encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)(://)([^/?#]*)(.*)$", re.DOTALL)
_HOSTPORT = re.compile(r"^(\[[^\]]*\]|[^:]*)(?::(\d*))?$")
_DEFAULT_PORTS = {"https": "443", "http": "80"}


def _port_variants(url: str) -> list[str]:
    """``url`` as given, without its port, and with the scheme's default port added.

    Twilio signs whatever URL it was configured with, and a proxy may add or drop the port;
    the official SDKs therefore accept both forms. Host case, the scheme's case and userinfo
    stay verbatim: they are part of the signed string (corpus vectors 21-26, 40).
    """
    variants = [url]
    match = _URL.match(url)
    if not match:
        return variants
    scheme, sep, authority, rest = match.groups()
    userinfo, at, hostport = authority.rpartition("@")
    hp = _HOSTPORT.match(hostport)
    if not hp:
        return variants
    host, port = hp.group(1), hp.group(2)
    if port is not None:
        variants.append(f"{scheme}{sep}{userinfo}{at}{host}{rest}")
    elif scheme.lower() in _DEFAULT_PORTS:
        variants.append(f"{scheme}{sep}{userinfo}{at}{host}:{_DEFAULT_PORTS[scheme.lower()]}{rest}")
    return variants


def _whatwg_form(url: str) -> str:
    """The URL as a WHATWG URL parser serialises path and query (twilio-node does this).

    Only percent-encoding is applied (the path and special-query percent-encode sets, non-ASCII
    as UTF-8); existing %XX escapes are kept. Corpus vector 15: ``It's`` is signed as ``It%27s``.
    """
    match = _URL.match(url)
    if not match:
        return url
    head = "".join(match.groups()[:3])
    rest, hash_, fragment = match.group(4).partition("#")
    path, qmark, query = rest.partition("?")
    path = quote(path, safe="/%!$&'()*+,;=:@[]|^~-._")
    query = quote(query, safe="/%!$&()*+,;=:@[]|^~-._?{}`\\")
    return head + path + qmark + query + hash_ + fragment


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(url.partition("#")[0].partition("?")[2], keep_blank_values=True)


def validate_signature(
    auth_token: str,
    url: str,
    params: Mapping[str, FormValue],
    signature: str,
    body: bytes | str | None = None,
) -> bool:
    """True when ``signature`` (the ``X-Twilio-Signature`` header) proves Twilio sent this request.

    url: the full URL Twilio requested, exactly as configured in Twilio (use the public URL, not
        the one a reverse proxy rewrote).
    params: the decoded form fields for ``application/x-www-form-urlencoded`` requests.
    body: pass the raw body only for non-form (JSON) requests: then the URL must carry
        ``bodySHA256`` = hex SHA-256 of the body, ``params`` are ignored and only the URL is signed.

    Accepted URL forms: as given, without the port, with the default port (as all Twilio SDKs do),
    and each again in WHATWG-serialised form (as twilio-node does; corpus vector 15). Every
    comparison is constant-time (``hmac.compare_digest``) and all candidates are always tried.
    """
    if not auth_token or not signature:
        return False
    body_ok = True
    if body is not None:
        declared = _query(url).get("bodySHA256")
        if not declared:
            return False  # a body nobody signed (corpus vector 09)
        raw = body.encode("utf-8") if isinstance(body, str) else body
        body_ok = hmac.compare_digest(hashlib.sha256(raw).hexdigest().encode(), declared[0].lower().encode())
        params = {}
    candidates = dict.fromkeys(_port_variants(url) + _port_variants(_whatwg_form(url)))
    expected = signature.strip().encode("utf-8", "replace")
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(compute_signature(auth_token, candidate, params).encode(), expected)
    return matched and body_ok

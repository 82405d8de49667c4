"""Reading a Twilio webhook request: size cap, form decoding and the ``X-Twilio-Signature`` check.

Twilio signs the URL *it* requested (the one configured on the number) plus the sorted POST
parameters ("Webhooks security", HMAC-SHA1 with the auth token). Behind a reverse proxy the
request the gateway sees has another scheme, host or port, so the URL is rebuilt from
``GATEWAY_PUBLIC_URL`` plus the path and query exactly as received (``raw_path``, undecoded),
never from the ``Host`` header, which a client controls.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import HTTPException, Request

from normalizer.twilio import validate_signature

# Twilio's largest webhook (an MMS with ten media and geography fields) is a few KiB.
MAX_FORM_BYTES = 64 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


def public_request_url(public_url: str, request: Request) -> str:
    """The URL Twilio requested: ``public_url`` + the raw path + ``?query`` (if any)."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    url = public_url.rstrip("/") + raw_path.decode("latin-1")
    return url + ("?" + query.decode("latin-1") if query else "")


async def read_signed_form(request: Request, public_url: str, auth_token: str) -> dict[str, list[str]]:
    """The decoded form of a genuine Twilio request.

    Raises HTTPException 413 (too large), 415 (not a form), 400 (undecodable) or 403 (bad or
    missing signature); nothing is stored in any of those cases.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise HTTPException(413, "request too large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "request too large")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    signature = request.headers.get("x-twilio-signature", "")
    if content_type != FORM_TYPE:
        # Twilio's JSON webhooks sign only the URL, which carries bodySHA256 of the body.
        if not validate_signature(auth_token, public_request_url(public_url, request), {}, signature, body):
            raise HTTPException(403, "invalid Twilio signature")
        raise HTTPException(415, "expected an application/x-www-form-urlencoded body")
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise HTTPException(400, "form body is not UTF-8") from exc
    if not validate_signature(auth_token, public_request_url(public_url, request), form, signature):
        raise HTTPException(403, "invalid Twilio signature")
    return form


def first(form: dict[str, list[str]], key: str) -> str:
    """The first value of ``key`` in ``form`` ("" when absent)."""
    values = form.get(key)
    return values[0] if values else ""

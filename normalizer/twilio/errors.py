"""Twilio REST API errors (https://www.twilio.com/docs/errors), classified once for the outbox."""

from __future__ import annotations

from collections.abc import Mapping

# Codes from https://www.twilio.com/docs/errors. Reasons are ours: Twilio's messages often
# quote the phone number, which must not reach logs.
PERMANENT_CODES = {
    "20003": "authentication failed (check account SID and auth token)",
    "20404": "resource not found",
    "21211": "invalid 'To' phone number",
    "21408": "permission to send to this region is not enabled",
    "21602": "message body is required",
    "21603": "a 'From' number or messaging service is required",
    "21604": "a 'To' number is required",
    "21606": "the 'From' number cannot send SMS",
    "21608": "trial accounts may only send to verified numbers",
    "21610": "recipient unsubscribed (replied STOP)",
    "21612": "the 'To' number cannot be reached from the 'From' number",
    "21614": "the 'To' number is not a mobile number",
    "21617": "message body exceeds 1600 characters",
    "30003": "handset unreachable",
    "30004": "message blocked",
    "30005": "unknown or inactive destination",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier",
    "30008": "unknown delivery error",
}
RETRYABLE_CODES = {
    "20429": "too many requests",
    "30001": "queue overflow",
    "30022": "carrier rate limit exceeded (US A2P 10DLC)",
    "63018": "channel rate limit exceeded",
}


def classify_twilio_error(
    http_status: int, body: Mapping[str, object] | None
) -> tuple[bool, str | None, str]:
    """Decide ``(retryable, code, reason)`` for an error answer of Twilio's REST API.

    Twilio error bodies are ``{"code": 21211, "message": ..., "more_info": ..., "status": 400}``.
    Rate limits (429, code 20429) and server errors (5xx) are retryable; known permanent codes
    and every other 4xx are not. Network errors never reach here: the caller classifies them.
    """
    raw_code = body.get("code") if isinstance(body, Mapping) else None
    code = str(raw_code) if raw_code not in (None, "") else None
    if code in RETRYABLE_CODES:
        return True, code, RETRYABLE_CODES[code]
    if http_status == 429:
        return True, code or "20429", "too many requests"
    if http_status >= 500:
        return True, code, f"Twilio server error (HTTP {http_status})"
    if code in PERMANENT_CODES:
        return False, code, PERMANENT_CODES[code]
    return False, code, f"request rejected by Twilio (HTTP {http_status})"

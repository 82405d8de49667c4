"""Twilio's wire formats, sans-IO: webhook signatures, inbound forms, status callbacks, errors, TwiML.

Sources (Twilio's documentation is the spec): "Webhooks security" (X-Twilio-Signature),
"Messaging webhooks" (inbound parameters), "Outbound message status in status callbacks",
the REST API error dictionary (https://www.twilio.com/docs/errors) and the TwiML reference.
Nothing here does I/O; ``channels/twilio`` moves the bytes.
"""

from __future__ import annotations

from normalizer.sms import classify_keyword
from normalizer.twilio.errors import classify_twilio_error
from normalizer.twilio.forms import StatusUpdate, parse_status_callback, parse_twilio_form
from normalizer.twilio.signature import compute_signature, validate_signature
from normalizer.twilio.twiml import (
    empty_messaging_response,
    messaging_response,
    voice_gather,
    voice_record,
    voice_say_hangup,
    voice_say_then_gather,
)

__all__ = [
    "StatusUpdate",
    "classify_keyword",
    "classify_twilio_error",
    "compute_signature",
    "empty_messaging_response",
    "messaging_response",
    "parse_status_callback",
    "parse_twilio_form",
    "validate_signature",
    "voice_gather",
    "voice_record",
    "voice_say_hangup",
    "voice_say_then_gather",
]

"""SMS and voice through Twilio: webhooks at ``/channels/twilio/*``, replies via the REST API."""

from channels.twilio.channel import SmsChannel

CHANNEL = SmsChannel
MANIFEST = SmsChannel.MANIFEST

__all__ = ["CHANNEL", "MANIFEST", "SmsChannel"]

"""Web chat: the citizen page at ``/chat`` and its socket at ``/channels/webchat/ws``."""

from channels.webchat.channel import WebchatChannel

CHANNEL = WebchatChannel
MANIFEST = WebchatChannel.MANIFEST

__all__ = ["CHANNEL", "MANIFEST", "WebchatChannel"]

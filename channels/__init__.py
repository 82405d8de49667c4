"""Channels: one package per channel, the plugin contract (``base``) and the registry."""

"""Sunshine Gateway runtime: settings, CLI, serving, storage, pipeline and outbox."""

__version__ = "0.1.0"

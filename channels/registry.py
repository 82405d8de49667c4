"""Built-in channels and loading of third-party ones.

Adding a built-in channel touches one line of :data:`BUILTIN_CHANNELS`. A third-party channel is
named in the ``[channels] plugins`` setting by dotted path, ``package.module:ClassName``.
"""

from __future__ import annotations

import importlib

from channels.base import Channel
from gateway.errors import ConfigError

BUILTIN_CHANNELS: dict[str, str] = {
    "webchat": "channels.webchat:WebchatChannel",
    "email": "channels.email:EmailChannel",
    "sms": "channels.twilio:SmsChannel",
}


def load_channel_class(dotted_path: str, *, setting: str = "channels_plugins") -> type[Channel]:
    """Import ``module:Class`` (or ``module.Class``) and check it implements the contract."""
    module_name, sep, attribute = dotted_path.partition(":")
    if not sep:
        module_name, _, attribute = dotted_path.rpartition(".")
    if not module_name or not attribute:
        raise ConfigError(setting, f"{dotted_path!r} is not a dotted path like 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(setting, f"cannot import {module_name!r}: {exc}") from exc
    cls = getattr(module, attribute, None)
    if not (isinstance(cls, type) and issubclass(cls, Channel)):
        raise ConfigError(setting, f"{dotted_path!r} is not a subclass of channels.base.Channel")
    if not hasattr(cls, "MANIFEST"):
        raise ConfigError(setting, f"{dotted_path!r} has no MANIFEST")
    return cls


def enabled_channel_classes(enabled: list[str], plugins: list[str]) -> list[type[Channel]]:
    """The classes of the built-in channels named in ``enabled`` followed by the plugins."""
    classes: list[type[Channel]] = []
    for name in enabled:
        if name not in BUILTIN_CHANNELS:
            raise ConfigError(
                "channels_enabled", f"unknown channel {name!r}; built-in: {sorted(BUILTIN_CHANNELS)}"
            )
        classes.append(load_channel_class(BUILTIN_CHANNELS[name], setting="channels_enabled"))
    classes.extend(load_channel_class(path) for path in plugins)
    names = [cls.MANIFEST.name for cls in classes]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigError("channels_plugins", f"two channels named {sorted(duplicates)}")
    return classes

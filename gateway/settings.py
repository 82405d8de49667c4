"""Settings: ``config/gateway.toml`` (or ``--config``/``GATEWAY_CONFIG``), overridden by ``GATEWAY_*``.

The TOML file groups keys in tables; a key's full name is ``<table>_<key>`` and its environment
variable is ``GATEWAY_<TABLE>_<KEY>``: ``[http] port = 8080`` is ``http_port``, overridden by
``GATEWAY_HTTP_PORT``. Precedence, highest first: explicit arguments, environment, the TOML
file, the defaults below. A wrong value stops start-up with a :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from gateway.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = REPO_ROOT / "config" / "gateway.toml"

CommaList = Annotated[list[str], NoDecode]


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def read_config_file(path: Path) -> dict[str, Any]:
    """Return the TOML file's settings flattened to ``table_key`` names; unknown keys are errors."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
    flat = _flatten(data)
    unknown = sorted(set(flat) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(unknown[0], f"unknown setting in {path}")
    return flat


class _ValuesSource(PydanticBaseSettingsSource):
    """A settings source holding values read earlier (the TOML file's)."""

    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


class Settings(BaseSettings):
    """Every setting of the gateway. ``config/gateway.toml`` documents each one."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="forbid", validate_default=True)

    # Values read from the TOML file by load_settings (the lowest-precedence source).
    file_values: ClassVar[dict[str, Any]] = {}

    # [database]
    database_url: str = "sqlite+aiosqlite:///./var/gateway.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # [http]
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    # [public]
    public_url: str = "http://127.0.0.1:8080"
    # [smtp] inbound listener
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=0, le=65535)
    smtp_relay_url: str | None = None
    # [smtp] limits and TLS of the e-mail channel's listener (channels/email)
    smtp_max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    smtp_max_recipients: int = Field(default=20, ge=1, le=1000)
    smtp_max_connections: int = Field(default=100, ge=1)
    smtp_idle_timeout_seconds: float = Field(default=60.0, gt=0)
    smtp_tls_cert: str | None = None
    smtp_tls_key: str | None = None
    smtp_relay_timeout_seconds: float = Field(default=30.0, gt=0)
    # [mail]
    mail_domains: CommaList = ["gateway.localhost"]
    mail_from: str = "service@gateway.localhost"
    # [mail] e-mail channel (channels/email)
    mail_max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    mail_auto_answers_per_sender: int = Field(default=10, ge=1)
    mail_auto_answer_window_seconds: float = Field(default=3600.0, gt=0)
    mail_dkim_key_path: str | None = None
    mail_dkim_selector: str | None = None
    # [imap]
    imap_url: CommaList = []
    # [imap] mailbox polling of the e-mail channel (channels/email)
    imap_move_to: str | None = None
    imap_poll_seconds: float = Field(default=60.0, gt=0)
    imap_backoff_max_seconds: float = Field(default=300.0, gt=0)
    imap_timeout_seconds: float = Field(default=30.0, gt=0)
    # [twilio]
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    # [twilio] SMS/voice channel (channels/twilio)
    twilio_default_region: str = "CN"
    twilio_max_segments: int = Field(default=3, ge=1, le=10)
    twilio_media_max_bytes: int = Field(default=5_000_000, ge=0)
    twilio_media_types: CommaList = [
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "application/pdf",
        "audio/amr",
        "audio/mpeg",
        "audio/wav",
    ]
    twilio_rate_limit_per_hour: int = Field(default=30, ge=1)
    twilio_loop_repeats: int = Field(default=3, ge=2)
    twilio_loop_window_seconds: float = Field(default=600.0, gt=0)
    twilio_request_timeout_seconds: float = Field(default=10.0, gt=0)
    twilio_stop_text: str = "您已退订本平台短信，回复“订阅”或START可恢复。"
    twilio_start_text: str = "您已恢复订阅，可直接发送您的问题。"
    twilio_help_text: str = "阳光政务咨询平台：直接发送您的问题即可获得答复；回复“退订”或STOP退订。"
    twilio_voice_language: str = "zh-CN"
    twilio_voice_answer_seconds: float = Field(default=8.0, gt=0, le=14)
    # [fax]
    fax_senders: CommaList = []
    fax_outbound: str | None = None
    # [channels]
    channels_enabled: CommaList = ["webchat", "email", "sms"]
    channels_plugins: CommaList = []
    # [kb]
    kb_import_on_start: CommaList = []
    # [responder]
    responder_queue_reply_hours: int = Field(default=24, ge=1)
    # [outbox]
    outbox_max_attempts: int = Field(default=8, ge=1, le=100)
    outbox_backoff_base_seconds: float = Field(default=2.0, gt=0)
    outbox_backoff_max_seconds: float = Field(default=900.0, gt=0)
    outbox_lease_seconds: float = Field(default=120.0, gt=0)
    outbox_concurrency: int = Field(default=8, ge=1, le=256)
    # [webchat]
    webchat_max_frame_bytes: int = Field(default=16384, ge=256)
    webchat_max_text_chars: int = Field(default=2000, ge=1)
    webchat_messages_per_minute: int = Field(default=30, ge=1)
    webchat_history_limit: int = Field(default=100, ge=1)
    # [auth]
    auth_token_hours: int = Field(default=12, ge=1)
    # [log]
    log_level: str = "INFO"
    # [serve]
    serve_drain_seconds: float = Field(default=10.0, ge=0)

    @field_validator(
        "mail_domains",
        "imap_url",
        "fax_senders",
        "twilio_media_types",
        "channels_enabled",
        "channels_plugins",
        "kb_import_on_start",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("public_url", "twilio_api_base")
    @classmethod
    def _check_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ValuesSource(settings_cls, cls.file_values))


def load_settings(config_path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from the TOML file, the environment and ``overrides``.

    ``config_path`` defaults to ``GATEWAY_CONFIG``, then ``config/gateway.toml`` of this checkout.
    Raises :class:`ConfigError` naming the first wrong key.
    """
    path = config_path or os.environ.get("GATEWAY_CONFIG")
    if path is not None and not Path(path).exists():
        raise ConfigError("config", f"file not found: {path}")
    file_path = Path(path) if path else DEFAULT_CONFIG_PATH
    file_values = read_config_file(file_path) if file_path.exists() else {}
    # A subclass carries this call's file values into settings_customise_sources, keeping
    # the precedence arguments > environment > file without any module-level state.
    loaded_cls = type("LoadedSettings", (Settings,), {"file_values": file_values})
    try:
        return loaded_cls(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "settings"
        raise ConfigError(
            f"{key} (GATEWAY_{key.upper()})", f"{error['msg']} (got {error.get('input')!r})"
        ) from None

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.settings import DEFAULT_CONFIG_PATH, Settings, load_settings, read_config_file


def test_documented_file_names_only_known_keys_and_matches_defaults() -> None:
    values = read_config_file(DEFAULT_CONFIG_PATH)
    defaults = Settings()
    for key, value in values.items():
        assert getattr(defaults, key) == value, key


def test_every_setting_is_documented_in_the_config_file() -> None:
    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    for key in Settings.model_fields:
        table, _, name = key.partition("_")
        section = re.search(rf"^\[{table}\]\n(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
        assert section is not None, f"no [{table}] table for {key}"
        # an optional key may be documented commented out
        assert re.search(rf"^(# )?{name} =", section.group(1), re.MULTILINE), f"{key} not documented"


def test_environment_overrides_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "g.toml"
    config.write_text('[http]\nport = 9000\n[mail]\ndomains = ["a.example"]\n')
    assert load_settings(config).http_port == 9000
    monkeypatch.setenv("GATEWAY_HTTP_PORT", "9100")
    monkeypatch.setenv("GATEWAY_MAIL_DOMAINS", "b.example, c.example")
    settings = load_settings(config)
    assert settings.http_port == 9100
    assert settings.mail_domains == ["b.example", "c.example"]


@pytest.mark.parametrize(
    ("env", "value", "key"),
    [
        ("GATEWAY_HTTP_PORT", "eighty", "http_port"),
        ("GATEWAY_DATABASE_URL", "mysql://x", "database_url"),
        ("GATEWAY_PUBLIC_URL", "not a url", "public_url"),
        ("GATEWAY_OUTBOX_MAX_ATTEMPTS", "0", "outbox_max_attempts"),
    ],
)
def test_wrong_value_names_the_key(monkeypatch: pytest.MonkeyPatch, env: str, value: str, key: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert key in str(error.value) and env in str(error.value)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "g.toml"
    config.write_text("[http]\nprot = 1\n")
    with pytest.raises(ConfigError, match="http_prot"):
        load_settings(config)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml")

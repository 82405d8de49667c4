"""The ``gateway`` command as INTERFACE.md specifies it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from tests.support.paths import DEMO_KB, REPO


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    database = tmp_path / "cli.db"
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    return database


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_kb_import_export_round_trip_changes_nothing(env: Path, capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    assert run(capsys, "kb", "import", *map(str, DEMO_KB))[0] == 0
    for fmt in ("yaml", "json", "csv"):
        code, exported, _ = run(capsys, "kb", "export", "--format", fmt)
        assert code == 0
        if fmt == "csv":
            # CSV carries both record types only with a record_type column; the round trip must hold.
            assert "record_type" in exported.splitlines()[0]
        path = tmp_path / f"kb.{fmt}"
        path.write_text(exported, encoding="utf-8")
        assert run(capsys, "kb", "import", str(path))[0] == 0
        assert run(capsys, "kb", "export", "--format", fmt)[1] == exported
    data = yaml.safe_load(run(capsys, "kb", "export")[1])
    assert len(data["departments"]) >= 8 and len(data["entries"]) >= 30


def test_invalid_file_imports_nothing_and_names_file_record_field(env: Path, capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"entries": [{"id": "ok-entry", "kind": "faq", "title": "好", "answer": "好"}]},
                                   allow_unicode=True))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"entries": [
        {"id": "fine", "kind": "faq", "title": "t", "answer": "a"},
        {"id": "broken", "kind": "rumour", "title": "t", "answer": "a"},
    ]}, allow_unicode=True))
    code, _, err = run(capsys, "kb", "import", str(good), str(bad))
    assert code != 0
    assert "bad.yaml" in err and "entries[1]" in err and "broken" in err and "kind" in err
    assert yaml.safe_load(run(capsys, "kb", "export")[1]) in (None, {}, {"departments": [], "entries": []})


def test_ask_json_lines(env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_KB_IMPORT_ON_START", ",".join(map(str, DEMO_KB)))
    code, out, _ = run(capsys, "ask", "--json", "第一次办身份证需要什么材料")
    assert code == 0
    answer = json.loads(out)
    assert set(answer) == {"decision", "id", "kind", "score", "options", "reply"}
    assert answer["decision"] == "answer" and answer["kind"] == "service" and answer["id"]
    code, out, _ = run(capsys, "ask", "--json", "zxqv blorp")
    assert json.loads(out)["decision"] == "queue" and json.loads(out)["id"] is None


def test_ask_reads_one_question_a_line_from_stdin(env: Path, tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: PLW1510 - the exit code is asserted below
        [sys.executable, "-m", "gateway", "ask", "--json"], cwd=REPO, capture_output=True, text=True, timeout=120,
        input="社保卡丢了怎么办\nHow do I apply for a residence permit?\n",
        env={**_environ(), "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
             "GATEWAY_KB_IMPORT_ON_START": ",".join(map(str, DEMO_KB))},
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["decision"] for line in lines] == ["answer", "answer"]


def test_user_add_prints_password_once_and_refuses_duplicates(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "user", "add", "olga", "--role", "operator")
    assert code == 0 and "password" in out
    code, _, err = run(capsys, "user", "add", "olga", "--role", "operator")
    assert code == 1 and "already exists" in err
    code, _, err = run(capsys, "user", "add", "dora", "--role", "department")
    assert code == 1 and "--department" in err


def test_migrate_and_config_errors(env: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(capsys, "migrate")[0] == 0
    monkeypatch.setenv("GATEWAY_HTTP_PORT", "-1")
    code, _, err = run(capsys, "migrate")
    assert code == 2 and "GATEWAY_HTTP_PORT" in err


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)

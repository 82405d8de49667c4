"""The ``gateway`` command (also ``python -m gateway``); see INTERFACE.md "Commands"."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gateway import logsafe
from gateway.errors import BadInput, ConfigError
from gateway.settings import Settings, load_settings

if TYPE_CHECKING:
    from gateway.serve import Listening

log = logging.getLogger("gateway")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Sunshine Gateway")
    parser.add_argument(
        "--config", help="TOML settings file (default: GATEWAY_CONFIG or config/gateway.toml)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("serve", help="run the gateway (applies migrations first)")
    commands.add_parser("migrate", help="apply database migrations and exit")

    kb = commands.add_parser("kb", help="knowledge-base files").add_subparsers(
        dest="kb_command", required=True
    )
    kb_import = kb.add_parser("import", help="import YAML/JSON/CSV files in one transaction")
    kb_import.add_argument("paths", nargs="+", type=Path)
    kb_export = kb.add_parser("export", help="write the knowledge base to stdout")
    kb_export.add_argument("--format", choices=("yaml", "json", "csv"), default="yaml")

    ask = commands.add_parser("ask", help="ask the responder as a citizen would")
    ask.add_argument("--channel", default="cli")
    ask.add_argument("--json", action="store_true", help="one JSON object a line")
    ask.add_argument("text", nargs="?", help="the question; without it, one question per stdin line")

    user = commands.add_parser("user", help="console users").add_subparsers(
        dest="user_command", required=True
    )
    user_add = user.add_parser("add", help="create a user; prints a generated password once")
    user_add.add_argument("name")
    user_add.add_argument("--role", required=True, choices=("operator", "department", "admin"))
    user_add.add_argument("--department")
    return parser


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's event loop where installed (several times cheaper per I/O event than the
    standard selector loop, which matters under load); the standard loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # These libraries log SQL parameters and frame contents at DEBUG: citizens' data. Keep them
    # quiet whatever the gateway's own level is.
    for noisy in ("jieba", "aiosqlite", "sqlalchemy.engine", "websockets", "asyncpg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logsafe.install()
    try:
        with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
            return runner.run(_dispatch(args, settings))
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    except BadInput as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from gateway import commands

    if args.command == "serve":
        return await _serve(settings)
    if args.command == "migrate":
        return await commands.migrate(settings)
    if args.command == "kb" and args.kb_command == "import":
        return await commands.kb_import(settings, args.paths)
    if args.command == "kb" and args.kb_command == "export":
        return await commands.kb_export(settings, args.format, sys.stdout)
    if args.command == "ask":
        questions = [args.text] if args.text is not None else [line.rstrip("\n") for line in sys.stdin]
        return await commands.ask(
            settings, questions, channel=args.channel, as_json=args.json, out=sys.stdout
        )
    if args.command == "user" and args.user_command == "add":
        return await commands.user_add(settings, args.name, args.role, args.department, out=sys.stdout)
    raise AssertionError(args)


async def _serve(settings: Settings) -> int:
    from gateway.runtime import Gateway
    from gateway.serve import serve

    shutdown = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, shutdown.set)

    def announce(where: Listening) -> None:
        print(_banner(settings, where), flush=True)

    await serve(await Gateway.open(settings), shutdown, on_ready=announce)
    print("gateway: stopped", flush=True)
    return 0


def _banner(settings: Settings, where: Listening) -> str:
    public = settings.public_url
    lines = [
        f"gateway: listening on {where.base_url}",
        f"  web chat (browser):   {public}/chat",
        f"  REST API:             {public}/api/v1/docs",
        f"  metrics:              {public}/metrics",
        f"  channels:             {', '.join(where.channels)}",
    ]
    mail = f"{settings.smtp_host}:{settings.smtp_port} (recipients @{', @'.join(settings.mail_domains)})"
    lines.append(
        f"  mail client (SMTP):   {mail}" + ("" if "email" in where.channels else "  [email channel off]")
    )
    lines.append(
        f"  Twilio SMS webhook:   {public}/channels/twilio/sms"
        + ("" if "sms" in where.channels else "  [off: set GATEWAY_TWILIO_* and enable 'sms']")
    )
    return "\n".join(lines)

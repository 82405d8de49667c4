"""The CLI's commands as plain async functions (``gateway/cli.py`` parses arguments)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from sqlalchemy import select

from gateway import auth
from gateway.errors import BadInput
from gateway.runtime import Gateway
from gateway.settings import Settings
from gateway.store.db import create_engine, create_session_factory
from gateway.store.migrate import upgrade_to_head
from gateway.store.models import Department, User
from responder.kb_files import dump_kb
from responder.kb_store import load_kb


async def migrate(settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()
    print("gateway: database is up to date")
    return 0


async def kb_import(settings: Settings, paths: list[Path]) -> int:
    gateway = await Gateway.open(settings.model_copy(update={"kb_import_on_start": []}))
    try:
        await gateway.import_kb_files(paths)
    finally:
        await gateway.aclose()
    print(f"gateway: imported {', '.join(str(p) for p in paths)}")
    return 0


async def kb_export(settings: Settings, fmt: str, out: TextIO) -> int:
    gateway = await Gateway.open(settings.model_copy(update={"kb_import_on_start": []}))
    try:
        async with gateway.session_factory() as session:
            kb = await load_kb(session)
    finally:
        await gateway.aclose()
    out.write(dump_kb(kb, fmt))
    return 0


async def ask(settings: Settings, questions: list[str], *, channel: str, as_json: bool, out: TextIO) -> int:
    gateway = await Gateway.open(settings)
    try:
        for question in questions:
            if not question.strip():
                continue
            decision = gateway.responder.decide(question, channel=channel)
            if as_json:
                out.write(json.dumps(gateway.responder.as_json(decision), ensure_ascii=False) + "\n")
            else:
                out.write(f"[{decision.decision}] {decision.reply}\n")
    finally:
        await gateway.aclose()
    return 0


async def user_add(settings: Settings, name: str, role: str, department: str | None, *, out: TextIO) -> int:
    if role == "department" and not department:
        raise BadInput("--department is required for role 'department'")
    engine = create_engine(settings.database_url)

    try:
        await upgrade_to_head(engine)
        async with create_session_factory(engine)() as session, session.begin():
            if await session.scalar(select(User.id).where(User.name == name)) is not None:
                raise BadInput(f"a user named {name!r} already exists")
            if department and await session.get(Department, department) is None:
                raise BadInput(f"no department with id {department!r}")
            password = auth.generate_password()
            session.add(
                User(
                    name=name, role=role, department_id=department, password_hash=auth.hash_password(password)
                )
            )
    finally:
        await engine.dispose()
    out.write(f"created {role} {name!r}; password (shown once): {password}\n")
    return 0

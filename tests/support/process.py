"""``gateway serve`` as a real child process, for crash and signal tests."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from tests.support.paths import DEMO_KB, REPO

LISTENING = re.compile(r"listening on (http://\S+)")
START_TIMEOUT = 60


@dataclass
class ServerProcess:
    process: asyncio.subprocess.Process
    base_url: str
    output: list[str]

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/channels/webchat/ws"

    def kill_hard(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 30)


@asynccontextmanager
async def gateway_process(database_url: str, **env: str) -> AsyncIterator[ServerProcess]:
    """Start ``python -m gateway serve`` on a free port with the demo KB; kill it at the end."""
    environment = {
        **os.environ,
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_HTTP_PORT": "0",
        "GATEWAY_SMTP_PORT": "0",
        "GATEWAY_KB_IMPORT_ON_START": ",".join(str(p) for p in DEMO_KB),
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "serve",
        cwd=REPO,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output: list[str] = []
    try:
        base_url = await asyncio.wait_for(_read_until_listening(process, output), START_TIMEOUT)
        drain = asyncio.create_task(_collect(process, output))
        yield ServerProcess(process, base_url, output)
        drain.cancel()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _read_until_listening(process: asyncio.subprocess.Process, output: list[str]) -> str:
    assert process.stdout is not None
    while line := (await process.stdout.readline()).decode(errors="replace"):
        output.append(line)
        if match := LISTENING.search(line):
            return match.group(1)
    raise RuntimeError("gateway exited before listening:\n" + "".join(output))


async def _collect(process: asyncio.subprocess.Process, output: list[str]) -> None:
    assert process.stdout is not None
    while line := await process.stdout.readline():
        output.append(line.decode(errors="replace"))

"""Runs embedded engine processes: starts them, restarts the ones that crash, stops them cleanly.

The supervisor knows processes and ports, nothing of requests: the gateway reaches each engine over
loopback HTTP, as it would reach vLLM on another machine.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import logging
import os
import resource
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

from llmaas.catalog.models import CacheIsolation

log = logging.getLogger(__name__)

_STABLE_AFTER_S = 60.0  # a process that ran this long has its restart back-off reset
_TAIL_LINES = 40
_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
_PR_SET_DUMPABLE = 4


@dataclass
class EngineSpec:
    model_id: str
    command: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    cache_isolation: CacheIsolation = "off"  # how the gateway keeps tenants' prompts apart in its cache
    api_key: str | None = None  # the engine's own secret: only the gateway may call it

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@dataclass(eq=False)
class EngineProcess:
    spec: EngineSpec
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    # The engine's own last lines, in memory only, to explain a failed start. Engines run without
    # verbose logging, so these are load messages, never request content.
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=_TAIL_LINES))

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


def _die_with_parent() -> None:
    """Runs in the child before exec: if the supervisor is killed outright, its engines follow."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def forbid_core_dumps() -> None:
    """No core file of this process or of any it starts (they inherit the limit, hard and soft): a
    core of the gateway or an engine would hold the prompts and answers it had in memory. Linux also
    marks the process not dumpable, so other processes of the same user cannot read its memory
    through ptrace or /proc/PID/mem (an exec resets that; llama-server keeps the core limit only)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0)


def _inherited_environment() -> dict[str, str]:
    """The platform's environment without llama.cpp's LLAMA_ARG_* settings: engines are configured by
    their command line alone (launch.py), so that an inherited LLAMA_ARG_LOG_FILE cannot have one
    write a log of its own."""
    return {name: value for name, value in os.environ.items() if not name.startswith("LLAMA_ARG_")}


def free_port(preferred: int) -> int:
    """The first port from `preferred` up that nothing listens on."""
    for port in range(preferred, preferred + 1000):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port from {preferred}")


class Supervisor:
    def __init__(self, specs: list[EngineSpec]) -> None:
        self.engines = [EngineProcess(spec) for spec in specs]
        self._watchers: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        for engine in self.engines:
            await self._spawn(engine)
            self._watchers.append(asyncio.create_task(self._watch(engine)))

    async def _spawn(self, engine: EngineProcess) -> None:
        engine.tail.clear()
        engine.process = await asyncio.create_subprocess_exec(
            *engine.spec.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**_inherited_environment(), **engine.spec.env},
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop the engines
            preexec_fn=_die_with_parent,
        )
        engine.started_at = time.monotonic()
        log.info("engine for %s started (pid %s)", engine.spec.model_id, engine.process.pid)

    async def _watch(self, engine: EngineProcess) -> None:
        while not self._stopping:
            process = engine.process
            assert process is not None and process.stdout is not None
            async for line in process.stdout:
                text = line.decode("utf-8", "replace").rstrip()
                engine.tail.append(text)
                # At DEBUG the engine's own output joins the log: its load and serving messages,
                # never content (engines run without prompt logging; launch.py).
                log.debug("%s: %s", engine.spec.model_id, text)
            code = await process.wait()
            if self._stopping:
                return
            if time.monotonic() - engine.started_at > _STABLE_AFTER_S:
                engine.restarts = 0
            delay = min(30.0, 2.0**engine.restarts)
            engine.restarts += 1
            log.warning(
                "engine for %s exited with %s; restarting in %.0fs", engine.spec.model_id, code, delay
            )
            await asyncio.sleep(delay)
            if not self._stopping:
                await self._spawn(engine)

    async def stop(self, *, grace_s: float = 10.0) -> None:
        self._stopping = True
        for engine in self.engines:
            if engine.running:
                assert engine.process is not None
                with contextlib.suppress(ProcessLookupError):
                    engine.process.send_signal(signal.SIGTERM)
        for engine in self.engines:
            if engine.process is None:
                continue
            try:
                await asyncio.wait_for(engine.process.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    engine.process.kill()
                await engine.process.wait()
        for watcher in self._watchers:
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)

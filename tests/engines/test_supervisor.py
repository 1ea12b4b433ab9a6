from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from llmaas.engines.supervisor import EngineSpec, Supervisor, free_port

SLEEPER = [sys.executable, "-c", "import time; print('loaded', flush=True); time.sleep(60)"]


def test_a_killed_engine_is_restarted_and_stop_ends_every_child() -> None:
    async def scenario() -> None:
        supervisor = Supervisor([EngineSpec("m", SLEEPER, free_port(20000))])
        await supervisor.start()
        engine = supervisor.engines[0]
        assert engine.process is not None
        first = engine.process.pid
        os.kill(first, 9)
        for _ in range(60):
            await asyncio.sleep(0.1)
            if engine.process.pid != first and engine.running:
                break
        assert engine.process.pid != first and engine.running and engine.restarts == 1
        await asyncio.sleep(0.3)
        assert "loaded" in engine.tail
        second = engine.process
        await supervisor.stop(grace_s=5)
        assert second.returncode is not None

    asyncio.run(scenario())


def test_stop_kills_an_engine_that_ignores_sigterm() -> None:
    stubborn = [sys.executable, "-c",
                "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('up', flush=True); time.sleep(60)"]

    async def scenario() -> None:
        supervisor = Supervisor([EngineSpec("m", stubborn, free_port(20100))])
        await supervisor.start()
        await asyncio.sleep(0.5)
        process = supervisor.engines[0].process
        assert process is not None
        await supervisor.stop(grace_s=0.5)
        assert process.returncode == -9

    asyncio.run(scenario())


def test_free_port_skips_a_port_in_use() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert free_port(taken) != taken


def test_engines_die_with_a_supervisor_killed_outright(tmp_path: Path) -> None:
    pid_file = tmp_path / "engine.pid"
    engine = [sys.executable, "-c",
              f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"]
    script = (
        "import asyncio, sys\n"
        "from llmaas.engines.supervisor import EngineSpec, Supervisor\n"
        "async def main():\n"
        f"    await Supervisor([EngineSpec('m', {engine!r}, 20200)]).start()\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    parent.kill()
    parent.wait()
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(child, 9)
    raise AssertionError("the engine outlived its supervisor")

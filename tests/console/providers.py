"""Real OpenID Connect providers for the console's tests: the npm package oidc-provider, run by Node on
loopback (tests/console/oidc/provider.mjs), installed by `scripts/console-assets.sh test`."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import free_port, wait_for

HERE = Path(__file__).parent / "oidc"


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    client_secret: str


def issuer_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@contextmanager
def oidc_provider(workdir: Path, *, issuer: str, client_id: str, client_secret: str, redirect_uri: str,
                  users: dict[str, dict[str, Any]]) -> Iterator[Provider]:
    """An oidc-provider at `issuer` with one confidential client and `users` (login → claims); any
    password signs a user in. Stopped on exit."""
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("Node and oidc-provider are needed: `scripts/console-assets.sh test` (make test runs it)")
    port = int(issuer.rsplit(":", 1)[1])
    config = workdir / f"provider-{port}.json"
    config.write_text(json.dumps({
        "port": port, "issuer": issuer, "users": users,
        "clients": [{"client_id": client_id, "client_secret": client_secret, "redirect_uris": [redirect_uri],
                     "post_logout_redirect_uris": [redirect_uri.replace("/auth/callback", "/login")],
                     "grant_types": ["authorization_code"], "response_types": ["code"]}],
    }))
    log = workdir / f"provider-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen([node, str(HERE / "provider.mjs"), str(config)], stdout=output,
                                   stderr=subprocess.STDOUT, cwd=HERE)
    try:
        wait_for(lambda: httpx.get(f"{issuer}/.well-known/openid-configuration").status_code == 200,
                 timeout_s=30, process=process, log=log, what="the OpenID Connect provider")
        yield Provider(issuer, client_id, client_secret)
    finally:
        process.terminate()
        process.wait(10)

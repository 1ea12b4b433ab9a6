"""One tenant learns nothing of another's prompts through an engine's prompt cache (issue 9).

Against the fake engine: what each kind of upstream is sent. Against the real llama-server (skipped
where it is not built): the second tenant's prompt is computed in full, with no reuse of the first's.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmaas.app import create_app
from llmaas.auth import KeyService
from llmaas.catalog import Catalog, EmbeddedEngine, ModelEntry, Upstream
from llmaas.catalog.models import CacheIsolation
from llmaas.engines import launch
from llmaas.engines.assets import ARTIFACTS, MARKER
from llmaas.engines.llama_build import build_dir_for
from llmaas.gateway.isolation import CacheSalts
from llmaas.settings import Settings
from llmaas.tenancy import TenantService
from tests.clients import sdk
from tests.databases import fresh_database
from tests.fakes import FakeEngine
from tests.gateway.conftest import Platform
from tests.servers import free_port, serve, wait_for

HI = [{"role": "user", "content": "Hi"}]


def tenant_client(platform: Platform) -> tuple[int, openai.OpenAI]:
    tenant = TenantService(platform.database).create(name=f"t-{uuid.uuid4().hex[:8]}", tier="custom")
    return tenant.id, platform.new_key(tenant=tenant.name)


@pytest.fixture
def chat_targets(platform: Platform) -> Iterator[list[Any]]:
    targets = platform.router.pool("chat-model").targets
    yield targets
    for target in targets:
        target.cache_isolation = "salt"


def test_salted_upstreams_get_one_salt_per_tenant_never_the_id(
    platform: Platform, engine: FakeEngine, chat_targets: list[Any]
) -> None:
    (first_id, first), (second_id, second) = tenant_client(platform), tenant_client(platform)
    salts = []
    for client in (first, second, first):
        client.chat.completions.create(model="chat-model", messages=HI)  # type: ignore[arg-type]
        salts.append(engine.requests[-1]["cache_salt"])
        assert "cache_prompt" not in engine.requests[-1]
    assert salts[0] == salts[2] != salts[1]
    # An HMAC's 32 hex characters, never the tenant's id
    assert all(len(salt) == 32 and int(salt, 16) not in (first_id, second_id) for salt in salts)
    first.completions.create(model="chat-model", prompt="x")
    assert engine.requests[-1]["cache_salt"] == salts[0]


@pytest.mark.parametrize(("isolation", "sent"), [("no_reuse", {"cache_prompt": False}), ("off", {})])
def test_other_upstreams_get_what_their_isolation_needs(
    platform: Platform, engine: FakeEngine, chat_targets: list[Any], isolation: CacheIsolation,
    sent: dict[str, object],
) -> None:
    for target in chat_targets:
        target.cache_isolation = isolation
    platform.client.chat.completions.create(model="chat-model", messages=HI)  # type: ignore[arg-type]
    request = engine.requests[-1]
    assert {k: request[k] for k in ("cache_salt", "cache_prompt") if k in request} == sent


def test_embeddings_carry_no_cache_field(platform: Platform, engine: FakeEngine) -> None:
    platform.client.embeddings.create(model="embed-model", input="x")
    assert not {"cache_salt", "cache_prompt"} & set(engine.requests[-1])


def test_salts_depend_on_the_secret() -> None:
    assert CacheSalts("s").salt(1) == CacheSalts("s").salt(1) != CacheSalts("t").salt(1)
    assert CacheSalts(None).salt(1) != CacheSalts(None).salt(1)  # random per process without one


def test_an_embedded_llama_engine_is_started_without_a_prompt_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launch, "ensure_llama_server", lambda cache_dir, **_: Path("/opt/llama-server"))
    (tmp_path / "m.gguf").write_bytes(b"GGUF")

    def specs(isolation: Any) -> list[Any]:
        engine = EmbeddedEngine(kind="llama", model_path=tmp_path / "m.gguf", cache_isolation=isolation)
        catalog = Catalog([ModelEntry(id="m", family="f", owned_by="me", capabilities=["chat"],
                                      context_length=512, license="MIT", engine=engine)])
        return launch.engine_specs(Settings(cache_dir=tmp_path, engine_base_port=21200), catalog)

    [isolated] = specs("no_reuse")
    assert isolated.command[isolated.command.index("--cache-ram") + 1] == "0"
    assert launch.embedded_upstreams([isolated])["m"][0].cache_isolation == "no_reuse"
    [shared] = specs("off")
    assert "--cache-ram" not in shared.command


# --- the real llama-server ---------------------------------------------------------------------------

SMOLLM = "smollm2-135m-instruct-q4_1"
CACHE = Path.home() / ".cache" / "llmaas"
SECRET = "You are the assistant of ACME Corp. Never reveal the launch code, which is 4711-2203. " * 8


@dataclass
class Engine:
    url: str
    key: str


@dataclass
class Recorder:
    """A pass-through in front of the engine that keeps its raw answers: what the client never sees."""

    engine: Engine
    answers: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def forward(request: Request) -> Response:
            async with httpx.AsyncClient(timeout=120) as client:
                headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.engine.key}"}
                answer = await client.request(request.method, f"{self.engine.url}{request.url.path}",
                                              content=await request.body(), headers=headers)
            if request.method == "POST":
                self.answers.append(answer.json())
            return Response(answer.content, answer.status_code, media_type="application/json")

        return Starlette(routes=[Route("/v1/{rest:path}", forward, methods=["GET", "POST"])])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    files = [CACHE / "models" / SMOLLM / n for n in [MARKER, *(f.name for f in ARTIFACTS[SMOLLM].files)]]
    if not (build_dir_for(CACHE) / "bin" / "llama-server").is_file() or not all(f.is_file() for f in files):
        pytest.skip("llama-server or smollm2 is not built: run `llmaas setup` once")
    home = tmp_path_factory.mktemp("llama")
    engine = EmbeddedEngine(kind="llama", artifact=SMOLLM, parallel=1)
    catalog = Catalog([ModelEntry(id="smol", family="f", owned_by="me", capabilities=["chat"],
                                  context_length=2048, license="MIT", engine=engine)])
    [spec] = launch.engine_specs(Settings(cache_dir=CACHE, engine_base_port=free_port()), catalog)
    log = home / "llama.log"
    with log.open("wb") as output:
        process = subprocess.Popen(spec.command, stdout=output, stderr=subprocess.STDOUT,
                                   env={**os.environ, **spec.env})
    assert spec.api_key is not None
    try:
        wait_for(lambda: httpx.get(f"{spec.base_url}/health").status_code == 200, process=process, log=log,
                 what="llama-server")
        yield Engine(f"http://127.0.0.1:{spec.port}", spec.api_key)
    finally:
        process.terminate()
        process.wait(30)


def test_the_engine_answers_only_the_gateway(llama_server: Engine) -> None:
    for path in ("/v1/models", "/slots", "/props", "/metrics"):
        assert httpx.get(f"{llama_server.url}{path}").status_code == 401, path
    assert httpx.get(f"{llama_server.url}/v1/models",
                     headers={"Authorization": f"Bearer {llama_server.key}"}).status_code == 200


@pytest.mark.parametrize("isolation", ["no_reuse", "off"])
def test_a_second_tenant_reuses_nothing_of_the_first_tenants_prompt(
    llama_server: Engine, tmp_path: Path, isolation: CacheIsolation
) -> None:
    recorder = Recorder(llama_server)
    database = fresh_database("sqlite", sqlite_dir=tmp_path, postgres_admin_url=None)
    tenants = TenantService(database)
    keys = [KeyService(database).create(name="k", tenant=tenants.create(name=name, tier="custom").name).secret
            for name in ("victim", "prober")]
    secret = f"Session {uuid.uuid4().hex}. {SECRET}"  # new to the engine: the victim's is computed in full
    with serve(recorder.app()) as engine_url:
        catalog = Catalog([ModelEntry(
            id="smol", family="f", owned_by="me", capabilities=["chat"], context_length=2048, license="MIT",
            upstreams=[Upstream(url=f"{engine_url}/v1", model="smol", cache_isolation=isolation)])])
        app = create_app(Settings(home=tmp_path), catalog=catalog, database=database)
        with serve(app) as url:
            for key, question in zip(keys, ("What is the weather?", "What is the code?"), strict=True):
                sdk(f"{url}/v1", key).chat.completions.create(
                    model="smol", max_tokens=1,
                    messages=[{"role": "system", "content": secret}, {"role": "user", "content": question}])
    database.dispose()
    victim, prober = (answer["timings"]["prompt_n"] for answer in recorder.answers)
    cached = (recorder.answers[1]["usage"].get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    if isolation == "no_reuse":
        assert prober >= victim - 2 and cached == 0  # computed in full: nothing of the victim's was reused
    else:  # the experiment can tell: without isolation, the shared prefix is reused
        assert prober < victim // 2 and cached > 0

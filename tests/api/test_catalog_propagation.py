"""Overrides reach every replica: by polling the revision, on a file reload, and never as a broken catalog."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from llmaas.catalog import load_catalog
from llmaas.catalog.store import OverrideStore
from tests.api.replicas import file_catalog, replica
from tests.fakes import FakeEngine
from tests.servers import serve, wait_for

POLL_S = 0.1


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve(FakeEngine(model="fake").app()) as url:
        yield url


def test_a_change_reaches_another_replica_within_the_poll_interval(
    database: Engine, tmp_path: Path, upstream: str
) -> None:
    with replica(database, tmp_path, file_catalog(upstream), poll_s=POLL_S) as first, \
            replica(database, tmp_path, file_catalog(upstream), poll_s=POLL_S) as second:
        put = first.admin("PUT", "/catalog/models/chat-a/override", json={"description": "from the first"})
        assert put.status_code == 200 and first.models()["chat-a"]["description"] == "from the first"
        wait_for(lambda: second.models()["chat-a"]["description"] == "from the first",
                 timeout_s=20 * POLL_S, what="the override on the second replica")

        # The CLI writes to the database alone: both replicas pick it up by polling.
        OverrideStore(database).set_alias("fast", "chat-b", base=file_catalog(upstream), actor="cli:tests")
        for running in (first, second):
            wait_for(lambda running=running: running.models()["chat-b"]["aliases"] == ["fast"],  # type: ignore[misc]
                     timeout_s=20 * POLL_S, what="the CLI's alias")
        assert second.admin("GET", "/catalog").json()["revision"] == 2


def test_an_invalid_result_is_logged_and_the_running_catalog_stays(
    database: Engine, tmp_path: Path, upstream: str, caplog: pytest.LogCaptureFixture
) -> None:
    with replica(database, tmp_path, file_catalog(upstream), poll_s=POLL_S) as running:
        put = running.admin("PUT", "/catalog/models/chat-a/override", json={"license": "x"})
        assert put.status_code == 200
        # What a replica with another catalog file (or a hand edit) could leave: bypasses validation.
        with database.begin() as connection:
            connection.execute(text("UPDATE catalog_model_overrides SET fields = :fields"),
                               {"fields": '{"context_length": "lots"}'})
            connection.execute(text("UPDATE catalog_revision SET revision = revision + 1"))
        wait_for(lambda: "catalog overrides not applied" in caplog.text, timeout_s=20 * POLL_S,
                 what="the refusal in the log")
        assert "context_length" in caplog.text
        assert running.models()["chat-a"]["license"] == "x"  # the catalog it had
        assert caplog.text.count("catalog overrides not applied") == 1  # once, not at every poll

        # A write that would keep the broken override is refused; clearing it repairs the catalog.
        refused = running.admin("PATCH", "/catalog/models/chat-a/override", json={"license": "y"})
        assert refused.status_code == 400 and "context_length" in refused.json()["error"]["message"]
        assert running.admin("DELETE", "/catalog/models/chat-a/override").status_code == 200
        assert running.models()["chat-a"]["license"] == "MIT"


def test_a_failed_poll_is_logged_and_the_running_catalog_stays(
    database: Engine, tmp_path: Path, upstream: str, caplog: pytest.LogCaptureFixture
) -> None:
    with replica(database, tmp_path, file_catalog(upstream), poll_s=POLL_S) as running:
        put = running.admin("PUT", "/catalog/models/chat-a/override", json={"license": "x"})
        assert put.status_code == 200
        with database.begin() as connection:
            connection.execute(text("ALTER TABLE catalog_revision RENAME TO catalog_revision_away"))
        try:
            wait_for(lambda: "catalog overrides unreadable" in caplog.text, timeout_s=20 * POLL_S,
                     what="the failed poll in the log")
            assert running.models()["chat-a"]["license"] == "x"
        finally:
            with database.begin() as connection:
                connection.execute(text("ALTER TABLE catalog_revision_away RENAME TO catalog_revision"))
        OverrideStore(database).set_model("chat-a", {"license": "y"}, base=file_catalog(upstream), actor="t")
        wait_for(lambda: running.models()["chat-a"]["license"] == "y", timeout_s=20 * POLL_S,
                 what="polling to resume")


def test_a_file_reload_applies_the_overrides_too(
    database: Engine, tmp_path: Path, upstream: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    path = tmp_path / "catalog.toml"

    def model(model_id: str) -> str:
        return (f'[[models]]\nid = "{model_id}"\nfamily = "f"\nowned_by = "o"\nlicense = "MIT"\n'
                f'capabilities = ["chat"]\ncontext_length = 4096\n'
                f'upstreams = [{{url = "{upstream}/v1", model = "fake"}}]\n\n')

    path.write_text(model("chat-a"))
    store = OverrideStore(database)
    with replica(database, tmp_path, load_catalog(path), poll_s=60, catalog_file=path) as running:
        store.set_model("chat-a", {"license": "overridden"}, base=load_catalog(path), actor="cli:tests")
        path.write_text(model("chat-a") + model("chat-b"))
        reloaded = running.admin("POST", "/catalog/reload").json()
        assert reloaded == {"models": ["chat-a", "chat-b"], "aliases": {}, "revision": 1}
        assert running.models()["chat-a"]["license"] == "overridden" and "chat-b" in running.models()

        assert "catalog reloaded: 2 models, overrides revision 1" in caplog.text

        # A file the stored overrides no longer fit is refused whole; the running catalog stays.
        patched = running.admin("PATCH", "/catalog/models/chat-a/override",
                                json={"deprecated_at": str(datetime.now(UTC).date()), "successor": "chat-b"})
        assert patched.status_code == 200, patched.text
        path.write_text(model("chat-a"))
        refused = running.admin("POST", "/catalog/reload")
        assert refused.status_code == 400
        assert "overrides in the database" in refused.json()["error"]["message"]
        assert "unknown successor 'chat-b'" in refused.json()["error"]["message"]
        assert set(running.models()) == {"chat-a", "chat-b"}

"""The audit log: rows appended with what they were given, filters, and a chain that shows an edited
or deleted row, also with concurrent appenders; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, update
from sqlalchemy.orm import Session

from llmaas.audit import AuditLog
from llmaas.storage.database import create_database_engine
from llmaas.storage.tables import AuditRow


def _record(
    audit: AuditLog, action: str = "tenant.create", actor: str = "cli:ops", target: str = "acme"
) -> None:
    audit.record(actor=actor, source="local", action=action, target_type=action.split(".")[0], target=target,
                 details={"fields": ["tier"]})


def test_a_row_keeps_what_it_was_given(database: Engine) -> None:
    audit = AuditLog(database)
    audit.record(actor="admin-token", source="10.0.0.7", action="key.revoke", target_type="key",
                 target="sk-llmaas-AbCd1234", outcome="refused", error_code="not_found")
    [entry] = audit.entries()
    assert (entry.seq, entry.actor, entry.source, entry.action, entry.target_type, entry.target) == (
        1, "admin-token", "10.0.0.7", "key.revoke", "key", "sk-llmaas-AbCd1234")
    assert (entry.outcome, entry.error_code, entry.details) == ("refused", "not_found", {})
    assert abs(entry.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert audit.verify().ok


def test_what_a_client_chose_is_stored_bounded_and_without_control_characters(database: Engine) -> None:
    audit = AuditLog(database)
    audit.record(actor="admin-token", source="10.0.0.7", action="catalog.override.set", target_type="model",
                 target="chat\x00\n\u202e" + "m" * 500, details={"fields": [f"f{i}\x07" for i in range(100)],
                                                               "k\x00": "v" * 300, "c1": "\x9b31m"})
    [entry] = audit.entries()
    assert entry.target == "chat\ufffd\ufffd\ufffd" + "m" * 192 + "…"  # the column's 200 characters
    assert entry.details["fields"] == [f"f{i}\ufffd" for i in range(64)]
    assert entry.details["k\ufffd"] == "v" * 199 + "…"
    assert entry.details["c1"] == "\ufffd31m"
    assert audit.verify().ok


def test_filters(database: Engine) -> None:
    audit = AuditLog(database)
    _record(audit, "tenant.create")
    _record(audit, "key.create", actor="admin-token")
    _record(audit, "key.revoke")
    _record(audit, "keyring.open")  # a prefix of the name is not a parent action
    assert [e.action for e in audit.entries()] == [
        "keyring.open", "key.revoke", "key.create", "tenant.create"]
    assert [e.action for e in audit.entries(action="key")] == ["key.revoke", "key.create"]
    assert [e.action for e in audit.entries(action="key.create")] == ["key.create"]
    assert [e.action for e in audit.entries(actor="admin-token")] == ["key.create"]
    assert audit.entries(since=datetime.now(UTC) + timedelta(minutes=1)) == []
    assert len(audit.entries(since=datetime.now(UTC) - timedelta(minutes=1))) == 4
    assert len(audit.entries(limit=2)) == 2


def test_rows_by_target(database: Engine) -> None:
    audit = AuditLog(database)
    _record(audit, "tenant.update", target="acme")
    _record(audit, "tenant.update", target="globex")
    _record(audit, "key.revoke", target="sk-llmaas-acme")
    _record(audit, "key.revoke", target="acme")  # a key's target that happens to read as a tenant's name
    acme = audit.entries(targets={"tenant": ["acme"], "key": ["sk-llmaas-acme"]})
    assert [(e.target_type, e.target) for e in acme] == [("key", "sk-llmaas-acme"), ("tenant", "acme")]
    assert audit.entries(targets={"tenant": [], "key": []}) == []


def test_an_untouched_chain_verifies(database: Engine) -> None:
    audit = AuditLog(database)
    assert audit.verify().ok and audit.verify().rows == 0
    for n in range(5):
        _record(audit, target=f"t{n}")
    result = audit.verify()
    assert result.ok and result.rows == 5


def test_an_edited_row_is_named(database: Engine) -> None:
    audit = AuditLog(database)
    for n in range(5):
        _record(audit, target=f"t{n}")
    with Session(database) as session, session.begin():
        session.execute(update(AuditRow).where(AuditRow.seq == 3).values(actor="someone-else"))
    result = audit.verify()
    assert not result.ok and result.bad_seq == 3 and "hash" in result.reason


def test_an_edited_detail_is_named(database: Engine) -> None:
    audit = AuditLog(database)
    for n in range(3):
        _record(audit, target=f"t{n}")
    with Session(database) as session, session.begin():
        session.execute(update(AuditRow).where(AuditRow.seq == 2).values(details={"fields": []}))
    assert AuditLog(database).verify().bad_seq == 2


def test_a_deleted_row_is_named(database: Engine) -> None:
    audit = AuditLog(database)
    for n in range(5):
        _record(audit, target=f"t{n}")
    with Session(database) as session, session.begin():
        session.execute(delete(AuditRow).where(AuditRow.seq == 3))
    result = audit.verify()
    assert not result.ok and result.bad_seq == 3 and "missing" in result.reason


def test_a_rewritten_tail_is_caught(database: Engine) -> None:
    """Deleting a row and renumbering the rest, or dropping the last rows, still breaks the chain."""
    audit = AuditLog(database)
    for n in range(4):
        _record(audit, target=f"t{n}")
    with Session(database) as session, session.begin():
        session.execute(delete(AuditRow).where(AuditRow.seq == 4))
    result = audit.verify()
    assert not result.ok and result.bad_seq == 4
    with Session(database) as session, session.begin():
        session.execute(delete(AuditRow).where(AuditRow.seq == 2))
        session.execute(update(AuditRow).where(AuditRow.seq == 3).values(seq=2))
    result = audit.verify()
    assert not result.ok and result.bad_seq == 2


def test_concurrent_appenders_keep_one_chain(database: Engine) -> None:
    """Two replicas, each with its own connection pool, appending at once."""
    other = create_database_engine(database.url.render_as_string(hide_password=False))
    replicas = {"a": AuditLog(database), "b": AuditLog(other)}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def append(name: str) -> None:
        try:
            barrier.wait()
            for n in range(15):
                _record(replicas[name], actor=name, target=f"{name}{n}")
        except BaseException as error:  # surfaced below: a thread's failure must fail the test
            errors.append(error)

    threads = [threading.Thread(target=append, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.dispose()
    assert errors == []
    result = AuditLog(database).verify()
    assert result.ok and result.rows == 30
    assert {e.actor for e in AuditLog(database).entries()} == {"a", "b"}

"""Console sessions and sign-ins under way, on SQLite and PostgreSQL: found by their token only while
live, revocable, idle and absolute ends; sign-ins used once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from llmaas.console.roles import Role
from llmaas.console.sessions import SessionStore
from llmaas.storage.tables import ConsoleLoginRow, ConsoleSessionRow, row_dict
from llmaas.tenancy import TenantService


def store(database: Engine, *, idle: timedelta = timedelta(minutes=30)) -> SessionStore:
    return SessionStore(database, idle=idle, lifetime=timedelta(hours=12))


def test_a_session_is_found_by_its_token_until_revoked(database: Engine) -> None:
    tenant_id = TenantService(database).create(name="acme", tier="standard").id
    sessions = store(database)
    token = sessions.open(email="ada@acme.test", role=Role.TENANT_ADMIN, tenant_id=tenant_id)
    me = sessions.find(token)
    assert me is not None and me.tenant == "acme" and me.role is Role.TENANT_ADMIN and me.admin
    assert not me.operator and me.actor == "console:ada@acme.test"
    assert sessions.find(token + "x") is None
    with Session(database) as session:  # only the token's hash is kept
        assert token not in str(row_dict(session.scalars(select(ConsoleSessionRow)).one()))
    sessions.revoke(me.session_id)
    assert sessions.find(token) is None


def test_idle_and_absolute_ends(database: Engine) -> None:
    idle = store(database, idle=timedelta(0))
    assert idle.find(idle.open(email="a@x.test", role=Role.OPERATOR_ADMIN, tenant_id=None)) is None
    sessions = store(database)
    token = sessions.open(email="a@x.test", role=Role.OPERATOR_VIEWER, tenant_id=None)
    me = sessions.find(token)
    assert me is not None and me.operator and not me.admin
    sessions.expire(me.session_id)
    assert sessions.find(token) is None


def test_a_sign_in_under_way_is_taken_once_and_only_as_its_kind(database: Engine) -> None:
    sessions = store(database)
    state = sessions.begin_login(kind="oidc", tenant_id=None, valid=timedelta(minutes=5),
                                 code_verifier="v" * 64, nonce="n")
    assert sessions.take_login(state, kind="link") is None  # and a wrong kind consumes it too
    state = sessions.begin_login(kind="oidc", tenant_id=None, valid=timedelta(minutes=5),
                                 code_verifier="v" * 64, nonce="n")
    pending = sessions.take_login(state, kind="oidc")
    assert pending is not None and pending.code_verifier == "v" * 64 and pending.nonce == "n"
    assert sessions.take_login(state, kind="oidc") is None
    stale = sessions.begin_login(kind="link", tenant_id=None, valid=timedelta(0))
    assert sessions.take_login(stale, kind="link") is None
    with Session(database) as session:
        assert session.scalars(select(ConsoleLoginRow)).all() == []

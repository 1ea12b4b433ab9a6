"""Redis and PostgreSQL over verified TLS, as the docs tell an operator to configure them: the URLs reach
redis-py and libpq untouched (`rediss://…?ssl_ca_certs=`, `?sslmode=verify-full&sslrootcert=`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy
from sqlalchemy import text

from llmaas.app import meter_for
from llmaas.metering import RedisMeter
from llmaas.settings import Settings
from llmaas.storage.database import create_database_engine, migrate
from llmaas.tls import CertificateFiles
from tests.certs import make_pair
from tests.databases import postgres_server
from tests.servers import free_port, redis_server


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertificateFiles, Path]:
    """The servers' pair, and a CA that did not sign it."""
    root = tmp_path_factory.mktemp("stores")
    return make_pair(root / "server"), make_pair(root / "stranger").cert


@pytest.fixture(scope="module")
def rediss_port(
    certs: tuple[CertificateFiles, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    pair, _ = certs
    port = free_port()
    with redis_server(
        tmp_path_factory.mktemp("rediss"), port, "--port", "0", "--tls-port", str(port),
        "--tls-cert-file", str(pair.cert), "--tls-key-file", str(pair.key),
        "--tls-ca-cert-file", str(pair.cert), "--tls-auth-clients", "no",
        ssl=True, ssl_ca_certs=str(pair.cert),
    ):
        yield port


def _meter_works(url: str) -> None:
    meter = meter_for(Settings(redis_url=url))
    assert isinstance(meter, RedisMeter)

    async def use() -> None:
        try:
            await meter.prepare()  # loads the meter's scripts: a real round trip
        finally:
            await meter.close()

    asyncio.run(use())


def test_the_meter_reaches_redis_over_verified_tls(
    certs: tuple[CertificateFiles, Path], rediss_port: int
) -> None:
    pair, stranger = certs
    _meter_works(f"rediss://127.0.0.1:{rediss_port}/0?ssl_ca_certs={pair.cert}")
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        _meter_works(f"rediss://127.0.0.1:{rediss_port}/0?ssl_ca_certs={stranger}")


def test_the_database_is_reached_with_sslmode_verify_full(certs: tuple[CertificateFiles, Path]) -> None:
    pair, stranger = certs
    with postgres_server(tls=(pair.cert, pair.key)) as admin_url:
        engine = create_database_engine(f"{admin_url}?sslmode=verify-full&sslrootcert={pair.cert}")
        try:
            migrate(engine)
            with engine.connect() as connection:
                assert connection.execute(
                    text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar() is True
        finally:
            engine.dispose()
        wrong = create_database_engine(f"{admin_url}?sslmode=verify-full&sslrootcert={stranger}")
        with pytest.raises(sqlalchemy.exc.OperationalError, match="certificate verify failed"):
            migrate(wrong)
        wrong.dispose()

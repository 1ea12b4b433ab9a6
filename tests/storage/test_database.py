"""The platform's state is readable by its user only (issue 9: LLMAAS_HOME was 0755, its database 0644)."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import text

from llmaas.storage.database import create_database_engine, migrate, private_home


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_its_directory_are_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    engine = create_database_engine(f"sqlite:///{home / 'llmaas.db'}")
    migrate(engine)
    with engine.begin() as connection:  # a write: the WAL and its index exist now
        connection.execute(text("create table t (x integer)"))
        assert (home / "llmaas.db-wal").exists()
        assert {name.name: mode(name) for name in home.iterdir()} == {
            "llmaas.db": 0o600, "llmaas.db-wal": 0o600, "llmaas.db-shm": 0o600}
    assert mode(home) == 0o700
    engine.dispose()


def test_an_existing_home_and_database_are_made_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / "llmaas.db").touch(mode=0o644)
    (home / "llmaas.db").chmod(0o644)
    private_home(home)
    create_database_engine(f"sqlite:///{home / 'llmaas.db'}").dispose()
    assert (mode(home), mode(home / "llmaas.db")) == (0o700, 0o600)


def test_a_directory_the_operator_chose_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    create_database_engine(f"sqlite:///{shared / 'llmaas.db'}").dispose()
    assert (mode(shared), mode(shared / "llmaas.db")) == (0o755, 0o600)

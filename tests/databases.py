"""The `db_url` fixture: each test that takes it runs on SQLite and on PostgreSQL; `postgres_url`: only on
PostgreSQL.

PostgreSQL tests get a database of their own, created on the server named by
VOICEBOT_TEST_POSTGRESQL (default: postgres on 127.0.0.1:5432, trust auth) and dropped afterwards.
Without a reachable server they are skipped, and the skip says why.
Test modules load it with `pytest_plugins = ["databases"]`; the benchmarks use throwaway_database().
"""
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from voicebot.adapters.storage import Storage

SERVER_URL = os.environ.get("VOICEBOT_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The maintenance database's URL, once it answered; a skip for every test once it did not."""
    try:
        psycopg2.connect(SERVER_URL, connect_timeout=3).close()
    except psycopg2.Error as error:
        pytest.skip(f"no PostgreSQL at {SERVER_URL}: {str(error).strip().splitlines()[0]}")
    return SERVER_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'voicebot.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh PostgreSQL database of the test's own, dropped afterwards."""
    with throwaway_database(postgres_server) as url:
        yield url


@pytest.fixture
def storage(db_url):
    """An open Storage on each backend, migrated to the latest schema."""
    storage = Storage(db_url)
    storage.open()
    yield storage
    storage.close()


@contextmanager
def throwaway_database(server: str, prefix: str = "voicebot_test") -> Iterator[str]:
    """The URL of a new database, PREFIX_ and a random suffix, on the server whose maintenance database
    `server` names; dropped at the end."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    _administer(server, f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        # FORCE: a failed test may have left its connection open.
        _administer(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _administer(server: str, statement: str) -> None:
    connection = psycopg2.connect(server, connect_timeout=3)
    connection.autocommit = True  # CREATE and DROP DATABASE refuse to run in a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()

"""Fixtures: an app on a fresh database per test (a SQLite file, or a PostgreSQL database on a
throwaway cluster), with its clock pinned; and, for tests that only read it, a demo floor a
module's tests share.

The contract, ingestion, roll-up and API tests run once per store: their `store` parameter is
`sqlite` or `postgres`. A test about SQLite's file itself (damage markers, permissions, WAL, its
locks) is marked `sqlite_only`.
"""

import os

import pytest

from backend.app import create_app
from backend.timeutil import parse_instant

from .pgcluster import Cluster

# The test files that run against both stores.
BOTH_STORES = ("test_spec_", "test_ingest.py", "test_rollups.py", "test_metrics_api.py", "test_charts_api.py",
               "test_dashboard_api.py", "test_etag.py", "test_postgres", "test_model_rollups.py")
STORES = ("sqlite", "postgres")


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: the test is about SQLite's file; it runs on SQLite alone")
    config.addinivalue_line("markers", "postgres_only: the test is about PostgreSQL; it runs on PostgreSQL alone")


def pytest_generate_tests(metafunc):
    if "store" not in metafunc.fixturenames:
        return
    name = os.path.basename(metafunc.module.__file__)
    stores = STORES if name.startswith(BOTH_STORES) else ("sqlite",)
    if metafunc.definition.get_closest_marker("sqlite_only"):
        stores = ("sqlite",)
    if metafunc.definition.get_closest_marker("postgres_only"):
        stores = ("postgres",)
    metafunc.parametrize("store", stores)


@pytest.fixture(scope="session")
def pg_cluster():
    """One PostgreSQL cluster for the whole session; a missing PostgreSQL fails its tests."""
    cluster = Cluster()
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


def _databases(request, folder):
    """`(new, release)`: `new(store, name)` makes the location of a new, empty database of `store`
    (a file path under `folder`, or a PostgreSQL URL); `release()` gives back the PostgreSQL ones
    (emptied or dropped)."""
    made = []

    def new(store, name):
        if store == "sqlite":
            return str(folder / name / "factory.db")
        made.append(request.getfixturevalue("pg_cluster").database())
        return made[-1]

    def release():
        if made:
            cluster = request.getfixturevalue("pg_cluster")
            for url in made:
                cluster.release(url)

    return new, release


@pytest.fixture
def new_database(request, store, tmp_path):
    """Makes the location of a new, empty database of the test's store, released after the test."""
    new, release = _databases(request, tmp_path)
    yield lambda name: new(store, name)
    release()

# Metric tests never read the wall clock: the app's clock is pinned here unless a test moves it.
NOW = "2026-01-15T18:00:00Z"


class Clock:
    """A settable clock in epoch milliseconds, standing in for the wall clock."""

    def __init__(self, iso):
        self.ms = parse_instant(iso)

    def set(self, iso):
        self.ms = parse_instant(iso)

    def __call__(self):
        return self.ms


@pytest.fixture
def clock():
    return Clock(NOW)


def settings(database_path, clock):
    """Settings for an app under test on `database_path`, its clock pinned to `clock`."""
    return {
        "TESTING": True,
        "DATABASE_PATH": database_path,
        "CLOCK": clock,
        "ADMIN_TOKEN": None,
        "INGEST_TOKEN": None,
        "ALLOW_SEED": True,
        "SEED_IF_EMPTY": False,
        "STATE_MAX_GAP_SECONDS": 0,  # no signal horizon unless a test sets one
        "ROLLUP_KEEPER": False,  # its one look is tested alone (tests/test_rollups.py)
    }


@pytest.fixture
def config(new_database, clock):
    """Settings for the app under test; a test may change them before asking for `app`."""
    return settings(new_database("db"), clock)


@pytest.fixture(scope="module")
def demo_floors(request, tmp_path_factory):
    """Makes, once per module and store, a client of an app holding the demo floor seeded at `NOW`."""
    new, release = _databases(request, tmp_path_factory.mktemp("demo"))
    clients = {}

    def client_for(store):
        if store not in clients:
            clients[store] = create_app(settings(new(store, store), Clock(NOW))).test_client()
            assert clients[store].post("/seed").status_code == 200
        return clients[store]

    yield client_for
    release()


@pytest.fixture
def demo_floor(store, demo_floors):
    """A client of the demo floor that a module's tests on this store share: for tests that only read it."""
    return demo_floors(store)


@pytest.fixture
def app(config):
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_client(config, new_database):
    """A client of another app with its own database and some settings changed."""
    made = []

    def make(**overrides):
        made.append(None)
        path = new_database(f"other-{len(made)}")
        return create_app({**config, "DATABASE_PATH": path, **overrides}).test_client()

    return make

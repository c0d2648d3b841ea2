"""Fixtures: an app on a fresh SQLite file per test, with its clock pinned."""

import pytest

from backend.app import create_app
from backend.timeutil import parse_instant

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


@pytest.fixture
def config(tmp_path, clock):
    """Settings for the app under test; a test may change them before asking for `app`."""
    return {
        "TESTING": True,
        "DATABASE_PATH": str(tmp_path / "db" / "factory.db"),
        "CLOCK": clock,
        "ADMIN_TOKEN": None,
        "INGEST_TOKEN": None,
        "ALLOW_SEED": True,
        "SEED_IF_EMPTY": False,
        "STATE_MAX_GAP_SECONDS": 0,  # no signal horizon unless a test sets one
    }


@pytest.fixture
def app(config):
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_client(config, tmp_path):
    """A client of another app with its own database file and some settings changed."""
    made = []

    def make(**overrides):
        made.append(None)
        path = str(tmp_path / f"other-{len(made)}" / "factory.db")
        return create_app({**config, "DATABASE_PATH": path, **overrides}).test_client()

    return make

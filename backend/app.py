"""The application factory: configuration, database, API, dashboard and error handling."""

import os
import time
from zoneinfo import ZoneInfo

from flask import Flask
from flask_cors import CORS

from . import api, dashboard, db, errors, logs, seed
from .drift import DriftRules

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env_flag(name, default):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def _env_number(name, default, kind=int):
    value = os.environ.get(name, "").strip()
    return kind(value) if value else default


def _wall_clock_ms():
    return time.time_ns() // 1_000_000


def default_config():
    """Settings from the environment, with the defaults SPEC.md names."""
    return {
        "DATABASE_PATH": os.environ.get("DATABASE_PATH") or os.path.join(REPO_ROOT, "data", "factory.db"),
        "BUSY_TIMEOUT_MS": _env_number("BUSY_TIMEOUT_MS", 5000),
        "QUERY_TIMEOUT_SECONDS": _env_number("QUERY_TIMEOUT_SECONDS", 20, float),
        "MAX_BATCH": _env_number("MAX_BATCH", 5000),
        "MAX_CONTENT_LENGTH": _env_number("MAX_BODY_BYTES", 8 * 1024 * 1024),
        "CLOCK_SKEW_SECONDS": _env_number("CLOCK_SKEW_SECONDS", 300),
        "MAX_EVENT_AGE_DAYS": _env_number("MAX_EVENT_AGE_DAYS", 400),
        # The signal horizon: how long a state holds past its event; 0 means no horizon.
        "STATE_MAX_GAP_SECONDS": _env_number("STATE_MAX_GAP_SECONDS", 900, float),
        "ADMIN_TOKEN": os.environ.get("ADMIN_TOKEN") or None,
        "INGEST_TOKEN": os.environ.get("INGEST_TOKEN") or None,
        # Several edge tokens, comma-separated, so one device can be revoked alone.
        "INGEST_TOKENS": os.environ.get("INGEST_TOKENS") or None,
        "ALLOW_SEED": _env_flag("ALLOW_SEED", True),
        "SEED_IF_EMPTY": _env_flag("SEED_IF_EMPTY", False),
        # Unset: no other origin; the dashboard served from the same origin needs none.
        "CORS_ORIGINS": os.environ.get("CORS_ORIGINS") or None,
        "FACTORY_TZ": os.environ.get("FACTORY_TZ") or "UTC",
        "POLL_SECONDS": _env_number("POLL_SECONDS", 5, float),
        "LOW_CONFIDENCE": _env_number("LOW_CONFIDENCE", 0.5, float),
        "DRIFT_RULES": DriftRules(
            recent_ms=round(_env_number("DRIFT_RECENT_SECONDS", 3600, float) * 1000),
            confidence_drop=_env_number("DRIFT_CONFIDENCE_DROP", 0.05, float),
            mix_shift=_env_number("DRIFT_MIX_SHIFT", 0.2, float),
            min_events=_env_number("DRIFT_MIN_EVENTS", 20),
        ),
        "FRONTEND_DIR": os.environ.get("FRONTEND_DIR") or os.path.join(REPO_ROOT, "frontend"),
        # Other API origins the dashboard may call (its `?api=` parameter), space-separated.
        "DASHBOARD_CONNECT_SRC": os.environ.get("DASHBOARD_CONNECT_SRC", ""),
        "CLOCK": _wall_clock_ms,
    }


def _split(value):
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [item.strip() for item in items if item and item.strip()]


def _read_tokens(config):
    """`INGEST_TOKENS`/`ADMIN_TOKENS`: the lists the token checks use, from every setting."""
    config["INGEST_TOKENS"] = _split(config.get("INGEST_TOKEN")) + _split(config.get("INGEST_TOKENS"))
    config["ADMIN_TOKENS"] = _split(config.get("ADMIN_TOKEN"))


def _cors_origins(config):
    """The origins browsers on other sites may call the API from: none unless named, and
    never every origin while tokens guard it."""
    guarded = config["INGEST_TOKENS"] or config["ADMIN_TOKENS"]
    origins = _split(config.get("CORS_ORIGINS"))
    if not origins:
        return []
    if "*" in origins and guarded:
        raise RuntimeError("CORS_ORIGINS=* is refused while INGEST_TOKEN or ADMIN_TOKEN is set: "
                           "name the dashboard's origins instead")
    return "*" if "*" in origins else origins


def create_app(test_config=None):
    """Build the application; `test_config` overrides any setting."""
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(default_config())
    if test_config:
        app.config.from_mapping(test_config)
    app.json.sort_keys = False
    ZoneInfo(app.config["FACTORY_TZ"])  # an unknown zone stops start-up with a clear error
    gap = app.config["STATE_MAX_GAP_SECONDS"]
    if gap is not None and not (gap == 0 or 0.001 <= gap):
        raise ValueError(f"STATE_MAX_GAP_SECONDS must be 0 (no horizon) or at least 0.001 seconds, not {gap}")
    logs.configure()

    db.init_app(app)
    logs.init_app(app)
    errors.register_error_handlers(app)
    _read_tokens(app.config)
    origins = _cors_origins(app.config)
    app.config["ALLOWED_ORIGINS"] = origins
    if origins:
        CORS(app, origins=origins, expose_headers=["Retry-After", "ETag"])
    app.before_request(api.refuse_foreign_writes)
    app.register_blueprint(api.bp)
    app.register_blueprint(dashboard.bp)
    app.after_request(dashboard.security_headers)

    if app.config["SEED_IF_EMPTY"]:
        conn = db.connect(app.config["DATABASE_PATH"], app.config["BUSY_TIMEOUT_MS"])
        try:
            if seed.seed_if_empty(conn, app.config["CLOCK"]()):
                app.logger.info("empty database: loaded the demo shift")
        finally:
            conn.close()
    return app

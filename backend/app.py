"""The application factory: configuration, database, API, dashboard and error handling."""

import math
import os
import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask
from flask_cors import CORS

from . import api, compress, dashboard, db, errors, limits, logs, params, reports, rollups, seed
from .drift import DriftRules
from .errors import StartupError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _env_flag(name, default, env=None):
    """A yes/no setting (from `env`, default the environment); any other value stops start-up (a
    typo in `PUBLIC_READ` must not open reads)."""
    value = (os.environ if env is None else env).get(name, "").strip()
    if value == "":
        return default
    if value.lower() not in _FLAGS:
        raise StartupError(f"{name}={value!r} is not one of 1, true, yes, on (or 0, false, no, off)")
    return _FLAGS[value.lower()]


def _env_number(name, default, kind=int, minimum=None, maximum=None, above=None, env=None):
    """A number setting (from `env`, default the environment) from `minimum` to `maximum` (both
    included, when given), or `above` a bound."""
    value = (os.environ if env is None else env).get(name, "").strip()
    if not value:
        return default
    try:
        number = kind(value)
    except ValueError:
        raise StartupError(f"{name}={value!r} is not {'an integer' if kind is int else 'a number'}") from None
    if not math.isfinite(number):
        raise StartupError(f"{name}={value!r} must be a finite number")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum) or \
            (above is not None and number <= above):
        plain = lambda bound: f"{int(bound):,}" if bound == int(bound) else f"{bound:g}"  # noqa: E731
        bounds = (f"above {plain(above)}" if above is not None else f"at least {plain(minimum)}" if maximum is None
                  else f"from {plain(minimum)} to {plain(maximum)}")
        raise StartupError(f"{name}={value!r} must be a number {bounds}")
    return number


def _bounds(param):
    """The bounds of a query parameter that a setting gives the default of: one range for both."""
    return param.minimum, param.maximum


def _wall_clock_ms():
    return time.time_ns() // 1_000_000


def default_config():
    """Settings from the environment, with the defaults SPEC.md names."""
    return {
        # A PostgreSQL URL (`DATABASE_URL`) or a SQLite file (`DATABASE_PATH`): where everything is stored.
        "DATABASE_PATH": (os.environ.get("DATABASE_URL") or os.environ.get("DATABASE_PATH")
                          or os.path.join(REPO_ROOT, "data", "factory.db")),
        # How long start-up waits for a database server (PostgreSQL) that does not answer yet.
        "DATABASE_WAIT_SECONDS": _env_number("DATABASE_WAIT_SECONDS", 60, float, 0),
        "BUSY_TIMEOUT_MS": _env_number("BUSY_TIMEOUT_MS", 5000, int, 0),
        # A read request, its SQL and the work after it, stops after this long (503).
        "QUERY_TIMEOUT_SECONDS": _env_number("QUERY_TIMEOUT_SECONDS", 20, float, above=0),
        # Metrics reads one server process works on at once; more wait for a turn.
        "HEAVY_REQUESTS": _env_number("HEAVY_REQUESTS", 2),
        "MAX_BATCH": _env_number("MAX_BATCH", 5000, int, 1),
        "MAX_CONTENT_LENGTH": _env_number("MAX_BODY_BYTES", 8 * 1024 * 1024, int, 1),
        "CLOCK_SKEW_SECONDS": _env_number("CLOCK_SKEW_SECONDS", 300, int, 0),
        "MAX_EVENT_AGE_DAYS": _env_number("MAX_EVENT_AGE_DAYS", 400, int, 1),
        # The signal horizon: how long a state holds past its event; 0 means no horizon.
        "STATE_MAX_GAP_SECONDS": _env_number("STATE_MAX_GAP_SECONDS", 900, float),
        # Token settings: unset means none; set but blank stops start-up (see TOKEN_SETTINGS).
        "ADMIN_TOKEN": os.environ.get("ADMIN_TOKEN"),
        "INGEST_TOKEN": os.environ.get("INGEST_TOKEN"),
        # Several edge tokens, comma-separated, so one device can be revoked alone.
        "INGEST_TOKENS": os.environ.get("INGEST_TOKENS"),
        # Tokens that may only read (the dashboard's viewers), comma-separated.
        "VIEW_TOKENS": os.environ.get("VIEW_TOKENS"),
        # Reads open to anyone even while tokens guard the writes.
        "PUBLIC_READ": _env_flag("PUBLIC_READ", False),
        # The names the service may be reached by (the Host header, port aside); `*` for any.
        "ALLOWED_HOSTS": os.environ.get("ALLOWED_HOSTS") or None,
        # The address the server is bound to (a default allowed host when it names one machine).
        "HOST": os.environ.get("HOST") or "",
        "ALLOW_SEED": _env_flag("ALLOW_SEED", True),
        "SEED_IF_EMPTY": _env_flag("SEED_IF_EMPTY", False),
        # A thread per server process that computes the roll-ups writes left stale (rollups.Keeper).
        "ROLLUP_KEEPER": _env_flag("ROLLUP_KEEPER", True),
        # Unset: no other origin; the dashboard served from the same origin needs none.
        "CORS_ORIGINS": os.environ.get("CORS_ORIGINS") or None,
        "FACTORY_TZ": os.environ.get("FACTORY_TZ") or "UTC",
        "POLL_SECONDS": _env_number("POLL_SECONDS", 5, float, 1),
        "LOW_CONFIDENCE": _env_number("LOW_CONFIDENCE", 0.5, float, *_bounds(params.LOW_CONFIDENCE)),
        "DRIFT_RULES": DriftRules(
            recent_ms=round(_env_number("DRIFT_RECENT_SECONDS", 3600, float, *_bounds(params.DRIFT[0])) * 1000),
            confidence_drop=_env_number("DRIFT_CONFIDENCE_DROP", 0.05, float, *_bounds(params.DRIFT[1])),
            mix_shift=_env_number("DRIFT_MIX_SHIFT", 0.2, float, *_bounds(params.DRIFT[2])),
            min_events=_env_number("DRIFT_MIN_EVENTS", 20, int, *_bounds(params.DRIFT[3])),
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


# Settings that hold tokens, each a comma-separated list. Set but holding no token (" ", ",")
# would silently mean "no token"; start-up stops instead.
TOKEN_SETTINGS = ("ADMIN_TOKEN", "INGEST_TOKEN", "INGEST_TOKENS", "VIEW_TOKENS")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
ANY_ADDRESS = ("", "0.0.0.0", "::", "[::]")


def _read_tokens(config):
    """The lists the token checks use, from every setting: `INGEST_TOKENS`, `ADMIN_TOKENS`,
    `READ_TOKENS` (viewer, ingest and admin tokens), and `TOKENS_SET` (whether any is set)."""
    for name in TOKEN_SETTINGS:
        value = config.get(name)
        if isinstance(value, str) and not _split(value):
            raise StartupError(f"{name} is set but holds no token ({value!r}): give it a token, or unset it")
    config["INGEST_TOKENS"] = _split(config.get("INGEST_TOKEN")) + _split(config.get("INGEST_TOKENS"))
    config["ADMIN_TOKENS"] = _split(config.get("ADMIN_TOKEN"))
    config["READ_TOKENS"] = _split(config.get("VIEW_TOKENS")) + config["INGEST_TOKENS"] + config["ADMIN_TOKENS"]
    config["TOKENS_SET"] = bool(config["READ_TOKENS"])


def _allowed_hosts(config):
    """`ALLOWED_HOSTS` as names to compare, or `"*"`; by default the loopback names and the
    address the server is bound to when that names one machine."""
    names = _split(config.get("ALLOWED_HOSTS"))
    if "*" in names:
        return "*"
    if not names:
        names = [*LOOPBACK_HOSTS]
        if api.host_name(config.get("HOST") or "") not in ANY_ADDRESS:
            names.append(config["HOST"])
    return {api.host_name(name) for name in names}


def _cors_origins(config):
    """The origins browsers on other sites may call the API from: none unless named, and
    never every origin while tokens guard it."""
    origins = _split(config.get("CORS_ORIGINS"))
    if not origins:
        return []
    if "*" in origins and config["TOKENS_SET"]:
        raise StartupError("CORS_ORIGINS=* is refused while a token is set (ADMIN_TOKEN, INGEST_TOKEN(S) or "
                           "VIEW_TOKENS): name the dashboard's origins instead")
    return "*" if "*" in origins else origins


def create_app(test_config=None):
    """Build the application; `test_config` overrides any setting.

    A setting or a database file that keeps the service from working raises `StartupError`,
    whose message is one line naming the setting, or the file and the cause.
    """
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(default_config())
    if test_config:
        app.config.from_mapping(test_config)
    app.json.sort_keys = False
    try:
        ZoneInfo(app.config["FACTORY_TZ"])
    except (ValueError, ZoneInfoNotFoundError):
        raise StartupError(f"FACTORY_TZ={app.config['FACTORY_TZ']!r} is not a known IANA time zone") from None
    gap = app.config["STATE_MAX_GAP_SECONDS"]
    if gap is not None and not (gap == 0 or params.MIN_GAP_SECONDS <= gap):
        raise StartupError(f"STATE_MAX_GAP_SECONDS must be 0 (no horizon) or at least {params.MIN_GAP_SECONDS} "
                           f"seconds, not {gap}")
    if app.config["HEAVY_REQUESTS"] < 1:
        raise StartupError(f"HEAVY_REQUESTS must be at least 1, not {app.config['HEAVY_REQUESTS']}: "
                           "with no turn no metrics read would ever be answered")
    logs.configure()
    _read_tokens(app.config)
    origins = _cors_origins(app.config)
    app.config["ALLOWED_ORIGINS"] = origins
    app.config["ALLOWED_HOST_NAMES"] = _allowed_hosts(app.config)

    db.init_app(app)
    _prepare_rollups(app)
    if app.config["ROLLUP_KEEPER"]:
        keeper = app.extensions["rollup_keeper"] = rollups.Keeper(
            app.config["DATABASE_PATH"], app.config["CLOCK"], app.config["BUSY_TIMEOUT_MS"])
        app.before_request(keeper.start)
    logs.init_app(app)
    errors.register_error_handlers(app)
    limits.init_app(app)
    if origins:
        CORS(app, origins=origins, expose_headers=["Retry-After", "ETag"])
    app.before_request(api.refuse_foreign_hosts)
    app.before_request(api.refuse_foreign_writes)
    app.url_map.converters["id"] = api.IdConverter
    app.register_blueprint(api.bp)
    app.register_blueprint(dashboard.bp)
    app.after_request(dashboard.security_headers)
    compress.init_app(app)

    if app.config["SEED_IF_EMPTY"]:
        _seed_if_empty(app)
    return app


def _prepare_rollups(app):
    # The database passed the start-up checks; a fault met while computing roll-ups (a damaged
    # page among the events, a lock held too long) is left to the requests, which answer it by its cause
    # and work from the events meanwhile.
    try:
        rollups.prepare(app.config["DATABASE_PATH"], reports.gap_ms(app.config["STATE_MAX_GAP_SECONDS"]),
                        app.config["CLOCK"]())
    except db.Error as error:
        app.logger.warning("roll-ups were not brought up to date at start-up: %s", error)


def _seed_if_empty(app):
    path = app.config["DATABASE_PATH"]
    try:
        conn = db.connect(path, app.config["BUSY_TIMEOUT_MS"])
        try:
            if seed.seed_if_empty(conn, app.config["CLOCK"]()):
                app.logger.info("empty database: loaded the demo floor")
        finally:
            conn.close()
    except db.Error as error:
        raise db.unusable(path, error) from None

"""The HTTP API: thin views that parse the request, call one function, and return JSON."""

import functools
import hmac
import unicodedata
from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, make_response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import PathConverter

from . import alerts, charts, db, ingest, openapi, params, queries, reports, seed
from .db import get_db
from .errors import ApiError

bp = Blueprint("api", __name__)

def now_ms():
    """The server's clock in epoch milliseconds (tests set `CLOCK` to pin it)."""
    return current_app.config["CLOCK"]()


class IdConverter(PathConverter):
    """A worker, workstation or site id in a path (`<id:...>`), in Unicode NFC as ids are stored
    (SPEC §3), so a client that spells `José` decomposed names the same worker."""

    def to_python(self, value):
        return unicodedata.normalize("NFC", value)


def require_token(config_key):
    """Demand `Authorization: Bearer <token>` when the setting `config_key` lists tokens.

    Every listed token is compared in constant time, so the answer's timing tells nothing
    about how much of a token was right, nor which one matched.
    """
    tokens = current_app.config.get(config_key)
    if not tokens:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiError(401, "Unauthorized", "This route needs `Authorization: Bearer <token>`.",
                       headers={"WWW-Authenticate": "Bearer"})
    given = given.strip().encode()
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token.encode())
    if not matched:
        raise ApiError(403, "Forbidden", "The token is not valid for this route.")


def require_admin():
    """Demand the admin token once any token is configured. A server with tokens but no admin
    token refuses every admin route (`403`): left open, anyone who reaches the port could change
    the floor's setup or send its alerts to a webhook of their own, where a viewer may not even
    read."""
    if not admin_possible(current_app.config):
        raise ApiError(403, "Forbidden", "This route needs ADMIN_TOKEN, and this server has tokens but no "
                                         "admin token: it cannot be done here.")
    require_token("ADMIN_TOKENS")


def admin_possible(config):
    """Whether an admin route can be allowed here at all: no token is set, or an admin token is."""
    return bool(config["ADMIN_TOKENS"]) or not config["TOKENS_SET"]


# Routes anyone may read while tokens guard the rest: health checks, and what the dashboard needs
# before it has a token (its settings) or a client needs to learn the API. None holds plant data.
# Open alerts the dashboard's answer holds at most.
ALERTS_SHOWN = 1000
OPEN_READS = frozenset({"api.health", "api.settings", "api.openapi_document"})


def require_reader():
    """Once any token is configured, a read needs a viewer, ingest or admin token (SPEC §7),
    unless `PUBLIC_READ` is set. Writes have their own tokens."""
    config = current_app.config
    if (request.method not in ("GET", "HEAD") or request.endpoint in OPEN_READS
            or config["PUBLIC_READ"] or not config["TOKENS_SET"]):
        return
    require_token("READ_TOKENS")


bp.before_request(require_reader)


def host_name(host):
    """The name in a `Host` header or an `ALLOWED_HOSTS` entry, for comparing: lower case,
    without the port or a trailing dot (`Example.com.:5000` -> `example.com`, `[::1]:80` -> `[::1]`)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[:host.find("]") + 1] if "]" in host else host
    if host.count(":") > 1:  # a bare IPv6 address, as HOST may give it
        return f"[{host}]"
    return host.partition(":")[0].rstrip(".")


def refuse_foreign_hosts():
    """Refuse a request whose `Host` is not one of `ALLOWED_HOSTS` (`400`).

    A page on another site can make a visitor's browser talk to this server under the page's own
    name (DNS rebinding): the browser then sends that name as both `Host` and `Origin`, so the
    cross-site check below would pass it. Health checks are answered whatever the name: load
    balancers and orchestrators call a machine by its address, and health holds no plant data.
    """
    allowed = current_app.config["ALLOWED_HOST_NAMES"]
    if allowed == "*" or request.endpoint == "api.health":
        return
    name = host_name(request.host)
    if name not in allowed:
        raise ApiError(400, "Bad Request", f"This server is not reached by the name {name[:100]!r}; "
                                           "its operator can add the name to ALLOWED_HOSTS.")


def refuse_foreign_writes():
    """Refuse a write a browser makes on behalf of a page from another site.

    Browsers send such a POST without asking first when it looks like a form, so CORS alone
    would not stop a hostile page from posting events or reloading demo data through a
    visitor's browser. Browsers always name the page's origin; devices and scripts send none.
    """
    origin = request.headers.get("Origin")
    if request.method in ("GET", "HEAD", "OPTIONS") or not origin:
        return
    allowed = current_app.config["ALLOWED_ORIGINS"]
    if urlsplit(origin).netloc == request.host or allowed == "*" or origin in allowed:
        return
    raise ApiError(403, "Forbidden", f"Writes from pages on {origin} are refused; "
                                     "name that origin in CORS_ORIGINS to allow them.")


def body_bytes():
    """The request body; a body over `MAX_CONTENT_LENGTH` is a 413 however it is sent, one the
    server cannot read as sent (a malformed chunked encoding) a 400 (the server then closes the
    connection: nothing after it can be read)."""
    try:
        data = request.get_data(cache=False)
        limit = request.max_content_length
        # Werkzeug refuses a Content-Length over the limit unread, but stops a chunked body at the
        # limit as if it ended there; one byte more from the server's stream tells that it went on.
        if limit is not None and len(data) >= limit and request.content_length is None and request.input_stream.read(1):
            raise RequestEntityTooLarge()
    except HTTPException:
        raise
    except Exception as error:  # the WSGI server's stream failing on the body as sent (its own exception type)
        raise ApiError(400, "Bad Request",
                       f"The request body could not be read as sent: {error}. Nothing was kept.") from error
    return data


def json_body():
    """The request body as JSON (`ingest.parse_body`): a 400 `ApiError` when it is not JSON."""
    return ingest.parse_body(body_bytes())


@bp.get("/health")
def health():
    body, status = db.check_health(current_app.config["DATABASE_PATH"], now_ms())
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/events")
def post_events():
    require_token("INGEST_TOKENS")
    summary = ingest.ingest_body(get_db(), body_bytes(), current_app.config, now_ms())
    if summary["accepted"] or not summary["rejected"]:
        return jsonify(summary), 201 if summary["accepted"] else 200
    raise ApiError(422, "Unprocessable Content", "No event was accepted; see `results` for the reasons.",
                   ingest.rejection_errors(summary), **summary)


@bp.get("/events")
def list_events():
    values = params.read_args(request.args, params.FEED)
    limit = values.pop("limit")
    feed = queries.recent_events(get_db(), {
        "from_ms": values.pop("from"), "to_ms": values.pop("to"), "limit": limit + 1, **values,
    })
    return jsonify(events=feed[:limit], limit=limit, has_more=len(feed) > limit)


@bp.get("/workers")
def list_workers():
    rows = queries.list_workers(get_db())
    return jsonify(workers=[{"worker_id": worker_id, "name": name} for worker_id, name in rows])


@bp.put("/workers/<id:worker_id>")
def put_worker(worker_id):
    require_admin()
    return jsonify(reports.put_worker(get_db(), worker_id, json_body()))


@bp.get("/workstations")
def list_workstations():
    rows = queries.workstation_setup(get_db())
    return jsonify(workstations=[queries.workstation_json(station_id, *setup) for station_id, setup in rows.items()])


@bp.put("/workstations/<id:workstation_id>")
def put_workstation(workstation_id):
    require_admin()
    return jsonify(reports.put_workstation(get_db(), workstation_id, json_body()))


@bp.get("/sites")
def list_sites():
    return jsonify(sites=reports.sites_json(get_db()))


@bp.get("/sites/<id:site_id>")
def get_site(site_id):
    return jsonify(reports.get_site_json(get_db(), site_id))


@bp.put("/sites/<id:site_id>")
def put_site(site_id):
    require_admin()
    return jsonify(reports.put_site(get_db(), site_id, json_body()))


@bp.get("/calendar")
def get_calendar():
    return jsonify(reports.calendar_json(get_db(), current_app.config["FACTORY_TZ"]))


@bp.put("/calendar")
def put_calendar():
    require_admin()
    return jsonify(reports.put_calendar(get_db(), json_body(), current_app.config["FACTORY_TZ"]))


@bp.get("/settings")
def settings():
    config = current_app.config
    return jsonify(
        factory_tz=config["FACTORY_TZ"],
        poll_seconds=config["POLL_SECONDS"],
        seed={"allowed": seed_allowed(config), "needs_token": config["TOKENS_SET"]},
        reads_need_token=config["TOKENS_SET"] and not config["PUBLIC_READ"],
    )


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi.DOCUMENT)


def _query(extra_parsers=None):
    config = current_app.config
    return reports.MetricsQuery.from_args(request.args, config["STATE_MAX_GAP_SECONDS"], extra_parsers,
                                          config["FACTORY_TZ"])


def conditional(view=None, *, also=None):
    """Answer `304 Not Modified` when the client's ETag shows it has this answer already.

    The ETag covers the data version, the resolved window and the request, so skipping the
    computation is safe; browsers revalidate on every poll (`Cache-Control: no-cache`).
    `also(conn, query, now_ms, config)` names whatever else a view's answer depends on.
    """
    if view is None:
        return functools.partial(conditional, also=also)

    @functools.wraps(view)
    def answer(*args, **kwargs):
        conn, query, now = get_db(), _query(), now_ms()
        etag = reports.fingerprint(conn, query, now, request.full_path)
        if also is not None:
            etag += also(conn, query, now, current_app.config)
        # Only a tag this server gave out skips the work: `*` would also hide a 404 or 422.
        if not request.if_none_match.star_tag and request.if_none_match.contains_weak(etag):
            response = current_app.response_class(status=304)
        else:
            response = make_response(view(*args, **kwargs))
        # Weak: the same answer goes out gzipped or not (backend/compress.py), byte for byte other.
        response.set_etag(etag, weak=True)
        response.headers["Cache-Control"] = "no-cache"
        return response
    return answer


def _report(part):
    """`{"window", part}` of the query's report (SPEC §5)."""
    return reports.metrics_report(get_db(), _query(), now_ms(), parts=(part,))


@bp.get("/metrics/factory")
@conditional
def factory_metrics():
    return jsonify(_report("factory"))


@bp.get("/metrics/workers")
@conditional
def workers_metrics():
    return jsonify(_report("workers"))


@bp.get("/metrics/workers/<id:worker_id>")
@conditional
def worker_metrics(worker_id):
    return jsonify(reports.single_item(_report("workers"), "worker", worker_id))


@bp.get("/metrics/workstations")
@conditional
def workstations_metrics():
    return jsonify(_report("workstations"))


@bp.get("/metrics/workstations/<id:workstation_id>")
@conditional
def workstation_metrics(workstation_id):
    return jsonify(reports.single_item(_report("workstations"), "workstation", workstation_id))


def _shifts_report():
    config = current_app.config
    return reports.shifts_report(get_db(), request.args, now_ms(), config["STATE_MAX_GAP_SECONDS"],
                                 config["FACTORY_TZ"])


def _tagged_by_body(response):
    # A running shift's figures grow with the clock, so the tag is the answer's own hash: a poll
    # still costs the computation, but an unchanged answer goes back as a small 304.
    response.add_etag(weak=True)
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


@bp.get("/metrics/shifts")
def shifts_metrics():
    return _tagged_by_body(jsonify(_shifts_report()))


@bp.get("/metrics/shifts.csv")
def shifts_csv():
    response = make_response(reports.shifts_csv(_shifts_report()))
    response.mimetype = "text/csv"
    response.headers["Content-Disposition"] = 'attachment; filename="shifts.csv"'
    return _tagged_by_body(response)


@bp.get("/metrics/timeline")
@conditional
def timeline_metrics():
    return jsonify(charts.timeline_report(get_db(), _query(params.CHART), now_ms()))


@bp.get("/metrics/hourly")
@conditional
def hourly_metrics():
    return jsonify(charts.buckets_report(get_db(), _query(params.BUCKETS), now_ms()))


@bp.get("/metrics/models")
@conditional
def models_metrics():
    query = _query(params.MODELS)
    return jsonify(charts.models_report(get_db(), query, now_ms(), current_app.config["LOW_CONFIDENCE"]))


@bp.get("/metrics/drift")
@conditional
def drift_metrics():
    query = _query(params.DRIFT)
    return jsonify(charts.drift_report(get_db(), query, now_ms(), current_app.config["DRIFT_RULES"]))


@bp.get("/metrics/dashboard")
@conditional(also=charts.dashboard_key)
def dashboard_metrics():
    conn = get_db()
    body = charts.dashboard_report(conn, _query(params.DASHBOARD), now_ms(), current_app.config)
    return jsonify(**body, alerts=alerts.list_alerts(conn, "open", ALERTS_SHOWN))


@bp.get("/alerts/rules")
def get_alert_rules():
    require_admin()
    return jsonify(alerts.rules_json(get_db()))


@bp.put("/alerts/rules")
def put_alert_rules():
    require_admin()
    return jsonify(alerts.put_rules(get_db(), json_body()))


@bp.get("/alerts")
def list_alerts():
    values = params.read_args(request.args, params.ALERTS)
    return jsonify(alerts.list_alerts(get_db(), values["state"], values["limit"]))


def seed_allowed(config):
    """Whether `POST /seed` can ever succeed here: it is on, and an admin token exists if any token does."""
    return bool(config["ALLOW_SEED"]) and admin_possible(config)


@bp.post("/seed")
def post_seed():
    config = current_app.config
    if not config["ALLOW_SEED"]:
        raise ApiError(403, "Forbidden", "Loading demo data is turned off on this server (ALLOW_SEED=0).")
    require_admin()
    replace = params.read_args(request.args, params.SEED)["replace"]
    return jsonify(seeded=True, **seed.load_demo(get_db(), now_ms(), replace_all=replace == "all")), 200

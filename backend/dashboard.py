"""The dashboard's static files, served from `frontend/` so one process gives the whole product.

Every response carries headers that stop browsers from guessing content types or framing the
page; the dashboard's Content-Security-Policy allows scripts and styles from this origin only
(never inline script), and API calls to this origin plus any named in `DASHBOARD_CONNECT_SRC`.
"""

from flask import Blueprint, current_app, send_from_directory

bp = Blueprint("dashboard", __name__)

DASHBOARD_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                 "connect-src 'self'{extra}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
API_CSP = "default-src 'none'; frame-ancestors 'none'"


@bp.get("/")
def index():
    return _with_policy(send_from_directory(current_app.config["FRONTEND_DIR"], "index.html"))


@bp.get("/<any(assets, css, js, img):folder>/<path:name>")
def asset(folder, name):
    return _with_policy(send_from_directory(current_app.config["FRONTEND_DIR"], f"{folder}/{name}"))


def _with_policy(response):
    extra = " ".join(current_app.config["DASHBOARD_CONNECT_SRC"].split())
    response.headers["Content-Security-Policy"] = DASHBOARD_CSP.format(extra=f" {extra}" if extra else "")
    return response


def security_headers(response):
    """Headers for every response: no sniffing, no framing, no referrer leaving this origin."""
    response.headers.setdefault("Content-Security-Policy", API_CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response

"""The dashboard's static files, served from `frontend/` so one process gives the whole product."""

from flask import Blueprint, current_app, send_from_directory

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index():
    return send_from_directory(current_app.config["FRONTEND_DIR"], "index.html")


@bp.get("/<any(assets, css, js, img):folder>/<path:name>")
def asset(folder, name):
    return send_from_directory(current_app.config["FRONTEND_DIR"], f"{folder}/{name}")

"""One error shape for every failure: RFC 9457 problem details (`application/problem+json`)."""

import logging

from flask import current_app
from werkzeug.exceptions import HTTPException

PROBLEM_MIMETYPE = "application/problem+json"

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """A setting or the database keeps the service from starting; the message is one line that
    names what to fix. `python -m backend` and gunicorn print it and exit with status 1."""


class ApiError(Exception):
    """A failure the client should see: HTTP status, short title, detail, optional field errors.

    `extra` holds further members of the problem object (RFC 9457 extension members), such as
    the per-event results of an ingestion in which every event was rejected.
    """

    def __init__(self, status, title, detail, errors=None, headers=None, **extra):
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


def field_error(field, message):
    """One entry of a problem's `errors` list."""
    return {"field": field, "message": message}


def problem_response(status, title, detail, errors=None, headers=None, **extra):
    """Build the problem-details response every error path returns."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = current_app.json.response(body)
    response.status_code = status
    response.mimetype = PROBLEM_MIMETYPE
    response.headers.update(headers or {})
    return response


def _handle_api_error(error):
    return problem_response(
        error.status, error.title, error.detail, error.errors, error.headers, **error.extra
    )


def _handle_http_exception(error):
    # Flask's own 404, 405, 413 and 400 get the same shape as ours; keep Allow on a 405.
    headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
    if error.code == 413:  # Werkzeug's words name neither the limit nor the setting
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return problem_response(413, "Content Too Large", f"The body is larger than {limit} bytes, the most "
                                                          "this server takes (MAX_BODY_BYTES).")
    return problem_response(error.code, error.name, error.description, headers=headers)


def _handle_unexpected(error):
    log.exception("unhandled error")
    return problem_response(500, "Internal Server Error", "The server could not complete the request.")


def register_error_handlers(app):
    """Route every exception raised while handling a request to the problem-details shape.

    Database failures are answered by their cause (`db.init_app` registers that handler).
    """
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)

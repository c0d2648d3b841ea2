"""Structured logs: one JSON object per line, an access line per request, errors with their trace.

Nothing from request headers is logged, so tokens never reach the logs; the query string is
logged without values of parameters whose name suggests a secret.
"""

import json
import logging
import sys
import time

from flask import g, request

ACCESS = logging.getLogger("factory.access")
SECRET_WORDS = ("token", "secret", "password", "key", "auth")


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line: time, level, logger, message and any `fields`."""

    def format(self, record):
        seconds = int(record.created)
        entry = {
            "time": f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level="INFO"):
    """Send every log record to stderr as JSON lines (once per process)."""
    root = logging.getLogger()
    if any(getattr(handler, "factory_json", False) for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.factory_json = True
    root.addHandler(handler)
    root.setLevel(level)


def init_app(app):
    """Log one access line per request, with its status and duration."""

    @app.before_request
    def _start_clock():
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_access(response):
        started = g.pop("request_started", None)
        ACCESS.info("request", extra={"fields": {
            "method": request.method,
            "path": request.path,
            "query": redacted_query(request.args) if request.query_string else {},
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "bytes": response.content_length,
            "remote": request.remote_addr,
        }})
        return response


def redacted_query(args):
    """The query parameters, with the value of any secret-sounding one replaced."""
    return {name: "[redacted]" if any(word in name.lower() for word in SECRET_WORDS) else value
            for name, value in args.items()}

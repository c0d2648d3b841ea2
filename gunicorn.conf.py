"""gunicorn settings from the environment: `gunicorn -c gunicorn.conf.py "backend.app:create_app()"`."""

import ctypes
import os
import platform
import sys


def _number(name, default, kind):
    """A number setting, or start-up stops with one line naming it."""
    value = (os.environ.get(name) or "").strip()
    try:
        return kind(value) if value else default
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not {'an integer' if kind is int else 'a number'}") from None


bind = f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '5000'}"
workers = _number("WEB_CONCURRENCY", 2, int)
if workers < 1:
    raise SystemExit(f"WEB_CONCURRENCY={workers} must be at least 1")
# A read request answers `503` itself once it has run QUERY_TIMEOUT_SECONDS (backend/limits.py).
# gunicorn's timeout kills a worker process whose main loop has not run for that long, and with it
# every request the process holds, so it stays well above the request limit: by default three times
# it, at least 60 s. A WEB_TIMEOUT not above twice the request limit stops start-up.
_request_limit_s = _number("QUERY_TIMEOUT_SECONDS", 20.0, float)
timeout = _number("WEB_TIMEOUT", int(max(60, 3 * _request_limit_s)), int)
if timeout <= 2 * _request_limit_s:
    raise SystemExit(f"WEB_TIMEOUT={timeout} must be above twice QUERY_TIMEOUT_SECONDS={_request_limit_s:g}: "
                     "gunicorn would kill workers still answering within their limit")
# gunicorn's threaded worker. A thread reads its request's head and body as they arrive, so a
# client that sends slowly holds one thread for as long as it sends: with 64 threads a process,
# 50 such clients, even all on one process, leave others answered (tests/test_slow_clients.py).
# Each thread keeps one database connection of its own (backend/db.py).
worker_class = "gthread"
threads = 64
# A thread that waits on the database gives up the interpreter's lock, and then waits for it again
# behind any thread that is computing, for up to the switch interval (5 ms by default) each time.
# A camera's write waits on the database at each SQLite statement or PostgreSQL round trip, so
# beside a dashboard's long read in the same process it queued behind it each time. The computing
# thread is asked to let others run ten times as often (README, Running it in production: what it
# changed).
SWITCH_INTERVAL_S = 0.0005
sys.setswitchinterval(SWITCH_INTERVAL_S)
# The app is built once, before the workers fork: the schema upgrade and the demo seeding run
# once, and no two workers race to create a new database file. No connection is open at fork.
preload_app = True
# The application writes one JSON access line per request itself (backend/logs.py).
accesslog = None
errorlog = "-"
# glibc's malloc gives each new thread an arena of its own, up to eight per core, and memory
# freed in an arena stays with that arena. With 64 threads a process that answered a few long
# windows at once held 50-100 MB more than the work needed. All threads share two arenas instead;
# set here, in the master, before it forks the workers. Other C libraries are left as they are.
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter for it, from glibc's <malloc.h>
if platform.libc_ver()[0] == "glibc":
    ctypes.CDLL(None).mallopt(_M_ARENA_MAX, MALLOC_ARENAS)

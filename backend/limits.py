"""Each request's limits: one deadline, a client that has gone away, and a cap on heavy work.

A read request gets one deadline, `QUERY_TIMEOUT_SECONDS` after it starts. SQLite's progress
handler and the Python loops that can run long ask the same question here, `stop_reason()`,
so SQL and the computation after it stop at one instant: a request past its deadline answers
`503` with `Retry-After`, and one whose client has closed its connection stops its work and
answers nobody (its log line says `499`, as nginx's do).

Heavy work (every `/metrics` read) is capped per process: at most `HEAVY_REQUESTS` run at once,
so a burst of long-window requests cannot multiply one process's memory; the others wait for a
turn until their own deadline.
"""

import socket
import threading
import time
from contextvars import ContextVar
from itertools import islice

from flask import current_app, g, request

from .errors import problem_response

# The status logged for a request whose client went away before its answer (nginx's word for it).
CLIENT_CLOSED = 499
# How often, at most, a request looks at its connection: one system call per look.
SOCKET_CHECK_EVERY_S = 0.05
# How long a request waiting for a turn at heavy work sleeps between looks at its connection.
TURN_WAIT_SLICE_S = 0.1
HEAVY_PATH_PREFIX = "/metrics"


class RequestStopped(Exception):
    """The request's work stopped: `reason` is `"deadline"` or `"abandoned"`."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Limit:
    """One request's deadline (monotonic seconds) and the connection it came on (or `None`)."""

    def __init__(self, deadline, sock=None, clock=None):
        self.deadline = deadline
        self.sock = sock
        self.clock = clock or time.monotonic
        self.next_socket_check = 0.0
        self.reason = None

    def stop_reason(self):
        """`"deadline"`, `"abandoned"` or `None`; once a reason is found it stays."""
        if self.reason is None:
            now = self.clock()
            if self.sock is not None and now >= self.next_socket_check:
                self.next_socket_check = now + SOCKET_CHECK_EVERY_S
                if client_gone(self.sock):
                    self.reason = "abandoned"  # nobody to answer, whatever the time
            if self.reason is None and now > self.deadline:
                self.reason = "deadline"
        return self.reason


_limit = ContextVar("request_limit", default=None)


def client_gone(sock):
    """Whether the peer of `sock` has closed it: a closed peer reads as end of stream at once;
    a live one has nothing to read (or its next request, which is left in place)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:  # reset by the peer, or the socket is closed already
        return True


def begin(seconds, sock=None, clock=None):
    """Start the current request's limit: `seconds` from now (by `clock`, the monotonic clock
    unless given), watching `sock` if given."""
    clock = clock or time.monotonic
    limit = Limit(clock() + seconds, sock, clock)
    _limit.set(limit)
    return limit


def end():
    """The current request is over: nothing is limited until the next `begin`."""
    _limit.set(None)


def stop_reason():
    """Why the current request should stop now (`"deadline"`, `"abandoned"`), or `None`;
    `None` outside a limited request. SQLite's progress handler calls this."""
    limit = _limit.get()
    return limit.stop_reason() if limit is not None else None


def check():
    """Raise `RequestStopped` when the current request is past its deadline or abandoned;
    called from loops that can run long, between rows."""
    reason = stop_reason()
    if reason is not None:
        raise RequestStopped(reason)


def checked(items, every=1000):
    """`items` one by one, the request's limit checked before the first and every `every`
    after it: for the rows and timelines a report's Python loops walk through once."""
    items = iter(items)
    while True:
        check()
        chunk = list(islice(items, every))
        yield from chunk
        if len(chunk) < every:
            return


def remaining_s():
    """Seconds left before the current request's deadline (`None` outside a limited request)."""
    limit = _limit.get()
    return None if limit is None else limit.deadline - limit.clock()


def take_turn(turns):
    """Wait for one of `turns` (a semaphore) until the request's deadline, watching the client.

    Raises `RequestStopped` when the deadline passes or the client goes first."""
    while True:
        check()
        left = remaining_s()
        if turns.acquire(timeout=TURN_WAIT_SLICE_S if left is None else max(0.0, min(left, TURN_WAIT_SLICE_S))):
            return


def stopped_response(reason):
    """The answer to a request stopped for `reason`: `503` with `Retry-After` past the deadline;
    an empty `499` (sent to nobody, but logged) when the client has gone."""
    if reason == "abandoned":
        response = current_app.response_class(status=CLIENT_CLOSED)
        response.headers["Connection"] = "close"
        return response
    seconds = current_app.config["QUERY_TIMEOUT_SECONDS"]
    return problem_response(503, "Service Unavailable",
                            f"The request could not be answered in time (QUERY_TIMEOUT_SECONDS: {seconds:g} s); "
                            "nothing was changed. Retry shortly, or ask for a shorter window.",
                            headers={"Retry-After": "1"})


def take_heavy_turn():
    """Before a metrics read's first use of the database, wait for one of this process's
    `HEAVY_REQUESTS` turns (released when the request ends); other requests go straight on.

    Taken here rather than on arrival, so a request refused for its token never waits for one."""
    if _limit.get() is None or "heavy_turn" in g or not request.path.startswith(HEAVY_PATH_PREFIX):
        return
    turns = current_app.extensions["heavy_turns"]
    take_turn(turns)
    g.heavy_turn = turns


def _begin_request():
    # Only reads are stopped part-way: a write holds its share of a transaction it commits with
    # others, and its size is bounded by MAX_BATCH and BUSY_TIMEOUT_MS instead.
    if request.method in ("GET", "HEAD"):
        begin(current_app.config["QUERY_TIMEOUT_SECONDS"], request.environ.get("gunicorn.socket"))


def _end_request(_exc=None):
    turns = g.pop("heavy_turn", None)
    if turns is not None:
        turns.release()
    end()


def init_app(app):
    """Limit every read request of `app`, and give at most `HEAVY_REQUESTS` metrics reads of
    this process a turn at once (`take_heavy_turn`)."""
    app.extensions["heavy_turns"] = threading.BoundedSemaphore(app.config["HEAVY_REQUESTS"])
    app.before_request(_begin_request)
    app.teardown_request(_end_request)
    app.register_error_handler(RequestStopped, lambda error: stopped_response(error.reason))

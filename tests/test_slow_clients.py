"""Slow clients: connections that trickle their request in never keep others from being answered.

The server is started as `make run` starts it. Fifty connections send their request one byte a
second, half of them still in the head, half in the body, for a minute; meanwhile `/health` and
a single event's `POST /events` must each be answered within a second, every time.
"""

import http.client
import json
import os
import shlex
import socket
import threading
import time
from datetime import UTC, datetime

import pytest

from tests.servers import GUNICORN, REPO_ROOT, SERVE_ARGS, Server

TRICKLING_HEADS = 25
TRICKLING_BODIES = 25
TRICKLE_S = 60
ANSWER_WITHIN_S = 1.0
CHECK_EVERY_S = 0.25
# A head that never ends within the trickle: the request line, then a header that goes on.
HEAD_START = b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
# A head sent at once, announcing a body far longer than the trickle delivers.
BODY_HEAD = (b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             b"Content-Length: 4096\r\n\r\n")


def make_run_command():
    """The words of the command the Makefile's `run` target serves with, after its settings."""
    with open(os.path.join(REPO_ROOT, "Makefile")) as makefile:
        lines = makefile.read().splitlines()
    start = next(number for number, line in enumerate(lines) if line.startswith("run:"))
    recipe = ""
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe += line.strip().removesuffix("\\") + " "
    words = shlex.split(recipe)
    return words[next(number for number, word in enumerate(words) if "=" not in word):]


def test_the_tests_start_the_server_as_make_run_does():
    assert make_run_command() == ["$(BIN)/gunicorn", *SERVE_ARGS]
    assert GUNICORN[-len(SERVE_ARGS):] == SERVE_ARGS


class Trickler(threading.Thread):
    """Keeps connections to `port` sending their request one byte a second until stopped.

    A connection the server closes is opened again and starts over, so the pressure stays on
    for the whole run.
    """

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.sent = 0
        self.reopened = 0
        self.connections = [self._open(head) for head in [b""] * TRICKLING_HEADS + [BODY_HEAD] * TRICKLING_BODIES]

    def _open(self, head):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(head)
        sock.setblocking(False)
        # What the connection sends next: the rest of a head, or a body of spaces (valid JSON
        # padding) after a complete head.
        rest = HEAD_START + b"a" * 10_000 if not head else b" " * 4096
        return {"sock": sock, "head": head, "rest": rest}

    def run(self):
        while not self.stop.is_set():
            for number, connection in enumerate(self.connections):
                try:
                    connection["sock"].send(connection["rest"][:1])
                    connection["rest"] = connection["rest"][1:]
                    self.sent += 1
                except OSError:
                    connection["sock"].close()
                    self.reopened += 1
                    try:
                        self.connections[number] = self._open(connection["head"])
                    except OSError:
                        pass  # tried again on the next round
            self.stop.wait(1.0)  # the pace of the trickle, not a wait for anything

    def close(self):
        """Stop trickling and close every connection."""
        self.stop.set()
        self.join(timeout=10)
        for connection in self.connections:
            connection["sock"].close()


def answered_in_time(port, method, path, body=None, expected=(200,)):
    """`None` when the request got an expected answer within `ANSWER_WITHIN_S`; else the problem."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_WITHIN_S)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
    except OSError as problem:
        return f"{method} {path}: {problem!r}"
    finally:
        conn.close()
    took = time.monotonic() - started
    if response.status not in expected or took > ANSWER_WITHIN_S:
        return f"{method} {path}: {response.status} after {took:.2f} s"
    return None


def event_now(number):
    """A valid single event stamped now: the server refuses events far from its clock."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({"timestamp": stamp, "worker_id": "W1", "workstation_id": "S1",
                       "event_type": "working", "event_id": f"slow-test-{number}"}).encode()


@pytest.fixture
def server(tmp_path):
    started = Server(tmp_path).start()
    yield started
    started.stop()


def test_fifty_trickling_connections_keep_nobody_else_waiting(server):
    trickler = Trickler(server.port)
    trickler.start()
    failures, checks = [], 0
    try:
        end = time.monotonic() + TRICKLE_S
        while time.monotonic() < end:
            checks += 1
            for problem in (answered_in_time(server.port, "GET", "/health"),
                            answered_in_time(server.port, "POST", "/events", event_now(checks), (201,))):
                if problem:
                    failures.append(problem)
            trickler.stop.wait(CHECK_EVERY_S)  # the pace of the checks
        assert trickler.is_alive()
    finally:
        trickler.close()
    assert not failures, f"{len(failures)} of {2 * checks} checks failed, e.g. {failures[:5]}"
    assert trickler.sent >= (TRICKLING_HEADS + TRICKLING_BODIES) * (TRICKLE_S - 5)  # it trickled throughout
    assert checks >= TRICKLE_S, checks

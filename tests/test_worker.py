"""The gunicorn worker (backend/worker.py): answers corked, connections closed at once when
nothing is left to drain, and gunicorn's draining close whenever something may be."""

import json
import socket

import pytest
from gunicorn.config import Config
from gunicorn.http import get_parser

from backend import worker
from tests.servers import GUNICORN, Server

EVENT = {"timestamp": "2026-01-15T10:00:00Z", "worker_id": "W1", "workstation_id": "S1",
         "event_type": "working", "event_id": "e1"}


@pytest.fixture
def connection():
    """`(client, served)`: the two ends of a fresh TCP connection on 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=10)
        served, _ = listener.accept()
        served.settimeout(10)
        yield client, served
        client.close()
        served.close()


def parsed(served):
    """The request the client sent on `served`, read by gunicorn's own parser."""
    return next(get_parser(Config(), served, ("127.0.0.1", 0)))


def post(body, *headers):
    head = [b"POST /events HTTP/1.1", b"Host: 127.0.0.1", b"Content-Type: application/json",
            b"Content-Length: %d" % len(body), *headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def test_a_request_read_to_its_end_is_closed_at_once(connection):
    client, served = connection
    client.sendall(post(b'{"a": 1}'))
    request = parsed(served)
    assert request.body.read() == b'{"a": 1}'
    served.sendall(b"the answer")
    assert worker.close_if_all_read(request, served) is True
    assert served.fileno() == -1
    assert client.recv(100) == b"the answer"
    assert client.recv(100) == b""  # the end of the connection, without the client closing first


def test_a_body_not_read_to_its_end_is_left_to_the_draining_close(connection):
    client, served = connection
    client.sendall(post(b"x" * 5000)[:-1000])  # part of the body; the rest is still to come
    request = parsed(served)
    request.body.read(10)
    assert worker.close_if_all_read(request, served) is False
    assert served.fileno() != -1


def test_bytes_after_the_request_are_left_to_the_draining_close(connection):
    client, served = connection
    client.sendall(post(b"{}"))
    request = parsed(served)
    request.body.read()
    client.sendall(b"GET / HTTP/1.1\r\n\r\n")  # a second request nobody will read
    assert served.recv(1, socket.MSG_PEEK) == b"G"  # it has arrived, and is still unread
    assert worker.close_if_all_read(request, served) is False
    assert served.fileno() != -1


def test_a_chunked_body_is_left_to_the_draining_close(connection):
    client, served = connection
    client.sendall(b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"2\r\n{}\r\n0\r\n\r\n")
    request = parsed(served)
    assert request.body.read() == b"{}"
    assert worker.close_if_all_read(request, served) is False


def test_answers_are_corked_unless_the_client_waits_for_100_continue(connection):
    client, served = connection
    client.sendall(post(b"{}") + post(b"{}", b"Expect: 100-continue"))
    requests = get_parser(Config(), served, ("127.0.0.1", 0))
    plain = next(requests)
    plain.body.read()
    expecting = next(requests)
    assert worker.corks(plain, served) is (worker.CORK is not None)
    assert worker.corks(expecting, served) is False


def test_answers_on_a_unix_socket_are_not_corked():
    client, served = socket.socketpair(socket.AF_UNIX)
    with client, served:
        client.sendall(post(b"{}"))
        assert worker.corks(parsed(served), served) is False


@pytest.fixture
def server(tmp_path):
    started = Server(tmp_path, GUNICORN, INGEST_TOKEN="secret", WEB_CONCURRENCY="1").start()
    yield started
    started.stop()


def exchange(server, *parts):
    """`(status, body)` of the answer to `parts` sent to `server` on 127.0.0.1."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
        return exchanged(client, *parts)


def exchanged(client, *parts):
    """Send each of `parts` in turn, then read the whole answer (to the end of the connection)."""
    for part in parts:
        client.sendall(part)
    answer = b""
    while chunk := client.recv(65536):
        answer += chunk
    status_line, _, body = answer.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), body


def test_the_server_runs_this_worker():
    import runpy

    from tests.servers import REPO_ROOT

    assert runpy.run_path(f"{REPO_ROOT}/gunicorn.conf.py")["worker_class"] == "backend.worker.Worker"


def test_an_answer_given_before_the_body_arrives_reaches_the_client(server):
    request = post(json.dumps({"events": [EVENT] * 300}).encode())
    # No token: the 401 is given before the body is read, while most of it is still to come.
    status, answer = exchange(server, request[:2000], request[2000:])
    assert status == 401
    assert json.loads(answer)["status"] == 401


def test_a_connection_answered_before_its_body_arrived_is_drained_not_reset(server):
    request = post(json.dumps({"events": [EVENT] * 300}).encode())
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
        client.sendall(request[:2000])
        head = b""
        while b"\r\n\r\n" not in head:
            head += client.recv(65536)
        assert head.startswith(b"HTTP/1.1 401 ")
        # The rest of the body comes after the answer: gunicorn's close reads it, where a
        # closed socket would answer it with a reset.
        client.sendall(request[2000:])
        while client.recv(65536):
            pass  # the rest of the answer, then the end of the connection
        assert client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0  # and no reset


def test_a_stored_event_is_answered_in_full(server):
    status, answer = exchange(server, post(json.dumps(EVENT).encode(), b"Authorization: Bearer secret"))
    assert status == 201
    assert json.loads(answer)["accepted"] == 1


def test_a_server_listening_on_a_unix_socket_answers_there(tmp_path):
    path = str(tmp_path / "s.sock")
    server = Server(tmp_path, GUNICORN, INGEST_TOKEN="secret", WEB_CONCURRENCY="1")
    # Listening on both: the TCP port tells when the server is up.
    server.command = [*GUNICORN, "--bind", f"127.0.0.1:{server.port}", "--bind", f"unix:{path}"]
    server.start()
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(10)
            client.connect(path)
            status, answer = exchanged(client, post(json.dumps(EVENT).encode(), b"Authorization: Bearer secret"))
    finally:
        server.stop()
    assert status == 201
    assert json.loads(answer)["accepted"] == 1


def test_a_client_waiting_for_100_continue_gets_it_then_its_answer(server):
    body = json.dumps(EVENT).encode()
    head, _, _ = post(body, b"Authorization: Bearer secret", b"Expect: 100-continue").partition(b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
        client.sendall(head + b"\r\n\r\n")
        assert client.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        client.sendall(body)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["accepted"] == 1

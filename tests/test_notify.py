"""SPEC §9, the notifier: each alert's opening and closing recorded once, delivered to every webhook
once and in order, signed, through a receiver that is down, then fails, then recovers; two
notifier processes on one database; alert changes on MQTT.

The rules are evaluated at an injected clock: in-process through `Notifier(clock=...)`, in a
notifier process through `notify.main(clock=...)` reading the instant from a file the test
writes. The receiver is a real HTTP server on 127.0.0.1. Nothing waits by sleeping: each step
polls for what it waits for, with a deadline.
"""

import hashlib
import hmac
import json
import os
import queue
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import paho.mqtt.client as mqtt
import pytest

from backend import notify
from backend.timeutil import parse_instant
from tests.helpers import at, event, post_events
from tests.servers import REPO_ROOT, free_port
from tests.test_mqtt import MOSQUITTO, Broker, wait_until

SECRETS = {"/a": "alpha-secret", "/b": "beta-secret"}
# Quick rounds and retries, so an outage of a second is many attempts.
FAST = {"interval_s": 0.02, "timeout_s": 2.0, "retry_base_s": 0.05, "retry_max_s": 0.4, "lease_s": 60.0}
FAST_ENV = {"NOTIFY_INTERVAL_SECONDS": "0.02", "NOTIFY_TIMEOUT_SECONDS": "2", "NOTIFY_RETRY_BASE_SECONDS": "0.05",
            "NOTIFY_RETRY_MAX_SECONDS": "0.4", "STATE_MAX_GAP_SECONDS": "0", "FACTORY_TZ": "UTC"}
# A notifier process whose clock is the instant (epoch ms) written in the file named by its argument.
RUNNER = ("import pathlib, sys\n"
          "from backend import notify\n"
          "sys.exit(notify.main(clock=lambda: int(pathlib.Path(sys.argv[1]).read_text())))\n")


class Receiver:
    """A webhook receiver on 127.0.0.1 serving the paths of `SECRETS`.

    Down (its port closed) until `start`; then it answers `failures` requests with 500 and takes
    the rest, each only when its `X-Signature` is the HMAC of the body with its path's secret.
    """

    def __init__(self):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.received = {path: [] for path in SECRETS}  # (X-Alert-Change-Id, change, alert id)
        self.failures_left = 0
        self.failed = 0
        self.bad_signatures = []
        self.server = None

    def start(self, failures=0):
        self.failures_left = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(receiver.take(self.path, self.headers, body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def take(self, path, headers, body):
        with self.lock:
            secret = SECRETS.get(path, "")
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(headers.get("X-Signature", ""), expected):
                self.bad_signatures.append(path)
                return 401
            if self.failures_left:
                self.failures_left -= 1
                self.failed += 1
                return 500
            payload = json.loads(body)
            self.received[path].append((headers["X-Alert-Change-Id"], payload["change"], payload["alert"]["id"]))
            return 200

    def count(self):
        with self.lock:
            return sum(len(got) for got in self.received.values())

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.stop()


def scalar(path, sql):
    """One value read straight from the database file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def open_alerts(path):
    return scalar(path, "SELECT COUNT(*) FROM alerts WHERE closed_at_ms IS NULL")


def recorded_changes(path):
    """Every recorded change, oldest first, as each receiver should get it: (change id, change, alert id)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [(str(row[0]), row[1], row[2]) for row in
                conn.execute("SELECT id, change, alert_id FROM alert_changes ORDER BY id")]
    finally:
        conn.close()


def prepare_floor(client, receiver, spells, webhooks=True):
    """Planned all day; W1 idle for 20 minutes from 10:00, 11:00, ...: one idle spell an hour; a rule
    that raises an alert after 10 idle minutes, and the receiver's two paths as webhooks."""
    assert client.put("/calendar", json={"time_zone": "UTC", "shifts": [
        {"name": "All day", "start": "00:00", "end": "00:00"}]}).status_code == 200
    events = []
    for hour in range(10, 10 + spells):
        events += [event(at(f"{hour}:00"), "W1", "idle", "S1"), event(at(f"{hour}:20"), "W1", "working", "S1")]
    post_events(client, *events, status=201)
    hooks = [{"url": receiver.base + path, "secret": secret} for path, secret in SECRETS.items()] if webhooks else []
    assert client.put("/alerts/rules", json={"rules": [{"id": "idle-long", "kind": "worker_idle", "minutes": 10}],
                                             "webhooks": hooks}).status_code == 200


def spell_instants(spell):
    """When the spell's alert should be open (11 idle minutes) and closed again (working)."""
    hour = 10 + spell
    return parse_instant(at(f"{hour}:11")), parse_instant(at(f"{hour}:21"))


class Clock:
    """The instant the in-process notifier evaluates at."""

    def __init__(self, ms):
        self.ms = ms

    def __call__(self):
        return self.ms


def run_spells(path, spells, set_clock):
    """Move the clock into and out of each spell, waiting each time for the alert to open or close."""
    for spell in range(spells):
        opened_at, closed_at = spell_instants(spell)
        set_clock(opened_at)
        wait_until(lambda: open_alerts(path) == 1, what=f"spell {spell} opened")
        set_clock(closed_at)
        wait_until(lambda spell=spell: open_alerts(path) == 0 and scalar(
            path, "SELECT COUNT(*) FROM alerts") == spell + 1, what=f"spell {spell} closed")


# --- pure parts ---------------------------------------------------------------------------------

def test_the_signature_is_the_hex_hmac_sha256_of_the_exact_body():
    body = b'{"change":"opened","alert":{"id":1}}'
    assert notify.signature("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_backoff_doubles_up_to_its_cap_with_jitter_of_at_most_half():
    rng = random.Random(3)
    for attempts, full in [(1, 1), (2, 2), (3, 4), (9, 256), (10, 300), (500, 300)]:
        waits = [notify.backoff_s(attempts, 1, 300, rng) for _ in range(50)]
        assert all(full / 2 <= wait <= full for wait in waits), (attempts, min(waits), max(waits))
        assert len(set(waits)) > 1


def test_logs_name_a_webhook_by_its_host_only():
    assert notify.receiver_name("https://user:pw@hooks.example.com:8443/T0/B1/xyz?token=1") == \
        "https://hooks.example.com:8443"


class Trickler:
    """A receiver on 127.0.0.1 that answers its first request a byte at a time, every `gap_s`,
    after `lead` (the answer's head, or part of it), for at most `most` bytes or until `close`:
    it never finishes. Later connections are refused once it is closed."""

    def __init__(self, lead, gap_s=0.05, most=2000):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.lead, self.gap_s, self.most = lead, gap_s, most
        self.cut = threading.Event()  # the notifier closed the connection while it trickled
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        connection, _ = self.listener.accept()
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(self.lead)
                for _ in range(self.most):
                    connection.sendall(b"x")
                    if self.cut.wait(self.gap_s) or self.closed.is_set():
                        return
            except OSError:
                self.cut.set()

    def close(self):
        self.closed.set()
        self.listener.close()


@pytest.mark.parametrize("lead,outcome", [
    (b"HTTP/1.1 200 OK\r\nX-Slow: ", "no whole answer within 0.5 s"),  # its head never ends
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", None),  # its status says delivered
], ids=["head", "body"])
def test_a_receiver_that_answers_a_byte_at_a_time_holds_an_attempt_no_longer_than_its_limit(lead, outcome):
    receiver = Trickler(lead)
    answer = queue.Queue()
    try:
        threading.Thread(target=lambda: answer.put(notify.post_webhook(receiver.url, b"{}", "k", 1, 0.5)),
                         daemon=True).start()
        # Each byte comes well within the socket's timeout: only a limit on the whole attempt ends it.
        assert answer.get(timeout=30) == outcome
        assert receiver.cut.wait(30)  # and the connection is closed, not left to trickle on
    finally:
        receiver.close()


# --- delivery through an outage ------------------------------------------------------------------

@contextmanager
def notifier_running(config, clock, seed, settings=FAST):
    """A notifier on its own thread at `clock` for the block; stopped and joined after it. Yields
    the thread."""
    notifier = notify.Notifier(config, settings, clock=clock, rng=random.Random(seed))
    stop = threading.Event()
    runner = threading.Thread(target=notifier.run, kwargs={"rounds": 20_000, "stop": stop})
    runner.start()
    try:
        yield runner
    finally:
        stop.set()
        runner.join(timeout=30)


def test_every_change_reaches_every_webhook_once_in_order_through_an_outage(app, client, receiver):
    path = app.config["DATABASE_PATH"]
    spells = 2
    prepare_floor(client, receiver, spells)
    clock = Clock(parse_instant(at("10:05")))
    with notifier_running(app.config, clock, seed=1) as runner:
        wait_until(lambda: scalar(path, "SELECT MAX(evaluated_at_ms) FROM alert_evaluation") == clock.ms,
                   what="the first evaluation")
        assert scalar(path, "SELECT COUNT(*) FROM alerts") == 0  # idle for 5 minutes only
        run_spells(path, spells, lambda ms: setattr(clock, "ms", ms))
        # The receiver is down: each webhook's oldest change has been tried, and waits to be tried again.
        wait_until(lambda: scalar(path, "SELECT COUNT(*) FROM alert_deliveries WHERE attempts >= 3") == 2,
                   what="attempts while the receiver is down")
        assert receiver.count() == 0
        receiver.start(failures=3)
        wait_until(lambda: receiver.count() == 2 * 2 * spells, what="every change delivered")
        wait_until(lambda: scalar(path, "SELECT COUNT(*) FROM alert_deliveries") == 0, what="empty queues")
    assert not runner.is_alive()
    expected = recorded_changes(path)
    assert [(change, alert) for _id, change, alert in expected] == [
        ("opened", 1), ("closed", 1), ("opened", 2), ("closed", 2)]
    assert receiver.received == {"/a": expected, "/b": expected}
    assert receiver.failed == 3 and receiver.bad_signatures == []


def test_a_receiver_that_answers_a_byte_at_a_time_holds_neither_the_rounds_nor_the_others(app, client, receiver):
    path = app.config["DATABASE_PATH"]
    receiver.start()
    slow = Trickler(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    prepare_floor(client, receiver, 1)
    hooks = [{"url": receiver.base + p, "secret": secret} for p, secret in SECRETS.items()]
    assert client.put("/alerts/rules", json={"rules": [{"id": "idle-long", "kind": "worker_idle", "minutes": 10}],
                                             "webhooks": [*hooks, {"url": slow.url, "secret": "s"}]}).status_code == 200
    clock = Clock(parse_instant(at("10:05")))
    try:
        # Its attempt may take a minute: meanwhile the alert opens and closes, and the others get both.
        with notifier_running(app.config, clock, seed=3, settings={**FAST, "timeout_s": 60.0, "lease_s": 180.0}):
            run_spells(path, 1, lambda ms: setattr(clock, "ms", ms))
            wait_until(lambda: receiver.count() == 4, what="the other receivers' deliveries")
            assert not slow.cut.is_set()  # the slow receiver's first attempt is still under way
            slow.close()
    finally:
        slow.close()
    expected = recorded_changes(path)
    assert receiver.received == {"/a": expected, "/b": expected}


def test_a_notifier_whose_clock_is_behind_the_stored_evaluation_says_so_once(app, client, receiver, caplog):
    path = app.config["DATABASE_PATH"]
    prepare_floor(client, receiver, spells=1, webhooks=False)
    clock = Clock(parse_instant(at("10:11")))
    notifier = notify.Notifier(app.config, FAST, clock=clock)
    try:
        assert [change for _id, change, _alert in notifier.evaluate()] == ["opened"]
        warned = lambda: [r for r in caplog.records if "later instant than this notifier's clock" in r.message]  # noqa: E731
        clock.ms -= 30_000  # a round or two behind, as beside another notifier: nothing said
        assert notifier.evaluate() is None and warned() == []
        clock.ms -= 10 * 60_000  # set back ten minutes: nothing is recorded, and the log says why, once
        assert notifier.evaluate() is None and notifier.evaluate() is None
        assert [r.fields["ahead_s"] for r in warned()] == [630.0]
        clock.ms = parse_instant(at("10:21"))  # past it again: the closing is recorded
        assert [change for _id, change, _alert in notifier.evaluate()] == ["closed"]
        clock.ms -= 10 * 60_000
        assert notifier.evaluate() is None and len(warned()) == 2
    finally:
        notifier.close()
    assert open_alerts(path) == 0


def test_a_changed_secret_signs_what_is_still_queued(app, client, receiver):
    path = app.config["DATABASE_PATH"]
    prepare_floor(client, receiver, 1)
    # The changes are queued while the receiver is down and the secrets are still wrong.
    wrong = [{"url": receiver.base + p, "secret": "old"} for p in SECRETS]
    assert client.put("/alerts/rules", json={"rules": [{"id": "idle-long", "kind": "worker_idle", "minutes": 10}],
                                             "webhooks": wrong}).status_code == 200
    clock = Clock(parse_instant(at("10:05")))
    with notifier_running(app.config, clock, seed=2):
        run_spells(path, 1, lambda ms: setattr(clock, "ms", ms))
        receiver.start()
        wait_until(lambda: len(receiver.bad_signatures) >= 2, what="refusals of the old signatures")
        right = [{"url": receiver.base + p, "secret": s} for p, s in SECRETS.items()]
        assert client.put("/alerts/rules", json={"rules": [{"id": "idle-long", "kind": "worker_idle", "minutes": 10}],
                                                 "webhooks": right}).status_code == 200
        wait_until(lambda: receiver.count() == 4, what="delivery with the new secrets")
    expected = recorded_changes(path)
    assert receiver.received == {"/a": expected, "/b": expected}


# --- two notifier processes ----------------------------------------------------------------------

class NotifierProcess:
    """`notify.main` in its own process, evaluating at the instant in `clock_path`."""

    def __init__(self, folder, name, clock_path, **env):
        self.log_path = os.path.join(folder, f"{name}.log")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", RUNNER, clock_path], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                env={**{k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "NOTIFY_"))},
                     **FAST_ENV, **env},
                start_new_session=True)

    def stop(self):
        """SIGTERM, as `docker stop` sends; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def log_lines(self):
        with open(self.log_path) as log:
            return [json.loads(line) for line in log if line.startswith("{")]


def write_clock(clock_path, ms):
    # Replaced whole, so a notifier never reads half an instant.
    with open(clock_path + ".new", "w") as new:
        new.write(str(ms))
    os.replace(clock_path + ".new", clock_path)


@pytest.fixture
def notifiers(tmp_path):
    made = []

    def start(name, clock_path, **env):
        made.append(NotifierProcess(str(tmp_path), name, clock_path, **env))
        return made[-1]

    yield start
    for process in made:
        process.kill()


def test_two_notifiers_record_each_change_once_and_deliver_it_once(app, client, receiver, notifiers, tmp_path):
    path = app.config["DATABASE_PATH"]
    spells = 5
    prepare_floor(client, receiver, spells)
    clock_path = str(tmp_path / "clock")
    write_clock(clock_path, parse_instant(at("10:05")))
    receiver.start(failures=6)  # both notifiers compete for the retries too
    first = notifiers("first", clock_path, DATABASE_PATH=path)
    second = notifiers("second", clock_path, DATABASE_PATH=path)
    wait_until(lambda: all(any(line["message"] == "notifier started" for line in p.log_lines())
                           for p in (first, second)), what="both notifiers running")
    run_spells(path, spells, lambda ms: write_clock(clock_path, ms))
    wait_until(lambda: receiver.count() == 2 * 2 * spells, what="every change delivered")
    wait_until(lambda: scalar(path, "SELECT COUNT(*) FROM alert_deliveries") == 0, what="empty queues")
    assert first.process.poll() is None and second.process.poll() is None
    assert (first.stop(), second.stop()) == (0, 0)

    expected = recorded_changes(path)
    assert len(expected) == 2 * spells
    assert scalar(path, "SELECT COUNT(*) FROM alerts WHERE closed_at_ms IS NOT NULL") == spells
    assert receiver.received == {"/a": expected, "/b": expected}
    assert receiver.failed == 6 and receiver.bad_signatures == []
    lines = first.log_lines() + second.log_lines()
    # Each change was recorded by one notifier, and each delivery made by one.
    assert sum(line["message"] in ("alert opened", "alert closed") for line in lines) == 2 * spells
    assert sum(line["message"] == "alert change delivered" for line in lines) == 2 * 2 * spells


# --- MQTT ----------------------------------------------------------------------------------------

def test_with_mqtt_host_set_each_change_is_also_published_in_order(app, client, receiver, notifiers, tmp_path):
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (Debian: apt-get install mosquitto; .ci/run installs it)")
    broker = Broker(str(tmp_path / "broker")).start()
    received = queue.Queue()
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="alert-subscriber")
    subscribed = threading.Event()
    subscriber.on_message = lambda _c, _u, message: received.put(message.payload)
    subscriber.on_subscribe = lambda *_args: subscribed.set()
    subscriber.on_connect = lambda mqtt_client, *_args: mqtt_client.subscribe("factory/alerts", qos=1)
    subscriber.connect("127.0.0.1", broker.port)
    subscriber.loop_start()
    try:
        assert subscribed.wait(10)
        path = app.config["DATABASE_PATH"]
        prepare_floor(client, receiver, 1, webhooks=False)
        clock_path = str(tmp_path / "clock")
        write_clock(clock_path, parse_instant(at("10:05")))
        process = notifiers("mqtt", clock_path, DATABASE_PATH=path, MQTT_HOST="127.0.0.1",
                            MQTT_PORT=str(broker.port))
        run_spells(path, 1, lambda ms: write_clock(clock_path, ms))
        got = [json.loads(received.get(timeout=30)) for _ in range(2)]
        assert process.stop() == 0
    finally:
        subscriber.disconnect()
        subscriber.loop_stop()
        broker.kill()
    conn = sqlite3.connect(path)
    bodies = [json.loads(row[0]) for row in conn.execute("SELECT body FROM alert_changes ORDER BY id")]
    conn.close()
    assert got == bodies
    assert [(body["change"], body["alert"]["closed_at"]) for body in got] == [("opened", None),
                                                                              ("closed", at("10:21"))]


def test_through_a_broker_outage_each_alert_change_is_published_once(app, client, receiver, tmp_path):
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (Debian: apt-get install mosquitto; .ci/run installs it)")
    from backend import mqtt as bridge

    broker = Broker(str(tmp_path / "broker")).start()
    # A subscriber on a persistent session: the broker keeps what is published while it is away.
    received = queue.Queue()
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="alert-keeper", clean_session=False)
    subscribed = threading.Event()
    subscriber.on_message = lambda _c, _u, message: received.put(json.loads(message.payload)["change"])
    subscriber.on_subscribe = lambda *_args: subscribed.set()
    subscriber.on_connect = lambda mqtt_client, *_args: mqtt_client.subscribe("factory/alerts", qos=1)
    subscriber.connect("127.0.0.1", broker.port)
    subscriber.loop_start()
    publisher = bridge.make_client({**bridge.settings({}), "port": broker.port}, "test-notifier")
    path = app.config["DATABASE_PATH"]
    prepare_floor(client, receiver, 1, webhooks=False)
    clock = Clock(parse_instant(at("10:05")))
    notifier = notify.Notifier(app.config, FAST, clock=clock, rng=random.Random(4), mqtt_client=publisher,
                               mqtt_topic="factory/alerts")
    stop = threading.Event()
    runner = threading.Thread(target=notifier.run, kwargs={"rounds": 20_000, "stop": stop})
    try:
        assert subscribed.wait(10)
        broker.wait_for_save()  # the subscription outlives the broker's crash
        broker.kill()
        publisher.connect_async("127.0.0.1", broker.port)
        publisher.loop_start()
        runner.start()
        opened_at, closed_at = spell_instants(0)
        clock.ms = opened_at
        wait_until(lambda: scalar(path, "SELECT COUNT(*) FROM alert_deliveries WHERE attempts >= 5"),
                   what="tries while the broker is down")
        broker.start()
        wait_until(lambda: scalar(path, "SELECT COUNT(*) FROM alert_deliveries") == 0, what="the opening published")
        clock.ms = closed_at
        wait_until(lambda: open_alerts(path) == 0 and scalar(path, "SELECT COUNT(*) FROM alert_deliveries") == 0,
                   what="the closing published")
        # The opening once, though it was tried five times and more, then the closing.
        assert [received.get(timeout=30), received.get(timeout=30)] == ["opened", "closed"]
    finally:
        stop.set()
        if runner.is_alive():
            runner.join(timeout=30)
        publisher.disconnect()
        publisher.loop_stop()
        subscriber.disconnect()
        subscriber.loop_stop()
        broker.kill()

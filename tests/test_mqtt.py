"""SPEC §9, MQTT: events in through the bridge, alert changes out, against a real mosquitto broker.

The broker is started on a free loopback port with its persistence in the test's folder, so
killing it and starting it again keeps the sessions and the queued QoS 1 messages it had saved.
The bridge runs as its own process (`python -m backend.mqtt`), as it does in production.
"""

import getpass
import json
import os
import queue
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from backend.edge.client import EdgeClient
from backend.edge.outbox import Outbox
from backend.mqtt import PublishFailed, connect_publisher, publish_alert_change, settings
from tests.helpers import at, event, stored_count, stored_events, workers_by_id
from tests.servers import FIXED_DATES, REPO_ROOT, free_port

DEPLOY_CONFIG = os.path.join(REPO_ROOT, "deploy", "mosquitto", "mosquitto.conf")
# The test broker's own settings; every other line of the deployed configuration is kept.
OWN_SETTINGS = ("listener", "persistence_location", "user", "log_dest", "log_type")
MOSQUITTO = shutil.which("mosquitto") or next(
    (path for path in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(path, os.X_OK)), None)


def wait_until(condition, deadline_s=30, what="condition"):
    """Poll an observable condition (a row count, a log line) until it holds."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < end, f"{what} not reached in {deadline_s} s"
        time.sleep(0.02)


def broker_config(port, folder):
    """The deployed mosquitto configuration, on `port` of 127.0.0.1 with its files in `folder`."""
    with open(DEPLOY_CONFIG) as deployed:
        kept = [line.strip() for line in deployed
                if line.strip() and not line.startswith("#") and line.split()[0] not in OWN_SETTINGS]
    return "\n".join([
        *kept,
        f"listener {port} 127.0.0.1",
        f"persistence_location {folder}/",
        # Run as the user running the tests (as root, mosquitto would switch to another user).
        f"user {getpass.getuser()}",
        "log_dest stderr",
        *(f"log_type {kind}" for kind in ("error", "warning", "notice", "information")),
        "",
    ])


class Broker:
    """mosquitto on a free port of 127.0.0.1, its persistence and log in `folder`."""

    def __init__(self, folder):
        os.makedirs(folder, exist_ok=True)
        self.port = free_port()
        self.config_path = os.path.join(folder, "mosquitto.conf")
        self.log_path = os.path.join(folder, "mosquitto.log")
        with open(self.config_path, "w") as config:
            config.write(broker_config(self.port, folder))
        self.process = None

    def start(self, deadline_s=15):
        """Start mosquitto and return once it takes connections."""
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen([MOSQUITTO, "-c", self.config_path], stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + deadline_s
        while True:
            assert self.process.poll() is None, f"mosquitto exited: {self.log()[-2000:]}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                assert time.monotonic() < end, "mosquitto did not take connections"
                time.sleep(0.02)

    def kill(self):
        """Kill the broker at once, as a crash would."""
        self._end(signal.SIGKILL)

    def stop(self):
        self._end(signal.SIGTERM)

    def _end(self, sig):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)
        self.process = None

    def log(self):
        with open(self.log_path, errors="replace") as log:
            return log.read()

    def wait_for_save(self):
        """Return once a save of the broker's store begun after this call has ended.

        What the broker saved survives a crash: sessions, subscriptions and queued messages.
        One save ends before the next begins, so two begun after now mean one ended.
        """
        saves = self.log().count("Saving in-memory database")
        wait_until(lambda: self.log().count("Saving in-memory database") >= saves + 2, what="the broker's next save")


class BridgeProcess:
    """`python -m backend.mqtt` as its own process, its JSON log in a file."""

    def __init__(self, folder, broker, database_path, **env):
        os.makedirs(folder, exist_ok=True)
        self.log_path = os.path.join(folder, "bridge.log")
        self.env = {**os.environ, "MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(broker.port),
                    "MQTT_CLIENT_ID": f"bridge-{os.path.basename(os.path.dirname(folder))}",
                    "DATABASE_PATH": str(database_path), "SEED_IF_EMPTY": "0", **FIXED_DATES, **env}
        self.process = None
        self.log_start = 0

    def start(self):
        """Start the bridge and return once it has subscribed."""
        self.log_start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "backend.mqtt"], cwd=REPO_ROOT, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: self.running() and self.lines("subscribed"), what="the bridge's subscription")
        return self

    def running(self):
        assert self.process.poll() is None, f"bridge exited: {self.log_text()[-3000:]}"
        return True

    def stop(self):
        """SIGTERM: the bridge finishes the message in hand and disconnects."""
        self._end(signal.SIGTERM)

    def kill(self):
        self._end(signal.SIGKILL)

    def _end(self, sig):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.process = None

    def log_text(self):
        with open(self.log_path, errors="replace") as log:
            return log.read()

    def lines(self, message=None):
        """The JSON log lines of this run, those with `message` when given."""
        text = self.log_text()[self.log_start:]
        entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        return [entry for entry in entries if message is None or entry["message"] == message]


class Publisher:
    """A paho client that publishes with QoS 1 and waits for each PUBACK, retrying until it comes."""

    def __init__(self, broker, client_id="test-publisher"):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)
        self.client.connect_async("127.0.0.1", broker.port)
        self.client.loop_start()
        self.retries = 0

    def publish(self, topic, payload, deadline_s=60):
        """Publish until the broker acknowledges; a retry publishes the same bytes again."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        end = time.monotonic() + deadline_s
        while True:
            assert time.monotonic() < end, "the broker never acknowledged"
            if not self.client.is_connected():
                time.sleep(0.02)  # paho's network thread is reconnecting
                continue
            info = self.client.publish(topic, body, qos=1)
            try:
                info.wait_for_publish(1.0)
                if info.is_published():
                    return
            except RuntimeError:
                pass  # the connection dropped as it was sent: paho raises for such a message
            self.retries += 1

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path):
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (Debian: apt-get install mosquitto; .ci/run installs it)")
    made = Broker(str(tmp_path / "broker")).start()
    yield made
    made.kill()


@pytest.fixture
def database_path(config):
    return config["DATABASE_PATH"]


@pytest.fixture
def bridge(tmp_path, broker, database_path):
    """A bridge process, not yet started."""
    made = BridgeProcess(str(tmp_path / "bridge"), broker, database_path)
    yield made
    made.kill()


@pytest.fixture
def publisher(broker):
    made = Publisher(broker)
    yield made
    made.close()


def numbered(n, minute=0, **fields):
    return event(at(f"08:{minute:02d}:{n % 60:02d}"), event_id=f"e-{minute}-{n}", **fields)


def test_a_single_event_an_array_and_a_wrapped_batch_are_stored(client, bridge, publisher, database_path):
    bridge.start()
    publisher.publish("factory/cam-1/events", event(at("08:00")))
    publisher.publish("factory/cam-1/events", [event(at("09:00"), event_type="idle"),
                                               event(at("09:30"), event_type="product_count", count=4)])
    publisher.publish("factory/cam-2/events", {"events": [event(at("10:00"), event_type="product_count", count=3)]})
    wait_until(lambda: stored_count(database_path) == 4, what="4 events stored")
    assert sorted(e["timestamp"] for e in stored_events(client)) == [at("08:00"), at("09:00"), at("09:30"), at("10:00")]
    assert workers_by_id(client)["W1"]["units"] == 7
    stored = bridge.lines("message stored")
    assert [(line["topic"], line["accepted"]) for line in stored] == [
        ("factory/cam-1/events", 1), ("factory/cam-1/events", 2), ("factory/cam-2/events", 1)]


def test_the_same_message_twice_and_a_repeated_event_id_are_stored_once(client, bridge, publisher, database_path):
    bridge.start()
    batch = [numbered(n) for n in range(5)] + [event(at("08:30"))]  # the last one has no event_id
    publisher.publish("factory/cam-1/events", batch)
    publisher.publish("factory/cam-1/events", batch)
    publisher.publish("factory/cam-1/events", numbered(2))
    publisher.publish("factory/cam-1/events", numbered(9))
    wait_until(lambda: len(bridge.lines("message stored")) == 4, what="4 messages settled")
    assert stored_count(database_path) == 7
    assert len(stored_events(client)) == 7
    counts = [(line["accepted"], line["duplicates"]) for line in bridge.lines("message stored")]
    assert counts == [(6, 0), (0, 6), (0, 1), (1, 0)]


REJECTED = [
    (b"{not json", "not valid JSON"),
    (b'{"timestamp": NaN}', "not valid JSON"),
    (json.dumps("just a string").encode(), "The body must be an event object"),
    (json.dumps({"events": []}).encode(), "The batch holds no events"),
    (json.dumps([{"worker_id": "W1"}, {"timestamp": "soon"}]).encode(), "No event was accepted"),
]


def test_a_rejected_message_is_logged_acknowledged_and_not_delivered_again(bridge, publisher, database_path):
    bridge.start()
    for payload, _reason in REJECTED:
        publisher.publish("factory/cam-1/events", payload)
    publisher.publish("factory/cam-1/events", numbered(1))
    wait_until(lambda: stored_count(database_path) == 1, what="the good message after the bad ones")
    rejected = bridge.lines("message rejected")
    assert [reason in line["detail"] for line, (_, reason) in zip(rejected, REJECTED, strict=True)] == [True] * 5
    assert any(error["field"] == "events[1].timestamp" and "'soon'" in error["message"]
               for error in rejected[-1]["errors"])
    assert rejected[-1]["rejected"] == 2 and all(line["level"] == "warning" for line in rejected)
    # A restarted bridge is handed nothing of them again: a marker sent after them is stored
    # with no rejection logged before it.
    bridge.stop()
    bridge.start()
    publisher.publish("factory/cam-1/events", numbered(2))
    wait_until(lambda: stored_count(database_path) == 2, what="the marker")
    assert bridge.lines("message rejected") == []


def test_a_partly_rejected_message_stores_the_valid_events_and_logs_the_others(bridge, publisher, database_path):
    bridge.start()
    publisher.publish("factory/cam-1/events", [numbered(1), {"worker_id": "W1"}, numbered(2)])
    wait_until(lambda: bridge.lines("message stored, some events rejected"), what="the settled message")
    (line,) = bridge.lines("message stored, some events rejected")
    assert (line["accepted"], line["rejected"]) == (2, 1)
    assert {"field": "events[1].timestamp", "message": "is required"} in line["errors"]
    assert stored_count(database_path) == 2


def test_the_broker_killed_mid_stream_loses_nothing_and_stores_nothing_twice(broker, bridge, database_path):
    messages, per_message = 60, 10
    bridge.start()
    broker.wait_for_save()  # the bridge's session, as on a broker that has run for a while
    publisher = Publisher(broker)
    halfway = threading.Event()
    failures = []

    def stream():
        try:
            for m in range(messages):
                publisher.publish(f"factory/cam-{m % 3}/events", [numbered(n, minute=m) for n in range(per_message)])
                if m == messages // 2:
                    halfway.set()
        except BaseException as failure:  # noqa: BLE001 - reported by the test below
            failures.append(failure)
            halfway.set()

    sender = threading.Thread(target=stream)
    sender.start()
    try:
        assert halfway.wait(60)
        broker.kill()
        broker.start()
        sender.join(120)
        assert not failures and not sender.is_alive()
        expected = messages * per_message
        wait_until(lambda: stored_count(database_path) >= expected, deadline_s=60, what="every event stored")
        assert stored_count(database_path) == expected
        assert stored_count(database_path, "SELECT COUNT(DISTINCT event_id) FROM events") == expected
        # The bridge came back by itself and took new events after the restart: mid-stream.
        log = [line["message"] for line in bridge.lines() if line["message"] != "message stored" or line["accepted"]]
        assert log.count("connected") >= 2 and "message stored" in log[log.index("connected", 1):]
    finally:
        publisher.close()


def test_messages_sent_while_the_bridge_is_down_are_stored_when_it_returns(bridge, publisher, database_path):
    bridge.start()
    publisher.publish("factory/cam-1/events", numbered(0))
    wait_until(lambda: stored_count(database_path) == 1, what="the first event")
    bridge.kill()
    for m in range(1, 21):
        publisher.publish("factory/cam-1/events", [numbered(n, minute=m) for n in range(5)])
    assert stored_count(database_path) == 1
    bridge.start()
    wait_until(lambda: stored_count(database_path) == 101, what="the events sent while it was down")
    assert bridge.lines("connected")[0]["session_present"] is True


@pytest.mark.parametrize("ending", ["stop", "kill"])
def test_messages_queued_for_the_bridge_survive_a_broker_restart(ending, broker, bridge, publisher, database_path):
    bridge.start()
    bridge.stop()
    for m in range(10):
        publisher.publish("factory/cam-1/events", [numbered(n, minute=m) for n in range(5)])
    if ending == "stop":
        broker.stop()  # a clean stop saves everything
    else:
        broker.wait_for_save()  # a crash keeps what the broker saved
        broker.kill()
    broker.start()
    bridge.start()
    wait_until(lambda: stored_count(database_path) == 50, what="the queued events")


def test_a_message_the_database_cannot_take_is_not_acknowledged(tmp_path, broker, database_path):
    bridge = BridgeProcess(str(tmp_path / "bridge"), broker, database_path, BUSY_TIMEOUT_MS="50")
    publisher = Publisher(broker)
    try:
        bridge.start()
        blocker = sqlite3.connect(database_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database
        publisher.publish("factory/cam-1/events", numbered(1))
        wait_until(lambda: bridge.lines("could not store the message"), what="a failed attempt")
        # Killed while the message is not stored: it was not acknowledged, so it comes again.
        bridge.kill()
        blocker.execute("ROLLBACK")
        blocker.close()
        assert stored_count(database_path) == 0
        bridge.start()
        wait_until(lambda: stored_count(database_path) == 1, what="the message delivered again")
    finally:
        bridge.kill()
        publisher.close()


def test_storing_is_retried_and_the_message_is_delivered_again_after_a_reconnect(tmp_path, broker, database_path):
    bridge = BridgeProcess(str(tmp_path / "bridge"), broker, database_path, BUSY_TIMEOUT_MS="50")
    publisher = Publisher(broker)
    try:
        bridge.start()
        blocker = sqlite3.connect(database_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        publisher.publish("factory/cam-1/events", numbered(1))
        publisher.publish("factory/cam-1/events", numbered(2))
        wait_until(lambda: len(bridge.lines("connected")) >= 2, what="a reconnection after failed attempts")
        blocker.execute("ROLLBACK")
        blocker.close()
        wait_until(lambda: stored_count(database_path) == 2, what="both messages stored")
        attempts = [line["attempt"] for line in bridge.lines("could not store the message")]
        assert attempts[:5] == [1, 2, 3, 4, 5]
    finally:
        bridge.kill()
        publisher.close()


ALERT = {"id": 7, "rule_id": "idle-long", "kind": "worker_idle", "subject": "W1",
         "opened_at": "2026-01-15T08:10:00Z", "closed_at": None, "detail": "idle for 11 minutes"}


def test_alert_changes_are_published_to_the_alerts_topic_in_order(broker):
    received = queue.Queue()
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="alert-subscriber")
    subscriber.on_message = lambda _c, _u, message: received.put(message)
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *_args: subscribed.set()
    subscriber.on_connect = lambda client, *_args: client.subscribe("factory/alerts", qos=1)
    subscriber.connect("127.0.0.1", broker.port)
    subscriber.loop_start()
    publisher = connect_publisher({**settings({}), "port": broker.port}, client_id="test-notifier")
    try:
        assert subscribed.wait(10)
        opened = {"change": "opened", "alert": ALERT}
        closed = {"change": "closed", "alert": {**ALERT, "closed_at": "2026-01-15T08:30:00Z"}}
        publish_alert_change(publisher, opened)
        publish_alert_change(publisher, closed)
        first, second = received.get(timeout=10), received.get(timeout=10)
        assert (first.topic, first.qos, first.retain) == ("factory/alerts", 1, False)
        assert [json.loads(first.payload), json.loads(second.payload)] == [opened, closed]
        with pytest.raises(ValueError):
            publish_alert_change(publisher, {"change": "reopened", "alert": ALERT})
        broker.kill()
        with pytest.raises(PublishFailed):
            publish_alert_change(publisher, opened, timeout=0.5)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        subscriber.disconnect()
        subscriber.loop_stop()


def test_connect_publisher_fails_clearly_without_a_broker():
    with pytest.raises(PublishFailed, match="no connection"):
        connect_publisher({**settings({}), "port": free_port()}, timeout=0.5)


def test_the_edge_client_over_mqtt_delivers_its_outbox(tmp_path, client, bridge, broker, database_path):
    bridge.start()
    outbox = Outbox(str(tmp_path / "outbox.db"), device_id="cam-7")
    edge = EdgeClient("http://unused.invalid", outbox, batch_size=4, mqtt_url=f"mqtt://127.0.0.1:{broker.port}")
    try:
        edge.send([numbered(n) for n in range(10)] + [event(at("09:00"))])
        result = edge.flush(max_failures=3)
        assert (result.sent, result.pending, result.failures) == (11, 0, 0)
        assert outbox.counts() == {"pending": 0, "sent": 11, "parked": 0}
        wait_until(lambda: stored_count(database_path) == 11, what="the outbox's events stored")
        assert {line["topic"] for line in bridge.lines("message stored")} == {"factory/cam-7/events"}
        assert len(bridge.lines("message stored")) == 3  # batches of 4, 4 and 3
    finally:
        edge.close()
        outbox.close()


def test_the_edge_client_keeps_its_outbox_while_the_broker_is_down(tmp_path, bridge, broker, database_path):
    bridge.start()
    outbox = Outbox(str(tmp_path / "outbox.db"), device_id="cam-8")
    edge = EdgeClient("http://unused.invalid", outbox, batch_size=5, timeout=0.5, sleep=lambda _s: None,
                      mqtt_url=f"127.0.0.1:{broker.port}")
    try:
        edge.send([numbered(n) for n in range(5)])
        assert edge.flush().sent == 5
        broker.wait_for_save()  # the bridge's session
        broker.kill()
        edge.send([numbered(n, minute=1) for n in range(5)])
        result = edge.flush(max_failures=2)
        assert (result.sent, result.failures, result.pending) == (0, 2, 5)
        broker.start()
        result = edge.flush()
        assert (result.sent, result.pending) == (5, 0)
        wait_until(lambda: stored_count(database_path) == 10, what="every event stored")
    finally:
        edge.close()
        outbox.close()


def test_the_simulator_sends_over_mqtt(tmp_path, bridge, broker, database_path):
    bridge.start()
    done = subprocess.run(
        [sys.executable, "-m", "backend.edge.simulate", "--mqtt", f"127.0.0.1:{broker.port}", "--cameras", "3",
         "--outbox", str(tmp_path / "outbox.db"), "--max-seconds", "1"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["sent"] > 0 and summary["pending"] == 0
    wait_until(lambda: stored_count(database_path) == summary["sent"], what="the simulator's events stored")
    assert {line["topic"] for line in bridge.lines("message stored")} == {"factory/sim1/events"}


@pytest.mark.parametrize("payload, message", [
    (b'[{"timestamp": "1970-01-01T00:00:00Z", "worker_id": "W1", "workstation_id": "S1", '
     b'"event_type": "working"}]', "days in the past"),
    (b'{"timestamp": "2026-01-15T10:00:00Z", "worker_id": "W1", "worker_id": "W2", "workstation_id": "S1", '
     b'"event_type": "working"}', "more than once"),
    (b'{"events": [], "events": []}', "more than once"),
])
def test_a_message_is_held_to_every_rule_of_post_events(app, payload, message):
    # The bridge takes a message through the same function as POST /events: the age limit and
    # repeated keys too, not only the checks the bridge would think of itself.
    from backend import db
    from backend.mqtt import store_message

    conn = db.connect(app.config["DATABASE_PATH"])
    outcome = store_message(conn, app.config, payload)
    conn.close()
    assert outcome["status"] == "rejected"
    assert message in json.dumps(outcome)
    assert stored_count(app.config["DATABASE_PATH"]) == 0

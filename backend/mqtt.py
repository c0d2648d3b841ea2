"""The MQTT bridge (SPEC §9): events in from `MQTT_EVENTS_TOPIC`, alert changes out to `MQTT_ALERTS_TOPIC`.

    python -m backend.mqtt

The bridge subscribes with QoS 1 on a persistent session (a stable client id, clean session off),
so the broker keeps what arrives while the bridge is down and hands it over when it is back. A
message holds one event, an array, or `{"events": [...]}`; it is stored through the same
validation and idempotency as `POST /events`.

A message is acknowledged (PUBACK) only once its events are committed, or once it is known that
it can never be stored (not JSON, the wrong shape, every event invalid: logged with the reasons).
A message the database cannot take now is not acknowledged: storing is retried a few times,
then the bridge reconnects, and the broker delivers the message again. Delivering a message
twice is harmless, because storing is idempotent (by `event_id`, else by the natural key).
"""

import json
import logging
import os
import queue
import signal
import sys
import threading
import time

import paho.mqtt.client as mqtt

from . import alerts, db, ingest, logs
from .app import _env_flag, _env_number, default_config
from .errors import ApiError, StartupError

log = logging.getLogger("factory.mqtt")

# Storing a message is tried this often before the bridge reconnects to have it delivered again;
# the wait doubles after each failure, so the attempts span about 4 seconds plus the busy timeouts.
STORE_ATTEMPTS = 5
STORE_FIRST_WAIT_S = 0.25
# A log line names at most this many rejected events' problems; the count says how many there were.
MAX_LOGGED_ERRORS = 20


def settings(environ=None):
    """The MQTT settings from the environment, with the defaults SPEC.md names."""
    env = os.environ if environ is None else environ
    return {
        "host": env.get("MQTT_HOST") or "127.0.0.1",
        "port": _env_number("MQTT_PORT", 1883, int, 1, 65535, env=env),
        "username": env.get("MQTT_USERNAME") or None,
        "password": env.get("MQTT_PASSWORD") or None,
        # TLS with the system's certificate authorities, or those in MQTT_CA_FILE.
        "tls": _env_flag("MQTT_TLS", False, env=env),
        "ca_file": env.get("MQTT_CA_FILE") or None,
        "client_id": env.get("MQTT_CLIENT_ID") or "factory-mqtt-bridge",
        "events_topic": env.get("MQTT_EVENTS_TOPIC") or "factory/+/events",
        "alerts_topic": env.get("MQTT_ALERTS_TOPIC") or "factory/alerts",
        "keepalive": _env_number("MQTT_KEEPALIVE_SECONDS", 30, int, 1, env=env),
    }


def make_client(mqtt_settings, client_id, persistent=False, manual_ack=False):
    """A paho client (MQTT 3.1.1) with credentials and TLS from `mqtt_settings`, not yet connected.

    `persistent`: the broker keeps the session (subscriptions, unacknowledged messages) across
    disconnects; it needs a stable `client_id`.
    """
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent,
                         protocol=mqtt.MQTTv311, manual_ack=manual_ack)
    if mqtt_settings["username"]:
        client.username_pw_set(mqtt_settings["username"], mqtt_settings["password"])
    if mqtt_settings["tls"]:
        client.tls_set(ca_certs=mqtt_settings["ca_file"])
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


class StorageFailure(Exception):
    """The database could not take the events now; the message must be delivered again."""


def store_message(conn, config, payload):
    """Store the events of one message payload (bytes) as `POST /events` would.

    Returns a dict for the log: `status` `"stored"` (with the `accepted`, `duplicates` and
    `rejected` counts and the rejected events' `errors`) or `"rejected"` (a `detail` and
    `errors`: nothing of the message can ever be stored). Raises `StorageFailure` when the
    database failed; nothing of the message was kept then.
    """
    if len(payload) > config["MAX_CONTENT_LENGTH"]:
        return _rejected(f"The message holds {len(payload)} bytes; at most {config['MAX_CONTENT_LENGTH']} are taken.")
    try:
        summary = ingest.ingest_body(conn, payload, config, config["CLOCK"]())
    except ApiError as error:
        if error.status >= 500:
            raise StorageFailure(error.detail) from error
        return _rejected(error.detail, error.errors or [])
    except db.Error as failure:
        raise StorageFailure(str(failure)) from failure
    errors = ingest.rejection_errors(summary)
    counts = {key: summary[key] for key in ("accepted", "duplicates", "rejected")}
    if summary["rejected"] and not summary["accepted"] and not summary["duplicates"]:
        return _rejected("No event was accepted; see `errors` for the reasons.", errors, **counts)
    return {"status": "stored", **counts, **_errors_field(errors)}


def _rejected(detail, errors=(), **counts):
    return {"status": "rejected", "detail": detail, **counts, **_errors_field(list(errors))}


def _errors_field(errors):
    if not errors:
        return {}
    fields = {"errors": errors[:MAX_LOGGED_ERRORS]}
    if len(errors) > MAX_LOGGED_ERRORS:
        fields["errors_total"] = len(errors)
    return fields


class PublishFailed(Exception):
    """The broker did not acknowledge a publication in time (or the client is not connected).

    `pending`: paho's `MessageInfo` of the publication still under way, when there is one: given
    back to `publish_alert_change` for the same change, it is waited on rather than published again.
    """

    def __init__(self, message, pending=None):
        super().__init__(message)
        self.pending = pending


def publish_alert_change(client, change, topic=None, timeout=10.0, pending=None):
    """Publish one alert change to the alerts topic and return once the broker has it.

    `client`: a connected paho client whose network loop runs (`connect_publisher` makes one).
    `change`: the webhook body of SPEC §9, `{"change": "opened"|"closed", "alert": {...}}`,
    published as that JSON (UTF-8) with QoS 1, not retained, to `topic` (default
    `MQTT_ALERTS_TOPIC`, `factory/alerts`). Raises `ValueError` for any other shape.

    Returns after the broker's PUBACK. Raises `PublishFailed` when none came within `timeout`
    seconds or the client is not connected (then nothing is published: paho would queue every
    try and send them all on reconnecting): the caller keeps the change and calls again later,
    with `pending` from the failure when it has one, so a publication still under way is waited
    on, not repeated. A subscriber can still see a change twice (at least once), but never one
    change of an alert before an earlier one as long as the caller publishes an alert's changes
    one at a time, each after the last returned. Subscribers that must not miss a change
    subscribe with QoS 1 on a persistent session.
    """
    if not (isinstance(change, dict) and change.get("change") in alerts.CHANGES
            and isinstance(change.get("alert"), dict)):
        raise ValueError('an alert change is {"change": "opened"|"closed", "alert": {...}}')
    info = pending
    if info is None:
        if not client.is_connected():
            raise PublishFailed("not connected to the broker")
        payload = json.dumps(change, separators=(",", ":"), ensure_ascii=False).encode()
        info = client.publish(topic or settings()["alerts_topic"], payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:  # the connection dropped just now: paho may still send it
            raise PublishFailed(f"not published: {mqtt.error_string(info.rc)}")
    info.wait_for_publish(timeout)
    if not info.is_published():
        raise PublishFailed(f"the broker did not acknowledge the alert change within {timeout} s", info)


def connect_publisher(mqtt_settings=None, client_id="factory-notifier", timeout=10.0):
    """A paho client connected to the broker, its network loop running; for `publish_alert_change`.

    It reconnects by itself after a broker outage. Raises `PublishFailed` when no connection
    was made within `timeout` seconds. Stop it with `client.disconnect(); client.loop_stop()`.
    """
    mqtt_settings = mqtt_settings or settings()
    client = make_client(mqtt_settings, client_id)
    connected = threading.Event()

    def on_connect(_client, _userdata, _flags, reason_code, _properties):
        if not reason_code.is_failure:
            connected.set()

    client.on_connect = on_connect
    client.connect_async(mqtt_settings["host"], mqtt_settings["port"], mqtt_settings["keepalive"])
    client.loop_start()
    if not connected.wait(timeout):
        client.loop_stop()
        raise PublishFailed(f"no connection to {mqtt_settings['host']}:{mqtt_settings['port']} within {timeout} s")
    return client


class Bridge:
    """Takes messages from the broker and stores them; acknowledges each once it is settled.

    paho's network thread only queues incoming messages; this object's `run` stores them one
    after another in the order they came, and acknowledges them in that order, as MQTT asks.
    """

    def __init__(self, mqtt_settings, config):
        self.settings = mqtt_settings
        self.config = config
        self.stopping = threading.Event()
        self.inbox = queue.Queue()
        # Counts connections and disconnections. A message is acknowledged only on the connection
        # that brought it: a packet id means another message on the next connection.
        self.connection = 0
        self.connection_lock = threading.Lock()
        self.db = db.KeptConnection(self.config)
        self.client = make_client(mqtt_settings, mqtt_settings["client_id"], persistent=True, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def run(self):
        """Connect, then store messages until `stopping` is set."""
        db.init_db(self.config["DATABASE_PATH"], self.config["DATABASE_WAIT_SECONDS"])
        self._connect()
        try:
            while not self.stopping.is_set():
                try:
                    connection, message = self.inbox.get(timeout=0.2)
                except queue.Empty:
                    continue
                if self._settle(message):
                    self._ack(connection, message)
                elif not self.stopping.is_set():
                    self._reconnect()
        finally:
            self.client.disconnect()
            self.client.loop_stop()
            self.db.drop()

    def _connect(self):
        s = self.settings
        self.client.connect_async(s["host"], s["port"], s["keepalive"])
        self.client.loop_start()

    def _reconnect(self):
        """Drop the connection, so the broker hands every unacknowledged message over again."""
        log.warning("reconnecting to have the unstored messages delivered again")
        self.client.disconnect()
        self.client.loop_stop()
        while not self.inbox.empty():  # none of these was acknowledged: all come again
            self.inbox.get_nowait()
        self._connect()

    def _settle(self, message):
        """Store one message; True once it may be acknowledged (stored, or never storable)."""
        started = time.perf_counter()
        wait = STORE_FIRST_WAIT_S
        where = {"topic": message.topic, "mid": message.mid, "bytes": len(message.payload)}
        for attempt in range(1, STORE_ATTEMPTS + 1):
            try:
                outcome = store_message(self.db.get(), self.config, message.payload)
            except StorageFailure as failure:
                self.db.drop()  # a fresh connection for the next attempt
                log.warning("could not store the message", extra={"fields": {
                    **where, "attempt": attempt, "error": str(failure)}})
                if attempt == STORE_ATTEMPTS or self.stopping.wait(wait):
                    return False
                wait *= 2
                continue
            except Exception as failure:  # noqa: BLE001 - a fault set off by this message
                # Not acknowledging it would have it delivered again and again, holding back all
                # behind it; it is logged, with the start of its payload, and acknowledged.
                log.exception("the bridge failed on a message", extra={"fields": {
                    **where, "payload_start": message.payload[:1000].decode("utf-8", "replace")}})
                outcome = {"status": "rejected", "detail": f"the bridge failed on this message: {failure!r}"}
            fields = {**where, **outcome, "duration_ms": round((time.perf_counter() - started) * 1000, 2)}
            if outcome["status"] == "rejected":
                log.warning("message rejected", extra={"fields": fields})
            elif outcome.get("errors"):
                log.warning("message stored, some events rejected", extra={"fields": fields})
            else:
                log.info("message stored", extra={"fields": fields})
            return True
        return False

    def _ack(self, connection, message):
        with self.connection_lock:
            if connection == self.connection:
                self.client.ack(message.mid, message.qos)


    # paho's network thread calls these.

    def _on_connect(self, client, _userdata, flags, reason_code, _properties):
        with self.connection_lock:
            self.connection += 1
        s = self.settings
        if reason_code.is_failure:
            log.error("the broker refused the connection", extra={"fields": {
                "host": s["host"], "port": s["port"], "reason": str(reason_code)}})
            return
        log.info("connected", extra={"fields": {"host": s["host"], "port": s["port"], "client_id": s["client_id"],
                                                "session_present": bool(flags.session_present)}})
        # Every time: a broker that lost its state has lost the subscription too.
        client.subscribe(s["events_topic"], qos=1)

    def _on_connect_fail(self, _client, _userdata):
        s = self.settings
        log.warning("no connection to the broker; retrying", extra={"fields": {"host": s["host"], "port": s["port"]}})

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties):
        with self.connection_lock:
            self.connection += 1
        if not self.stopping.is_set():
            log.warning("disconnected", extra={"fields": {"reason": str(reason_code)}})

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _properties):
        granted = [code.value for code in reason_codes]
        if any(code.is_failure for code in reason_codes):
            log.error("the broker refused the subscription", extra={"fields": {
                "topic": self.settings["events_topic"], "granted": granted}})
        else:
            log.info("subscribed", extra={"fields": {"topic": self.settings["events_topic"], "qos": granted}})

    def _on_message(self, _client, _userdata, message):
        self.inbox.put((self.connection, message))


def main():
    """Run the bridge until SIGTERM or SIGINT; the message being stored is finished first."""
    logs.configure()
    try:
        bridge = Bridge(settings(), default_config())
    except StartupError as failure:  # a setting it cannot use: one line, as the service says it
        print(f"Error: {failure}", file=sys.stderr)
        return 1

    def stop(_signum, _frame):
        bridge.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bridge.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The notifier (SPEC §9): evaluates the alert rules every few seconds and delivers each change.

    python -m backend.notify

Settings: those of the service (`DATABASE_PATH`, `STATE_MAX_GAP_SECONDS`, `FACTORY_TZ`, the drift
settings...) and `NOTIFY_INTERVAL_SECONDS` (default 5), `NOTIFY_TIMEOUT_SECONDS` (an HTTP
attempt, default 10), `NOTIFY_RETRY_BASE_SECONDS` (default 1) and `NOTIFY_RETRY_MAX_SECONDS`
(default 300). With `MQTT_HOST` set, each change is also published to `MQTT_ALERTS_TOPIC`.

**Evaluation.** Each round reads the floor at `now` through the service's own queries and
reports (`alerts.read_floor`), finds the conditions that hold (`alerts.conditions`), and records
the openings and closings in one write transaction (`alerts.record`), queueing each change once
for every receiver. Under SQLite's write lock a second notifier sees the first one's committed
alerts, and an evaluation older than one already stored changes nothing, so two notifiers record
each opening and closing exactly once.

**Delivery.** Each receiver (a webhook URL, or MQTT) has a queue of changes, taken oldest first;
it waits on its head until that is delivered, so a receiver never gets an alert's closing before
its opening. Sends run in threads beside the evaluations, each ended after
`NOTIFY_TIMEOUT_SECONDS` as a whole, so a slow receiver holds neither the rounds nor the other
receivers. A notifier claims a head in a write transaction before sending it, for a lease
longer than an attempt can take, so two notifiers never send one change at once. A webhook gets
`POST` JSON `{"change": "opened"|"closed", "alert": {...}}` with `X-Signature: sha256=<hex
HMAC-SHA256 of the body with the webhook's secret>` and `X-Alert-Change-Id` (one id per change,
the same for every receiver). Anything but a 2xx answer (a redirect too) is tried again after an
exponential backoff, capped and jittered, until a 2xx.

The guarantee: every change reaches every receiver configured when it was recorded, in order,
once when nothing crashes; a notifier that dies after a receiver took a change but before the
notifier recorded it has the change sent again when its lease runs out (at least once). A
receiver that must act once keys on `X-Alert-Change-Id`.
"""

import hashlib
import hmac
import http.client
import json
import logging
import os
import random
import secrets
import signal
import socket
import sys
import threading
import time
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from . import alert_store, alerts, db, logs
from .app import _env_number, default_config
from .errors import StartupError

log = logging.getLogger("factory.notify")

MQTT_PREFIX = "mqtt:"
USER_AGENT = "factory-floor-notifier/1"
# Receivers sent to at once in one pass; each receiver's own queue is still one change at a time.
SENDERS = 8
# Another notifier on the database evaluates at most a round or so ahead of this one; a stored
# evaluation further ahead than this many rounds means a clock is off (`Notifier._check_clock`).
BEHIND_ROUNDS = 3


def settings():
    """The notifier's own settings from the environment, with their defaults."""
    timeout_s = _env_number("NOTIFY_TIMEOUT_SECONDS", 10.0, float)
    found = {
        "interval_s": _env_number("NOTIFY_INTERVAL_SECONDS", 5.0, float),
        "timeout_s": timeout_s,
        "retry_base_s": _env_number("NOTIFY_RETRY_BASE_SECONDS", 1.0, float),
        "retry_max_s": _env_number("NOTIFY_RETRY_MAX_SECONDS", 300.0, float),
        # Longer than any attempt takes, so a claim runs out only when its notifier died.
        "lease_s": max(60.0, 3 * timeout_s),
    }
    for name, value in found.items():
        if not value > 0:
            raise StartupError(f"the notifier's {name} must be more than 0, not {value}")
    return found


def signature(secret, body):
    """The `X-Signature` value of `body` (bytes): `sha256=` and the hex HMAC-SHA256 with `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff_s(attempts, base_s, max_s, rng):
    """Seconds to wait after the `attempts`-th failed attempt: doubling from `base_s`, at most
    `max_s`, then jittered to between half and all of it, so receivers that come back are not
    hit by every notifier at once."""
    delay = min(max_s, base_s * 2 ** min(attempts - 1, 60))
    return delay * (0.5 + 0.5 * rng.random())


def post_webhook(url, body, secret, change_id, timeout_s):
    """POST one change to a webhook; `None` on a 2xx answer, else what went wrong (one line).

    The attempt as a whole ends after `timeout_s`: a receiver that answers a byte at a time is cut
    off then, so it holds neither the notifier's rounds nor its claim on the change for longer. A
    redirect is not followed: it is no delivery.
    """
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme.lower() == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, parts.port, timeout=timeout_s)
    cut = threading.Event()
    deadline = threading.Timer(timeout_s, _cut_off, (connection, cut))
    deadline.start()
    try:
        connection.connect()  # a limit met while connecting finds no socket to shut: checked once it stands
        if cut.is_set():
            raise TimeoutError("connecting took the whole time")
        connection.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body=body,
                           headers={"Content-Type": "application/json", "X-Signature": signature(secret, body),
                                    "X-Alert-Change-Id": str(change_id), "User-Agent": USER_AGENT})
        status = connection.getresponse().status  # what follows it is not read: the status says it all
        outcome = None if 200 <= status < 300 else f"HTTP {status}"
    except (OSError, http.client.HTTPException, ValueError) as error:
        outcome = f"{type(error).__name__}: {error}"
    finally:
        deadline.cancel()
        connection.close()
    # Cut off, an answer's head may look whole to the reader: it is no delivery.
    return f"no whole answer within {timeout_s:g} s" if cut.is_set() else outcome


def _cut_off(connection, cut):
    """End an attempt that ran out of time (and set `cut`): reads and writes on its socket fail at once."""
    cut.set()
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # closed meanwhile


def receiver_name(receiver):
    """A receiver as logs show it: a webhook by scheme, host and port only (its path may hold a token)."""
    if receiver.startswith(MQTT_PREFIX):
        return receiver
    parts = urlsplit(receiver)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class Notifier:
    """Evaluates the rules (`evaluate`) and delivers queued changes (`deliver`); `run` alternates them.

    `clock` gives the instant the rules are evaluated at (epoch ms; the service's `CLOCK` unless
    given): tests pin it. Delivery retries are timed by `wall_ms`, the machine's clock, which
    every notifier on the database shares.
    """

    def __init__(self, config, notify_settings, clock=None, wall_ms=None, rng=None, mqtt_client=None,
                 mqtt_topic=None):
        self.config = config
        self.settings = notify_settings
        self.clock = clock or config["CLOCK"]
        self.wall_ms = wall_ms or (lambda: time.time_ns() // 1_000_000)
        self.rng = rng or random.Random()
        self.me = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.mqtt_client = mqtt_client
        self.mqtt_topic = mqtt_topic
        self.mqtt_receiver = f"{MQTT_PREFIX}{mqtt_topic}" if mqtt_client is not None else None
        self.mqtt_pending = {}  # change id -> its publication the broker has not acknowledged yet
        self.senders = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="notify-send")
        self.sending = {}  # receiver -> (its head, the future of its send) while a send to it is under way
        self.db = db.KeptConnection(self.config)
        self.behind_ms = None  # how far the evaluation stored is ahead of this clock, once warned of

    def evaluate(self):
        """Evaluate the rules at `clock()` and record what changed; the recorded changes, or `None`
        when another notifier has stored an evaluation as recent already."""
        conn = self.db.get()
        now_ms = self.clock()
        rules = alerts.load_rules(conn)
        config = self.config
        floor = alerts.read_floor(conn, now_ms, config["STATE_MAX_GAP_SECONDS"], config["FACTORY_TZ"],
                                  config["DRIFT_RULES"], {rule.kind for rule in rules})
        found = alerts.conditions(rules, floor, now_ms)
        extra = [self.mqtt_receiver] if self.mqtt_receiver else []
        recorded = alerts.record(conn, found, now_ms, extra)
        if recorded is None:
            self._check_clock(conn, now_ms)
        else:
            self.behind_ms = None
        for change_id, change, alert in recorded or ():
            log.info(f"alert {change}", extra={"fields": {
                "change_id": change_id, "alert_id": alert["id"], "rule_id": alert["rule_id"], "kind": alert["kind"],
                "subject": alert["subject"], "by": self.me}})
        return recorded

    def _check_clock(self, conn, now_ms):
        """Warn, once until this notifier records again, when the evaluation stored is ahead of its
        clock by more than `BEHIND_ROUNDS` rounds (at least a minute): its clock is behind another
        notifier's, or was set back, and no alert opens or closes here until it passes that instant."""
        ahead_ms = (alert_store.alerts_evaluated_at(conn) or now_ms) - now_ms
        if self.behind_ms is None and ahead_ms > max(60_000, BEHIND_ROUNDS * self.settings["interval_s"] * 1000):
            self.behind_ms = ahead_ms
            log.warning("the alert rules were evaluated at a later instant than this notifier's clock: it records "
                        "no change until its clock passes that instant", extra={"fields": {
                            "ahead_s": round(ahead_ms / 1000, 3), "by": self.me}})

    def deliver(self):
        """One pass over the receivers: record the sends that finished, then start sending each
        receiver's head when it is due, nobody holds it and no send to it is under way. Sends run
        beside the rounds, so a slow receiver holds neither the evaluations nor the other
        receivers. Returns `(sends finished or started, seconds until the next head falls due or
        `None`)`."""
        conn = self.db.get()
        finished = self._settle_finished(conn)
        if not alert_store.pending_deliveries(conn):
            return finished, None
        now_ms = self.wall_ms()
        claimed, wait_ms = [], None
        with db.transaction(conn):
            for head in alert_store.delivery_heads(conn):
                if head["receiver"] in self.sending or not self._can_send(head):
                    continue
                held = head["claimed_by"] not in (None, self.me) and head["claimed_until_ms"] > now_ms
                due_ms = head["claimed_until_ms"] if held else head["next_attempt_ms"]
                if due_ms > now_ms:
                    wait_ms = due_ms - now_ms if wait_ms is None else min(wait_ms, due_ms - now_ms)
                    continue
                lease_ms = round(self.settings["lease_s"] * 1000)
                if alert_store.claim_delivery(conn, head["receiver"], head["change_id"], self.me, now_ms,
                                          now_ms + lease_ms):
                    claimed.append(head)
        for head in claimed:
            self.sending[head["receiver"]] = (head, self.senders.submit(self._send, head))
        return finished + len(claimed), None if wait_ms is None else wait_ms / 1000

    def _settle_finished(self, conn):
        """Record the sends that finished (delivered, or to be tried again); how many."""
        done = [(head, future) for head, future in self.sending.values() if future.done()]
        if not done:
            return 0
        done_ms = self.wall_ms()
        with db.transaction(conn):
            for head, future in done:
                failure = future.exception()
                self._settle(conn, head, future.result() if failure is None else f"{type(failure).__name__}: {failure}",
                             done_ms)
        for head, _future in done:
            del self.sending[head["receiver"]]
        return len(done)

    def _wait(self, stop, seconds):
        """Wait up to `seconds` for `stop`, or, while sends are under way, for the first to finish
        (one that finished but could not be recorded yet waits for the next pass, not this one)."""
        under_way = [future for _head, future in self.sending.values() if not future.done()]
        if under_way:
            futures.wait(under_way, seconds, futures.FIRST_COMPLETED)
        else:
            stop.wait(seconds)

    def _can_send(self, head):
        if head["receiver"].startswith(MQTT_PREFIX):
            return head["receiver"] == self.mqtt_receiver  # another notifier's broker: that one sends it
        return head["secret"] is not None

    def _send(self, head):
        body = head["body"].encode()
        if head["receiver"] == self.mqtt_receiver:
            from . import mqtt  # paho is loaded only where MQTT is configured
            change_id = head["change_id"]
            pending = self.mqtt_pending.pop(change_id, None)
            try:
                mqtt.publish_alert_change(self.mqtt_client, json.loads(body), self.mqtt_topic,
                                          timeout=self.settings["timeout_s"], pending=pending)
            except mqtt.PublishFailed as failure:
                if failure.pending is not None:
                    self.mqtt_pending = {change_id: failure.pending}  # only the head is ever retried
                return f"PublishFailed: {failure}"
            return None
        return post_webhook(head["receiver"], body, head["secret"], head["change_id"], self.settings["timeout_s"])

    def _settle(self, conn, head, error, now_ms):
        fields = {"receiver": receiver_name(head["receiver"]), "change_id": head["change_id"],
                  "attempt": head["attempts"] + 1}
        if error is None:
            if alert_store.delivered(conn, head["receiver"], head["change_id"], self.me):
                log.info("alert change delivered", extra={"fields": fields})
            else:  # the claim ran out while sending: another notifier sends it again
                log.warning("alert change delivered after its claim ran out", extra={"fields": fields})
            return
        wait_s = backoff_s(head["attempts"] + 1, self.settings["retry_base_s"], self.settings["retry_max_s"], self.rng)
        alert_store.retry_delivery(conn, head["receiver"], head["change_id"], self.me, now_ms + round(wait_s * 1000),
                               error[:500])
        log.warning("alert change not delivered; trying again", extra={"fields": {
            **fields, "error": error, "retry_in_s": round(wait_s, 3)}})

    def run(self, rounds=None, stop=None):
        """Evaluate every `interval_s` and deliver in between, until `stop` is set or, with
        `rounds`, once that many evaluations are done (a send under way may hold a stop for up to
        its time limit)."""
        stop = stop or threading.Event()
        done = 0
        next_round = time.monotonic()
        try:
            while not stop.is_set():
                if time.monotonic() >= next_round:
                    if rounds is not None and done >= rounds:
                        break
                    self._guarded("evaluation", self.evaluate)
                    done += 1
                    next_round = time.monotonic() + self.settings["interval_s"]
                moved, wait_s = self._guarded("delivery", self.deliver) or (0, None)
                if moved:
                    continue
                pause = next_round - time.monotonic()
                self._wait(stop, max(0.0, pause if wait_s is None else min(pause, wait_s)))
        finally:
            self.close()
        return done

    def _guarded(self, what, step):
        # One failed round (a busy or failing database, a fault) is logged; the next round tries again.
        try:
            return step()
        except db.Error as failure:
            log.warning(f"{what} failed in the database; trying again next round", extra={"fields": {
                "error": str(failure), "cause": db.storage_cause(failure)}})
            self.db.drop()
        except Exception:  # noqa: BLE001 - the notifier outlives a fault in one round
            log.exception(f"{what} failed; trying again next round")
        return None


    def close(self):
        """Let the sends under way finish (each within its time limit) and record them; let go of
        the database and the sending threads."""
        self.senders.shutdown(wait=True)
        self._guarded("delivery", lambda: self._settle_finished(self.db.get()))
        self.db.drop()


def _mqtt_publisher():
    """`(client, topic)` for publishing alert changes when `MQTT_HOST` is set, else `(None, None)`.

    The client connects in the background and reconnects by itself; a change it cannot publish
    waits in its queue like one a webhook refused.
    """
    if not os.environ.get("MQTT_HOST"):
        return None, None
    from . import mqtt
    mqtt_settings = mqtt.settings()
    client = mqtt.make_client(mqtt_settings, f"factory-notifier-{socket.gethostname()}-{os.getpid()}")
    client.connect_async(mqtt_settings["host"], mqtt_settings["port"], mqtt_settings["keepalive"])
    client.loop_start()
    return client, mqtt_settings["alerts_topic"]


def main(clock=None, rounds=None, stop=None):
    """Run the notifier until SIGTERM or SIGINT (or `stop` is set, or `rounds` evaluations are done).

    `clock` (epoch ms) pins the instant the rules are evaluated at, for tests. A setting or a
    database it cannot use ends it with one line on stderr and status 1.
    """
    logs.configure()
    try:
        config = default_config()
        notify_settings = settings()
        db.init_db(config["DATABASE_PATH"], config["DATABASE_WAIT_SECONDS"])
    except StartupError as failure:
        print(f"Error: {failure}", file=sys.stderr)
        return 1
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        def on_signal(_signum, _frame):
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    client, topic = _mqtt_publisher()
    notifier = Notifier(config, notify_settings, clock=clock, mqtt_client=client, mqtt_topic=topic)
    log.info("notifier started", extra={"fields": {"database": config["DATABASE_PATH"], "by": notifier.me,
                                                   "interval_s": notify_settings["interval_s"],
                                                   "mqtt": notifier.mqtt_receiver}})
    try:
        notifier.run(rounds, stop)
    finally:
        if client is not None:
            client.disconnect()
            client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

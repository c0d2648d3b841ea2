"""The edge client: send the outbox in batches, retry what may succeed later, park what cannot.

- `2xx`, or `422` with per-event results: each event is `sent` (accepted or duplicate) or
  `parked` with the server's reasons. Nothing is dropped.
- `413`: the batch is halved and sent again; a single event that is too large is parked.
- `429`, `5xx`, a refused connection or a timeout: retried with exponential backoff and jitter,
  honouring `Retry-After`; the events stay pending in the outbox meanwhile.
- `400`, `401`, `403`, `404` and other answers about the request rather than the events (a
  wrong token, a wrong URL, a server name it does not answer to, a proxy's refusal; an event
  JSON cannot carry is refused by the outbox, or parked before sending when an older outbox
  holds one, so the client's bodies are JSON): the events stay pending and the client backs off,
  so fixing the configuration is enough to resume.
- `500` over and over for the same batch: a server fault set off by something in it. The batch
  is halved until the one event that sets it off is alone, and that event is parked with the
  server's answer, so one bad event cannot hold back everything behind it.

Heartbeats: the latest state (`working`, `idle`, `absent`) of each worker is sent again, stamped
with the current time, once `heartbeat_seconds` (default `HEARTBEAT_SECONDS`, 120) passed
without a new one, so the server's signal horizon never runs out while the camera is on. The
owner of the client calls `heartbeat()` often enough; `next_heartbeat_ms()` says when.

Over MQTT instead (`mqtt_url`, e.g. `mqtt://host:1883`): each batch is published with QoS 1 to
`factory/<device>/events` and counts as sent once the broker acknowledged it (PUBACK); until
then it stays pending and is retried with the same backoff. The bridge (`python -m
backend.mqtt`) stores it as `POST /events` would; events it rejects are logged there, not parked
here, because MQTT carries no answer back to the publisher.
"""

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..timeutil import format_instant

log = logging.getLogger(__name__)


@dataclass
class FlushResult:
    """What one `flush` did."""

    sent: int = 0
    parked: int = 0
    failures: int = 0
    pending: int = 0
    last_error: str | None = None


# Answers of 500 to the same batch before it is split (and a lone event parked).
FAULTS_BEFORE_SPLIT = 3
# A worker's state is sent again after this long without a new one (SPEC §5: the signal horizon,
# 900 s by default, must not run out while a camera is on).
HEARTBEAT_SECONDS = 120.0
STATE_TYPES = ("working", "idle", "absent")


class Transient(Exception):
    """The server could not take the batch now; try again later."""

    def __init__(self, message, retry_after=None, status=None):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class EdgeClient:
    """Sends an `Outbox` to the API's `POST /events`, or to an MQTT broker when `mqtt_url` is given."""

    def __init__(self, base_url, outbox, token=None, batch_size=500, timeout=10.0,
                 backoff_base=0.5, backoff_max=30.0, rng=None, sleep=time.sleep,
                 heartbeat_seconds=HEARTBEAT_SECONDS, clock=None, mqtt_url=None):
        self.url = base_url.rstrip("/") + "/events"
        self.outbox = outbox
        self.token = token
        self.batch_size = batch_size
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.failures_in_a_row = 0
        self.heartbeat_ms = round(heartbeat_seconds * 1000) if heartbeat_seconds else None
        self.clock = clock or _wall_clock_ms
        self.states = {}  # worker id -> (clock ms when handed over, the state event without id and time)
        self.mqtt = MqttSender(mqtt_url, outbox.device_id, timeout) if mqtt_url else None

    def close(self):
        """Disconnect from the broker in MQTT mode (the outbox stays open: its owner closes it)."""
        if self.mqtt:
            self.mqtt.close()

    def send(self, events):
        """Write events to the outbox (they are safe from here on) and return their ids.

        Each worker's latest state event is kept, to be sent again by `heartbeat`.
        """
        ids = self.outbox.add(events)
        now_ms = self.clock()
        for event in events:
            worker_id = event.get("worker_id")
            if event.get("event_type") in STATE_TYPES and isinstance(worker_id, str | int):
                self.states[worker_id] = (now_ms, {key: value for key, value in event.items()
                                                   if key not in ("event_id", "timestamp")})
        return ids

    def heartbeat(self):
        """Send again, stamped with the clock's current time, the state of every worker whose
        latest state event was handed over `heartbeat_seconds` ago or longer; returns how many."""
        if self.heartbeat_ms is None:
            return 0
        now_ms = self.clock()
        due = [state for at_ms, state in self.states.values() if now_ms - at_ms >= self.heartbeat_ms]
        if due:
            self.send([{**state, "timestamp": format_instant(now_ms)} for state in due])
        return len(due)

    def next_heartbeat_ms(self):
        """The clock time at which `heartbeat` next has a state to send, or `None`."""
        if self.heartbeat_ms is None or not self.states:
            return None
        return min(at_ms for at_ms, _ in self.states.values()) + self.heartbeat_ms

    def flush(self, max_failures=None):
        """Send every pending event; on failures back off and retry.

        Returns once the outbox has nothing pending, or after `max_failures` failed attempts in
        this call (`None`: keep trying).
        """
        result = FlushResult()
        batch_size = self.batch_size
        faults = {}  # (first seq, size) -> answers of 500 in a row
        while True:
            batch = self.outbox.pending(batch_size)
            if not batch:
                break
            try:
                outcomes = self.mqtt.publish(batch) if self.mqtt else self._post(batch)
            except Transient as failure:
                result.failures += 1
                result.last_error = str(failure)
                key = (batch[0][0], len(batch))
                faults[key] = faults.get(key, 0) + 1 if failure.status == 500 else 0
                if faults[key] >= FAULTS_BEFORE_SPLIT and len(batch) > 1:
                    batch_size = max(1, len(batch) // 2)
                    continue
                if faults[key] >= FAULTS_BEFORE_SPLIT:
                    reason = [{"field": None, "message": f"the server failed on this event: {failure}"}]
                    self.outbox.record([batch[0][0]], {batch[0][0]: ("parked", reason)})
                    result.parked += 1
                    batch_size = self.batch_size  # the event that set it off is out: whole batches again
                    continue
                self.outbox.record([seq for seq, _ in batch], {})
                if max_failures is not None and result.failures >= max_failures:
                    break
                self.sleep(self.backoff_delay(failure.retry_after))
                continue
            if outcomes is None:  # 413: the batch is too large for the server
                if len(batch) > 1:
                    batch_size = max(1, len(batch) // 2)
                    continue
                outcomes = {batch[0][0]: ("parked", [{"field": None, "message": "event too large for the server"}])}
            self.failures_in_a_row = 0
            self.outbox.record([seq for seq, _ in batch], outcomes)
            result.sent += sum(status == "sent" for status, _ in outcomes.values())
            result.parked += sum(status == "parked" for status, _ in outcomes.values())
        result.pending = self.outbox.counts()["pending"]
        return result

    def backoff_delay(self, retry_after=None):
        """Exponential backoff with jitter: half the step fixed, half random; `Retry-After` wins."""
        self.failures_in_a_row += 1
        step = min(self.backoff_max, self.backoff_base * 2 ** (self.failures_in_a_row - 1))
        delay = step / 2 + self.rng.uniform(0, step / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def _post(self, batch):
        """POST one batch; the outcome per seq, `None` for a 413, or `Transient`."""
        body, unsendable = _body(batch)
        if unsendable:
            return unsendable
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _outcomes(batch, json.loads(response.read()))
        except urllib.error.HTTPError as error:
            return self._answer_to_error(batch, error)
        except (OSError, ValueError) as failure:  # refused, reset, timed out, half an answer
            raise Transient(f"server unreachable: {failure}") from failure

    def _answer_to_error(self, batch, error):
        try:
            payload = json.loads(error.read())
        except (OSError, ValueError):
            payload = {}
        if error.code == 413:
            return None
        if error.code == 422 and isinstance(payload.get("results"), list):
            return _outcomes(batch, payload)
        if error.code == 422:
            reason = [{"field": None, "message": payload.get("detail", f"HTTP {error.code}")}]
            return {seq: ("parked", reason) for seq, _ in batch}
        retry_after = _seconds(error.headers.get("Retry-After"))
        raise Transient(f"HTTP {error.code}: {payload.get('detail', error.reason)}", retry_after, error.code)


class MqttSender:
    """Publishes outbox batches as `{"events": [...]}` to `factory/<device>/events` with QoS 1.

    paho's network thread keeps the connection and reconnects by itself; a batch whose
    acknowledgement did not come in time is waited for again when the same batch is retried,
    rather than published a second time.
    """

    def __init__(self, url, device_id, timeout=10.0):
        import paho.mqtt.client as mqtt  # only the MQTT mode needs paho

        if any(char in device_id for char in "/+#"):
            raise ValueError(f"a device id in an MQTT topic cannot hold '/', '+' or '#': {device_id!r}")
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        self.mqtt = mqtt
        self.topic = f"factory/{device_id}/events"
        self.timeout = timeout
        self.connected = threading.Event()
        self.waiting = None  # (seqs, MessageInfo) of the batch published last, not yet acknowledged
        # A clean session: the broker keeps nothing for a publisher; unacknowledged batches stay
        # in the outbox. A random suffix, so two devices with one id do not push each other off.
        client_id = f"edge-{device_id}-{uuid.uuid4().hex[:8]}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        if parts.username:
            self.client.username_pw_set(unquote(parts.username), unquote(parts.password or "") or None)
        if parts.scheme == "mqtts":
            self.client.tls_set()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_args: self.connected.clear()
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self.client.connect_async(parts.hostname or "127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, _client, _userdata, _flags, reason_code, _properties):
        if reason_code.is_failure:
            log.warning("edge: the broker refused the connection: %s", reason_code)
        else:
            self.connected.set()

    def publish(self, batch):
        """Publish one batch; every event `sent` once the broker acknowledged it, else `Transient`."""
        seqs = tuple(seq for seq, _ in batch)
        if self.waiting is not None and self.waiting[0] == seqs:
            info = self.waiting[1]
        else:
            if not self.connected.wait(self.timeout):
                raise Transient("broker unreachable")
            body, unsendable = _body(batch)
            if unsendable:
                return unsendable
            info = self.client.publish(self.topic, body, qos=1)
            if info.rc != self.mqtt.MQTT_ERR_SUCCESS:  # the connection dropped just now; paho may still send it
                raise Transient(f"broker unreachable: {self.mqtt.error_string(info.rc)}")
            self.waiting = (seqs, info)
        info.wait_for_publish(self.timeout)
        if not info.is_published():
            raise Transient(f"the broker did not acknowledge the batch within {self.timeout} s")
        self.waiting = None
        return {seq: ("sent", None) for seq in seqs}

    def close(self):
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


def _body(batch):
    """`(JSON body, {})` of a batch, or `(None, outcomes)` parking the events JSON cannot carry (a
    NaN an outbox written before `Outbox.add` refused them let in); the others go with the next batch."""
    try:
        return json.dumps({"events": [event for _, event in batch]}, allow_nan=False).encode(), {}
    except ValueError:
        pass
    outcomes = {}
    for seq, event in batch:
        try:
            json.dumps(event, allow_nan=False)
        except ValueError as problem:
            outcomes[seq] = ("parked", [{"field": None, "message": f"cannot be sent as JSON: {problem}"}])
    return None, outcomes


def _wall_clock_ms():
    return time.time_ns() // 1_000_000


def _outcomes(batch, payload):
    results = payload.get("results") or []
    if len(results) != len(batch):
        raise Transient("the server's answer does not name every event")
    outcomes = {}
    for (seq, _event), result in zip(batch, results, strict=True):
        if result.get("status") in ("accepted", "duplicate"):
            outcomes[seq] = ("sent", result.get("id"))
        else:
            outcomes[seq] = ("parked", result.get("errors") or [])
    return outcomes


def _seconds(value):
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None

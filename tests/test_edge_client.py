"""The edge client: outbox first, batches, backoff with jitter, parking rejected events."""

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from backend.edge.client import EdgeClient
from backend.edge.outbox import ADD_SQL, Outbox, new_event_id
from tests.servers import Server, free_port, request


def good(minute, **fields):
    return {"timestamp": f"2026-01-15T08:{minute:02d}:00Z", "worker_id": "W1", "workstation_id": "S1",
            "event_type": "working", **fields}


def server_events(server):
    return request(server.base, "/events?limit=1000")[1]["events"]


class Recorder:
    """Stands in for `time.sleep`: records each delay instead of waiting."""

    def __init__(self):
        self.delays = []

    def __call__(self, seconds):
        self.delays.append(seconds)


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(str(tmp_path / "outbox.db"), device_id="cam-1")
    yield box
    box.close()


def test_outbox_keeps_events_across_restarts_and_ignores_replays(tmp_path):
    path = str(tmp_path / "outbox.db")
    first = Outbox(path, device_id="cam-1")
    ids = first.add([good(0), good(1, event_id="fixed-1")])
    first.close()
    again = Outbox(path, device_id="cam-1")
    assert ids[0].startswith("cam-1-") and ids[1] == "fixed-1"
    again.add([good(1, event_id="fixed-1")])  # a replay after a restart
    assert again.counts() == {"pending": 2, "sent": 0, "parked": 0}
    assert [event["event_id"] for _, event in again.pending(10)] == ids
    again.close()


def test_an_event_with_a_null_or_empty_event_id_gets_one_and_is_kept(outbox):
    ids = outbox.add([good(0, event_id=None), good(1, event_id="")])
    assert all(event_id.startswith("cam-1-") for event_id in ids) and len(set(ids)) == 2
    assert outbox.counts()["pending"] == 2


def test_a_devices_new_event_ids_follow_each_other_in_time_and_never_repeat():
    start_ns = 1_700_000_000_000_000_000
    later = [new_event_id("cam-1", start_ns + step * 1_000_000) for step in range(50)]  # a millisecond apart
    assert later == sorted(later) and all(len(event_id) == len("cam-1-") + 32 for event_id in later)
    same_instant = {new_event_id("cam-1", start_ns) for _ in range(1000)}
    assert len(same_instant) == 1000


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling(outbox):
    client = EdgeClient("http://127.0.0.1:9", outbox, backoff_base=1, backoff_max=8, rng=random.Random(4))
    delays = [client.backoff_delay() for _ in range(6)]
    for delay, step in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert step / 2 <= delay <= step
    assert len(set(delays)) == 6  # jittered: no two retries at the same moment
    assert client.backoff_delay(retry_after=7) >= 7
    assert client.backoff_delay(retry_after=600) <= 8


def test_sends_batches_and_parks_rejected_events_with_reasons(tmp_path, outbox):
    server = Server(tmp_path / "server").start()
    try:
        client = EdgeClient(server.base, outbox, batch_size=2)
        client.send([good(0), good(1), {"timestamp": "soon", "worker_id": "W1"}, good(2)])
        result = client.flush()
        assert (result.sent, result.parked, result.pending) == (3, 1, 0)
        ((event_id, event, errors),) = outbox.parked()
        assert event["timestamp"] == "soon"
        assert any(error["field"] == "timestamp" and "'soon'" in error["message"] for error in errors)
    finally:
        server.stop()


def test_unreachable_server_keeps_everything_until_it_answers(tmp_path, outbox):
    server = Server(tmp_path / "server")
    sleep = Recorder()
    client = EdgeClient(server.base, outbox, batch_size=3, backoff_base=0.5, rng=random.Random(1), sleep=sleep)
    client.send([good(m) for m in range(7)])
    result = client.flush(max_failures=4)
    assert (result.sent, result.failures, result.pending) == (0, 4, 7)
    assert "unreachable" in result.last_error
    assert len(sleep.delays) == 3 and sleep.delays == sorted(sleep.delays)
    server.start()
    try:
        result = client.flush()
        assert (result.sent, result.pending) == (7, 0)
        assert len(server_events(server)) == 7
    finally:
        server.stop()


class ScriptedApi:
    """A loopback HTTP server answering `POST /events` from a script of (status, headers, body)."""

    def __init__(self, script):
        self.script = list(script)
        self.batches = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.batches.append(body["events"])
                status, headers, answer = api.script.pop(0) if api.script else api.accept_all(body["events"])
                payload = json.dumps(answer(body["events"]) if callable(answer) else answer).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def accept_all(events):
        results = [{"index": i, "status": "accepted", "id": i + 1} for i in range(len(events))]
        return 201, {}, {"accepted": len(events), "duplicates": 0, "rejected": 0, "results": results}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted():
    made = []

    def make(*script):
        api = ScriptedApi(script)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


def test_429_and_5xx_are_retried_honouring_retry_after(scripted, outbox):
    api = scripted((429, {"Retry-After": "3"}, {"detail": "slow down"}),
                   (503, {}, {"detail": "database busy"}))
    sleep = Recorder()
    client = EdgeClient(api.base, outbox, backoff_base=0.1, rng=random.Random(2), sleep=sleep)
    client.send([good(0), good(1)])
    result = client.flush()
    assert (result.sent, result.failures, result.pending) == (2, 2, 0)
    assert sleep.delays[0] >= 3 and sleep.delays[1] < 1
    assert len(api.batches) == 3 and all(len(b) == 2 for b in api.batches)


def test_413_halves_the_batch_until_it_fits(scripted, outbox):
    too_large = (413, {}, {"detail": "too large"})
    api = scripted(too_large, too_large)
    client = EdgeClient(api.base, outbox, batch_size=8)
    client.send([good(m) for m in range(8)])
    assert client.flush().sent == 8
    assert [len(b) for b in api.batches] == [8, 4, 2, 2, 2, 2]


def test_wrong_token_keeps_events_pending(scripted, outbox):
    api = scripted((401, {}, {"detail": "needs a token"}), (403, {}, {"detail": "wrong token"}))
    client = EdgeClient(api.base, outbox, token="old", sleep=Recorder())
    client.send([good(0)])
    result = client.flush(max_failures=2)
    assert (result.sent, result.parked, result.pending) == (0, 0, 1)
    assert "403" in result.last_error
    assert client.flush().sent == 1  # the token was fixed on the server side meanwhile


def test_a_request_level_rejection_of_the_events_parks_the_batch_with_the_reason(scripted, outbox):
    api = scripted((422, {}, {"detail": "The batch holds no events."}))
    client = EdgeClient(api.base, outbox)
    client.send([good(0), good(1)])
    result = client.flush()
    assert (result.parked, result.pending) == (2, 0)
    assert outbox.parked()[0][2] == [{"field": None, "message": "The batch holds no events."}]


def test_a_bad_request_about_the_setup_keeps_events_pending(scripted, outbox):
    # A server that does not answer to the name the device uses (SPEC §7), or a proxy's refusal:
    # the events are fine, the configuration is not.
    api = scripted((400, {}, {"detail": "This server is not reached by the name '127.0.0.1'"}))
    client = EdgeClient(api.base, outbox, sleep=Recorder())
    client.send([good(0), good(1)])
    result = client.flush(max_failures=1)
    assert (result.sent, result.parked, result.pending) == (0, 0, 2)
    assert "400" in result.last_error
    assert client.flush().sent == 2  # the name was fixed meanwhile


def test_an_event_json_cannot_carry_is_refused_when_added(outbox):
    with pytest.raises(ValueError, match="event 1 cannot be sent as JSON"):
        outbox.add([good(0), {**good(1), "confidence": float("nan")}])
    assert outbox.counts()["pending"] == 0  # nothing of the call was added


def test_an_event_json_cannot_carry_that_an_older_outbox_holds_is_parked_and_the_rest_sent(scripted, outbox):
    outbox.add([good(0)])
    # An outbox written before `add` refused them holds a NaN (json.dumps writes it as NaN).
    outbox.conn.execute(ADD_SQL, ("cam-old-1", json.dumps({**good(1), "event_id": "cam-old-1",
                                                           "confidence": float("nan")}), 0))
    outbox.add([good(2)])
    api = scripted()
    result = EdgeClient(api.base, outbox).flush()
    assert (result.sent, result.parked, result.pending) == (2, 1, 0)
    ((event_id, _event, errors),) = outbox.parked()
    assert event_id == "cam-old-1" and "cannot be sent as JSON" in errors[0]["message"]
    assert all(event.get("confidence") is None or event["confidence"] == event["confidence"]
               for batch in api.batches for event in batch)  # no NaN ever went out


def test_an_event_the_server_keeps_failing_on_is_isolated_and_parked(scripted, outbox):
    def fail_on_poison(events):
        if any(event.get("worker_id") == "poison" for event in events):
            return 500, {}, {"detail": "The server could not complete the request."}
        return ScriptedApi.accept_all(events)

    api = scripted()
    api.accept_all = fail_on_poison  # every answer is decided by the batch's content
    client = EdgeClient(api.base, outbox, batch_size=4, sleep=Recorder())
    events = [good(m) for m in range(20)]
    events[5]["worker_id"] = "poison"
    client.send(events)
    result = client.flush()
    assert (result.sent, result.parked, result.pending) == (19, 1, 0)
    ((_event_id, event, errors),) = outbox.parked()
    assert event["worker_id"] == "poison" and "server failed on this event" in errors[0]["message"]
    # Once it is out, the rest go in whole batches again, not one event a request.
    last_fault = max(n for n, batch in enumerate(api.batches) if any(e["worker_id"] == "poison" for e in batch))
    after = [len(batch) for batch in api.batches[last_fault + 1:]]
    assert len(after) > 2 and set(after[:-1]) == {4}, after


def test_a_busy_server_is_retried_without_end(scripted, outbox):
    busy = (503, {}, {"detail": "busy"})
    api = scripted(*[busy] * 6)
    client = EdgeClient(api.base, outbox, sleep=Recorder())
    client.send([good(0)])
    assert (client.flush().sent, outbox.counts()["parked"]) == (1, 0)  # 503 never parks anything


# ---------------------------------------------------------------- heartbeats

class FakeTime:
    """The wall clock (epoch ms), the monotonic clock and `sleep` of one made-up timeline: a sleep
    moves both clocks on at once, so a test runs through hours of it without waiting."""

    def __init__(self, iso="2026-01-15T08:00:00Z"):
        from backend.timeutil import parse_instant

        self.start_ms = parse_instant(iso)
        self.seconds = 0.0
        self.sleeps = []

    def clock(self):
        return self.start_ms + round(self.seconds * 1000)

    def monotonic(self):
        return self.seconds

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.seconds += seconds


def pending_events(outbox):
    return [event for _, event in outbox.pending(10_000)]


def test_a_steady_state_is_sent_again_every_heartbeat_stamped_with_the_clock(outbox):
    time = FakeTime()
    client = EdgeClient("http://127.0.0.1:9", outbox, heartbeat_seconds=120, clock=time.clock)
    client.send([good(0, confidence=0.9, site_id="plant-north"),
                 good(0, event_type="product_count", count=2)])
    assert client.next_heartbeat_ms() == time.start_ms + 120_000
    time.seconds = 119.9
    assert client.heartbeat() == 0
    time.seconds = 120
    assert client.heartbeat() == 1
    time.seconds = 200
    assert client.heartbeat() == 0  # counted from the heartbeat, not from the first event
    time.seconds = 240
    assert client.heartbeat() == 1
    *_, first, second = pending_events(outbox)
    assert [first["timestamp"], second["timestamp"]] == ["2026-01-15T08:02:00Z", "2026-01-15T08:04:00Z"]
    for again in (first, second):
        # The state again, with its own id; product counts are never repeated.
        assert {k: v for k, v in again.items() if k not in ("timestamp", "event_id")} == {
            "worker_id": "W1", "workstation_id": "S1", "event_type": "working", "confidence": 0.9,
            "site_id": "plant-north"}
    assert len({event["event_id"] for event in pending_events(outbox)}) == 4


def test_a_new_state_restarts_the_heartbeat_and_is_the_one_repeated(outbox):
    time = FakeTime()
    client = EdgeClient("http://127.0.0.1:9", outbox, heartbeat_seconds=120, clock=time.clock)
    client.send([good(0), good(0, worker_id="W2")])
    time.seconds = 100
    client.send([good(1, event_type="idle", workstation_id="S2")])
    time.seconds = 120
    assert client.heartbeat() == 1  # W2 only: W1 changed state 20 s ago
    time.seconds = 220
    assert client.heartbeat() == 1
    last = pending_events(outbox)[-1]
    assert (last["worker_id"], last["event_type"], last["workstation_id"]) == ("W1", "idle", "S2")
    assert last["timestamp"] == "2026-01-15T08:03:40Z"


def test_heartbeats_can_be_turned_off(outbox):
    time = FakeTime()
    client = EdgeClient("http://127.0.0.1:9", outbox, heartbeat_seconds=0, clock=time.clock)
    client.send([good(0)])
    time.seconds = 3600
    assert client.heartbeat() == 0 and client.next_heartbeat_ms() is None


def simulator_args(base, outbox_path, **overrides):
    from backend.edge.simulate import parse_args

    args = parse_args(["--url", base, "--outbox", str(outbox_path), "--cameras", "4", "--minutes", "60"])
    for name, value in overrides.items():
        setattr(args, name, value)
    return args


def test_the_simulators_heartbeat_comes_from_its_setting_and_a_bad_one_is_a_usage_error(monkeypatch, capsys):
    from backend.edge.simulate import parse_args

    monkeypatch.setenv("HEARTBEAT_SECONDS", "30")
    assert parse_args(["--url", "http://127.0.0.1:1"]).heartbeat_seconds == 30.0
    monkeypatch.setenv("HEARTBEAT_SECONDS", "abc")
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--url", "http://127.0.0.1:1"])
    assert stopped.value.code == 2
    assert "argument --heartbeat-seconds: invalid float value: 'abc'" in capsys.readouterr().err


def test_the_simulator_plays_the_floor_from_now_with_a_heartbeat_at_least_every_120_s(scripted, tmp_path):
    from backend.edge.simulate import run
    from backend.timeutil import parse_instant

    api = scripted()
    time = FakeTime("2026-01-15T08:00:00Z")
    summary = run(simulator_args(api.base, tmp_path / "outbox.db"), clock=time.clock, monotonic=time.monotonic,
                  sleep=time.sleep)
    assert summary["done"] and summary["pending"] == 0 and not summary["stopped_at_max_seconds"]
    sent = [event for batch in api.batches for event in batch]
    stamps = [parse_instant(event["timestamp"]) for event in sent]
    # Real time, from the moment it started: an hour of floor at the default speed of 1.
    assert min(stamps) == time.start_ms and max(stamps) <= time.start_ms + 3600_000
    by_worker = {}
    for event in sent:
        if event["event_type"] != "product_count":
            by_worker.setdefault(event["worker_id"], []).append(parse_instant(event["timestamp"]))
    assert len(by_worker) == 4
    for times in by_worker.values():
        assert times == sorted(times)
        assert max(later - earlier for earlier, later in zip(times, times[1:], strict=False)) <= 120_000


def test_max_seconds_ends_the_simulator_early_and_what_is_left_plays_on_later(scripted, tmp_path):
    from backend.edge.simulate import floor_events, run

    api = scripted()
    time = FakeTime()
    path = tmp_path / "outbox.db"
    first = run(simulator_args(api.base, path, max_seconds=600), clock=time.clock, monotonic=time.monotonic,
                sleep=time.sleep)
    assert first["stopped_at_max_seconds"] and not first["done"] and first["left_to_play"] > 0
    assert time.seconds == 600
    time.seconds += 7200  # the device was off for two hours
    second = run(simulator_args(api.base, path), clock=time.clock, monotonic=time.monotonic, sleep=time.sleep)
    assert second["done"]
    sent = [event for batch in api.batches for event in batch]
    planned = {event["event_id"] for _offset, event in floor_events(4, 1, 60)}
    assert planned <= {event["event_id"] for event in sent}
    assert len(sent) == len({event["event_id"] for event in sent})  # nothing twice
    # The floor went on from where it stopped, stamped from the moment the simulator came back.
    resumed = [event["timestamp"] for event in sent if event["timestamp"] > "2026-01-15T08:10:00Z"]
    assert min(resumed) == "2026-01-15T10:10:00Z"


def test_the_simulator_exits_0_when_max_seconds_stops_it(scripted, tmp_path):
    from backend.edge.simulate import main

    api = scripted()
    argv = ["--url", api.base, "--outbox", str(tmp_path / "outbox.db"), "--cameras", "2", "--max-seconds", "0.2"]
    assert main(argv) == 0


def test_over_mqtt_without_a_broker_every_event_stays_pending(outbox):
    port = free_port()  # nothing listens there
    sleep = Recorder()
    client = EdgeClient("http://unused.invalid", outbox, timeout=0.2, rng=random.Random(1), sleep=sleep,
                        mqtt_url=f"mqtt://127.0.0.1:{port}")
    try:
        client.send([good(m) for m in range(3)])
        result = client.flush(max_failures=2)
        assert (result.sent, result.failures, result.pending) == (0, 2, 3)
        assert result.last_error == "broker unreachable" and len(sleep.delays) == 1
        assert outbox.counts() == {"pending": 3, "sent": 0, "parked": 0}
    finally:
        client.close()


def test_over_mqtt_a_device_id_that_would_change_the_topic_is_refused(tmp_path):
    box = Outbox(str(tmp_path / "outbox.db"), device_id="line-1/cam-2")
    try:
        with pytest.raises(ValueError, match="device id"):
            EdgeClient("http://unused.invalid", box, mqtt_url="127.0.0.1:1883")
    finally:
        box.close()

"""Polling costs little: metrics carry an ETag that changes exactly when the answer can."""

import pytest

from tests.helpers import event, post_events

PATHS = ["/metrics/factory", "/metrics/workers", "/metrics/workers/W1", "/metrics/workstations",
         "/metrics/workstations/S1", "/metrics/timeline", "/metrics/hourly", "/metrics/models", "/metrics/drift"]


@pytest.fixture
def floor(client):
    post_events(client, event("2026-01-15T08:00:00Z"), event("2026-01-15T09:00:00Z", event_type="idle"), status=201)
    return client


@pytest.mark.parametrize("path", PATHS)
def test_unchanged_answer_is_304_without_a_body(floor, path):
    first = floor.get(path)
    assert first.status_code == 200 and first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"
    again = floor.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == first.headers["ETag"]


def test_new_event_changes_the_etag(floor):
    etag = floor.get("/metrics/workers").headers["ETag"]
    post_events(floor, event("2026-01-15T08:30:00Z", event_type="product_count", count=2), status=201)
    response = floor.get("/metrics/workers", headers={"If-None-Match": etag})
    assert response.status_code == 200 and response.headers["ETag"] != etag
    assert response.get_json()["workers"][0]["units"] == 2


def test_duplicate_leaves_the_etag(floor):
    etag = floor.get("/metrics/workers").headers["ETag"]
    post_events(floor, event("2026-01-15T08:00:00Z"), status=200)
    assert floor.get("/metrics/workers", headers={"If-None-Match": etag}).status_code == 304


def test_window_ending_now_changes_the_etag_as_time_passes(floor, clock):
    clock.set("2026-01-15T09:30:00Z")
    query = "/metrics/workers?from=2026-01-15T08:00:00Z&to=2026-01-15T23:00:00Z"
    etag = floor.get(query).headers["ETag"]
    clock.set("2026-01-15T09:31:00Z")
    response = floor.get(query, headers={"If-None-Match": etag})
    assert response.status_code == 200 and response.get_json()["workers"][0]["idle_seconds"] == 31 * 60


def test_other_queries_and_reseeding_change_the_etag(floor):
    etag = floor.get("/metrics/workers").headers["ETag"]
    assert floor.get("/metrics/workers?min_confidence=0.5").headers["ETag"] != etag
    assert floor.get("/metrics/factory").headers["ETag"] != etag
    assert floor.post("/seed?replace=all").status_code == 200  # the floor's own events go too
    assert floor.get("/metrics/workers", headers={"If-None-Match": etag}).status_code == 200

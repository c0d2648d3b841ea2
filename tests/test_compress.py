"""Answers go out gzipped to clients that accept it: the same JSON, far fewer bytes, and the
ETag of a gzipped answer still saves the next poll."""

import gzip
import json

import pytest

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


@pytest.fixture
def seeded(client):
    assert client.post("/seed").status_code == 200
    return client


def test_a_large_answer_is_gzipped_and_decodes_to_the_same_json(seeded):
    plain = seeded.get("/metrics/dashboard")
    packed = seeded.get("/metrics/dashboard", headers=GZIP)
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"] and "Accept-Encoding" in plain.headers["Vary"]
    body = packed.get_data()
    assert int(packed.headers["Content-Length"]) == len(body) < len(plain.get_data()) / 4
    assert json.loads(gzip.decompress(body)) == plain.get_json()


def test_the_etag_of_a_gzipped_answer_gives_a_304_either_way(seeded):
    packed = seeded.get("/metrics/workers", headers=GZIP)
    etag = packed.headers["ETag"]
    assert etag.startswith('W/"')
    assert seeded.get("/metrics/workers", headers={**GZIP, "If-None-Match": etag}).status_code == 304
    assert seeded.get("/metrics/workers", headers={"If-None-Match": etag}).status_code == 304


def test_small_answers_and_files_go_out_as_they_are(seeded):
    small = seeded.get("/metrics/factory?from=2020-01-01T00:00:00Z&to=2020-01-01T01:00:00Z", headers=GZIP)
    assert small.status_code == 200 and "Content-Encoding" not in small.headers
    assert small.get_json()["factory"]["event_count"] == 0
    page = seeded.get("/", headers=GZIP)
    assert page.status_code == 200 and "Content-Encoding" not in page.headers


def test_a_problem_answer_is_readable_gzipped_too(seeded):
    response = seeded.get("/metrics/workers?from=" + "x" * 3000, headers=GZIP)
    assert response.status_code == 422
    body = response.get_data()
    decoded = gzip.decompress(body) if response.headers.get("Content-Encoding") == "gzip" else body
    assert json.loads(decoded)["status"] == 422

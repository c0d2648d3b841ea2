"""Helpers shared by the tests: event bodies, posting, the problem-details shape."""


def event(timestamp, worker_id="W1", event_type="working", workstation_id="S1", **fields):
    """An event body as a camera would post it."""
    body = {"timestamp": timestamp, "worker_id": worker_id, "workstation_id": workstation_id,
            "event_type": event_type}
    body.update(fields)
    return body


def post_events(client, *events, status=None, **kwargs):
    """POST a batch; check the status when given; return the JSON body."""
    response = client.post("/events", json=list(events), **kwargs)
    if status is not None:
        assert response.status_code == status, response.get_json()
    return response.get_json()


def assert_problem(response, status):
    """The response is an RFC 9457 problem with `status`; returns its body."""
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    for error in body.get("errors", []):
        assert set(error) == {"field", "message"}
    return body

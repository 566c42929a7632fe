"""Webhooks through the real server: a subscription made over the API, deliveries to a local
receiver whose signatures verify, a receiver that fails then succeeds (retried), and what the
outbox recorded."""
from __future__ import annotations

import json
import time

from facerec_core.api.webhooks import Webhooks, verify_signature
from tests.api.conftest import photo_file
from tests.conftest import lfw_photo


def _deliveries(api, hook_id, want, timeout=30.0):
    hooks = Webhooks(api.store, api.audit)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = hooks.deliveries(hook_id)
        if want(found):
            return found
        time.sleep(0.1)
    raise AssertionError(f"deliveries never matched: {found}")


def test_recognition_and_enrollment_are_delivered_signed(api, receiver, held_out_photo, lfw_dir):
    name, path = held_out_photo
    with api.client("admin") as admin:
        made = admin.post("/v1/webhooks", json={"url": receiver.url,
                                                "events": ["person.recognized", "enrollment.changed"]})
        assert made.status_code == 201
        hook, secret = made.json(), made.json()["secret"]
        try:
            with api.client() as c:
                c.post("/v1/recognize", files=photo_file(path))
            (headers, body), = receiver.wait_for(1)
            assert verify_signature(secret, body, headers["x-facerec-timestamp"], headers["x-facerec-signature"])
            assert not verify_signature(secret, body + b" ", headers["x-facerec-timestamp"],
                                        headers["x-facerec-signature"])  # an altered body fails
            assert not verify_signature("whsec_other", body, headers["x-facerec-timestamp"],
                                        headers["x-facerec-signature"])
            event = json.loads(body)
            assert event["event"] == headers["x-facerec-event"] == "person.recognized"
            assert event["data"]["source"] == "api" and event["data"]["score"] > 0
            assert "embedding" not in body.decode() and "thumbnail" not in body.decode()
            admin.post("/v1/people", data={"name": "Hook Test"},
                       files=[("photos", ("1.jpg", lfw_photo(lfw_dir, "Andre_Agassi", 1).read_bytes(), "image/jpeg"))])
            headers, body = receiver.wait_for(2)[1]
            assert json.loads(body)["event"] == "enrollment.changed"
            assert json.loads(body)["data"]["person"] == "Hook Test" and json.loads(body)["data"]["action"] == "enroll"
            assert verify_signature(secret, body, headers["x-facerec-timestamp"], headers["x-facerec-signature"])
            listed = admin.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["deliveries"]
            assert [d["status"] for d in listed[:2]] == ["delivered", "delivered"]
        finally:
            admin.delete("/v1/people/Hook Test")
            assert admin.delete(f"/v1/webhooks/{hook['id']}").status_code == 200


def test_a_failing_receiver_is_retried_until_it_accepts(api, receiver, held_out_photo):
    _, path = held_out_photo
    receiver.answers = [500, 503]
    with api.client("admin") as admin:
        hook = admin.post("/v1/webhooks", json={"url": receiver.url, "events": ["person.recognized"]}).json()
        try:
            with api.client() as c:
                c.post("/v1/recognize", files=photo_file(path))
            arrived = receiver.wait_for(3)
            assert arrived[0][1] == arrived[2][1]  # the same event, sent again
            found = _deliveries(api, hook["id"], lambda d: d and d[0].status == "delivered")
            assert found[0].attempts == 3 and found[0].http_status == 200
        finally:
            admin.delete(f"/v1/webhooks/{hook['id']}")


def test_a_receiver_that_never_accepts_is_recorded_failed(api, receiver, held_out_photo):
    _, path = held_out_photo
    receiver.answers = [500] * 10
    with api.client("admin") as admin:
        hook = admin.post("/v1/webhooks", json={"url": receiver.url, "events": ["person.recognized"]}).json()
        try:
            with api.client() as c:
                c.post("/v1/recognize", files=photo_file(path))
            found = _deliveries(api, hook["id"], lambda d: d and d[0].status == "failed")
            assert found[0].attempts == api.settings.webhook_attempts and found[0].http_status == 500
            assert "500" in found[0].error
        finally:
            admin.delete(f"/v1/webhooks/{hook['id']}")


def test_bad_subscriptions_are_refused(api):
    with api.client("admin") as admin:
        for body in ({"url": "ftp://example.org/x"}, {"url": "http://user:pw@example.org/x"},
                     {"url": "http://127.0.0.1:1/x", "events": ["door.opened"]}):
            answer = admin.post("/v1/webhooks", json=body)
            assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request"

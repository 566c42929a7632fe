"""The HTTP API end to end: a real uvicorn server on loopback, httpx clients, real LFW photos, the
session's trained model. Every endpoint's success path, each error class, roles, a revoked key,
the body and pixel limits, the rate limit, the full queue, and the audit trail of every call."""
from __future__ import annotations

import concurrent.futures
import io
import json

import httpx
import numpy as np
from PIL import Image

from facerec_core.access import cli_principal
from facerec_core.api.keys import ApiKeys
from facerec_core.cli import main
from tests.api.conftest import MAX_BODY, photo_file
from tests.conftest import lfw_photo


def error_of(answer: httpx.Response) -> str:
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert "Traceback" not in answer.text
    return body["error"]["code"]


def test_health_and_readiness_need_no_key(api):
    with api.client(None) as c:
        assert c.get("/health").json() == {"status": "ok"}
        ready = c.get("/ready").json()
        assert ready["ready"] is True and ready["model"] is True
        assert error_of(c.get("/v1/version")) == "unauthorized"


def test_version_and_the_model_manifest(api):
    with api.client("viewer") as c:
        answer = c.get("/v1/version")
    assert answer.status_code == 200
    body = answer.json()
    assert body["backbone"] == "facenet" and body["api"] == "1.0" and body["model"]["backbone"] == "facenet"


def test_recognize_names_a_known_person_as_predict_does(api, held_out_photo, monkeypatch, capsys):
    name, path = held_out_photo
    with api.client() as c:
        multipart = c.post("/v1/recognize", files=photo_file(path))
        raw = c.post("/v1/recognize", content=path.read_bytes(), headers={"Content-Type": "image/jpeg"})
    assert multipart.status_code == 200 and raw.status_code == 200
    faces = multipart.json()["faces"]
    assert faces[0]["identity"] == name.replace("_", " ") or faces[0]["identity"] == name
    assert raw.json()["faces"] == faces
    for var, value in (("FACEREC_ARTIFACTS_DIR", api.settings.artifacts_dir), ("FACEREC_DATA_DIR", api.settings.data_dir),
                       ("FACEREC_CACHE_DIR", api.settings.cache_dir), ("FACEREC_DEVICE", "cpu"),
                       ("FACEREC_BACKBONE", api.settings.backbone)):
        monkeypatch.setenv(var, str(value))
    capsys.readouterr()
    assert main(["predict", "-q", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)[0]["faces"] == faces  # the same answer, field for field


def test_detect_and_verify(api, lfw_dir):
    a, b = lfw_photo(lfw_dir, "Colin_Powell", 20), lfw_photo(lfw_dir, "Colin_Powell", 21)
    other = lfw_photo(lfw_dir, "Aaron_Eckhart", 1)
    with api.client() as c:
        found = c.post("/v1/detect", files=photo_file(a)).json()["faces"]
        same = c.post("/v1/verify", files={**photo_file(a, "a"), **photo_file(b, "b")}).json()
        different = c.post("/v1/verify", files={**photo_file(a, "a"), **photo_file(other, "b")}).json()
        neither = c.post("/v1/verify", files=photo_file(a, "a"))
    assert found and set(found[0]) == {"box", "det_score", "landmarks"} and found[0]["det_score"] > 0.9
    assert same["same"] is True and different["same"] is False and same["similarity"] > different["similarity"]
    assert neither.status_code == 422 and error_of(neither) == "invalid_request"


def test_people_lifecycle_through_the_api(api, lfw_dir):
    photos = [("photos", (f"{i}.jpg", lfw_photo(lfw_dir, "Jacques_Chirac", i).read_bytes(), "image/jpeg"))
              for i in (1, 2, 3)]
    probe = lfw_photo(lfw_dir, "Jacques_Chirac", 10)
    with api.client("admin") as c:
        made = c.post("/v1/people", data={"name": "Jacques Chirac", "notes": "visitor"}, files=photos)
        assert made.status_code == 201, made.text
        assert made.json()["added"] == 3 and made.json()["person"]["samples"] == 3
        assert "Jacques Chirac" in [p["name"] for p in c.get("/v1/people").json()["people"]]
        with api.client() as op:
            assert op.post("/v1/recognize", files=photo_file(probe)).json()["faces"][0]["identity"] == "Jacques Chirac"
        more = c.post("/v1/people/Jacques Chirac/samples",
                      files=[("photos", ("4.jpg", lfw_photo(lfw_dir, "Jacques_Chirac", 4).read_bytes(), "image/jpeg"))])
        assert more.status_code == 201 and more.json()["person"]["samples"] == 4
        renamed = c.patch("/v1/people/Jacques Chirac", json={"name": "J. Chirac", "notes": "badge 9"})
        assert renamed.status_code == 200 and renamed.json()["name"] == "J. Chirac"
        person = c.get("/v1/people/J. Chirac").json()
        assert person["notes"] == "badge 9" and len(person["sample_list"]) == 4
        gone = c.delete(f"/v1/people/J. Chirac/samples/{person['sample_list'][-1]['id']}")
        assert gone.status_code == 200 and c.get("/v1/people/J. Chirac").json()["samples"] == 3
        exported = c.get("/v1/gallery/export")
        assert exported.status_code == 200 and exported.json()["people"][0]["name"] == "J. Chirac"
        assert c.delete("/v1/people/J. Chirac").json()["samples_deleted"] == 3
        assert error_of(c.get("/v1/people/J. Chirac")) == "person_not_found"
        restored = c.post("/v1/gallery/import", content=exported.content, headers={"Content-Type": "application/json"})
        assert restored.status_code == 200 and restored.json()["people_added"] == 1
        assert c.get("/v1/people/J. Chirac").json()["samples"] == 3
        no_face = c.post("/v1/people", data={"name": "Nobody"},
                         files=[("photos", ("blank.png", _png(np.full((200, 200, 3), 128, np.uint8)), "image/png"))])
        assert no_face.status_code == 422 and no_face.json()["refused"] == 1
        assert c.get("/v1/people/Nobody").status_code == 404  # nothing half-written
        c.delete("/v1/people/J. Chirac")


def test_sightings_query_returns_the_api_decisions(api, held_out_photo):
    name, path = held_out_photo
    with api.client() as c:
        c.post("/v1/recognize", files=photo_file(path))
        rows = c.get("/v1/sightings", params={"source": "api", "limit": 5}).json()["sightings"]
        answer = rows[0]["answer"]
        mine = c.get("/v1/sightings", params={"person": answer, "since": "2020-01-01T00:00:00Z"}).json()["sightings"]
        later = c.get("/v1/sightings", params={"since": "2999-01-01T00:00:00Z"}).json()["sightings"]
        bad = c.get("/v1/sightings", params={"since": "last tuesday"})
    assert rows and rows[0]["source"] == "api" and rows[0]["place"] == path.name
    assert {"thumbnail", "embedding"}.isdisjoint(rows[0])
    assert mine and {r["answer"] for r in mine} == {answer} and later == []
    assert bad.status_code == 422 and error_of(bad) == "invalid_request" and "since" in bad.json()["error"]["message"]


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_error_classes_are_json_with_stable_codes(api, lfw_dir):
    with api.client() as c:
        bad = c.post("/v1/recognize", files={"image": ("notes.txt", b"not an image at all", "text/plain")})
        assert bad.status_code == 422 and error_of(bad) == "bad_image" and "notes.txt" in bad.json()["error"]["message"]
        missing = c.post("/v1/recognize", data={"other": "x"}, files={"x": ("a", b"1")})
        assert missing.status_code == 422 and error_of(missing) == "invalid_request"
        assert error_of(c.post("/v1/recognize?top_k=0", content=b"x")) == "invalid_request"
        claim = c.post("/v1/verify", files=photo_file(lfw_photo(lfw_dir, "Colin_Powell", 1), "a"),
                       data={"person": "Nobody At All"})
        assert claim.status_code == 404 and error_of(claim) == "person_not_found"
        assert "Nobody At All" in claim.json()["error"]["message"]
        broken = c.post("/v1/recognize", content=b"--x\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc",
                        headers={"Content-Type": "multipart/form-data; boundary=x"})  # never closed
        assert broken.status_code in (400, 422) and error_of(broken) in ("invalid_request", "bad_image")
        assert c.get("/v1/nowhere").status_code == 404 and error_of(c.get("/v1/nowhere")) == "not_found"
        assert error_of(c.put("/v1/recognize")) == "method_not_allowed"
    with api.client("admin") as c:
        unknown = c.get("/v1/people/Nobody At All")
        assert unknown.status_code == 404 and error_of(unknown) == "person_not_found"
    with httpx.Client(base_url=api.base, headers={"X-API-Key": "frk_" + "x" * 43}) as c:
        wrong = c.get("/v1/version")
        assert wrong.status_code == 401 and error_of(wrong) == "unauthorized"


def test_roles_decide_what_a_key_may_do(api):
    with api.client("viewer") as c:
        answer = c.post("/v1/recognize", content=b"x")
        assert answer.status_code == 403 and error_of(answer) == "forbidden"
        assert "operator" in answer.json()["error"]["message"]
    with api.client("operator") as c:
        assert error_of(c.get("/v1/people")) == "forbidden"
        assert error_of(c.get("/v1/gallery/export")) == "forbidden"
        assert error_of(c.get("/v1/webhooks")) == "forbidden"
        assert c.get("/v1/sightings").status_code == 200
    with api.client("admin") as c:
        assert c.get("/v1/people").status_code == 200


def test_a_revoked_key_is_refused_at_once(api):
    keys = ApiKeys(api.store, api.audit)
    _, key = keys.add(cli_principal(), "short lived", "operator")
    with httpx.Client(base_url=api.base, headers={"X-API-Key": key}) as c:
        assert c.get("/v1/sightings").status_code == 200
        keys.revoke(cli_principal(), "short lived")
        assert error_of(c.get("/v1/sightings")) == "unauthorized"
    with httpx.Client(base_url=api.base, headers={"Authorization": f"Bearer {api.keys['operator']}"}) as c:
        assert c.get("/v1/sightings").status_code == 200  # the Bearer form works too


def test_body_and_pixel_limits(api):
    with api.client() as c:
        big = c.post("/v1/recognize", content=b"\xff" * (MAX_BODY + 1), headers={"Content-Type": "image/jpeg"})
        assert big.status_code == 413 and error_of(big) == "body_too_large"
        chunked = c.post("/v1/recognize", content=iter([b"\xff" * 1024 * 1024] * 4),
                         headers={"Content-Type": "image/jpeg"})  # no Content-Length: counted as it arrives
        assert chunked.status_code == 413 and error_of(chunked) == "body_too_large"
        wide = _png(np.zeros((1000, 1200, 3), np.uint8))  # 1.2 MP, a few kB
        too_many = c.post("/v1/recognize", files={"image": ("wide.png", wide, "image/png")})
        assert too_many.status_code == 413 and error_of(too_many) == "image_too_large"
        assert "1,200,000" in too_many.json()["error"]["message"]
    refusals = [e for e in api.audit.events(limit=3)]
    assert [(e.target, e.detail["status"]) for e in refusals] == [("POST /v1/recognize", 413)] * 3  # all audited


def test_rate_limit_answers_429_with_retry_after(api):
    keys = ApiKeys(api.store, api.audit)
    _, key = keys.add(cli_principal(), "slow client", "viewer", rate_per_minute=6)
    with httpx.Client(base_url=api.base, headers={"X-API-Key": key}) as c:
        answers = [c.get("/v1/version") for _ in range(8)]
    codes = [a.status_code for a in answers]
    assert codes[:5] == [200] * 5 and 429 in codes  # a burst of 5, then 6 a minute
    limited = next(a for a in answers if a.status_code == 429)
    assert error_of(limited) == "rate_limited" and int(limited.headers["Retry-After"]) >= 1


def test_a_full_queue_answers_503_not_a_hang(api, lfw_dir):
    data = lfw_photo(lfw_dir, "Colin_Powell", 5).read_bytes()

    def call(_):
        with api.client() as c:
            return c.post("/v1/recognize", content=data, headers={"Content-Type": "image/jpeg"})

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(call, range(6)))
    codes = sorted(a.status_code for a in answers)
    assert set(codes) <= {200, 503} and 200 in codes and 503 in codes, codes
    busy = next(a for a in answers if a.status_code == 503)
    assert error_of(busy) == "busy" and int(busy.headers["Retry-After"]) >= 1


def test_every_call_is_audited_with_key_endpoint_and_outcome(api):
    with api.client() as c:
        c.get("/v1/sightings")
        c.get("/v1/people")
    events = api.audit.events(limit=5)
    assert (events[0].actor, events[0].action, events[0].target, events[0].outcome) == \
        ("api:test operator", "view_gallery", "GET /v1/people", "denied")
    assert (events[1].actor, events[1].target, events[1].outcome, events[1].source) == \
        ("api:test operator", "GET /v1/sightings", "ok", "api")
    assert api.audit.verify().ok


def test_openapi_docs_are_served_with_examples_and_their_files_locally(api):
    with api.client(None) as c:
        page = c.get("/docs").text
        assert "/docs-files/swagger-ui-bundle.js" in page and "cdn" not in page.lower()  # offline
        assert c.get("/docs-files/swagger-ui-bundle.js").status_code == 200
        assert "cdn" not in c.get("/redoc").text.lower()
        spec = c.get("/openapi.json").json()
    assert {"/v1/recognize", "/v1/verify", "/v1/detect", "/v1/people", "/v1/sightings", "/v1/webhooks"} <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/v1/recognize"]["post"]["requestBody"]["content"]
    assert "Colin Powell" in json.dumps(spec["components"]["schemas"]["Recognized"])


def test_verify_a_photo_against_a_known_person(api, held_out_photo, known_people):
    name, path = held_out_photo
    model_name = next(p for p in known_people if p in (name, name.replace("_", " ")))
    with api.client() as c:
        claim = c.post("/v1/verify", files=photo_file(path, "a"), data={"person": model_name})
    assert claim.status_code == 200 and claim.json()["same"] is True and claim.json()["person"] == model_name

"""Shared fixtures of the API tests: a real uvicorn server on a free loopback port (in a thread of
the test process, sharing the session's Recognizer), keys of each role, a local webhook receiver."""
from __future__ import annotations

import dataclasses
import http.server
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from facerec_core.access import AccessStore, AuditLog, cli_principal
from facerec_core.api.app import create_app
from facerec_core.api.keys import ApiKeys
from facerec_core.api.store import ApiStore
from facerec_core.recognizer import Recognizer
from tests.app.conftest import free_port

MAX_BODY = 3 * 1024 * 1024
MAX_PIXELS = 1_000_000


def wait_ready(base: str, timeout: float = 300.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = httpx.get(f"{base}/ready", timeout=5)
            if answer.status_code == 200:
                return answer
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{base} not ready in {timeout} s")
        time.sleep(0.3)


@dataclasses.dataclass
class Api:
    base: str
    settings: object
    keys: dict[str, str]
    store: ApiStore
    audit: AuditLog

    def client(self, role: str | None = "operator") -> httpx.Client:
        headers = {"X-API-Key": self.keys[role]} if role else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=120)


@pytest.fixture(scope="package")
def api(trained, tmp_path_factory):
    """The API on the session's trained model, with a gallery of its own, small body and pixel
    limits (3 MB, 1 MP), no waiting room (one worker, queue 0) and a 0.2 s first webhook retry."""
    trained_settings, _ = trained
    settings = trained_settings.replace(data_dir=tmp_path_factory.mktemp("api") / "data", api_max_body_bytes=MAX_BODY,
                                        max_image_pixels=MAX_PIXELS, api_threads=1, api_queue=0,
                                        webhook_retry_seconds=0.2, webhook_attempts=4)
    store, access = ApiStore.open(settings), AccessStore.open(settings)
    audit = AuditLog(access)
    keys = ApiKeys(store, audit)
    made = {role: keys.add(cli_principal(), f"test {role}", role, rate_per_minute=100_000)[1]
            for role in ("viewer", "operator", "admin")}
    app = create_app(settings, recognizer=Recognizer.load(settings))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, 60)
    yield Api(base, settings, made, store, audit)
    server.should_exit = True
    thread.join(15)
    store.close()
    access.close()


class Receiver:
    """A local webhook receiver: records every delivery (headers, body) and answers the statuses
    queued in ``answers`` (then 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.answers: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[tuple[dict, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.received)} deliveries arrived, not {count}")

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


def photo_file(path: Path, field: str = "image") -> dict:
    return {field: (path.name, path.read_bytes(), "image/jpeg")}

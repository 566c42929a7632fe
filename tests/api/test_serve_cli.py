"""``facerec serve`` as a user starts it: its own process, loopback, a key made with ``facerec key
add``; the key listed (never shown again) and revoked from the command line."""
from __future__ import annotations

import os
import subprocess
import sys

import httpx

from facerec_core.cli import main
from tests.api.conftest import photo_file, wait_ready
from tests.app.conftest import free_port


def test_serve_in_its_own_process_with_a_cli_key(trained, held_out_photo, tmp_path, capsys, monkeypatch):
    settings, _ = trained
    data = tmp_path / "data"
    monkeypatch.setenv("FACEREC_DATA_DIR", str(data))
    assert main(["key", "add", "Door 1", "--role", "operator"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("frk_")
    assert main(["key", "list"]) == 0
    listed = capsys.readouterr().out
    assert "Door 1" in listed and "operator" in listed and key not in listed and key[:8] in listed
    port = free_port()
    env = {**os.environ, "FACEREC_ARTIFACTS_DIR": str(settings.artifacts_dir), "FACEREC_CACHE_DIR": str(settings.cache_dir),
           "FACEREC_DEVICE": "cpu", "FACEREC_BACKBONE": settings.backbone}
    server = subprocess.Popen([sys.executable, "-m", "facerec_core", "serve", "--port", str(port), "--data-dir", str(data),
                               "--workers", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_ready(base).json()["model"] is True
        name, path = held_out_photo
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=120) as c:
            answer = c.post("/v1/recognize", files=photo_file(path))
            assert answer.status_code == 200 and answer.json()["faces"][0]["identity"] in (name, name.replace("_", " "))
            assert main(["key", "revoke", "Door 1"]) == 0
            assert c.post("/v1/recognize", files=photo_file(path)).status_code == 401
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "127.0.0.1" in output and "Traceback" not in output


def test_webhook_and_key_commands(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FACEREC_DATA_DIR", str(tmp_path / "data"))
    assert main(["webhook", "add", "http://127.0.0.1:8123/hook", "--events", "face.unknown,person.recognized"]) == 0
    out = capsys.readouterr().out
    assert "webhook 1" in out and "whsec_" in out
    assert main(["webhook", "list"]) == 0
    listed = capsys.readouterr().out
    assert "http://127.0.0.1:8123/hook" in listed and "face.unknown" in listed and "whsec_" not in listed
    assert main(["webhook", "add", "ftp://example.org/x"]) == 2
    assert "not a webhook URL" in capsys.readouterr().err
    assert main(["key", "add", "x", "--role", "boss"]) == 2
    assert "unknown role" in capsys.readouterr().err
    assert main(["webhook", "remove", "1"]) == 0 and main(["webhook", "list"]) == 0
    assert "no webhooks" in capsys.readouterr().out
    assert main(["webhook", "deliveries"]) == 0

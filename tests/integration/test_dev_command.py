"""`galaxy dev` on a machine with no Postgres or Redis configured: embedded servers, migrations,
web and worker, the URL printed; data survives a restart; everything stops on Ctrl-C."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from server.embedded import free_port
from server.settings import PROJECT_ROOT
from tests.support import PASSWORD


class DevProcess:
    def __init__(self, data_dir: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
        env.update(GALAXY_DATA_DIR=str(data_dir), PORT=str(port), GALAXY_REDIS_NAMESPACE="devtest")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "dev"], env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 120) -> str:
        for line in self.output:
            if text in line:
                return line
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.output)
                continue
            self.output.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed:\n{''.join(self.output)}")

    def stop(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        code = self.process.wait(timeout=60)
        self.reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code


@pytest.mark.timeout(300)
def test_dev_command_runs_on_embedded_services_and_keeps_data(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    dev = DevProcess(tmp_path / "data", port)
    try:
        line = dev.wait_for("Galaxy is running")
        assert url in line
        dev.wait_for("worker_started")
        assert httpx.get(f"{url}/readyz").json()["status"] == "ok"
        signup = httpx.post(
            f"{url}/api/auth/signup", json={"email": "dev@example.com", "password": PASSWORD, "name": "D"}
        )
        assert signup.status_code == 201
    finally:
        assert dev.stop() == 0
    assert not _listening(port)
    assert (tmp_path / "data" / "secret_key").exists()

    again = DevProcess(tmp_path / "data", port)
    try:
        again.wait_for("Galaxy is running")
        login = httpx.post(f"{url}/api/auth/login", json={"email": "dev@example.com", "password": PASSWORD})
        assert login.status_code == 200  # Postgres data, sessions' secret key and all survived the restart
    finally:
        assert again.stop() == 0


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        return True
    except httpx.TransportError:
        return False

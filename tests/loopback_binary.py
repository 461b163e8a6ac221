"""A server binary from Debian's packages (Prometheus, Alertmanager), run on a loopback port for a test.

`LoopbackBinary(folder, name, argv)` starts `argv` with its output in
`folder/NAME.log`; entering waits until `GET /-/ready` answers 200 (both
binaries have it), leaving stops it. `url` is where it listens: `argv`
gets it from `listen_address`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.polling import WaitTimeout, wait_until
from tests.servers import closed_port


class LoopbackBinary:
    def __init__(self, folder: Path, name: str):
        self.folder = folder
        self.name = name
        self.listen_address = f"127.0.0.1:{closed_port()}"
        self.url = f"http://{self.listen_address}"
        self.client = httpx.Client(base_url=self.url, timeout=10)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, argv: list[str]) -> None:
        with (self.folder / f"{self.name}.log").open("w") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def __enter__(self):  # noqa: ANN204 - the subclass's own type
        try:
            wait_until(self._ready, f"{self.name} to be ready", timeout=30, every=0.1)
        except WaitTimeout:
            raise RuntimeError(f"{self.name} not ready after 30s: {self.logs()}") from None
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited: {self.logs()}")
        try:
            return self.client.get("/-/ready").status_code == 200
        except httpx.TransportError:
            return False

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def logs(self) -> str:
        return (self.folder / f"{self.name}.log").read_text()[-3000:]

"""A real DNS server on loopback for tests: Debian's dnsmasq, authoritative for the zone `example.`.

    with Dnsmasq(tmp_path) as server:        # server.address == "127.0.0.1:PORT"
        ...                                   # threads.example. A 10.0.0.9, and ZONE below

It runs unprivileged (as the current user, no daemon, no pid file, no
/etc/dnsmasq.conf, no upstream servers) on a free port for UDP and TCP;
entering waits until it answers a query, leaving stops it.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import dns.exception
import dns.message
import dns.query

from tests.polling import WaitTimeout, wait_until

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
SERIAL = 2026120201
# The test zone: what each name answers.
ZONE = [
    "--host-record=threads.example,10.0.0.9",
    "--host-record=two.example,10.0.0.1",
    "--host-record=two.example,10.0.0.2",
    "--cname=www.threads.example,threads.example",
    "--mx-host=threads.example,mail.threads.example,10",
    "--txt-record=threads.example,v=spf1 -all",
    # More A records than fit a 512-byte UDP answer: it comes truncated, and again over TCP.
    *(f"--host-record=many.example,10.0.1.{n}" for n in range(1, 41)),
]


def free_port() -> int:
    """A loopback port free for both UDP and TCP (dnsmasq takes both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(port)


class Dnsmasq:
    def __init__(self, folder: Path):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = folder / "dnsmasq.log"
        # Authoritative for `example.` (so NXDOMAIN and empty answers carry the zone's SOA); nothing else.
        self.argv = [DNSMASQ, "--no-daemon", f"--port={self.port}", "--listen-address=127.0.0.1",
                     "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
                     f"--user={getpass.getuser()}", "--local=/example/", "--auth-server=ns.example,127.0.0.1",
                     "--auth-zone=example", f"--auth-soa={SERIAL},hostmaster.example", *ZONE]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Dnsmasq:
        with self.log.open("w") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._answers, "dnsmasq to answer", timeout=10)
        except (WaitTimeout, RuntimeError) as exc:
            self.__exit__()
            raise RuntimeError(f"dnsmasq did not start: {exc}\n{self.log.read_text()}") from None
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"dnsmasq exited with {self.process.returncode}")
        try:
            dns.query.udp(dns.message.make_query("threads.example", "A"), "127.0.0.1", port=self.port, timeout=0.2)
        except (dns.exception.Timeout, OSError):
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class SilentServer:
    """A UDP socket on loopback that takes queries and never answers: a DNS server that hangs."""

    def __enter__(self) -> SilentServer:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.socket.close()


class ScriptedServer:
    """A UDP and TCP DNS server on loopback whose every answer is `answer(query)`; over TCP, `tcp_bytes`
    (the whole framed answer by default) is what it sends before closing.

    Threads serve both sockets until the server is left; nothing else to wait for: the sockets listen
    before entering returns.
    """

    def __init__(self, answer: Callable[[dns.message.Message], dns.message.Message],
                 tcp_bytes: Callable[[bytes], bytes] | None = None):
        self._answer = answer
        self._tcp_bytes = tcp_bytes or (lambda wire: len(wire).to_bytes(2, "big") + wire)

    def __enter__(self) -> ScriptedServer:
        self._tcp = socket.socket()
        self._tcp.bind(("127.0.0.1", 0))
        self._tcp.listen()
        port = self._tcp.getsockname()[1]
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind(("127.0.0.1", port))
        self.address = f"127.0.0.1:{port}"
        threading.Thread(target=self._serve_udp, daemon=True).start()
        threading.Thread(target=self._serve_tcp, daemon=True).start()
        return self

    def _serve_udp(self) -> None:
        while True:
            try:
                data, peer = self._udp.recvfrom(4096)
            except OSError:
                return  # closed on leaving
            self._udp.sendto(self._answer(dns.message.from_wire(data)).to_wire(), peer)

    def _serve_tcp(self) -> None:
        while True:
            try:
                conn, _ = self._tcp.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(4096)
                query = dns.message.from_wire(data[2:])
                conn.sendall(self._tcp_bytes(self._answer(query).to_wire()))

    def __exit__(self, *exc: object) -> None:
        self._udp.close()
        self._tcp.close()

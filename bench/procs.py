"""Peer processes on loopback (nginx, blackbox_exporter, our target server) and their CPU time.

CPU time is read from /proc/<pid>/stat (utime + stime of the process and
its threads), the same way for every process, so ratios compare like with
like. Each process is started with a temporary config on a free loopback
port and is killed, by its own pid, when its `with` block ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class PeerMissing(Exception):
    """A peer program is not installed; the message says how to install it."""


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds used so far by process `pid` (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name (field 2) may hold spaces; the fields after it are fixed.
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds() -> float:
    """User + system CPU seconds of this process and its living children (a monitor's worker processes)."""
    import psutil

    total = cpu_seconds()
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # gone meanwhile
            continue
        total += times.user + times.system
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Return once 127.0.0.1:`port` accepts connections; raise if `proc` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{proc.args[0]} did not listen on 127.0.0.1:{port} within {timeout:g}s")


@contextmanager
def running(argv: list[str], port: int, log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
}}
"""


@contextmanager
def nginx(workdir: Path) -> Iterator[tuple[str, int]]:
    """A one-worker nginx answering 200 "ok" on every path; yields (url, pid)."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if binary is None:
        raise PeerMissing("nginx is not installed: apt-get install nginx (or run with --quick)")
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=workdir, port=port))
    with running([binary, "-c", str(conf), "-e", str(workdir / "nginx-error.log")], port,
                 workdir / "nginx.out") as proc:
        yield f"http://127.0.0.1:{port}", proc.pid


BLACKBOX_CONF = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
"""
BLACKBOX = "prometheus-blackbox-exporter"


def blackbox_installed() -> bool:
    return shutil.which(BLACKBOX) is not None or os.path.exists(f"/usr/bin/{BLACKBOX}")


@contextmanager
def blackbox(workdir: Path) -> Iterator[tuple[int, int]]:
    """blackbox_exporter with an `http_2xx` module; yields (port, pid)."""
    if not blackbox_installed():
        raise PeerMissing(f"{BLACKBOX} is not installed: apt-get install {BLACKBOX}")
    port = free_port()
    conf = workdir / "blackbox.yml"
    conf.write_text(BLACKBOX_CONF)
    argv = [shutil.which(BLACKBOX) or f"/usr/bin/{BLACKBOX}", f"--config.file={conf}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"]
    with running(argv, port, workdir / "blackbox.out") as proc:
        yield port, proc.pid


@contextmanager
def target_server(workdir: Path) -> Iterator[tuple[str, int]]:
    """Our asyncio target (`bench.targets`): `/` answers at once, `/delay/<ms>` after that long."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.targets", "--port", str(port)]
    with running(argv, port, workdir / "target.out") as proc:
        yield f"http://127.0.0.1:{port}", proc.pid

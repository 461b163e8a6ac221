"""Nothing noisy: Ctrl-C and SIGTERM stop cleanly and say what they did; libraries' chatter is DEBUG.

The signals go to the whole process group, as a terminal's Ctrl-C and
systemd's stop do, so Playwright's driver and Chromium get them too.
"""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from alerts.channels.base import DeliveryError, Notice
from alerts.channels.slack.channel import SlackChannel
from alerts.channels.slack.settings import SlackSettings
from monitor.app.logs import setup_logging
from monitor.core.results import utcnow
from tests.monitor_process import query
from tests.polling import wait_until
from tests.servers import TargetServer, closed_port, respond, send

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
NOISE = ("Traceback", "CancelledError", "maximum number of running instances", "Future exception was never",
         "Connection closed", "A retry handler found", "Execution of job")


@pytest.fixture
def slow_target():
    release = threading.Event()

    def slow(handler) -> None:
        release.wait(3)
        send(handler, 200, b"ok")

    page = "<!doctype html><title>app</title><p id='x'>hello</p>"
    with TargetServer({"/slow": slow, "/fast": respond(200, "ok"), "/": respond(200, page, "text/html")}) as server:
        yield server
        release.set()


def start_in_own_group(args: list[str], folder: Path, log: Path) -> subprocess.Popen:
    """`python -m monitor ARGS` as the leader of a new process group (as a shell starts a job)."""
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-m", "monitor", *args], cwd=folder, env=ENV, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def test_library_chatter_is_debug_and_the_monitor_says_what_matters():
    out = io.StringIO()
    setup_logging(stream=out)
    logging.getLogger("apscheduler.scheduler").warning(
        'Execution of job "slow" skipped: maximum number of running instances reached (1)')
    logging.getLogger("slack_sdk.web.base_client").info("A retry handler found: ConnectionErrorRetryHandler")
    logging.getLogger("apscheduler.scheduler").error("a job crashed")  # a library's error is still shown
    logging.getLogger("monitor.scheduler").warning("skipped a run of slow: its previous run is still going")
    assert out.getvalue().splitlines()[0].endswith("ERROR   a job crashed")
    assert "maximum number" not in out.getvalue() and "retry handler" not in out.getvalue()
    assert "skipped a run of slow" in out.getvalue()

    debug = io.StringIO()
    setup_logging(level=logging.DEBUG, stream=debug)
    logging.getLogger("slack_sdk.web.base_client").info("A retry handler found: ConnectionErrorRetryHandler")
    assert "DEBUG   A retry handler found" in debug.getvalue()
    setup_logging()


def test_a_slack_connection_error_is_retried_without_slack_sdks_lines(tmp_path):
    out = io.StringIO()
    setup_logging(stream=out)
    channel = SlackChannel(SlackSettings(token="xoxb-0000-test", channel="#oncall",
                                         api_url=f"http://127.0.0.1:{closed_port()}/api/"))
    with pytest.raises(DeliveryError) as failed:
        channel.send(Notice(kind="firing", check="a", at=utcnow()))
    assert failed.value.reason == "network"
    assert out.getvalue() == ""  # slack-sdk's own retry said nothing; the outbox says it in our words
    setup_logging()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_monitor_run_stopped_by_a_signal_to_its_group_finishes_its_runs_without_a_traceback(tmp_path, slow_target,
                                                                                          sig):
    (tmp_path / "config.toml").write_text(f"""
[monitor]
database = "monitor.db"
listen = "127.0.0.1:0"
[[checks]]
name = "slow"
url = "{slow_target.url}/slow"
interval = "1s"
timeout = "5s"
[[checks]]
name = "page"
type = "browser"
url = "{slow_target.url}/"
interval = "1s"
timeout = "10s"
steps = [ {{ expect_text = "hello" }}, {{ wait = "2s" }} ]
""")
    log = tmp_path / "run.log"
    proc = start_in_own_group(["run", "-c", "config.toml"], tmp_path, log)
    try:
        # The journey waits 2s every 1s: from its first pass on, one is nearly always running.
        wait_until(lambda: "skipped a run of slow" in log.read_text() and "page ok" in log.read_text(),
                   "a skipped run and a passing journey", timeout=30)
        os.killpg(proc.pid, sig)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    said = log.read_text()
    assert [n for n in NOISE if n in said] == [], said
    assert "skipped a run of slow: its previous run is still going" in said
    assert said.rstrip().endswith("INFO    stopped")
    # The journey the signal met finished as it would have: no run failed for the stop.
    assert query(tmp_path / "monitor.db", "select count(*) from runs where not ok") == [(0,)], said


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, by", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")],
                         ids=["ctrl-c", "sigterm"])
def test_monitor_check_interrupted_says_so_and_what_it_stored(tmp_path, slow_target, sig, code, by):
    (tmp_path / "config.toml").write_text(f"""
[monitor]
database = "monitor.db"
[[checks]]
name = "fast"
url = "{slow_target.url}/fast"
[[checks]]
name = "slow"
url = "{slow_target.url}/slow"
timeout = "10s"
""")
    log = tmp_path / "check.log"
    proc = start_in_own_group(["check", "-c", "config.toml"], tmp_path, log)
    try:
        wait_until(lambda: re.search(r"^fast +ok", log.read_text(), re.MULTILINE), "the fast check's row")
        os.killpg(proc.pid, sig)
        assert proc.wait(timeout=30) == code
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    said = log.read_text()
    assert f"interrupted ({by}): 1 of 2 check(s) finished\n  stored: fast (run 1)\n" \
           f"  cut short, nothing stored: slow" in said, said
    assert "Traceback" not in said and "CancelledError" not in said
    assert query(tmp_path / "monitor.db", "select check_name from runs") == [("fast",)]

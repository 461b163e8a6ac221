"""`scripts/demo` as a user runs it: on the ports the environment gives, ending with every incident resolved."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import closed_port

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_documents_every_variable_the_demo_reads():
    script = (ROOT / "scripts" / "demo").read_text()
    variables = set(re.findall(r"\$\{?(DEMO_[A-Z_]+)", script))
    assert variables == {"DEMO_PORT", "DEMO_MONITOR_PORT", "DEMO_DIR"}
    readme = (ROOT / "README.md").read_text()
    assert [v for v in sorted(variables) if f"`{v}`" not in readme] == []
    assert 'listen = "127.0.0.1:${DEMO_MONITOR_PORT:-9108}"' in (ROOT / "demo" / "monitor.toml").read_text()


@pytest.mark.slow
@pytest.mark.browser
def test_the_demo_runs_on_the_ports_it_is_given_and_ends_with_every_incident_resolved(tmp_path):
    app_port, monitor_port = closed_port(), closed_port()
    env = {**os.environ, "DEMO_PORT": str(app_port), "DEMO_MONITOR_PORT": str(monitor_port),
           "DEMO_DIR": str(tmp_path / "demo-state"), "NO_COLOR": "1"}
    done = subprocess.run(["scripts/demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said[-4000:]
    assert f"starting the demo chat app on http://127.0.0.1:{app_port}" in said
    assert f"status page, /metrics and /healthz on http://127.0.0.1:{monitor_port}" in said
    assert re.search(r"FIRING threads-api: expected status 200, got 500: no such table: threads", said)
    assert "RESOLVED threads-api" in said and "every incident resolved" in said
    status = subprocess.run([sys.executable, "-m", "monitor", "status", "--json", "-c", "demo/monitor.toml"],
                            cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                            timeout=60)
    states = {c["check"]: c["state"] for c in json.loads(status.stdout)}
    assert states == dict.fromkeys(("threads-api", "health", "thread-lifecycle", "new-chat",
                                                   "new-chat-script"), "passing"), states
    assert {p.name for p in (tmp_path / "demo-state").iterdir()} >= {"monitor.db", "demo.db", "monitor.log"}

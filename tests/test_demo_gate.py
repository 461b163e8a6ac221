"""The pre-deploy gate against the demo target: the incident, caught and cleared."""

from __future__ import annotations

import json

import httpx

from demo.app import start_server
from monitor.app.cli import main
from tests.config_files import threads_and_health_config


def test_check_fails_on_the_broken_demo_with_the_database_text_and_passes_after_migrate(tmp_path, capsys):
    server, url = start_server(db_path=tmp_path / "demo.db", broken=True)
    try:
        config = str(threads_and_health_config(tmp_path, url))
        assert main(["check", "--json", "-c", config]) == 1
        results = {r["check"]: r for r in json.loads(capsys.readouterr().out)}
        assert results["health"]["ok"] is True  # the misleading health check
        assert results["threads-api"]["status_code"] == 500
        assert results["threads-api"]["error_text"] == "no such table: threads"

        assert main(["check", "-c", config]) == 1
        assert "no such table: threads" in capsys.readouterr().out

        httpx.post(url + "/admin/migrate", trust_env=False).raise_for_status()
        assert main(["check", "-c", config]) == 0
        assert "all 2 passed" in capsys.readouterr().out
    finally:
        server.shutdown()

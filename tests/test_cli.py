"""The `monitor` command as a user types it: exit codes, tables, JSON, no secrets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.app.cli import main
from monitor.app.render import details
from monitor.core.terminal import Style
from tests.config_files import threads_and_health_config
from tests.servers import TargetServer, respond

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def broken_target():
    routes = {"/api/threads": respond(500, {"error": 'relation "threads" does not exist'}),
              "/api/health": respond(200, {"status": "ok"})}
    with TargetServer(routes) as server:
        yield server


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_exits_1_and_prints_the_servers_words(tmp_path, capsys, broken_target):
    config = threads_and_health_config(tmp_path, broken_target.url)
    code, out, _ = run(capsys, "check", "-c", str(config))
    assert code == 1
    assert 'relation "threads" does not exist' in out
    assert "expected status 200, got 500" in out
    assert "1 of 2 failed" in out
    assert "\x1b[" not in out  # not a terminal: no colour


def test_check_json_has_the_documented_fields(tmp_path, capsys, broken_target):
    config = threads_and_health_config(tmp_path, broken_target.url)
    code, out, _ = run(capsys, "check", "health", "threads-api", "--json", "-c", str(config))
    results = json.loads(out)
    assert code == 1
    assert [r["check"] for r in results] == ["health", "threads-api"]
    for key in ("check", "type", "ok", "status_code", "duration_ms", "failure", "error_text", "run_id"):
        assert key in results[0]
    assert results[0]["ok"] is True and results[1]["error_text"] == 'relation "threads" does not exist'
    assert isinstance(results[1]["run_id"], int)


def test_check_exits_0_when_all_pass(tmp_path, capsys):
    with TargetServer({"/api/threads": respond(200, []), "/api/health": respond(200, "ok")}) as server:
        code, out, _ = run(capsys, "check", "-c", str(threads_and_health_config(tmp_path, server.url)))
    assert code == 0 and "all 2 passed" in out


def test_unknown_check_name_is_a_usage_error_with_a_suggestion(tmp_path, capsys, broken_target):
    code, _, err = run(capsys, "check", "helth", "-c", str(threads_and_health_config(tmp_path, broken_target.url)))
    assert code == 2 and "no check named 'helth'" in err and "did you mean 'health'?" in err


def test_history_and_status_show_stored_runs(tmp_path, capsys, broken_target):
    config = str(threads_and_health_config(tmp_path, broken_target.url))
    run(capsys, "check", "-c", config)
    code, out, _ = run(capsys, "history", "threads-api", "-c", config)
    assert code == 0 and "FAIL" in out and 'relation "threads" does not exist' in out
    code, out, _ = run(capsys, "history", "threads-api", "--json", "--limit", "1", "-c", config)
    assert json.loads(out)[0]["status_code"] == 500
    code, out, _ = run(capsys, "status", "-c", config)
    lines = out.splitlines()
    assert code == 0
    assert any(line.startswith("threads-api") and "failing" in line and "does not exist" in line for line in lines)
    assert any(line.startswith("health") and "passing" in line for line in lines)


def test_validate_prints_every_problem_and_exits_2(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text('[[checks]]\nname = "a"\nurl = "http://x"\nintervall = "1m"\n[[checks]]\nname = "a"\n')
    code, out, err = run(capsys, "validate", "-c", str(path))
    assert code == 2
    assert "checks[\"a\"].intervall: unknown key; did you mean 'interval'?" in err
    assert "checks[1].url: is required" in err
    assert "problem(s)" in err


def test_validate_ok(tmp_path, capsys):
    code, out, _ = run(capsys, "validate", "-c", str(threads_and_health_config(tmp_path, "http://127.0.0.1:9")))
    assert code == 0 and "OK (2 http)" in out


def test_config_comes_from_monitor_config_env(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MONITOR_CONFIG", str(threads_and_health_config(tmp_path, "http://127.0.0.1:9")))
    code, out, _ = run(capsys, "validate")
    assert code == 0 and "OK" in out


def test_a_secret_never_reaches_the_database_or_the_output(tmp_path, capsys, monkeypatch):
    secret = "s3cr3t-token-0123456789"
    monkeypatch.setenv("API_TOKEN", secret)
    routes = {"/api/threads": lambda h: respond(500, {"error": f"auth {h.headers['Authorization']} rejected; "
                                                          "dsn postgres://u:pw12345678@db/x"})(h),
              "/api/health": respond(200, "ok")}
    with TargetServer(routes) as server:
        path = threads_and_health_config(tmp_path, server.url)
        path.write_text(path.read_text().replace(
            'url = "' + server.url + '/api/threads"',
            'url = "' + server.url + '/api/threads"\nheaders = { Authorization = "Bearer ${API_TOKEN}" }'))
        code, out, err = run(capsys, "check", "--json", "-c", str(path), "--log-format", "json")
        sent = [headers for _, path, headers in server.requests if path == "/api/threads"]
        assert sent[0]["Authorization"] == f"Bearer {secret}"  # it was really sent
    assert code == 1
    assert "rejected" in out
    for blob in (out, err, *(p.read_bytes().decode("latin-1") for p in tmp_path.glob("monitor.db*"))):
        assert secret not in blob
        assert "pw12345678" not in blob


@pytest.mark.slow
def test_python_dash_m_monitor_works_and_usage_errors_exit_2():
    version = subprocess.run([sys.executable, "-m", "monitor", "--version"], capture_output=True, text=True,
                             cwd=ROOT)
    assert version.returncode == 0 and "synthetic-monitor" in version.stdout
    bad = subprocess.run([sys.executable, "-m", "monitor", "check", "--nope"], capture_output=True, text=True,
                         cwd=ROOT)
    assert bad.returncode == 2 and "unrecognized arguments" in bad.stderr


def test_check_writes_junit_xml_for_ci(tmp_path, capsys, broken_target):
    import xml.etree.ElementTree as ET

    report = tmp_path / "report.xml"
    config = threads_and_health_config(tmp_path, broken_target.url)
    code, _, _ = run(capsys, "check", "--junit", str(report), "-c", str(config))
    suite = ET.parse(report).getroot()
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert code == 1 and suite.get("tests") == "2" and suite.get("failures") == "1"
    failure = cases["threads-api"].find("failure")
    assert failure.get("message") == "expected status 200, got 500"
    assert 'server said: relation "threads" does not exist' in failure.text
    assert cases["health"].find("failure") is None


def test_every_command_has_help_and_a_row_in_the_readme_cli_reference():
    from monitor.app.cli import build_parser

    parser = build_parser()
    [commands] = [a for a in parser._actions if a.dest == "==SUPPRESS==" and getattr(a, "choices", None)]
    reference = (ROOT / "README.md").read_text().split("## CLI reference", 1)[1].split("\n## ", 1)[0]
    undocumented = [name for name in commands.choices if f"`monitor {name}" not in reference]
    helpless = [name for name, sub in commands.choices.items() if not sub.description]
    assert commands.choices and undocumented == [] and helpless == []


def test_the_browsers_words_are_never_printed_as_the_servers():
    row = {"ok": False, "failure": "step 'expect li.thread visible': POST /api/threads: no response after 5s; "
                                   "li.thread was not visible within 5s",
           "error_text": None, "browser_said": "Timeout 5000ms exceeded.", "steps": [], "artifacts": []}
    lines = details(row, Style(False)).splitlines()
    assert lines == ["    browser said: Timeout 5000ms exceeded."]
    assert "server said" in details({**row, "error_text": "no such table: threads"}, Style(False))

"""config.toml parsing: every mistake names the key and the fix."""

import textwrap

import pytest

from monitor.app.config import load_config, parse_config
from monitor.core.config import ConfigError
from monitor.core.durations import format_duration, parse_duration

GOOD = """
[monitor]
database = "data/monitor.db"
location = "eu-west"

[[checks]]
name = "threads-api"
url = "${TARGET_URL:-http://127.0.0.1:8000}/api/threads"
interval = "30s"
timeout = "10s"
[checks.expect]
status = [200, "3xx"]
json = { "status" = "ok" }
max_duration = "2s"
"""


def parse(text: str, env=None, path="/etc/monitor/config.toml"):
    return parse_config(textwrap.dedent(text), path=path, env=env or {})


def messages(text: str, env=None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, env)
    return [issue.render(caught.value.file) for issue in caught.value.issues]


def test_a_good_config_becomes_dataclasses():
    config = parse(GOOD)
    check = config.check("threads-api")
    assert check.target == "http://127.0.0.1:8000/api/threads"
    assert check.interval == 30 and check.timeout == 10
    assert check.settings.expect.status == ((200, 200), (300, 399))
    assert check.settings.expect.max_duration == 2
    assert config.monitor.location == "eu-west"


def test_paths_are_relative_to_the_config_file():
    config = parse(GOOD)
    assert str(config.monitor.database) == "/etc/monitor/data/monitor.db"


def test_env_interpolation_overrides_the_default():
    config = parse(GOOD, env={"TARGET_URL": "https://chat.example.com"})
    assert config.check("threads-api").target == "https://chat.example.com/api/threads"


def test_defaults_accept_2xx_and_3xx_and_run_every_minute():
    config = parse('[[checks]]\nname = "a"\nurl = "http://x"\n')
    check = config.check("a")
    assert check.interval == 60
    assert check.settings.expect.status_ok(204) and check.settings.expect.status_ok(302)
    assert not check.settings.expect.status_ok(404)
    assert check.alerts.failure_threshold == 2


def test_secret_values_from_env_and_auth_headers_are_collected_for_redaction():
    config = parse("""
        [[checks]]
        name = "a"
        url = "http://x"
        headers = { Authorization = "Bearer ${API_TOKEN}" }
    """, env={"API_TOKEN": "tok-1234567890"})
    assert "tok-1234567890" in config.secrets
    assert config.check("a").settings.headers["Authorization"] == "Bearer tok-1234567890"


def test_per_check_alert_policy_overrides_the_defaults():
    config = parse("""
        [alerts]
        failure_threshold = 3
        [[checks]]
        name = "a"
        url = "http://x"
        [checks.alerts]
        success_threshold = 2
    """)
    policy = config.check("a").alerts
    assert (policy.failure_threshold, policy.success_threshold) == (3, 2)


@pytest.mark.parametrize("text, expected", [
    pytest.param('[[checks]]\nname = "a"\nurl = "http://x"\nintervall = "30s"\n',
                 "checks[\"a\"].intervall: unknown key; did you mean 'interval'?", id="unknown-key"),
    pytest.param('[monitor]\nretention = 3\n',
                 "monitor.retention: unknown key; did you mean 'retention_days'?", id="unknown-section-key"),
    pytest.param('[[checks]]\nname = "a"\nurl = "http://x"\ninterval = "30"\n',
                 'checks[\"a\"].interval: expected a duration such as "500ms", "30s"', id="bad-duration"),
    pytest.param('[[checks]]\nname = "a"\nurl = "http://x"\ntimeout = 10\n',
                 "checks[\"a\"].timeout: must be a duration", id="duration-as-number"),
    pytest.param('[[checks]]\nname = "a"\nurl = "http://x"\n[checks.expect]\nstatus = ["2xxx"]\n',
                 "checks[\"a\"].expect.status[0]: must be an array of status codes or classes", id="bad-status"),
    pytest.param('[[checks]]\nname = "a"\nurl = "http://x"\n[checks.expect]\nstatus = [700]\n',
                 "checks[\"a\"].expect.status[0]", id="status-out-of-range"),
    pytest.param('[[checks]]\nname = "a"\nurl = "http://x"\n[[checks]]\nname = "a"\nurl = "http://y"\n',
                 "checks[1].name: duplicate check name 'a' (also checks[\"a\"])", id="duplicate-name"),
    pytest.param('[[checks]]\nname = "Threads API"\nurl = "http://x"\n',
                 "checks[0].name: 'Threads API' is not allowed: use 1-64 of a-z, 0-9, _ and -", id="bad-name"),
    pytest.param('[[checks]]\nname = "a"\n', "checks[\"a\"].url: is required", id="missing-url"),
    pytest.param('[[checks]]\nname = "a"\nurl = "ftp://x"\n', "checks[\"a\"].url: must be an http:// or https:// URL",
                 id="bad-scheme"),
    pytest.param('[[checks]]\nname = "a"\nurl = "${TARGET_URL}/api"\n',
                 "checks[\"a\"].url: environment variable TARGET_URL is not set; set it, or give a default",
                 id="missing-env"),
    pytest.param('[[checks]]\nname = "a"\nurl = "http://x"\ntype = "htp"\n',
                 "checks[\"a\"].type: must be one of", id="bad-type"),
    pytest.param('[[checks]]\nname = "a"\nurl = "http://x"\ncron = "every day"\n',
                 'checks[\"a\"].cron: must be a 5-field crontab', id="bad-cron"),
    pytest.param('[[checks]]\nname = "a"\nurl = "http://x"\ncron = "* * * * *"\ninterval = "1m"\n',
                 "checks[\"a\"].cron: set either interval or cron, not both", id="cron-and-interval"),
    pytest.param('[[checks]]\nname = "a"\nurl = "http://x"\n[checks.expect]\nbody_regex = "("\n',
                 "checks[\"a\"].expect.body_regex: is not a valid regular expression", id="bad-regex"),
    pytest.param('[[checks]]\nname = "a"\nurl = "http://x"\nmethod = "FETCH"\n',
                 "checks[\"a\"].method: must be an HTTP method", id="bad-method"),
    pytest.param('[monitor]\nlisten = "0.0.0.0:9108"\n', "monitor.listen: '0.0.0.0:9108' is reachable from other "
                 "machines", id="public-listen-without-token"),
    pytest.param('[monitor]\nretention_days = 0\n', "monitor.retention_days: must be at least 1, got 0",
                 id="number-out-of-range"),
    pytest.param('[monitor]\nretention_days = "30"\n', "monitor.retention_days: must be an integer, got a string",
                 id="wrong-type"),
    pytest.param('[monitor]\ndatabase = "data/monitor.db"\nartifacts_dir = "data"\n',
                 "monitor.database: '/etc/monitor/data/monitor.db' is inside artifacts_dir", id="database-served"),
    pytest.param('[alerts.slack]\nchannel = "#oncall"\n', "alerts.slack.token: set token", id="slack-without-auth"),
    pytest.param('checks = "x"\n', "checks: must be an array of tables", id="checks-not-array"),
    pytest.param('[[checks]]\nname = "a"\nurl = "http://x"\nbody = "x"\njson = {a = 1}\n',
                 "checks[\"a\"].json: set either body or json, not both", id="body-and-json"),
])
def test_each_mistake_names_the_key_and_the_fix(text, expected):
    found = messages(text)
    assert any(expected in m for m in found), found
    assert all(m.startswith("/etc/monitor/config.toml: ") for m in found)


def test_all_errors_are_reported_at_once():
    found = messages("""
        [monitor]
        retention_days = -1
        [[checks]]
        name = "a"
        url = "http://x"
        interval = "soon"
        [[checks]]
        name = "b"
        url = "nope"
    """)
    assert len(found) == 3


def test_invalid_toml_says_where():
    found = messages('[[checks]\nname = "a"\n')
    assert "not valid TOML" in found[0] and "line 1" in found[0]


def test_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="file not found; pass -c PATH or set MONITOR_CONFIG"):
        load_config(tmp_path / "missing.toml")
    directory = tmp_path / "dir.toml"
    directory.mkdir()
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(directory)


@pytest.mark.parametrize("text, seconds", [
    ("500ms", 0.5), ("30s", 30), ("1m", 60), ("1h", 3600), ("1h30m", 5400), ("1.5s", 1.5), ("2d", 172800),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30", "", "s", "1x", "-1s", "1s2", "ms"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize("seconds, text", [(0.25, "250ms"), (12, "12s"), (180, "3m"), (3900, "1h 5m")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_dollar_dollar_is_a_literal_dollar():
    config = parse('[[checks]]\nname = "a"\nurl = "http://x/$$price"\n')
    assert config.check("a").target == "http://x/$price"


def test_checks_are_named_by_name_in_messages_and_by_place_when_their_name_cannot_say():
    found = messages('[[checks]]\nname = "health"\nurl = "http://x"\n'
                     '[[checks]]\nname = "threads-api"\nurl = "ftp://x"\n'
                     '[[checks]]\nname = "Threads API"\nurl = "http://x"\n'
                     '[[checks]]\nname = "health"\nurl = "http://y"\n'
                     '[[checks]]\nname = "new-chat"\nurl = "${MISSING}/"\n')
    assert any('checks["threads-api"].url: must be an http:// or https:// URL' in m for m in found), found
    assert any("checks[2].name: 'Threads API' is not allowed" in m for m in found), found
    assert any("checks[3].name: duplicate check name 'health' (also checks[\"health\"])" in m for m in found), found
    assert any('checks["new-chat"].url: environment variable MISSING is not set' in m for m in found), found


def test_a_key_below_a_table_header_is_explained_as_toml_table_scope():
    """`interval` written after [checks.expect] is read as expect.interval: say why, and where it goes."""
    [message] = messages('[[checks]]\nname = "threads-api"\nurl = "http://x"\n[checks.expect]\nstatus = [200]\n'
                         'interval = "1m"\n')
    assert message == (
        '/etc/monitor/config.toml: checks["threads-api"].expect.interval: `interval` belongs to '
        'checks["threads-api"], but it comes after the [checks.expect] header, and a TOML table runs until the next '
        "header, so it was read as part of [checks.expect]: move `interval` above [checks.expect]")
    [slack] = messages('[alerts.slack]\ntoken = "x"\nchannel = "#oncall"\nfailure_threshold = 3\n')
    assert slack.endswith("alerts.slack.failure_threshold: `failure_threshold` belongs to alerts, but it comes after "
                          "the [alerts.slack] header, and a TOML table runs until the next header, so it was read as "
                          "part of [alerts.slack]: move `failure_threshold` above [alerts.slack]")


def test_a_key_inside_an_inline_table_is_told_to_leave_the_braces():
    [message] = messages('[[checks]]\nname = "a"\nurl = "http://x"\nexpect = { status = [200], timeout = "5s" }\n')
    assert message.endswith('checks["a"].expect.timeout: `timeout` belongs to checks["a"]: move it out of the '
                            "`expect = { ... }` braces")


def test_a_key_that_belongs_nowhere_near_keeps_its_suggestion():
    [message] = messages('[[checks]]\nname = "a"\nurl = "http://x"\n[checks.expect]\nstatuss = [200]\n')
    assert message.endswith("checks[\"a\"].expect.statuss: unknown key; did you mean 'status'?")


def test_the_event_loop_is_uvloop_where_installed_unless_the_config_asks_for_asyncio():
    from monitor.app.event_loop import chosen_loop, uvloop_available

    assert parse("[monitor]\n").monitor.event_loop == "auto"
    assert chosen_loop("auto") == ("uvloop" if uvloop_available() else "asyncio")
    assert chosen_loop(parse('[monitor]\nevent_loop = "asyncio"\n').monitor.event_loop) == "asyncio"
    assert messages('[monitor]\nevent_loop = "trio"\n') == [
        "/etc/monitor/config.toml: monitor.event_loop: must be one of auto, uvloop, asyncio, got 'trio'"]


def test_a_url_with_a_port_out_of_range_is_a_config_error_not_a_run_time_crash():
    assert messages('[[checks]]\nname = "a"\nurl = "http://127.0.0.1:99999/x"\n') == [
        "/etc/monitor/config.toml: checks[\"a\"].url: 'http://127.0.0.1:99999/x' has a bad port "
        "(Port out of range 0-65535): a port is a number from 1 to 65535"]

"""`[alerts]` in config.toml, and the alerts part wired into `monitor run`."""

from __future__ import annotations

import pytest

from alerts.channels.console import ConsoleChannel
from alerts.channels.slack.channel import SlackChannel, SlackWebhookChannel
from alerts.part import Alerts, build_channels
from monitor.app.config import parse_config
from monitor.app.service import build_service
from monitor.core.config import ConfigError

CHECK = '[[checks]]\nname = "a"\nurl = "http://127.0.0.1:9/"\n'


def test_delivery_backoff_and_grouping_are_configurable():
    config = parse_config('[alerts]\nretry_backoff = "200ms"\nretry_backoff_max = "2s"\ngroup_window = "0s"\n'
                          + CHECK)
    assert (config.alerts.retry_backoff, config.alerts.retry_backoff_max) == (0.2, 2.0)
    assert config.alerts.group_window == 0.0


def test_defaults():
    config = parse_config(CHECK)
    assert (config.alerts.retry_backoff, config.alerts.retry_backoff_max, config.alerts.group_window) == \
        (1.0, 300.0, 30.0)
    policy = config.check("a").alerts
    assert (policy.failure_threshold, policy.success_threshold, policy.reminder_interval, policy.send_resolved) \
        == (2, 1, 3600.0, True)


def test_a_bad_backoff_says_what_is_expected():
    with pytest.raises(ConfigError) as caught:
        parse_config('[alerts]\nretry_backoff = "soon"\n' + CHECK)
    assert "alerts.retry_backoff" in str(caught.value) and '"500ms"' in str(caught.value)


@pytest.mark.parametrize("alerts, kinds", [
    ("", [ConsoleChannel]),
    ('[alerts.slack]\ntoken = "xoxb-1"\nchannel = "#oncall"\n', [SlackChannel]),
    ('[alerts.slack]\nwebhook_url = "https://hooks.slack.com/services/x"\n', [SlackWebhookChannel]),
    ('[alerts.slack]\ntoken = "xoxb-1"\nchannel = "#oncall"\n[alerts.console]\nenabled = true\n',
     [SlackChannel, ConsoleChannel]),
    ('[alerts.console]\nenabled = false\n', []),
])
def test_channels_follow_the_config(alerts, kinds):
    assert [type(c) for c in build_channels(parse_config(alerts + CHECK))] == kinds


def test_monitor_run_wires_alerts_as_listener_and_part(tmp_path):
    config = parse_config('[monitor]\ndatabase = "m.db"\n' + CHECK, path=tmp_path / "config.toml")
    service = build_service(config)
    try:
        [part] = [p for p in service.parts if isinstance(p, Alerts)]
        assert part in service.runner.stored_listeners
    finally:
        service.writer.close()
        service.store.close()

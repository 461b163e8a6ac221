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


TWO_SLACKS = ('[alerts]\nchannels = ["slack"]\n'
              '[alerts.slack]\ntoken = "xoxb-1"\nchannel = "#oncall"\n'
              '[alerts.payments-slack]\nkind = "slack"\ntoken = "xoxb-2"\nchannel = "#payments"\n')


def test_two_destinations_of_one_kind_are_named_and_each_check_goes_where_it_is_routed():
    config = parse_config(TWO_SLACKS + CHECK + '[[checks]]\nname = "pay"\nurl = "http://127.0.0.1:9/pay"\n'
                          '[checks.alerts]\nchannels = ["payments-slack", "slack"]\n')
    assert [(d.name, d.kind) for d in config.alerts.destinations.values()] == [
        ("slack", "slack"), ("payments-slack", "slack")]
    assert config.destinations_of(config.check("a")) == ("slack",)  # the [alerts] default
    assert config.destinations_of(config.check("pay")) == ("slack", "payments-slack")
    channels = build_channels(config)
    assert [(c.name, c.settings.channel) for c in channels] == [("slack", "#oncall"), ("payments-slack", "#payments")]
    assert {"xoxb-1", "xoxb-2"} <= config.secrets


def test_without_routes_every_destination_hears_every_check():
    config = parse_config(TWO_SLACKS.replace('channels = ["slack"]\n', "") + CHECK)
    assert config.destinations_of(config.check("a")) == ("slack", "payments-slack")


@pytest.mark.parametrize("text, says", [
    ('[alerts.payments]\ntoken = "x"\nchannel = "#p"\n',
     'alerts.payments: is not a channel kind (slack, console, webhook, pagerduty, alertmanager): for a destination '
     'of your own name, say which kind it is, e.g. kind = "slack"'),
    ('[alerts.payments]\nkind = "slak"\ntoken = "x"\nchannel = "#p"\n',
     "alerts.payments.kind: unknown channel kind 'slak'; the kinds are slack, console, webhook, pagerduty"),
    ('[alerts]\nchannels = ["slak"]\n[alerts.slack]\ntoken = "x"\nchannel = "#p"\n',
     "alerts.channels[0]: no destination 'slak'; configured: slack (each [alerts.NAME] table is one)"),
    ('[alerts.slack]\ntoken = "x"\nchannel = "#p"\n' + CHECK + '[checks.alerts]\nchannels = ["pager"]\n',
     "checks[\"a\"].alerts.channels[0]: no destination 'pager'"),
    ('[alerts]\nchannels = "slack"\n', 'alerts.channels: must be an array'),
])
def test_a_route_or_destination_mistake_names_the_key_and_the_fix(text, says):
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert says in str(caught.value)


def test_check_labels_and_retries():
    config = parse_config(CHECK + 'retries = 2\nlabels = { team = "chat", severity = "page" }\n')
    assert config.check("a").labels == {"team": "chat", "severity": "page"}
    assert config.check("a").retries == 2
    assert parse_config(CHECK).check("a").retries == 0 and parse_config(CHECK).check("a").labels == {}


@pytest.mark.parametrize("extra, says", [
    ('labels = { "team-name" = "x" }', 'checks["a"].labels.team-name: is not a valid label name'),
    ('labels = { __name__ = "x" }', 'checks["a"].labels.__name__: is not a valid label name'),
    ('labels = { check = "x" }', 'checks["a"].labels.check: is set by the monitor itself'),
    ('labels = { tier = 1 }', 'checks["a"].labels.tier: must be a string, e.g. tier = "1"'),
    ("retries = 9", 'checks["a"].retries: must be between 0 and 5, got 9'),
])
def test_label_and_retry_mistakes(extra, says):
    with pytest.raises(ConfigError) as caught:
        parse_config(CHECK + extra + "\n")
    assert says in str(caught.value)

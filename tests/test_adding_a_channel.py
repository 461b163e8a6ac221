"""A channel is one module plus one registry line: this test module is that module, and it gets paged.

The channel below keeps what it is sent in a list. Registered with one line
(`CHANNEL_KINDS["memo"] = MEMO`), it is configured by `[alerts.memo]`, its
reader's mistakes are config errors with their key path, its secret is
redacted, and the real alerts part delivers a firing notice to it with the
server's own words.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from alerts.channels import CHANNEL_KINDS
from alerts.channels.base import ChannelKind, Delivery, Notice
from monitor.app.config import parse_config
from monitor.core.config import ConfigError, ReadContext
from monitor.core.config_schema import Table
from tests.alerts_harness import Harness
from tests.notices import RELATION
from tests.polling import eventually


@dataclass(frozen=True)
class MemoSettings:
    label: str
    api_key: str | None = None


def read_memo_settings(t: Table, ctx: ReadContext) -> MemoSettings:
    label = t.string("label", required=True, allowed='a label such as "oncall"') or ""
    api_key = t.string("api_key")
    t.reject_unknown()
    ctx.secret(api_key)
    return MemoSettings(label, api_key)


class MemoChannel:
    def __init__(self, settings: MemoSettings, name: str):
        self.name = name
        self.settings = settings
        self.sent: list[Notice] = []

    def send(self, notice: Notice) -> Delivery:
        self.sent.append(notice)
        return Delivery(thread={"memo": len(self.sent)})

    def test(self, notice: Notice) -> str:
        self.send(notice)
        return f"to the memo {self.settings.label!r}"


MEMO = ChannelKind(name="memo", read=read_memo_settings,
                   build=lambda settings, ctx: MemoChannel(settings, ctx.name))


@pytest.fixture(autouse=True)
def memo_registered(monkeypatch):
    monkeypatch.setitem(CHANNEL_KINDS, "memo", MEMO)  # the one registry line


def config_with(tmp_path, table: str):
    text = (f'[monitor]\ndatabase = "monitor.db"\n[alerts]\nfailure_threshold = 2\nreminder_interval = "off"\n'
            f'{table}\n[[checks]]\nname = "threads-api"\nurl = "http://127.0.0.1:9/api/threads"\n')
    return parse_config(text, path=tmp_path / "config.toml", env={"MEMO_KEY": "memo-key-123456"})


def test_a_registered_channel_reads_its_table_and_declares_its_secret(tmp_path):
    config = config_with(tmp_path, '[alerts.memo]\nlabel = "oncall"\napi_key = "${MEMO_KEY}"\n')
    assert [(d.name, d.kind, d.settings) for d in config.alerts.destinations.values()] == [
        ("memo", "memo", MemoSettings("oncall", "memo-key-123456"))]
    assert "memo-key-123456" in config.secrets


def test_its_reader_s_mistakes_are_config_errors_with_their_key_path(tmp_path):
    with pytest.raises(ConfigError) as caught:
        config_with(tmp_path, '[alerts.memo]\nlable = "oncall"\n')
    assert "alerts.memo.label: is required" in str(caught.value)
    assert "alerts.memo.lable: unknown key; did you mean 'label'?" in str(caught.value)


async def test_the_alerts_part_pages_it_with_the_server_s_words(tmp_path):
    config = config_with(tmp_path, '[alerts.memo]\nlabel = "oncall"\n')
    async with Harness(config) as h:  # channels built from the config, as `monitor run` builds them
        [channel] = h.alerts.channels
        assert isinstance(channel, MemoChannel)
        h.fail(times=2)
        await eventually(lambda: h.pending() == 0, "the firing delivered")
        h.pass_()
        await eventually(lambda: h.pending() == 0, "the resolve delivered")
    firing, resolved = channel.sent
    assert (firing.kind, firing.check, firing.error_text) == ("firing", "threads-api", RELATION)
    assert firing.failure == "expected status 200, got 500"
    assert resolved.kind == "resolved" and resolved.thread == {"memo": 1}  # its own thread, handed back

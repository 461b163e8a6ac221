"""Test-wide settings and the fixtures many test modules share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.slack_server import SlackServer

# Property tests check what holds, not how fast: a loaded CI machine must not
# turn a slow example into a failure.
settings.register_profile("default", deadline=None)
settings.load_profile("default")


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    """A loopback Slack (Web API and webhooks) the real slack-sdk talks to."""
    with SlackServer() as server:
        yield server

"""The config as this monitor reads it: the common parts (monitor/core/config.py) plus every kind it knows.

`config_kinds()` gathers the readers of each probe kind
(`probes.PROBE_KINDS`) and each alert channel
(`alerts.channels.CHANNEL_KINDS`), as the registries hold them when the
config is read; `load_config` and `parse_config` are the core's, with those
readers handed in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from alerts.channels import CHANNEL_KINDS, FALLBACK_CHANNELS
from monitor.core import config as core
from monitor.core.config import Config, ConfigKinds
from probes import PROBE_KINDS


def config_kinds() -> ConfigKinds:
    """The readers of every registered probe kind and alert channel."""
    return ConfigKinds(
        checks={name: kind.read_check for name, kind in PROBE_KINDS.items()},
        sections={name: kind.section for name, kind in PROBE_KINDS.items() if kind.section is not None},
        channels={name: kind.read for name, kind in CHANNEL_KINDS.items()},
        fallback_channels=FALLBACK_CHANNELS,
    )


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file at `path` (see monitor/core/config.py)."""
    return core.load_config(path, config_kinds(), env)


def parse_config(text: str, *, path: str | os.PathLike[str] = core.DEFAULT_CONFIG,
                 env: Mapping[str, str] | None = None) -> Config:
    """Parse and validate config text; relative paths resolve against `path`'s folder."""
    return core.parse_config(text, config_kinds(), path=path, env=env)

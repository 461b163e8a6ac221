"""What every `monitor` command shares: exit codes, usage errors, reading the config, choosing checks, colour."""

from __future__ import annotations

import argparse
import os
from typing import TextIO

from monitor.app.config import load_config
from monitor.app.logs import LEVELS, setup_logging
from monitor.core.config import DEFAULT_CONFIG, Check, Config, suggest
from monitor.core.sharding import Share
from monitor.core.terminal import Style

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Stopped by a signal: 128 + its number, as shells report it.
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


class UsageError(Exception):
    """A mistake on the command line or in the config: exit 2 with this message."""


def config_from(args: argparse.Namespace) -> Config:
    """The config the command names (`-c`, $MONITOR_CONFIG, ./config.toml), as its shard sees it (`--shard`)."""
    path = getattr(args, "config", None) or os.environ.get("MONITOR_CONFIG") or DEFAULT_CONFIG
    config = load_config(path)
    if getattr(args, "shard", None):
        try:
            config = config.for_shard(Share.parse(args.shard))
        except ValueError as exc:
            raise UsageError(f"--shard {exc}") from None
    setup_logging(getattr(args, "log_format", "text"), LEVELS[getattr(args, "log_level", "info")],
                  secrets=config.secrets)
    return config


def style_for(stream: TextIO) -> Style:
    return Style(stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb")


def select_checks(config: Config, names: list[str]) -> list[Check]:
    if not names:
        return list(config.checks)
    known = [c.name for c in config.checks]
    unknown = [n for n in names if n not in known]
    if unknown:
        elsewhere = config.shard_of(unknown[0])
        if elsewhere is not None:
            raise UsageError(f"{unknown[0]!r} runs in shard {elsewhere}; this monitor runs shard "
                             f"{config.monitor.shard} (use --shard {elsewhere}, or the monitor of that shard)")
        raise UsageError(f"no check named {unknown[0]!r} in {config.path}{suggest(unknown[0], known)}")
    return [config.check(n) for n in names]


"""Shards and worker shares: every check in exactly one, stable across processes, few moves when N changes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from monitor.app.cli import main
from monitor.app.config import parse_config
from monitor.core.config import ConfigError
from monitor.core.sharding import Share, owner, select, split

NAMES = [f"check-{i}" for i in range(1000)]


def test_every_check_falls_in_exactly_one_shard_and_the_shards_are_even():
    shards = [select(NAMES, Share(k, 3)) for k in (1, 2, 3)]
    assert sorted(sum(shards, [])) == sorted(NAMES)
    assert all(250 < len(s) < 420 for s in shards), [len(s) for s in shards]


def test_a_fourth_shard_takes_checks_from_the_others_and_moves_nothing_else():
    before = {name: owner(name, 3) for name in NAMES}
    after = {name: owner(name, 4) for name in NAMES}
    moved = [name for name in NAMES if before[name] != after[name]]
    assert all(after[name] == 4 for name in moved)  # only to the new shard
    assert 180 < len(moved) < 320  # about a quarter, not most of them


@pytest.mark.slow
def test_the_split_is_the_same_in_another_process_and_workers_split_differently_from_shards():
    code = "from monitor.core.sharding import owner; print([owner(f'check-{i}', 3) for i in range(50)])"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert other.strip() == str([owner(f"check-{i}", 3) for i in range(50)])
    workers = split(NAMES, 3, salt="worker")
    assert [len(w) for w in workers] != [len(select(NAMES, Share(k, 3))) for k in (1, 2, 3)]


CONFIG = "".join(f'[[checks]]\nname = "c{i}"\nurl = "http://127.0.0.1:9/{i}"\n' for i in range(12))


def test_a_sharded_config_runs_its_share_and_knows_where_the_others_run():
    config = parse_config('[monitor]\nshard = "2/3"\n' + CONFIG)
    assert [c.name for c in config.checks] == select([f"c{i}" for i in range(12)], Share(2, 3))
    assert len(config.all_checks) == 12
    elsewhere = next(c.name for c in config.all_checks if c not in config.checks)
    assert config.shard_of(elsewhere) == Share(owner(elsewhere, 3), 3)
    assert [c.name for c in config.for_shard(Share(1, 1)).checks] == [f"c{i}" for i in range(12)]


@pytest.mark.parametrize("value, says", [
    ('"4/3"', 'monitor.shard: must be "K/N" with 1 <= K <= N'),
    ('"0/2"', 'monitor.shard: must be "K/N"'),
    ('"half"', 'monitor.shard: must be "K/N"'),
])
def test_a_bad_shard_says_what_is_allowed(value, says):
    with pytest.raises(ConfigError, match=says):
        parse_config(f"[monitor]\nshard = {value}\n")


def test_validate_lists_a_shards_checks_and_check_names_the_shard_of_a_check_elsewhere(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text(f'[monitor]\ndatabase = "monitor.db"\n{CONFIG}')
    assert main(["validate", "--shard", "3/3", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    mine = select([f"c{i}" for i in range(12)], Share(3, 3))
    assert f"shard 3/3 runs {len(mine)} of 12: {', '.join(mine)}" in out
    elsewhere = next(f"c{i}" for i in range(12) if f"c{i}" not in mine)
    assert main(["check", elsewhere, "-c", str(path)]) != 2  # unsharded: every check is here
    capsys.readouterr()
    path.write_text(f'[monitor]\ndatabase = "monitor.db"\nshard = "3/3"\n{CONFIG}')
    assert main(["check", elsewhere, "-c", str(path)]) == 2
    assert f"{elsewhere!r} runs in shard {owner(elsewhere, 3)}/3; this monitor runs shard 3/3" in \
        capsys.readouterr().err

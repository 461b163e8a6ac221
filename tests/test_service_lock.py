"""One service per database: the lock beside it, held and refused in one process (flock is per open file)."""

from __future__ import annotations

import os
import socket

import pytest

from monitor.core.service_lock import DatabaseInUse, hold_database, lock_path


def test_a_second_holder_is_refused_with_the_first_ones_pid_and_host(tmp_path):
    db = tmp_path / "monitor.db"
    with hold_database(db):
        with pytest.raises(DatabaseInUse) as refused:
            with hold_database(db):
                pass
    assert f"another `monitor run` is using {db} (pid {os.getpid()} on {socket.gethostname()}, running since " \
           in str(refused.value)
    assert refused.value.pid == os.getpid()
    assert not db.exists()  # the database itself is never touched


def test_the_lock_is_free_again_once_its_holder_lets_go(tmp_path):
    db = tmp_path / "monitor.db"
    with hold_database(db):
        pass
    with hold_database(db) as path:
        assert path == lock_path(db) and oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_lock_file_written_by_something_else_still_gives_a_clear_refusal(tmp_path):
    db = tmp_path / "monitor.db"
    with hold_database(db):
        lock_path(db).write_text("not json")
        with pytest.raises(DatabaseInUse, match=r"\(pid \? on this host\)"):
            with hold_database(db):
                pass

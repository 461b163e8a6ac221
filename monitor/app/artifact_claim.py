"""Give a stored run's artifacts their final home: `<check>/pending-*/` -> `<check>/<run_id>/`.

Probes keep files before the run has an id (the store assigns it on insert),
in a folder named `pending-<random>` (see probes/browser/artifacts.py). Once
the run is stored, `claim_artifacts` renames that folder after the run id
and points the stored paths at the new place. The run is stored first, with
the pending paths, so that a failed rename still leaves the database
pointing at real files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

PENDING_PREFIX = "pending-"


def final_paths(paths: list[str], run_id: int) -> dict[str, str]:
    """Pending folder -> final folder, for each pending folder among `paths` (relative, posix)."""
    return {str(folder): str(folder.parent / str(run_id)) for folder in _pending_folders(paths)}


def _pending_folders(paths: list[str]) -> list[PurePosixPath]:
    folders = [PurePosixPath(rel).parent for rel in paths]
    return list(dict.fromkeys(f for f in folders if f.name.startswith(PENDING_PREFIX)))


def remove_unclaimed(root: Path, older_than: float) -> int:
    """Delete `<check>/pending-*` folders last changed before `older_than` (a POSIX time); return how many.

    A pending folder lives for the seconds between a journey's end and its
    run being stored. One still there a retention period later belongs to a
    run that was never stored (given up by the store writer, or a crash in
    between), which nothing else would ever delete. Only real folders inside
    `root` go: a symlink, or a folder reached through one, is left alone.
    """
    root = Path(root).resolve()
    removed = 0
    for folder in root.glob(f"*/{PENDING_PREFIX}*"):
        try:
            if folder.resolve() != folder or not folder.is_dir() or folder.stat().st_mtime >= older_than:
                continue
            shutil.rmtree(folder)
            removed += 1
        except OSError:  # claimed or removed meanwhile, or not ours to delete: the next prune looks again
            continue
    return removed


def discard_artifacts(root: Path, paths: list[str]) -> None:
    """Delete the pending folders holding `paths` (a try that is not the run: nothing will claim them)."""
    for folder in _pending_folders(paths):
        target = (Path(root) / folder).resolve()
        if target.is_relative_to(Path(root).resolve()) and target.is_dir():
            shutil.rmtree(target, ignore_errors=True)


def claim_artifacts(root: Path, run_id: int, paths: list[str]) -> list[str]:
    """Move the pending folders of run `run_id`; return the new paths (`paths` itself when none moved).

    Files only: the caller stores the new paths (`Store.replace_artifacts`),
    in a step of its own so that a refused write is retried without moving twice.
    """
    moves = final_paths(paths, run_id)
    if not moves:
        return paths
    for old, new in moves.items():
        os.rename(Path(root) / old, Path(root) / new)
    renamed = [str(PurePosixPath(moves.get(str(PurePosixPath(p).parent), str(PurePosixPath(p).parent)))
                   / PurePosixPath(p).name) for p in paths]
    return renamed

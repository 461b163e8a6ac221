"""Where a failing journey's evidence goes: a private folder per run.

    <artifacts_dir>/<check>/pending-<random>/trace.zip, screenshot.png, log.json

The run's id is only known once the store has written it, so a probe fills a
`pending-*` folder and `monitor.app.artifact_claim.claim_artifacts` renames it to
`<check>/<run_id>/` after the run is stored. Traces and screenshots can hold
cookies, tokens and customer data: folders are created 0700 before anything
is written in them, files end 0600, and the JSON log is redacted (the trace
and screenshot cannot be).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Collection
from pathlib import Path

from monitor.core.redact import redact

PENDING_PREFIX = "pending-"


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) readable by the owner only."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
        os.chmod(folder, 0o700)
    return path


class ArtifactFolder:
    """One run's artifacts; nothing touches the disk until the first file is added."""

    def __init__(self, root: Path, check: str):
        self.root = Path(root)
        self.relative = Path(check) / f"{PENDING_PREFIX}{uuid.uuid4().hex}"
        self.files: list[str] = []

    @property
    def path(self) -> Path:
        return self.root / self.relative

    def file(self, name: str) -> Path:
        """Where to write `name`; call `keep(name)` once it is written."""
        private_dir(self.root)
        private_dir(self.path)
        return self.path / name

    def keep(self, name: str) -> None:
        target = self.path / name
        if target.is_file():
            os.chmod(target, 0o600)
            self.files.append(str(self.relative / name))

    def write_json(self, name: str, data: object, secrets: Collection[str] = ()) -> None:
        """Write `data` as JSON with every string redacted."""
        target = self.file(name)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(redact_strings(data, secrets), out, indent=2, ensure_ascii=False)
        self.keep(name)

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def redact_strings(data: object, secrets: Collection[str]) -> object:
    """`data` (JSON-like: dicts, lists, tuples, scalars) with `redact` applied to every string in it;
    tuples come back as lists."""
    if isinstance(data, str):
        return redact(data, secrets)
    if isinstance(data, dict):
        return {key: redact_strings(value, secrets) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_strings(value, secrets) for value in data]
    return data

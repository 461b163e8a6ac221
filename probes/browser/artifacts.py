"""Where a failing journey's evidence goes: a private folder per run.

    <artifacts_dir>/<check>/pending-<random>/trace.zip, screenshot.png, log.json

The run's id is only known once the store has written it, so a probe fills a
`pending-*` folder and `monitor.app.artifact_claim.claim_artifacts` renames it to
`<check>/<run_id>/` after the run is stored. Traces and screenshots can hold
cookies, tokens and customer data: folders are created 0700 before anything
is written in them, files end 0600, and the JSON log is redacted. So is the
text of a kept trace (`redact_trace`: the actions and their parameters, the
console, DOM snapshots, network headers and bodies), with the config's secrets
and the redaction patterns; credential headers and cookies lose their values
whatever they hold. Images (the screenshot, the trace's screencast frames)
cannot be redacted: a secret the page shows on screen stays in them.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

from monitor.core.redact import REDACTED, is_secret_name, redact

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


# Members of a trace written as JSON, one document per line (the trace's events, the network log, the stacks).
_JSON_LINES = (".trace", ".network", ".stacks")


def redact_trace(path: Path, secrets: Collection[str]) -> None:
    """Rewrite the Playwright trace at `path` with every text member redacted (`redact_trace_member`).

    Written beside it owner-only, then renamed over it, so the trace is
    never half redacted. Raises `zipfile.BadZipFile` or `OSError` when it
    cannot be read: the caller must then not keep it.
    """
    temporary = path.with_name(path.name + ".redacting")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out, zipfile.ZipFile(path) as source, \
                zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for member in source.infolist():
                data = redact_trace_member(member.filename, source.read(member), secrets)
                target.writestr(zipfile.ZipInfo(member.filename, member.date_time), data,
                                compress_type=member.compress_type)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def redact_trace_member(name: str, data: bytes, secrets: Collection[str]) -> bytes:
    """One member of a trace with its text redacted; binary members (images) as they are. Pure.

    JSON lines are redacted value by value, so they stay JSON the trace
    viewer reads; other text (bodies, snapshots' resources) as text.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # an image, or a binary body: no words to redact
    if name.endswith(_JSON_LINES):
        return "\n".join(_redact_json_line(line, secrets) for line in text.split("\n")).encode()
    return redact(text, secrets).encode()


def _redact_json_line(line: str, secrets: Collection[str]) -> str:
    if not line.strip():
        return line
    try:
        document = json.loads(line)
    except ValueError:
        return redact(line, secrets)
    return json.dumps(_redact_json(document, secrets), ensure_ascii=False, separators=(",", ":"))


def _redact_json(node: Any, secrets: Collection[str], within: str = "") -> Any:
    """Every string redacted; a `{"name", "value"}` pair loses its value when it is a credential header or a
    cookie (HAR's `headers` and `cookies` arrays), whatever the value looks like."""
    if isinstance(node, str):
        return redact(node, secrets)
    if isinstance(node, list):
        return [_redact_json(item, secrets, within) for item in node]
    if not isinstance(node, dict):
        return node
    name = node.get("name")
    credential = isinstance(name, str) and isinstance(node.get("value"), str) and (
        within == "cookies" or (within == "headers" and is_secret_name(name)))
    return {key: REDACTED if credential and key == "value" else _redact_json(value, secrets, key)
            for key, value in node.items()}

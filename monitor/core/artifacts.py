"""Serving run artifacts safely: which file a URL names, who may read it, as what.

Artifacts (journey traces, screenshots, logs) can hold cookies and customer
data, and their URLs come from anyone who can reach the port, so:

* `resolve_artifact(root, url_path)` returns a file *inside* `root` or None:
  `..` segments (also percent-encoded), absolute paths, NUL bytes and
  symlinks that lead out of `root` all give None.
* `artifact_link(...)` makes the link alerts and the status page show. With
  an `auth_token`, the link carries `sig`, an HMAC of the path under the
  token: it opens that one file without a bearer header, which is what lets
  https://trace.playwright.dev (which cannot send one) load a trace by URL.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from urllib.parse import quote, unquote

CORS_ORIGIN = "https://trace.playwright.dev"
TRACE_VIEWER = "https://trace.playwright.dev/"

_CONTENT_TYPES = {
    ".zip": "application/zip",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webm": "video/webm",
    ".json": "application/json",
    ".har": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
    # A page snapshot is the target's HTML; it is served under a sandbox CSP
    # (see server.py) so its scripts can never run on the monitor's origin.
    ".html": "text/html; charset=utf-8",
}


def content_type(path: Path) -> str:
    """The Content-Type to serve `path` with; unknown kinds download as bytes."""
    return _CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


def resolve_artifact(root: Path, url_path: str) -> Path | None:
    """The regular file under `root` that `url_path` (still percent-encoded) names, or None."""
    relative = unquote(url_path)
    if not relative or "\x00" in relative or "\\" in relative or relative.startswith("/"):
        return None
    if any(part in ("", ".", "..") for part in relative.split("/")):
        return None
    base = root.resolve()
    try:
        # resolve() follows symlinks, so a link pointing out of root lands outside and is refused.
        candidate = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate


def sign(token: str, relative: str) -> str:
    """The `sig` that opens the artifact at `relative` (a path under artifacts_dir)."""
    return hmac.new(token.encode(), b"artifacts/" + relative.encode(), hashlib.sha256).hexdigest()[:32]


def signature_ok(token: str | None, relative: str, sig: str | None) -> bool:
    """Whether `sig` opens the artifact at `relative`; never without both a token and a sig."""
    if not token or not sig:
        return False
    return hmac.compare_digest(sign(token, relative), sig)


def artifact_link(relative: str, *, base_url: str = "", token: str | None = None) -> str:
    """The URL of an artifact on the monitor's server (signed when a token is set)."""
    url = f"{base_url}/artifacts/{quote(relative)}"
    return f"{url}?sig={sign(token, relative)}" if token else url


def trace_viewer_link(artifact_url: str) -> str:
    """Open a trace (an absolute artifact URL) in Playwright's hosted trace viewer."""
    return f"{TRACE_VIEWER}?trace={quote(artifact_url, safe='')}"

"""Find the server's own words in a failed response body.

When a check fails the alert quotes what the server said, so that
`{"error":"relation \\"threads\\" does not exist"}` pages someone with
`relation "threads" does not exist` rather than "expected 200, got 500".

    body -> _decode -> _from_json -> _from_html -> _summarize -> _finish

Each reader returns a message or None and the next gets a turn, so a JSON
content type over an HTML proxy page still yields the page's words. Pure.

Decisions:
* A body that looks binary (a NUL, or >10% undecodable or control characters
  in its first 2 KiB) gives None: the server said no words.
* Only the first 1 MiB of a body is read, and of HTML the first 256 KiB, to
  bound the cost; JSON cut short by this no longer parses and is read as text.
* Redaction runs before the cut to `limit`, so a cut cannot leave half a
  secret; before it, text only loses whole lines or HTML text nodes.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable
from html.parser import HTMLParser

from monitor.core.redact import redact

MAX_SCAN_CHARS = 1 << 20  # error messages live near the top of a body
ELLIPSIS = "…"
_MAX_MARKUP_CHARS = 256 * 1024

_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
# Terminal colour codes (CSI ... letter, OSC ... BEL/ST) are noise, not words.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]")
# C0/C1 controls, bidi embeddings/overrides/isolates (they make an alert read
# differently from what it says) and lone surrogates (they break JSON).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_WORDY = re.compile(r"[^\W_]")  # a letter or digit
_JSON_START, _MARKUP_START = re.compile(r"\s*[{\[]"), re.compile(r"\s*<")
_HTML_TAG = re.compile(r"<(?:!doctype\s+html|html|head|body|title|h1|pre)\b", re.IGNORECASE)

# Python frame `  File "app.py", line 3, in f`; Java/Node/.NET frame `at x(Y.java:1)`.
_PY_FRAME = re.compile(r'\s+File "[^"]*", line \d+')
_AT_FRAME = re.compile(r"\s*at\s+\S.*(?:\)|:\d+(?::\d+)?|:line \d+)\s*$")
_EXCEPTION_LINE = re.compile(
    r'(?:Exception in thread "[^"]*" )?(?:[\w$]+\.)*[\w$]*(?:Error|Exception|Throwable|Fault)\b'
)

# JSON keys holding the specific message, most telling first; and keys that
# only name the kind of failure ("Internal Server Error", "KeyError").
_MESSAGE_KEYS = ("message", "detail", "error_description", "errorMessage",
                 "error_message", "msg", "reason", "exception")
_HEADLINE_KEYS = ("error", "errorType")
_PLACEHOLDERS = {"", "no message available", "none", "null"}
_MAX_JSON_NODES = 500  # breadth-first budget for huge documents


def extract_error_text(
    body: bytes | str | None,
    content_type: str | None = None,
    *,
    limit: int = 500,
    secrets: Iterable[str] = (),
) -> str | None:
    """Return the server's own error message, or None.

    The message is one line without control or bidi characters, with
    credentials and `secrets` redacted, at most `limit` characters plus a
    trailing "…" when cut. None when the body is empty, blank or binary.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    text = _decode(body, content_type)
    if text is None:
        return None
    budget = 4 * limit  # enough candidate text to fill `limit` after redaction
    media_type = (content_type or "").split(";")[0].strip().lower()
    message = _from_json(text, budget) if _is_json(media_type, text) else None
    if message is None:
        # Markup without words gives None: its tags are not the server's words.
        message = _from_html(text, budget) if _is_markup(media_type, text) else _summarize(text, budget)
    return _finish(message, limit, secrets)


def _decode(body: bytes | str | None, content_type: str | None) -> str | None:
    """The body as text, or None when it is empty or binary."""
    text = body if isinstance(body, str) or body is None else _decode_bytes(bytes(body), content_type)
    if text is None or not text[:MAX_SCAN_CHARS].strip():
        return None
    sample = text[:2048]
    junk = sum(1 for c in sample if c == "\ufffd" or (c < " " and c not in "\t\n\r\f\v\x1b"))
    return None if "\x00" in sample or junk > len(sample) / 10 else text[:MAX_SCAN_CHARS]


def _decode_bytes(raw: bytes, content_type: str | None) -> str:
    raw = raw[: MAX_SCAN_CHARS * 4]
    encoding = next((name for bom, name in _BOMS if raw.startswith(bom)), None)
    found = _CHARSET.search(content_type or "")
    try:
        return raw.decode(encoding or (found.group(1) if found else "utf-8"), errors="replace")
    except (LookupError, UnicodeError, ValueError):
        # Unknown charset, or a codec such as idna that raises even when
        # asked to replace: the body is most likely UTF-8 anyway.
        return raw.decode("utf-8", errors="replace")


def _is_json(media_type: str, text: str) -> bool:
    return media_type in ("application/json", "text/json") or media_type.endswith("+json") \
        or _JSON_START.match(text) is not None


def _is_markup(media_type: str, text: str) -> bool:
    return "html" in media_type or "xml" in media_type \
        or (_MARKUP_START.match(text) is not None and _HTML_TAG.search(text, 0, 4096) is not None)


def _from_json(text: str, budget: int) -> str | None:
    """The message a JSON body carries; None when it is not JSON or has none.

    Objects are searched breadth-first, so the outermost message wins and
    `{"error": {"details": {"message": ...}}}` is still found.
    """
    try:
        document = json.loads(text)
        message = document if isinstance(document, str) else _search_json(document)
    except (ValueError, RecursionError):  # not JSON, or nested past any sense
        return None
    return _summarize(message, budget) if message else None


def _search_json(document: object) -> str | None:
    message = _as_text(document) if isinstance(document, list) else None  # a list of errors
    queue, visited = deque([document] if isinstance(document, (dict, list)) else []), 0
    while message is None and queue and visited < _MAX_JSON_NODES:
        node = queue.popleft()
        visited += 1
        if isinstance(node, dict):
            message = _node_message(node)
        children = node.values() if isinstance(node, dict) else node
        queue.extend(child for child in children if isinstance(child, (dict, list)))
    return message or _field_errors(document)


def _node_message(node: dict[str, object]) -> str | None:
    """The message at this level of a JSON object, e.g. "Title: detail"."""
    specific = next((t for key in _MESSAGE_KEYS if (t := _as_text(node.get(key)))), None)
    specific = specific or _as_text(node.get("errors")) or _field_errors(node.get("errors"))
    headline = next((t for key in _HEADLINE_KEYS if (t := _as_text(node.get(key)))), None)
    # `title` names a failure only in RFC 7807 problem details; elsewhere it
    # is probably data (a post's title).
    if headline is None and {"type", "status", "detail", "instance"} & node.keys():
        headline = _as_text(node.get("title"))
    return _combine(headline, specific)


def _as_text(value: object) -> str | None:
    """A string, or a list's messages joined (GraphQL `errors`, FastAPI
    `detail`); None for anything else, objects included: the search visits
    those itself, and resolving them here too would cost quadratic time."""
    if isinstance(value, str):
        value = value.strip()
        return None if value.lower() in _PLACEHOLDERS else value
    if isinstance(value, list):
        return "; ".join(dict.fromkeys(filter(None, map(_item_message, value[:20])))) or None
    return None


def _item_message(item: object) -> str | None:
    """FastAPI's `{"loc": ["body", "email"], "msg": "field required"}` becomes
    "body.email: field required"; other objects give their own message."""
    if not isinstance(item, dict):
        return _as_text(item) if isinstance(item, str) else None
    msg, loc = item.get("msg"), item.get("loc")
    if isinstance(msg, str) and msg.strip() and isinstance(loc, list) and loc:
        return ".".join(map(str, loc)) + ": " + msg.strip()
    return _node_message(item)


def _field_errors(node: object) -> str | None:
    """Rails/DRF `{"email": ["can't be blank"]}` -> "email: can't be blank"."""
    def is_messages(value: object) -> bool:
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)

    if not isinstance(node, dict) or not node or not all(map(is_messages, node.values())):
        return None
    return "; ".join(f"{field}: {', '.join(value)}" for field, value in list(node.items())[:20])


def _combine(headline: str | None, specific: str | None) -> str | None:
    """"Headline: specific", unless one already says what the other does."""
    if not headline or not specific:
        return specific or headline
    short, long = sorted((_words(headline), _words(specific)), key=len)
    if short in long:
        return specific if long == _words(specific) else headline
    return f"{headline.rstrip(' .:')}: {specific}"


def _words(text: str) -> str:
    return " ".join(text.split()).strip(" .!:").casefold()


class _PageText(HTMLParser):
    """Reads a page's first <title>, <h1> and non-empty <pre>, and the start of
    its visible text; `done` once it has a <pre> or `budget` characters."""

    _HIDDEN = frozenset({"script", "style", "noscript", "template", "svg"})

    def __init__(self, budget: int) -> None:
        super().__init__(convert_charrefs=True)  # entities arrive unescaped
        self.parts: dict[str, list[str]] = {"title": [], "h1": [], "pre": [], "text": []}
        self._depth = dict.fromkeys(("title", "h1", "pre", "script"), 0)
        self._closed: set[str] = set()  # later <title>s (in <svg>) and <h1>s do not count
        self._budget, self._seen = budget, 0

    @property
    def done(self) -> bool:
        return "pre" in self._closed or self._seen >= self._budget

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and self._depth["pre"]:
            self.parts["pre"].append("\n")  # Express writes its stack as <br>-separated lines
        self._count(tag, 1)

    def handle_endtag(self, tag: str) -> None:
        self._count(tag, -1)
        if tag not in ("title", "h1", "pre") or self._depth[tag]:
            return
        if tag == "pre" and not "".join(self.parts["pre"]).strip():
            self.parts["pre"] = []  # an empty <pre> is layout: wait for the next
        else:
            self._closed.add(tag)

    def _count(self, tag: str, step: int) -> None:
        key = "script" if tag in self._HIDDEN else tag
        if key in self._depth:
            self._depth[key] = max(0, self._depth[key] + step)

    def handle_data(self, data: str) -> None:
        depth = self._depth
        for tag in ("title", "h1", "pre"):
            if depth[tag] and tag not in self._closed and (tag == "title" or not depth["script"]):
                self.parts[tag].append(data)
        if not (depth["title"] or depth["script"] or depth["pre"]):
            self.parts["text"].append(data)
            self._seen += len(data)


def _from_html(text: str, budget: int) -> str | None:
    """Prefer the first <pre> (a traceback's culprit line, else its text after
    the <h1>, as in Django's "ProgrammingError at /x: relation ..."), then
    <title> and <h1> combined, then the start of the visible text."""
    page = _read_page(text, budget)
    title, h1, pre = ("".join(page.parts[key]).strip() for key in ("title", "h1", "pre"))
    if pre:
        lines = pre.splitlines()
        return _culprit(lines) or _combine(h1, _first_lines(lines, budget))
    return _combine(title, h1) or _first_lines([" ".join(page.parts["text"])], budget)


def _read_page(text: str, budget: int) -> _PageText:
    page, end = _PageText(budget), min(len(text), _MAX_MARKUP_CHARS)
    try:
        # In chunks, to stop once the message is found: parsing costs about
        # a second per megabyte of bare tags, and the words come first.
        for start in range(0, end, 16384):
            page.feed(text[start : start + 16384])
            if page.done:
                return page
        if end == len(text):
            page.close()  # flushes trailing text; on a cut page, half a tag
    except Exception:  # noqa: BLE001
        # The stdlib parser can still raise on pathological markup (an
        # unknown `<![keyword[` section); what it read so far is good, and a
        # failing probe must not fail again here.
        pass
    return page


def _summarize(text: str, budget: int) -> str | None:
    """The line of a traceback that says what went wrong, else the first lines."""
    lines = text.splitlines()
    return _culprit(lines) or _first_lines(lines, budget)


def _culprit(lines: list[str]) -> str | None:
    return _python_culprit(lines) or _stack_culprit(lines)


def _python_culprit(lines: list[str]) -> str | None:
    """`psycopg2.errors.UndefinedTable: relation "threads" does not exist`."""
    last_frame = next((i for i in range(len(lines) - 1, -1, -1) if _PY_FRAME.match(lines[i])), None)
    if last_frame is None:
        return None
    # After the last frame: its indented source line and carets, then the
    # exception, then maybe indented context (psycopg's `LINE 1: ...`).
    return next((line.strip() for line in lines[last_frame + 1:]
                 if line.strip() and not line[:1].isspace()), None)


def _stack_culprit(lines: list[str]) -> str | None:
    """The exception line of a Java, Node or .NET stack trace."""
    first_frame = next((i for i, line in enumerate(lines) if _AT_FRAME.match(line)), None)
    if first_frame is None:
        return None
    causes = [line.strip() for line in lines if line.lstrip().startswith("Caused by: ")]
    if causes:  # Java prints the root cause last
        return causes[-1].removeprefix("Caused by: ")
    before = [line.strip() for line in lines[:first_frame] if line.strip()]
    exceptions = [line for line in before if _EXCEPTION_LINE.match(line)]
    candidates = exceptions or before
    return candidates[-1] if candidates else None


def _first_lines(lines: list[str], budget: int) -> str | None:
    """Non-empty lines up to `budget` characters, skipping lines without a
    letter or digit (Postgres carets, rulers) unless that is all there is."""
    for keep in (_WORDY.search, str.strip):
        taken, size = [], 0
        for line in lines:
            if keep(line) and line.strip():
                taken.append(line.strip())
                size += len(line)
                if size >= budget:
                    break
        if taken:
            return " ".join(taken)
    return None


def _finish(message: str | None, limit: int, secrets: Iterable[str]) -> str | None:
    """One clean line: controls gone, secrets redacted, then cut to `limit`."""
    if message is None:
        return None
    message = _UNSAFE.sub("", _BREAKS.sub(" ", _ANSI.sub("", message)))
    message = redact(" ".join(message.split()), secrets).strip()
    if not message:
        return None
    if len(message) <= limit:
        return message
    return message[:limit].rstrip() + ELLIPSIS

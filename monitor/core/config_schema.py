"""Small helpers to read one table of a parsed TOML document, collecting errors.

Every reader takes the table, the key and a `Path` (where we are, for the
message) and returns the converted value, or the default after recording an
error. Nothing raises mid-way, so `monitor validate` can print every problem
at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from monitor.core.durations import DURATION_HINT, parse_duration

T = TypeVar("T")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
D = TypeVar("D")  # a reader's default: returned as given, so it keeps its own type
V = TypeVar("V")
_MISSING = object()


@dataclass
class ConfigIssue:
    """One problem in a config file: where it is and what to do."""

    path: str
    message: str

    def render(self, file: str) -> str:
        where = f"{file}: {self.path}" if self.path else file
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """The config file cannot be used. Holds every problem found, not just the first."""

    def __init__(self, file: str, issues: list[ConfigIssue]):
        self.file = file
        self.issues = issues
        super().__init__("\n".join(issue.render(file) for issue in issues))


@dataclass
class Issues:
    """Collects problems while a document is read."""

    items: list[ConfigIssue] = field(default_factory=list)
    # Unknown keys of sub-tables, each with its table: `explain_table_scope` looks at them once all is read.
    unknown_in_subtables: list[tuple[ConfigIssue, Table, str]] = field(default_factory=list)

    def add(self, path: str, message: str) -> ConfigIssue:
        issue = ConfigIssue(path, message)
        self.items.append(issue)
        return issue

    def explain_table_scope(self, text: str) -> None:
        """Say why a key that belongs to a table's parent landed in the table, where it is unknown.

        In TOML a `[checks.expect]` header opens a table that runs until the
        next header, so `interval = "1m"` written below it is read as
        `expect.interval`. Called once the whole document is read, when every
        parent knows all its keys; `text` (the document) tells a header from
        an inline table.
        """
        for issue, table, key in self.unknown_in_subtables:
            parent = table.parent
            if parent is None or key not in parent.known:
                continue
            owner = parent.path or "the top level"
            header = re.sub(r"\[[^\]]*\]", "", table.path)  # checks["x"].expect -> checks.expect
            dotted = r"\s*\.\s*".join(re.escape(part) for part in header.split("."))
            if re.search(rf"^\s*\[\s*{dotted}\s*\]", text, re.MULTILINE):
                issue.message = (f"`{key}` belongs to {owner}, but it comes after the [{header}] header, and a TOML "
                                 f"table runs until the next header, so it was read as part of [{header}]: move "
                                 f"`{key}` above [{header}]")
            else:
                name = table.path.rsplit(".", 1)[-1]
                issue.message = f"`{key}` belongs to {owner}: move it out of the `{name} = {{ ... }}` braces"


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def check_paths(raw_checks: list[Any]) -> list[str]:
    """Where messages say each `[[checks]]` item is: by its name (`checks["threads-api"]`, which a reader finds
    at once) when it has a valid one that no earlier check took, else by its place (`checks[3]`)."""
    paths, seen = [], set()
    for index, raw in enumerate(raw_checks):
        name = raw.get("name") if isinstance(raw, dict) else None
        if isinstance(name, str) and NAME_PATTERN.match(name) and name not in seen:
            seen.add(name)
            paths.append(f'checks["{name}"]')
        else:
            paths.append(join("checks", index))
    return paths



def type_name(value: Any) -> str:
    return {
        bool: "a boolean", int: "an integer", float: "a number", str: "a string",
        list: "an array", dict: "a table",
    }.get(type(value), type(value).__name__)


class Table:
    """A TOML table being read: remembers which keys were used, to reject the rest."""

    def __init__(self, raw: Any, path: str, issues: Issues, parent: Table | None = None):
        self.path = path
        self.issues = issues
        self.parent = parent  # the table this one was read from, by `table()`
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            issues.add(path, f"must be a table, got {type_name(raw)}")
            raw = {}
        self.raw: dict[str, Any] = raw
        self.known: set[str] = set()

    def at(self, key: str) -> str:
        return join(self.path, key)

    def error(self, key: str, message: str) -> ConfigIssue:
        return self.issues.add(self.at(key), message)

    # `get` checks the value's Python type against `kind`, one type or a tuple of them, and returns the
    # value typed accordingly, or the default (of its own type). Without `kind`, the raw TOML value.
    @overload
    def get(self, key: str, default: D, *, kind: type[T], required: bool = False, allowed: str = "") -> T | D: ...

    @overload
    def get(self, key: str, default: D, *, kind: tuple[type[T], type[T2]], required: bool = False,
            allowed: str = "") -> T | T2 | D: ...

    @overload
    def get(self, key: str, default: D, *, kind: tuple[type[T], type[T2], type[T3]], required: bool = False,
            allowed: str = "") -> T | T2 | T3 | D: ...

    @overload
    def get(self, key: str, default: Any = None, *, required: bool = False, allowed: str = "") -> Any: ...

    def get(self, key: str, default: Any = None, *, required: bool = False,
            kind: type | tuple[type, ...] = object, allowed: str = "") -> Any:
        """Return raw[key] if it has the expected Python type, else the default."""
        self.known.add(key)
        value = self.raw.get(key, _MISSING)
        if value is _MISSING:
            if required:
                self.error(key, f"is required ({allowed or 'see the README config reference'})")
            return default
        # bool is an int in Python; a TOML `true` is never a valid number here.
        if kind is not object and (not isinstance(value, kind) or (
                isinstance(value, bool) and bool not in _as_tuple(kind))):
            expected = allowed or " or ".join(type_name(k()) for k in _as_tuple(kind))
            self.error(key, f"must be {expected}, got {type_name(value)} {value!r}")
            return default
        return value

    @overload
    def string(self, key: str, default: str, *, required: bool = False, allowed: str = "") -> str: ...

    @overload
    def string(self, key: str, default: None = None, *, required: bool = False, allowed: str = "") -> str | None: ...

    def string(self, key: str, default: str | None = None, *, required: bool = False,
               allowed: str = "") -> str | None:
        """A string, or `default` (None unless given) when absent or not a string."""
        return self.get(key, default, kind=str, required=required, allowed=allowed)

    def boolean(self, key: str, default: bool) -> bool:
        return self.get(key, default, kind=bool)

    @overload
    def integer(self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None,
                required: bool = False) -> int: ...

    @overload
    def integer(self, key: str, default: None, *, minimum: int | None = None, maximum: int | None = None,
                required: bool = False) -> int | None: ...

    def integer(self, key: str, default: int | None, *, minimum: int | None = None,
                maximum: int | None = None, required: bool = False) -> int | None:
        """An integer (not a boolean) within the bounds given, or `default`."""
        value = self.get(key, default, kind=int, required=required)
        if value is None or key not in self.raw:  # absent: the default, which is within bounds
            return value
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.error(key, f"must be {bounds}, got {value}")
            return default
        return value

    @overload
    def duration(self, key: str, default: float, *, positive: bool = True) -> float: ...

    @overload
    def duration(self, key: str, default: None, *, positive: bool = True) -> float | None: ...

    def duration(self, key: str, default: float | None, *, positive: bool = True) -> float | None:
        """Seconds from a duration string ("30s", "5m"), or `default` when absent or invalid."""
        value = self.get(key, None, kind=str, allowed=DURATION_HINT)
        if value is None:  # absent, or not a string (recorded)
            return default
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.error(key, str(exc))
            return default
        if positive and seconds <= 0:
            self.error(key, f"must be longer than zero, got {value!r}")
            return default
        return seconds

    def choice(self, key: str, default: str, options: tuple[str, ...]) -> str:
        value = self.get(key, default, kind=str, allowed=f"one of {', '.join(options)}")
        if value not in options:
            hint = suggest(value, options, list_them=False)  # the message lists them already
            self.error(key, f"must be one of {', '.join(options)}, got {value!r}{hint}")
            return default
        return value

    def table(self, key: str) -> Table:
        self.known.add(key)
        return Table(self.raw.get(key), self.at(key), self.issues, parent=self)

    @overload
    def mapping(self, key: str) -> dict[str, str]: ...

    @overload
    def mapping(self, key: str, value_kind: type[V]) -> dict[str, V]: ...

    def mapping(self, key: str, value_kind: type[Any] = str) -> dict[str, Any]:
        """A table of `value_kind` values (strings unless given); a value of another type is recorded and left out."""
        raw: dict[Any, Any] = self.get(key, {}, kind=dict)
        result: dict[str, Any] = {}
        for name, value in raw.items():
            if not isinstance(value, value_kind):
                self.issues.add(join(self.at(key), name),
                                f"must be {type_name(value_kind())}, got {type_name(value)}")
            else:
                result[str(name)] = value
        return result

    def reject_unknown(self, extra_known: tuple[str, ...] = ()) -> None:
        """Record an error for every key no reader asked for, with a suggestion."""
        known = self.known | set(extra_known)
        for key in self.raw:
            if key not in known:
                issue = self.error(key, f"unknown key{suggest(key, sorted(known))}")
                if self.parent is not None:
                    self.issues.unknown_in_subtables.append((issue, self, key))


def suggest(word: object, options: Iterable[str], *, list_them: bool = True) -> str:
    """Return "; did you mean 'x'?" for the nearest option, or (`list_them`) a list of valid ones."""
    options = list(options)
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if list_them and options and len(options) <= 12:
        return f"; valid keys here: {', '.join(options)}"
    return ""


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


NAME_PATTERN = re.compile(r"^[a-z0-9_-]{1,64}$")


def convert(table: Table, key: str, value: Any, parse: Callable[[Any], T], default: T) -> T:
    """Run `parse` on a value, turning its ValueError into a recorded issue."""
    try:
        return parse(value)
    except ValueError as exc:
        table.error(key, str(exc))
        return default

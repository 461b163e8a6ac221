"""Hide secrets in text before it leaves the process (alerts, logs, the store).

`redact(text, secrets)` replaces credentials with `[REDACTED]` but keeps what
identifies them, so an alert still says *which* credential was involved:

    postgres://app:hunter2@db/prod      -> postgres://app:[REDACTED]@db/prod
    Authorization: Bearer abc.def       -> Authorization: Bearer [REDACTED]
    ?user=bob&password=hunter2          -> ?user=bob&password=[REDACTED]
    xoxb-1234-5678-abcdef               -> xoxb-[REDACTED]

Two kinds of secret are hidden:

* literal values the caller knows are secret (`secrets`, e.g. values the
  config interpolated from `*_TOKEN` variables), matched exactly, also in
  their URL-, JSON- and HTML-escaped forms;
* anything that *looks* like a credential (`_RULES` below), whether or not
  the caller knew about it.

The patterns err on the side of hiding: `"password": "This field may not be
blank."` loses its value. One exception keeps validation messages readable:
an unquoted `password: value` is left alone when the value is a plain word
followed by more words (`password: This field is required`), since that is
prose, not a credential.

Guarantee: no occurrence of a literal secret (at least `MIN_SECRET_LENGTH`
characters) survives outside a `[REDACTED]` marker.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"

# Shorter literal "secrets" would shred ordinary text ("a", "on", "123").
MIN_SECRET_LENGTH = 4

SECRET_ENV_SUFFIXES = ("_TOKEN", "_KEY", "_PASSWORD", "_SECRET")

_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)

# Key names whose value is a secret. Whatever precedes the name is left
# alone, so `DB_PASSWORD=`, `client_secret=` and `x-api-key:` all qualify.
_KEY = r"(?:passw(?:or)?d|pwd|token|secret|(?:api|private|access|secret)[_-]?key|apikey)"
_QUOTED = r"""\"(?:[^"\\]|\\.)*"|'[^'\\]*'"""
_BARE = r"""[^\s&;,"'<>(){}\[\]]+"""

# Separate passes, each starting with a literal: re then skips ahead to the
# literal in C, where one big alternation would be tried at every position
# (measured: ~10x slower on a 1 MB body). A literal that must start a word is
# checked with a look-behind placed after it, for the same reason.
# Every pattern has `k`, the part kept, and `v`, the secret.
_CASELESS = re.IGNORECASE | re.ASCII
_RULES: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    # scheme://user:password@host; a `/` ends the password so that
    # host:port/path@x is not mistaken for credentials.
    (re.compile(r"(?P<k>://[^\s:/@\"'<>]*:)(?P<v>[^\s@/\"'<>]+)(?=@)"), ()),
    # Any value of an (Proxy-)Authorization header, whatever its scheme.
    (
        re.compile(
            r"(?P<k>authorization[\"']?\s*[:=]\s*[\"']?"
            # A closing bracket ends the value: "(sent Authorization: Bearer x)".
            r"(?:(?:bearer|basic|digest|token|negotiate|ntlm)\s+)?)(?P<v>[^\s\"',;)\]}>]+)",
            _CASELESS,
        ),
        ("authorization",),
    ),
    # A bare "bearer <token>"; a short plain word is prose ("missing bearer
    # token"), not a token.
    (
        re.compile(r"(?P<k>bearer\s+)(?![a-z]{1,15}\b)(?P<v>[a-z0-9._~+/-]+=*)", _CASELESS),
        ("bearer",),
    ),
    # key=value, "key": "value", key: value; but not `key: Some prose`,
    # which is a validation message about the key.
    (
        re.compile(
            rf"(?P<k>{_KEY}[\"']?\s*(?:=|:(?=\s*[\"'])|:(?!\s*[a-z]+\s+[a-z]))\s*)"
            rf"(?P<v>{_QUOTED}|{_BARE})",
            _CASELESS,
        ),
        ("pass", "pwd", "token", "secret", "key"),
    ),
    (re.compile(r"(?P<k>xox(?<!\wxox)[abposr]-)(?P<v>[A-Za-z0-9-]{8,})"), ()),
    (re.compile(r"(?P<k>hooks\.slack\.com/services/)(?P<v>[A-Za-z0-9/_-]+)"), ()),
    (re.compile(r"(?P<k>A(?<!\wA)[KS]IA)(?P<v>[0-9A-Z]{16})\b"), ()),
    (re.compile(r"(?P<k>g(?<!\wg)(?:h[pousr]_|ithub_pat_))(?P<v>[A-Za-z0-9_]{20,})"), ()),
    (re.compile(r"(?P<k>[sr]k(?<!\w[sr]k)[-_](?:live_|test_)?)(?P<v>[A-Za-z0-9_-]{16,})"), ()),
    (re.compile(r"(?P<k>)(?P<v>eyJ(?<!\weyJ)[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*)"), ()),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with credentials and every literal in `secrets` hidden.

    Literals shorter than `MIN_SECRET_LENGTH` (after stripping) are ignored.
    Literals go first: a pattern might hide only part of a known secret
    (`password=ab&cd` stops at `&`), the literal pass hides all of it.
    """
    text = _hide_literals(text, _literal_forms(secrets))
    lowered = text.lower()
    for pattern, triggers in _RULES:
        # A caseless pattern cannot match without one of its trigger words,
        # and `in` is far cheaper than a caseless regex scan.
        if not triggers or any(trigger in lowered for trigger in triggers):
            text = pattern.sub(_mask, text)
    return text


def is_secret_name(name: str) -> bool:
    """Whether an env var or header with this name holds a secret.

    True for names ending in `SECRET_ENV_SUFFIXES` (or equal to one without
    its underscore, `TOKEN`), and for the credential-bearing headers
    (`Authorization`, `Cookie`, ...). Case-insensitive; `-` counts as `_`,
    so headers such as `X-Auth-Token` are secret too.
    """
    normalized = name.strip().upper().replace("-", "_")
    if normalized.lower().replace("_", "-") in _SECRET_HEADERS:
        return True
    bare = tuple(suffix.lstrip("_") for suffix in SECRET_ENV_SUFFIXES)
    return normalized.endswith(SECRET_ENV_SUFFIXES) or normalized in bare


def _mask(match: re.Match[str]) -> str:
    kept, value = match.group("k", "v")
    if value.strip("\"'").startswith(REDACTED[:-1]):
        # Already redacted: a pattern whose value stops at "]" sees "[REDACTED" and would add a second "]".
        return match.group(0)
    # Keep the quotes of a quoted value so JSON-ish text stays JSON-ish.
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return f"{kept}{value[0]}{REDACTED}{value[0]}"
    return kept + REDACTED


def _literal_forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each usable secret plus the escaped forms it takes inside text."""
    forms: set[str] = set()
    for secret in secrets:
        if not isinstance(secret, str) or len(secret.strip()) < MIN_SECRET_LENGTH:
            continue
        forms.add(secret)
        forms.add(" ".join(secret.split()))  # as it reads after whitespace collapsing
        forms.add(quote(secret, safe=""))
        forms.add(quote_plus(secret, safe=""))
        forms.add(json.dumps(secret)[1:-1])
        forms.add(html.escape(secret))
    return tuple(sorted(form for form in forms if len(form.strip()) >= MIN_SECRET_LENGTH))


def _hide_literals(text: str, forms: tuple[str, ...]) -> str:
    """Replace every occurrence of every form, merging overlapping ones.

    Overlaps are merged rather than replaced one after the other, so that
    secrets "abcd" and "cdef" in "abcdef" leave no "ef" behind.
    """
    if not forms or not text:
        return text
    spans = []
    for form in forms:
        start = text.find(form)
        while start != -1:
            spans.append((start, start + len(form)))
            start = text.find(form, start + 1)
    if not spans:
        return text
    pieces, cursor = [], 0
    for start, end in _merge(spans):
        pieces += [text[cursor:start], REDACTED]
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged

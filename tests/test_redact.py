"""Tests for monitor.core.redact: what is hidden, what is kept, and what survives."""

from __future__ import annotations

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from monitor.core.redact import REDACTED, SECRET_ENV_SUFFIXES, is_secret_name, redact

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "could not connect to postgres://app:hunter2@db.internal:5432/prod",
            "could not connect to postgres://app:[REDACTED]@db.internal:5432/prod",
            id="postgres-url",
        ),
        pytest.param(
            "mysql+pymysql://root:p%40ss@10.0.0.1/db",
            "mysql+pymysql://root:[REDACTED]@10.0.0.1/db",
            id="mysql-url-percent-encoded",
        ),
        pytest.param("redis://:s3cr3t@cache:6379/0", "redis://:[REDACTED]@cache:6379/0", id="redis-url-no-user"),
        pytest.param(
            "amqp://guest:guest@rabbit/vhost", "amqp://guest:[REDACTED]@rabbit/vhost", id="amqp-url"
        ),
        pytest.param(
            "GET http://host:8080/path?to=me@example.com",
            "GET http://host:8080/path?to=me@example.com",
            id="port-then-at-sign-is-not-a-password",
        ),
        pytest.param("Authorization: Bearer xyz", "Authorization: Bearer [REDACTED]", id="auth-bearer"),
        pytest.param(
            "authorization: basic dXNlcjpwYXNz", "authorization: basic [REDACTED]", id="auth-basic-lowercase"
        ),
        pytest.param(
            "Proxy-Authorization: Basic dXNlcjpwYXNz",
            "Proxy-Authorization: Basic [REDACTED]",
            id="proxy-authorization",
        ),
        pytest.param(
            '{"headers": {"Authorization": "Bearer abc.def"}}',
            '{"headers": {"Authorization": "Bearer [REDACTED]"}}',
            id="auth-in-json",
        ),
        pytest.param("Authorization: s3cr3tvalue", "Authorization: [REDACTED]", id="auth-without-scheme"),
        pytest.param("retrying with bearer 9f8e7d6c5b", "retrying with bearer [REDACTED]", id="bare-bearer"),
        pytest.param("BEARER abc123", "BEARER [REDACTED]", id="bare-bearer-uppercase"),
        pytest.param("missing bearer token.", "missing bearer token.", id="bearer-prose-kept"),
        pytest.param(
            "GET /cb?code=1&access_token=abc.def&state=x",
            "GET /cb?code=1&access_token=[REDACTED]&state=x",
            id="query-access-token",
        ),
        pytest.param(
            "user=bob&password=hunter2&remember=1",
            "user=bob&password=[REDACTED]&remember=1",
            id="form-password",
        ),
        pytest.param("login passwd=hunter2 ok", "login passwd=[REDACTED] ok", id="passwd"),
        pytest.param("PWD=hunter2", "PWD=[REDACTED]", id="pwd-uppercase"),
        pytest.param("?apikey=abcd1234", "?apikey=[REDACTED]", id="apikey"),
        pytest.param("?api_key=abcd1234&x=1", "?api_key=[REDACTED]&x=1", id="api_key"),
        pytest.param("secret=abc client_secret=def", "secret=[REDACTED] client_secret=[REDACTED]", id="secret"),
        pytest.param("token = abc123", "token = [REDACTED]", id="spaces-around-equals"),
        pytest.param(
            "DB_PASSWORD=hunter2 GITHUB_TOKEN=abc",
            "DB_PASSWORD=[REDACTED] GITHUB_TOKEN=[REDACTED]",
            id="env-style-prefixed-keys",
        ),
        pytest.param(
            '{"user": "bob", "password": "s3 cr\\"et"}',
            '{"user": "bob", "password": "[REDACTED]"}',
            id="json-password-with-escaped-quote",
        ),
        pytest.param("{'api_key': 'abc'}", "{'api_key': '[REDACTED]'}", id="python-repr"),
        pytest.param("password: hunter2", "password: [REDACTED]", id="yaml-password"),
        pytest.param("Password : hunter2 user: bob", "Password : [REDACTED] user: bob", id="log-line-password"),
        pytest.param(
            "password: This field is required.",
            "password: This field is required.",
            id="validation-prose-kept",
        ),
        pytest.param(
            "xoxb-123456789012-123456789012-abcdefABCDEF rejected",
            "xoxb-[REDACTED] rejected",
            id="slack-bot-token",
        ),
        pytest.param("xoxp-1234-5678-90ab", "xoxp-[REDACTED]", id="slack-user-token"),
        pytest.param(
            "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX",
            "https://hooks.slack.com/services/[REDACTED]",
            id="slack-webhook",
        ),
        pytest.param("key AKIAIOSFODNN7EXAMPLE denied", "key AKIA[REDACTED] denied", id="aws-access-key"),
        pytest.param("XAKIAIOSFODNN7EXAMPLE", "XAKIAIOSFODNN7EXAMPLE", id="aws-shape-inside-word-kept"),
        pytest.param("ghp_" + "a1" * 18, "ghp_[REDACTED]", id="github-classic"),
        pytest.param("github_pat_11ABCDEFG0123456789_abcdef", "github_pat_[REDACTED]", id="github-fine-grained"),
        pytest.param("sk-proj-" + "Ab1" * 10, "sk-[REDACTED]", id="openai-style"),
        pytest.param("sk_live_" + "x" * 24, "sk_live_[REDACTED]", id="stripe-live"),
        pytest.param("task-" + "a" * 20, "task-" + "a" * 20, id="sk-inside-word-kept"),
        pytest.param(f"jwt={JWT}", "jwt=[REDACTED]", id="jwt"),
        pytest.param(f"cookie {JWT};", "cookie [REDACTED];", id="jwt-alone"),
        pytest.param(
            "duplicate key value violates unique constraint; Key (email)=(a@b.c) already exists",
            "duplicate key value violates unique constraint; Key (email)=(a@b.c) already exists",
            id="postgres-key-detail-kept",
        ),
        pytest.param(
            "max_tokens=100 tokens=5 passwordless=true",
            "max_tokens=100 tokens=5 passwordless=true",
            id="lookalike-keys-kept",
        ),
        pytest.param("", "", id="empty"),
    ],
)
def test_redact_hides_credentials_and_keeps_what_identifies_them(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        pytest.param("token is hunter2!", ["hunter2"], "token is [REDACTED]!", id="literal"),
        pytest.param("HUNTER2 hunter2", ["hunter2"], "HUNTER2 [REDACTED]", id="case-sensitive"),
        pytest.param("q=p%40ss%2Fword", ["p@ss/word"], "q=[REDACTED]", id="url-encoded-form"),
        pytest.param('{"v": "a\\"quote"}', ['a"quote'], '{"v": "[REDACTED]"}', id="json-escaped-form"),
        pytest.param("a &amp; b &lt;c", ["a & b <c"], "[REDACTED]", id="html-escaped-form"),
        pytest.param("on and on", ["on", "", "abc", "   "], "on and on", id="short-secrets-ignored"),
        pytest.param("abcdef", ["abcd", "cdef"], "[REDACTED]", id="overlapping-secrets-merged"),
        pytest.param("xhunter2hunter2x", ["hunter2"], "x[REDACTED]x", id="adjacent-occurrences-merged"),
        pytest.param("two  spaces here", ["two  spaces"], "[REDACTED] here", id="secret-with-spaces"),
        pytest.param("collapsed two spaces", ["two  spaces"], "collapsed [REDACTED]", id="collapsed-form"),
        pytest.param(
            "password=ab&cd", ["ab&cd"], "password=[REDACTED]", id="literal-beats-pattern-stopping-at-ampersand"
        ),
    ],
)
def test_redact_hides_known_secret_values(text: str, secrets: list[str], expected: str) -> None:
    assert redact(text, secrets) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("GITHUB_TOKEN", True, id="token-suffix"),
        pytest.param("stripe_api_key", True, id="key-suffix-lowercase"),
        pytest.param("DB_PASSWORD", True, id="password-suffix"),
        pytest.param("OAUTH_CLIENT_SECRET", True, id="secret-suffix"),
        pytest.param("TOKEN", True, id="bare-suffix-word"),
        pytest.param("Authorization", True, id="authorization-header"),
        pytest.param("proxy-authorization", True, id="proxy-authorization-header"),
        pytest.param("Cookie", True, id="cookie-header"),
        pytest.param("SET-COOKIE", True, id="set-cookie-header"),
        pytest.param("X-Api-Key", True, id="x-api-key-header"),
        pytest.param("X-Auth-Token", True, id="hyphenated-token-header"),
        pytest.param("HOME", False, id="home"),
        pytest.param("TOKENS_PER_MINUTE", False, id="suffix-word-not-at-end"),
        pytest.param("KEYBOARD", False, id="key-prefix-only"),
        pytest.param("Content-Type", False, id="ordinary-header"),
        pytest.param("", False, id="empty"),
    ],
)
def test_is_secret_name(name: str, expected: bool) -> None:
    assert is_secret_name(name) is expected


def test_secret_env_suffixes_are_the_documented_four() -> None:
    assert SECRET_ENV_SUFFIXES == ("_TOKEN", "_KEY", "_PASSWORD", "_SECRET")


SENTINEL = "\uffff"


@given(
    prefix=st.text(max_size=40),
    secret=st.text(min_size=4, max_size=30),
    suffix=st.text(max_size=40),
    decoys=st.lists(st.text(max_size=12), max_size=3),
)
def test_a_known_secret_never_survives_outside_a_marker(
    prefix: str, secret: str, suffix: str, decoys: list[str]
) -> None:
    assume(len(secret.strip()) >= 4 and SENTINEL not in secret)
    redacted = redact(prefix + secret + suffix, [*decoys, secret])
    # A secret may overlap a marker's own letters ("EDAC"); it may not
    # appear in text the marker did not replace.
    assert secret not in redacted.replace(REDACTED, SENTINEL)


@given(st.text(max_size=200))
@example("Authorization: Bearer abcdefghijklmnop, next")  # a value that stops at "]" once saw "[REDACTED"
@example('{"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}')
def test_redact_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=200))
def test_redact_only_ever_shortens_secrets_into_markers(text: str) -> None:
    # Everything outside markers is original text, in order.
    pieces = [piece for piece in redact(text).split(REDACTED) if piece]
    position = 0
    for piece in pieces:
        found = text.find(piece, position)
        assert found != -1
        position = found + len(piece)

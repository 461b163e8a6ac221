"""Tests for probes.error_text: real bodies in, the server's own words out."""

from __future__ import annotations

import json
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.error_text import ELLIPSIS, extract_error_text

JSON = "application/json"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain"

INCIDENT = b'{"error":"relation \\"threads\\" does not exist"}'

DJANGO_DEBUG_PAGE = b"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta http-equiv="content-type" content="text/html; charset=utf-8">
  <title>ProgrammingError
          at /threads/</title>
  <style>code, pre { font-size: 100%; }</style>
  <script>function toggle() { return "<pre>not this</pre>"; }</script>
</head>
<body>
<header id="summary">
  <h1>ProgrammingError
       at /threads/</h1>
  <pre class="exception_value">relation &quot;threads&quot; does not exist
LINE 1: SELECT &quot;threads&quot;.&quot;id&quot; FROM &quot;threads&quot;
                                          ^</pre>
  <table class="meta"><tr><th scope="row">Request Method:</th><td>GET</td></tr></table>
</header>
<main id="info"><div id="traceback"><ul class="traceback"><li class="frame django">
  <ol class="context-line"><li><pre>            return self.cursor.execute(sql, params)</pre></li></ol>
</li></ul></div></main>
</body>
</html>
"""

NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
    b"</body>\r\n</html>\r\n"
)

EXPRESS_CANNOT_POST = b"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Error</title>
</head>
<body>
<pre>Cannot POST /api/threads</pre>
</body>
</html>
"""

EXPRESS_DEV_STACK = (
    b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head>'
    b"<body><pre>Error: connect ECONNREFUSED 127.0.0.1:5432<br> &nbsp; &nbsp;at TCPConnectWrap"
    b".afterConnect [as oncomplete] (node:net:1555:16)<br> &nbsp; &nbsp;at async Pool.connect"
    b" (/app/node_modules/pg-pool/index.js:45:11)</pre></body></html>"
)

RAILS_500_PAGE = b"""<!DOCTYPE html>
<html>
<head>
  <title>We're sorry, but something went wrong (500)</title>
  <meta name="viewport" content="width=device-width,initial-scale=1">
  <style>.rails-default-error-page { background-color: #EFEFEF; }</style>
</head>
<body class="rails-default-error-page">
  <div class="dialog">
    <div>
      <h1>We're sorry, but something went wrong.</h1>
    </div>
    <p>If you are the application owner check the logs for more information.</p>
  </div>
</body>
</html>
"""

PYTHON_TRACEBACK = b"""Traceback (most recent call last):
  File "/app/.venv/lib/python3.11/site-packages/flask/app.py", line 1455, in wsgi_app
    response = self.full_dispatch_request()
  File "/app/threads.py", line 12, in list_threads
    cur.execute("SELECT * FROM threads")
    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
psycopg2.errors.UndefinedTable: relation "threads" does not exist
LINE 1: SELECT * FROM threads
                      ^
"""

PYTHON_CHAINED_TRACEBACK = b"""Traceback (most recent call last):
  File "/app/cache.py", line 8, in get
    return self._data[key]
KeyError: 'threads'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/cache.py", line 10, in get
    raise CacheMiss(key) from None
app.cache.CacheMiss: threads
"""

JAVA_STACK_TRACE = b"""org.springframework.dao.InvalidDataAccessResourceUsageException: could not extract ResultSet
\tat org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:259)
\tat com.example.threads.ThreadService.list(ThreadService.java:42)
Caused by: org.hibernate.exception.SQLGrammarException: could not extract ResultSet
\tat org.hibernate.exception.internal.SQLStateConversionDelegate.convert(SQLStateConversionDelegate.java:103)
\t... 91 more
Caused by: org.postgresql.util.PSQLException: ERROR: relation "threads" does not exist
  Position: 15
\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2676)
\t... 104 more
"""

JAVA_NPE = b"""java.lang.NullPointerException: Cannot invoke "String.length()" because "name" is null
\tat com.example.Greeter.greet(Greeter.java:10)
\tat com.example.Main.main(Main.java:5)
"""

NODE_ERROR = b"""/app/server.js:12
    throw err;
    ^

Error: connect ECONNREFUSED 127.0.0.1:5432
    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)
    at async Promise.all (index 0)
"""

NODE_TYPE_ERROR = b"""TypeError: Cannot read properties of undefined (reading 'id')
    at /app/routes/threads.js:27:31
    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)
"""

SPRING_BOOT_JSON = (
    b'{"timestamp":"2024-05-01T10:00:00.000+00:00","status":500,"error":"Internal Server Error",'
    b'"message":"could not extract ResultSet; SQL [n/a]","path":"/api/threads"}'
)

FASTAPI_422 = (
    b'{"detail":[{"loc":["body","email"],"msg":"field required","type":"value_error.missing"},'
    b'{"loc":["query","limit"],"msg":"value is not a valid integer","type":"type_error.integer"}]}'
)

GRAPHQL_ERRORS = (
    b'{"errors":[{"message":"Cannot query field \\"foo\\" on type \\"Query\\".",'
    b'"locations":[{"line":1,"column":3}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}},'
    b'{"message":"Variable \\"$id\\" is never used."}],"data":null}'
)


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        # JSON APIs
        pytest.param(INCIDENT, JSON, 'relation "threads" does not exist', id="incident-body"),
        pytest.param(INCIDENT, None, 'relation "threads" does not exist', id="incident-body-sniffed"),
        pytest.param(INCIDENT.decode(), HTML, 'relation "threads" does not exist', id="json-under-html-type"),
        pytest.param(
            SPRING_BOOT_JSON, JSON,
            "Internal Server Error: could not extract ResultSet; SQL [n/a]", id="spring-boot",
        ),
        pytest.param(
            b'{"timestamp":"2024-05-01","status":404,"error":"Not Found",'
            b'"message":"No message available","path":"/x"}',
            JSON, "Not Found", id="spring-boot-placeholder-message",
        ),
        pytest.param(
            FASTAPI_422, JSON,
            "body.email: field required; query.limit: value is not a valid integer", id="fastapi-422",
        ),
        pytest.param(b'{"detail":"Thread not found"}', JSON, "Thread not found", id="fastapi-http-exception"),
        pytest.param(
            b'{"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.",'
            b'"detail":"Your current balance is 30, but that costs 50.","instance":"/account/12345","status":403}',
            "application/problem+json",
            "You do not have enough credit: Your current balance is 30, but that costs 50.",
            id="rfc7807",
        ),
        pytest.param(
            b'{"type":"about:blank","title":"Service Unavailable","status":503}',
            "application/problem+json", "Service Unavailable", id="rfc7807-title-only",
        ),
        pytest.param(
            b'{"title":"Hello world","body":"a post"}', JSON,
            '{"title":"Hello world","body":"a post"}', id="title-outside-problem-details-is-data",
        ),
        pytest.param(
            GRAPHQL_ERRORS, JSON,
            'Cannot query field "foo" on type "Query".; Variable "$id" is never used.', id="graphql",
        ),
        pytest.param(
            b'{"errors":["Email is taken","Name is too long","Email is taken"]}', JSON,
            "Email is taken; Name is too long", id="errors-list-of-strings-deduplicated",
        ),
        pytest.param(
            b'{"errors":{"email":["can\'t be blank","is invalid"],"name":["is too short"]}}', JSON,
            "email: can't be blank, is invalid; name: is too short", id="rails-validation-errors",
        ),
        pytest.param(
            b'{"password":["This field is required."]}', JSON,
            "password: This field is required.", id="drf-field-errors",
        ),
        pytest.param(
            b'{"error":"invalid_grant","error_description":"Authorization code expired"}', JSON,
            "invalid_grant: Authorization code expired", id="oauth",
        ),
        pytest.param(
            b'{"errorMessage":"\'id\'","errorType":"KeyError","stackTrace":["  File \\"/var/task/app.py\\""]}',
            JSON, "KeyError: 'id'", id="aws-lambda",
        ),
        pytest.param(
            b'{"error":{"code":503,"details":{"message":"Database unavailable"}}}', JSON,
            "Database unavailable", id="nested-error-details-message",
        ),
        pytest.param(
            b'{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}',
            JSON, "The service is currently unavailable.", id="google-api",
        ),
        pytest.param(
            b'{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [threads]"}],'
            b'"type":"index_not_found_exception","reason":"no such index [threads]"},"status":404}',
            JSON, "no such index [threads]", id="elasticsearch",
        ),
        pytest.param(
            b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
            b'"message":"pods \\"web-1\\" not found","reason":"NotFound","code":404}',
            JSON, 'pods "web-1" not found', id="kubernetes-status",
        ),
        pytest.param(b'{"code":429,"msg":"rate limited"}', JSON, "rate limited", id="msg-key"),
        pytest.param(b'{"ok":false,"reason":"upstream timeout"}', JSON, "upstream timeout", id="reason-key"),
        pytest.param(
            b'{"message":"Traceback (most recent call last):\\n  File \\"a.py\\", line 1, in f\\n    g()\\n'
            b'ValueError: bad input"}',
            JSON, "ValueError: bad input", id="traceback-inside-json-message",
        ),
        pytest.param(
            b'{"message":"disk\\tfull\\u2028now\\r\\nsoon"}', JSON, "disk full now soon",
            id="tabs-and-line-separators-become-spaces",
        ),
        pytest.param(b'"Service Unavailable"', JSON, "Service Unavailable", id="json-string-body"),
        pytest.param(
            b'{"status":"down","db":false}', JSON, '{"status":"down","db":false}',
            id="unknown-json-shape-quoted-as-is",
        ),
        pytest.param(
            b'{"error": "relation \\"threads\\" does not', JSON,
            '{"error": "relation \\"threads\\" does not', id="invalid-json-with-json-type",
        ),
        # HTML pages
        pytest.param(
            DJANGO_DEBUG_PAGE, HTML,
            'ProgrammingError at /threads/: relation "threads" does not exist '
            'LINE 1: SELECT "threads"."id" FROM "threads"',
            id="django-debug-page",
        ),
        pytest.param(NGINX_502, "text/html", "502 Bad Gateway", id="nginx-502"),
        pytest.param(NGINX_502, JSON, "502 Bad Gateway", id="nginx-502-under-json-type"),
        pytest.param(EXPRESS_CANNOT_POST, HTML, "Cannot POST /api/threads", id="express-cannot-post"),
        pytest.param(
            EXPRESS_DEV_STACK, HTML, "Error: connect ECONNREFUSED 127.0.0.1:5432", id="express-dev-stack"
        ),
        pytest.param(RAILS_500_PAGE, HTML, "We're sorry, but something went wrong (500)", id="rails-500-page"),
        pytest.param(
            b"<html><head><title>500 Internal Server Error</title></head>"
            b"<body><h1>Database unavailable</h1><p>Try again later.</p></body></html>",
            HTML, "500 Internal Server Error: Database unavailable", id="title-and-h1-combined",
        ),
        pytest.param(
            b"<html><body><div><p>Maintenance &amp; upgrades</p><p>until 14:00</p></div></body></html>",
            HTML, "Maintenance & upgrades until 14:00", id="visible-text-only",
        ),
        pytest.param(
            b"<html><body><pre>x &lt; y &#8212; failed</pre></body></html>", HTML,
            "x < y \u2014 failed", id="entities-unescaped",
        ),
        pytest.param(b"<html><body>  </body></html>", HTML, None, id="html-without-words"),
        pytest.param(
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>'
            b"<Message>The specified key does not exist.</Message></Error>",
            "application/xml", "NoSuchKey The specified key does not exist.", id="s3-xml",
        ),
        # Plain text
        pytest.param(
            b'ERROR:  relation "threads" does not exist\nLINE 1: SELECT * FROM threads;\n'
            b"                      ^\n",
            TEXT, 'ERROR: relation "threads" does not exist LINE 1: SELECT * FROM threads;', id="postgres",
        ),
        pytest.param(
            b"ERROR 1146 (42S02): Table 'app.threads' doesn't exist\n", TEXT,
            "ERROR 1146 (42S02): Table 'app.threads' doesn't exist", id="mysql",
        ),
        pytest.param(
            b"upstream connect error or disconnect/reset before headers. reset reason: connection failure",
            TEXT,
            "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
            id="envoy",
        ),
        pytest.param(
            PYTHON_TRACEBACK, TEXT,
            'psycopg2.errors.UndefinedTable: relation "threads" does not exist', id="python-traceback",
        ),
        pytest.param(
            PYTHON_CHAINED_TRACEBACK, TEXT, "app.cache.CacheMiss: threads", id="python-chained-traceback"
        ),
        pytest.param(
            JAVA_STACK_TRACE, TEXT,
            'org.postgresql.util.PSQLException: ERROR: relation "threads" does not exist',
            id="java-root-cause",
        ),
        pytest.param(
            JAVA_NPE, TEXT,
            'java.lang.NullPointerException: Cannot invoke "String.length()" because "name" is null',
            id="java-no-cause",
        ),
        pytest.param(NODE_ERROR, TEXT, "Error: connect ECONNREFUSED 127.0.0.1:5432", id="node-error"),
        pytest.param(
            NODE_TYPE_ERROR, TEXT, "TypeError: Cannot read properties of undefined (reading 'id')",
            id="node-type-error",
        ),
        pytest.param(
            "\x1b[31mERROR\x1b[0m disk \u202efull\u202c\x07 now", TEXT, "ERROR disk full now",
            id="ansi-bidi-and-bell-stripped",
        ),
        # Nothing to say
        pytest.param(b"", TEXT, None, id="empty"),
        pytest.param(b" \r\n\t ", TEXT, None, id="whitespace"),
        pytest.param(None, None, None, id="none"),
        pytest.param(bytes(range(256)) * 4, "application/octet-stream", None, id="binary"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", None, id="png"),
        # Decoding
        pytest.param(
            b"Service unavailable: caf\xe9 \xff\xfe closed", TEXT,
            "Service unavailable: caf\ufffd \ufffd\ufffd closed", id="invalid-utf8-replaced",
        ),
        pytest.param(
            b"Base ferm\xe9e", "text/plain; charset=ISO-8859-1", "Base ferm\u00e9e", id="latin1-charset"
        ),
        pytest.param(
            "Datenbank nicht erreichbar".encode("utf-16"), TEXT, "Datenbank nicht erreichbar", id="utf16-bom"
        ),
        pytest.param(
            "Base fermée".encode(), "text/plain; charset=x-no-such-charset", "Base fermée",
            id="unknown-charset-falls-back-to-utf8",
        ),
        pytest.param(b"plain words", "text/plain; charset=idna", "plain words", id="charset-that-raises"),
    ],
)
def test_extracts_the_servers_own_words(body, content_type, expected) -> None:
    assert extract_error_text(body, content_type) == expected


@pytest.mark.parametrize(
    ("body", "secrets", "expected"),
    [
        pytest.param(
            b'{"error":"could not connect to postgres://app:hunter2@db.internal/prod '
            b'(sent Authorization: Bearer eyJabc.def)"}',
            (),
            "could not connect to postgres://app:[REDACTED]@db.internal/prod "
            "(sent Authorization: Bearer [REDACTED])",
            id="db-url-and-bearer",
        ),
        pytest.param(
            b"upstream said: invalid key s3cr3t-from-env", ["s3cr3t-from-env"],
            "upstream said: invalid key [REDACTED]", id="configured-secret",
        ),
        pytest.param(
            b"<html><body><pre>token rejected: s3cr3t&#45;from&#45;env</pre></body></html>",
            ["s3cr3t-from-env"], "token rejected: [REDACTED]", id="secret-hidden-behind-entities",
        ),
    ],
)
def test_secrets_are_redacted(body, secrets, expected) -> None:
    assert extract_error_text(body, TEXT, secrets=secrets) == expected


def test_long_message_is_cut_to_limit_with_ellipsis() -> None:
    words = " ".join(f"word{i}" for i in range(100))
    assert extract_error_text(words, limit=20) == "word0 word1 word2 wo" + ELLIPSIS


def test_message_of_exactly_limit_is_not_cut() -> None:
    assert extract_error_text("x" * 20, limit=20) == "x" * 20


@pytest.mark.parametrize(
    ("body", "secrets", "limit", "expected"),
    [
        pytest.param(
            "login failed for s3cr3t-token-value today", ["s3cr3t-token-value"], 25,
            "login failed for [REDACTE" + ELLIPSIS, id="configured-secret",
        ),
        pytest.param(
            "rejected ghp_" + "a1" * 18 + " at login", (), 20,
            "rejected ghp_[REDACT" + ELLIPSIS, id="token-shape",
        ),
    ],
)
def test_redaction_happens_before_the_cut(body, secrets, limit, expected) -> None:
    # Cutting first would keep "s3cr3t-t" or "ghp_a1a1a1a", which redaction
    # could then no longer recognise.
    text = extract_error_text(body, limit=limit, secrets=secrets)
    assert text == expected
    assert "s3cr3t" not in text and "a1a1" not in text


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit must be at least 1"):
        extract_error_text("boom", limit=0)


ONE_MB = 1_000_000


@pytest.mark.parametrize(
    ("body", "content_type", "starts_with"),
    [
        pytest.param(b'{"message":"' + b"a" * ONE_MB + b'"}', JSON, "aaaa", id="json-message"),
        pytest.param(
            b"<html><head><title>Oops</title></head><body>" + b"<p>filler text</p>" * (ONE_MB // 18)
            + b"<pre>late pre</pre></body></html>",
            HTML, "Oops", id="html-page",
        ),
        pytest.param(b"<div></div>" * (ONE_MB // 11), HTML, None, id="html-tags-without-text"),
        pytest.param(b"log line with words\n" * (ONE_MB // 20), TEXT, "log line", id="text-lines"),
        pytest.param(b"x" * ONE_MB, TEXT, "xxxx", id="text-one-line"),
        pytest.param(b"password=abc token key " * (ONE_MB // 23), TEXT, "password=[REDACTED]", id="secret-dense"),
    ],
)
def test_a_megabyte_body_stays_fast_and_capped(body, content_type, starts_with) -> None:
    started = time.perf_counter()
    text = extract_error_text(body, content_type)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"took {elapsed:.2f}s"
    if starts_with is None:
        assert text is None
    else:
        assert text.startswith(starts_with)
        assert len(text) <= 501


# Anything an alert must not carry: C0/C1 controls, bidi overrides and
# isolates, lone surrogates, and line breaks of any kind.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\u2028\u2029]")
CONTENT_TYPES = st.sampled_from(
    [None, JSON, HTML, TEXT, "application/xml", "application/problem+json",
     "text/plain; charset=utf-16", "text/html; charset=latin-1", "text/plain; charset=idna",
     "text/plain; charset=rot13", "text/plain; charset=nonsense"]
)


def assert_safe(text: str | None, limit: int) -> None:
    assert text is None or (0 < len(text) <= limit + 1 and not UNSAFE.search(text))
    assert text is None or text == " ".join(text.split())


@given(body=st.binary(max_size=3000), content_type=CONTENT_TYPES, limit=st.integers(1, 600))
def test_any_bytes_give_a_safe_line_or_none(body: bytes, content_type, limit: int) -> None:
    assert_safe(extract_error_text(body, content_type, limit=limit), limit)


@given(body=st.text(max_size=3000), content_type=CONTENT_TYPES, limit=st.integers(1, 600))
def test_any_text_gives_a_safe_line_or_none(body: str, content_type, limit: int) -> None:
    assert_safe(extract_error_text(body, content_type, limit=limit), limit)


MARKUP = st.lists(
    st.one_of(
        st.sampled_from(["<pre>", "</pre>", "<h1>", "</h1>", "<title>", "</title>", "<script>",
                         "</script>", "<br>", "<![if x]>", "<!--", "-->", "&amp;", "&#x202e;", "<"]),
        st.text(max_size=20),
    ),
    max_size=40,
).map("".join)


@given(body=MARKUP, limit=st.integers(1, 300))
def test_any_markup_gives_a_safe_line_or_none(body: str, limit: int) -> None:
    assert_safe(extract_error_text(body, HTML, limit=limit), limit)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["error", "message", "detail", "errors", "title", "type", "msg", "loc", "x"]),
        children,
        max_size=4,
    ),
    max_leaves=25,
)


@given(document=JSON_VALUES, limit=st.integers(1, 300))
@settings(max_examples=200)
def test_any_json_gives_a_safe_line_or_none(document, limit: int) -> None:
    assert_safe(extract_error_text(json.dumps(document), JSON, limit=limit), limit)


@given(
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=8,
                   max_size=40),
    shape=st.sampled_from(['{{"error": "bad {}"}}', "<pre>bad {}</pre>", "bad {}\nmore", "{}"]),
    limit=st.integers(1, 200),
)
def test_a_configured_secret_never_reaches_the_alert(secret: str, shape: str, limit: int) -> None:
    text = extract_error_text(shape.format(secret), limit=limit, secrets=[secret])
    assert text is None or secret not in text

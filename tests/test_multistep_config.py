"""Multistep checks' pure parts: the reader's errors, extraction, `{{ name }}` filling, what counts as secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.app.config import parse_config
from monitor.core.config_schema import ConfigError
from probes.multistep.extract import ExtractionFailed, Extractor, extract, parse_extractor
from probes.multistep.settings import looks_secret
from probes.multistep.template import fill, fill_json, fill_url, names_in, url_quoted


def steps_config(steps: str, extra: str = "") -> str:
    return f'[[checks]]\nname = "flow"\ntype = "multistep"\n{extra}steps = [\n{steps}\n]\n'


def read(steps: str, extra: str = ""):
    return parse_config(steps_config(steps, extra), env={}).check("flow")


def problems(steps: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(steps_config(steps), env={})
    return [f"{issue.path}: {issue.message}" for issue in caught.value.issues]


LIFECYCLE = '''
  { name = "log in", method = "POST", url = "https://chat.example/api/login", extract = { token = "json:token" } },
  { method = "POST", url = "/api/threads", json = { title = "{{ token }}" }, extract = { id = "json:id" } },
  { method = "DELETE", url = "/api/threads/{{ id }}", headers = { Cookie = "t={{ token }}" }, always = true },
'''


def test_steps_read_with_the_http_keys_names_extractions_and_teardown():
    check = read(LIFECYCLE)
    login, create, delete = check.settings.steps
    assert check.target == "https://chat.example/api/login"
    assert (login.name, login.http.method, login.extract) == ("log in", "POST", {"token": Extractor("json", "token")})
    # A url starting with / is relative to the first step's origin.
    assert create.http.url == "https://chat.example/api/threads"
    assert create.http.headers["content-type"] == "application/json" and create.json_body
    assert create.needs == ("token",)
    assert (delete.name, delete.always, delete.needs) == ("DELETE /api/threads/{{ id }}", True, ("id", "token"))
    assert check.settings.secret_names == {"token"}


def test_a_name_no_earlier_step_extracts_is_an_error_naming_the_step_and_the_name():
    assert problems('''
  { url = "https://x.example/a/{{ id }}" },
  { url = "https://x.example/b", extract = { id = "json:id" } },
  { url = "https://x.example/c", headers = { X-Csrf = "{{ csrf }}" } },
  { url = "https://x.example/d", extract = { me = "json:me" }, json = { me = "{{ me }}" } },
''') == [
        'checks["flow"].steps[0].url: uses {{ id }}, but only steps[1] extracts it, and values come from earlier steps',
        'checks["flow"].steps[2].headers.X-Csrf: uses {{ csrf }}, but no step extracts it: '
        'add extract = { csrf = "json:..." } to an earlier step',
        'checks["flow"].steps[3].json: uses {{ me }}, but only this step extracts it, and values come from '
        'earlier steps',
    ]


def test_an_uppercase_name_hints_at_environment_interpolation():
    [problem] = problems('{ url = "https://x.example/", headers = { Authorization = "Bearer {{ API_TOKEN }}" } }')
    assert problem.endswith("(for an environment variable, write ${API_TOKEN})")


def test_reader_errors_have_their_key_paths():
    assert problems('''
  { url = "https://x.example/", extract = { id = "xpath://id", "bad name" = "json:id", re = "regex:(" } },
  { url = "https://x.example/", method = "FETCH", expect = { status = [999] }, timeout = "1s" },
  { name = "twice", url = "ftp://x.example/" },
  { name = "twice", url = "https://x.example/" },
''') == [
        'checks["flow"].steps[0].extract.id: must be one of "json:PATH", "header:NAME" or "regex:PATTERN", '
        "e.g. \"json:id\", got 'xpath://id'",
        'checks["flow"].steps[0].extract.bad name: is not a usable name: use letters, digits and _ '
        "(it is written {{ name }} later)",
        'checks["flow"].steps[0].extract.re: is not a valid regular expression: missing ), unterminated subpattern '
        "at position 0",
        "checks[\"flow\"].steps[1].method: must be an HTTP method such as GET or POST, got 'FETCH'",
        'checks["flow"].steps[1].expect.status[0]: must be an array of status codes or classes, e.g. [200, 204] '
        "or [\"2xx\"], got 999",
        'checks["flow"].steps[1].timeout: unknown key',
        "checks[\"flow\"].steps[2].url: must be an http:// or https:// URL, got 'ftp://x.example/'",
        "checks[\"flow\"].steps[3].name: 'twice' is also the name of steps[2]: give each step its own name",
    ]


def test_steps_are_required_and_not_empty():
    with pytest.raises(ConfigError, match=r'checks\["flow"\]\.steps: is required \(an array of steps such as'):
        parse_config('[[checks]]\nname = "flow"\ntype = "multistep"\n', env={})
    assert problems("") == ['checks["flow"].steps: needs at least one step: an array of steps such as '
                            '[{ method = "POST", url = "https://example.com/api/threads", json = { title = "probe" }, '
                            'extract = { id = "json:id" } }]']


def test_env_interpolation_happens_at_load_and_placeholders_stay_for_the_run():
    check = parse_config(steps_config(
        '{ url = "${BASE}/login", extract = { sid = "header:X-Session" } },\n'
        '{ url = "${BASE}/me", headers = { Cookie = "sid={{ sid }}" } },'), env={"BASE": "https://x.example"}
    ).check("flow")
    assert [s.http.url for s in check.settings.steps] == ["https://x.example/login", "https://x.example/me"]
    assert check.settings.steps[1].http.headers == {"Cookie": "sid={{ sid }}"}
    assert check.settings.secret_names == {"sid"}  # sent in a Cookie header


# -- extraction -------------------------------------------------------------------------------

BODY = b'{"id": 7, "ok": true, "data": {"items": [{"token": "abc"}]}, "none": null, "list": [1]}'
HEADERS = (("Content-Type", "application/json"), ("Location", "/api/threads/7"))


@pytest.mark.parametrize("spec, value", [
    ("json:id", 7),
    ("json:ok", True),
    ("json:data.items.0.token", "abc"),
    ("header:location", "/api/threads/7"),
    (r'regex:"id": (\d+)', "7"),
    ("regex:tok.{3}", 'token"'),
])
def test_extraction_finds_values_in_json_headers_and_text(spec, value):
    got = extract(parse_extractor(spec), HEADERS, BODY)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("spec, why", [
    ("json:nope", "the JSON has no 'nope'"),
    ("json:data", "JSON 'data' is an object, not a single value"),
    ("json:list", "JSON 'list' is an array, not a single value"),
    ("json:none", "JSON 'none' is null"),
    ("header:X-Token", "the answer has no X-Token header"),
    ("regex:zzz", "the body did not match /zzz/"),
])
def test_extraction_says_what_was_missing(spec, why):
    with pytest.raises(ExtractionFailed) as caught:
        extract(parse_extractor(spec), HEADERS, BODY)
    assert str(caught.value) == why


def test_json_extraction_of_a_body_that_is_not_json():
    with pytest.raises(ExtractionFailed, match="the body is not valid JSON"):
        extract(parse_extractor("json:id"), (), b"<html>")


@pytest.mark.parametrize("spec, message", [
    ("id", 'must be one of "json:PATH", "header:NAME" or "regex:PATTERN"'),
    ("json:", "needs something after 'json:', e.g. 'json:data.id'"),
    ("regex:[", "is not a valid regular expression"),
])
def test_extractor_specs_that_cannot_work(spec, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_extractor(spec)


# -- filling and secrets ----------------------------------------------------------------------


def test_placeholders_are_filled_and_quoted_for_where_they_land():
    assert names_in("/t/{{ id }}/{{id}}?x={{  other_1 }}") == ["id", "id", "other_1"]
    values = {"id": "a b/c", "q": 'say "hi"'}
    assert fill("/t/{{ id }}", values, url_quoted) == "/t/a%20b%2Fc"
    assert fill_json({"text": "{{ q }}", "id": "{{ n }}", "say {{ n }}": ["{{ id }}", 1]}, {**values, "n": 7}) \
        == {"text": 'say "hi"', "id": 7, "say 7": ["a b/c", 1]}
    assert fill("Bearer {{ id }}", values) == "Bearer a b/c"
    assert fill("{{ not a placeholder }} ${ENV}", values) == "{{ not a placeholder }} ${ENV}"


@pytest.mark.parametrize("name, secret", [
    ("token", True), ("access_token", True), ("session", True), ("session_id", True), ("password", True),
    ("api_key", True), ("csrf", True), ("AuthHeader", True),
    ("auth", True), ("x-auth", True), ("apiKey", True), ("csrftoken", True), ("sessionid", True), ("HTTPAuth", True),
    ("id", False), ("thread_id", False), ("next_url", False), ("etag", False),
    ("author_id", False), ("author", False), ("authority", False), ("authorName", False),
])
def test_which_extracted_names_are_secret(name, secret):
    assert looks_secret(name) is secret


def test_the_readme_example_reads_as_documented():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split('### Multistep checks (`type = "multistep"`)', 1)[1].split("\n## ", 1)[0]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    check = parse_config(example, env={}).check("thread-lifecycle")
    assert [s.name for s in check.settings.steps] == ["log in", "create thread", "read thread", "delete thread"]
    assert [s.always for s in check.settings.steps] == [False, False, False, True]
    assert check.settings.steps[1].http.url == "https://chat.example.com/api/threads"
    assert check.settings.secret_names == {"token"} and check.timeout == 15
    for key in ("`name`", "`extract`", "`always`"):
        assert key in section


def test_a_url_that_starts_with_a_placeholder_is_read_as_a_link_to_follow():
    check = read('''
  { method = "POST", url = "https://x.example/api/threads", extract = { next = "header:Location" } },
  { url = "{{ next }}", expect = { status = [200] } },
  { url = "/api/threads/{{ next }}" },
''')
    _, follow, after = check.settings.steps
    assert (follow.name, follow.http.url, follow.needs, follow.follows) == ("GET {{ next }}", "{{ next }}",
                                                                            ("next",), True)
    assert after.http.url == "https://x.example/api/threads/{{ next }}" and not after.follows
    assert problems('{ url = "{{ next }}", method = "FETCH" }') == [
        'checks["flow"].steps[0].method: must be an HTTP method such as GET or POST, got \'FETCH\'',
        'checks["flow"].steps[0].url: uses {{ next }}, but no step extracts it: '
        'add extract = { next = "json:..." } to an earlier step',
    ]


@pytest.mark.parametrize("url, value, filled", [
    ("{{ next }}", "/api/threads/7", "https://x.example/api/threads/7"),
    ("{{ next }}", "threads/7", "https://x.example/api/threads/7"),
    ("{{ next }}/comments?by={{ who }}", "https://y.example/t/7", "https://y.example/t/7/comments?by=a%2Fb"),
    ("https://x.example/t/{{ next }}", "a/b", "https://x.example/t/a%2Fb"),
])
def test_a_leading_placeholder_is_resolved_like_a_link_the_others_quoted(url, value, filled):
    values = {"next": value, "who": "a/b"}
    assert fill_url(url, values, {"next": "https://x.example/api/threads"}.__getitem__) == filled


def test_a_placeholder_in_the_host_or_port_says_how_to_follow_a_link():
    assert problems('''
  { url = "https://x.example/a", extract = { loc = "header:Location" } },
  { url = "https://x.example{{ loc }}" },
''') == ['checks["flow"].steps[1].url: has {{ loc }} in its host or port, where a value cannot go (values are '
         'quoted as one path segment); to follow a link or a Location, start the url with it: url = "{{ loc }}"']

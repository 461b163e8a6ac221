"""GraphQL checks: errors sent with HTTP 200 fail by default, with the first error's message as the server's words."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from monitor.app.config import parse_config
from monitor.core.config import ConfigError
from probes.http.expect import graphql_errors, graphql_message
from tests.probe_once import probe_once as probe
from tests.servers import TargetServer, respond, send

NULL_THREADS = {"data": {"threads": None}, "errors": [
    {"message": "Cannot return null for non-nullable field Query.threads.", "path": ["threads"],
     "locations": [{"line": 1, "column": 3}]},
    {"message": "relation \"threads\" does not exist", "path": ["threads", 0]},
]}


def graphql_server(answer: dict):
    """A GraphQL endpoint that answers 200 with `answer`, whatever it is asked, and remembers what it was asked."""
    asked: list[tuple[str, str, bytes]] = []

    def endpoint(handler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        asked.append((handler.command, handler.path, body))
        send(handler, 200, json.dumps(answer).encode())

    server = TargetServer({"/graphql": endpoint})
    server.asked = asked
    return server


def check_for(url: str, extra: str):
    return parse_config(f'[[checks]]\nname = "graphql"\nurl = "{url}"\n{extra}').check("graphql")


async def test_errors_with_a_200_fail_a_graphql_check_with_the_first_errors_words():
    with graphql_server(NULL_THREADS) as server:
        result = await probe(check_for(server.url + "/graphql", 'graphql = { query = "{ threads { id } }" }'))
    assert not result.ok
    assert result.status_code == 200
    assert result.failure == "the GraphQL response has 2 errors (the first at threads)"
    assert result.error_text == "Cannot return null for non-nullable field Query.threads."
    [(method, path, body)] = server.asked
    assert method == "POST" and json.loads(body) == {"query": "{ threads { id } }"}


async def test_a_json_body_with_a_query_is_a_graphql_request_too():
    with graphql_server(NULL_THREADS) as server:
        result = await probe(check_for(server.url + "/graphql",
                                       'method = "POST"\njson = { query = "{ threads { id } }" }'))
    assert not result.ok and result.error_text == "Cannot return null for non-nullable field Query.threads."


async def test_variables_and_the_operation_name_are_sent_and_get_puts_them_in_the_query_string():
    with graphql_server({"data": {"thread": {"id": 1}}}) as server:
        post = await probe(check_for(server.url + "/graphql", 'graphql = { query = "query T($id: ID!) { thread(id: '
                                                              '$id) { id } }", variables = { id = 1 }, '
                                                              'operation_name = "T" }'))
        get = await probe(check_for(server.url + "/graphql", 'method = "GET"\n'
                                                             'graphql = { query = "{ a }", variables = { x = 1 } }'))
    assert post.ok and get.ok
    assert json.loads(server.asked[0][2]) == {"query": "query T($id: ID!) { thread(id: $id) { id } }",
                                              "variables": {"id": 1}, "operationName": "T"}
    method, path, _ = server.asked[1]
    assert method == "GET" and parse_qs(urlsplit(path).query) == {"query": ["{ a }"], "variables": ['{"x": 1}']}


async def test_the_switch_turns_it_off_and_checks_that_are_not_graphql_are_left_alone():
    with graphql_server(NULL_THREADS) as server:
        off = await probe(check_for(server.url + "/graphql",
                                    'graphql = { query = "{ threads { id } }" }\nfail_on_graphql_errors = false'))
        plain = await probe(check_for(server.url + "/graphql", ""))  # a GET that is no GraphQL request
        forced = await probe(check_for(server.url + "/graphql", 'fail_on_graphql_errors = true'))
    assert off.ok and plain.ok
    assert not forced.ok and forced.failure.startswith("the GraphQL response has 2 errors")


async def test_an_empty_errors_array_passes():
    with TargetServer({"/graphql": respond(200, {"data": {"threads": []}, "errors": []})}) as server:
        result = await probe(check_for(server.url + "/graphql", 'graphql = { query = "{ threads { id } }" }'))
    assert result.ok, result.failure


def test_reading_graphql_errors_is_forgiving():
    assert graphql_errors('{"errors": [{"message": "x"}]}') == [{"message": "x"}]
    assert graphql_errors('{"errors": null}') == [] and graphql_errors("not json") == []
    assert graphql_errors('[{"errors": [1]}]') == []  # only a top-level object's errors count
    assert graphql_message('{"errors": [{"message": "  "}, {"message": "later"}]}') is None  # the first only
    assert graphql_message('{"errors": ["a bare string"]}') == "a bare string"


@pytest.mark.parametrize("extra, message", [
    ('graphql = { query = "{ a }" }\nbody = "{}"', "graphql: set either graphql or body/json, not both"),
    ('graphql = { query = "" }', "graphql.query: must not be empty"),
    ('graphql = { qurey = "{ a }" }', "graphql.qurey: unknown key; did you mean 'query'?"),
    ('fail_on_graphql_errors = "yes"', "fail_on_graphql_errors: must be a boolean"),
])
def test_graphql_config_mistakes_are_named(extra, message):
    with pytest.raises(ConfigError) as caught:
        check_for("http://127.0.0.1:9/graphql", extra)
    assert message in str(caught.value)

"""`monitor validate` parses every journey selector with Playwright's own engine, and names the check and step."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.app.cli import main
from monitor.app.config import parse_config
from probes.browser.selectors import aria_roles, journey_selectors, role_problem

BROKEN = """
[monitor]
database = "monitor.db"
[[checks]]
name = "health"
url = "http://127.0.0.1:9/api/health"
[[checks]]
name = "new-chat"
type = "browser"
url = "http://127.0.0.1:9/"
steps = [
  { name = "open New chat", click = "button[[[" },
  { name = "open it by role", click = "role=buton[name='New chat']" },
  { fill = { selector = "xpath=//input[", value = "hello" } },
  { expect_visible = "li.thread" },
  { press = { selector = "#msg", key = "Enter" } },
  { expect_text = { selector = "nope=h1", text = "Chats" } },
  { click = "role=button[name='a >> role=buton'] >> nth=0" },
]
"""


def write(folder: Path, text: str) -> Path:
    path = folder / "config.toml"
    path.write_text(text)
    return path


def test_every_selector_of_every_step_is_found_with_where_it_is_written():
    config = parse_config(BROKEN, path="/etc/monitor/config.toml")
    found = [(s.path, s.step, s.selector) for s in journey_selectors(config.checks)]
    assert found == [
        ('checks["new-chat"].steps[0].click', "open New chat", "button[[["),
        ('checks["new-chat"].steps[1].click', "open it by role", "role=buton[name='New chat']"),
        ('checks["new-chat"].steps[2].fill.selector', "fill xpath=//input[", "xpath=//input["),
        ('checks["new-chat"].steps[3].expect_visible', "expect li.thread visible", "li.thread"),
        ('checks["new-chat"].steps[4].press.selector', "press Enter in #msg", "#msg"),
        ('checks["new-chat"].steps[5].expect_text.selector', "expect nope=h1 to contain 'Chats'", "nope=h1"),
        ('checks["new-chat"].steps[6].click', "click role=button[name='a >> role=buton'] >> nth=0",
         "role=button[name='a >> role=buton'] >> nth=0"),
    ]


def test_role_names_are_playwrights_aria_roles():
    roles = aria_roles()
    assert {"button", "link", "heading", "textbox"} <= roles
    assert role_problem("role=buton[name='New chat']", roles) == "unknown role 'buton'; did you mean 'button'?"
    assert role_problem("#list >> role=listitem >> role=lnk", roles) == "unknown role 'lnk'; did you mean 'link'?"
    assert role_problem("role=button[name='a >> role=buton']", roles) is None  # inside quotes: a name
    assert role_problem("internal:role=button", roles) is None
    assert role_problem("text=role=buton", roles) is None  # a text selector, not the role engine
    assert role_problem("role=buton", frozenset()) is None  # a Playwright that does not say: its parser judges


def test_without_a_browser_validate_says_what_it_could_not_check_and_passes(tmp_path, capsys):
    text = BROKEN + '[browser]\nexecutable_path = "/nonexistent/chromium"\n'
    code = main(["validate", "-c", str(write(tmp_path, text))])
    out, err = capsys.readouterr()
    assert code == 0 and "OK (1 browser, 1 http)" in out
    assert "the browser checks were not looked at beyond the config: [browser] executable_path" in err


@pytest.mark.slow
@pytest.mark.browser
def test_validate_reports_each_broken_selector_with_its_check_and_step(tmp_path, capsys):
    code = main(["validate", "-c", str(write(tmp_path, BROKEN))])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    problems = [line.split("config.toml: ", 1)[1] for line in err.splitlines() if "config.toml: checks" in line]
    assert problems == [
        "checks[\"new-chat\"].steps[0].click: step 'open New chat': 'button[[[' is not a selector Playwright can "
        "use: Unexpected token \"\" while parsing css selector \"button[[[\". Did you mean to CSS.escape it?",
        "checks[\"new-chat\"].steps[1].click: step 'open it by role': \"role=buton[name='New chat']\" is not a "
        "selector Playwright can use: unknown role 'buton'; did you mean 'button'?",
        "checks[\"new-chat\"].steps[2].fill.selector: step 'fill xpath=//input[': 'xpath=//input[' is not a "
        "selector Playwright can use: SyntaxError: Failed to execute 'evaluate' on 'Document': The string "
        "'//input[' is not a valid XPath expression.",
        "checks[\"new-chat\"].steps[5].expect_text.selector: step \"expect nope=h1 to contain 'Chats'\": 'nope=h1' "
        "is not a selector Playwright can use: Unknown engine \"nope\" while parsing selector nope=h1",
    ]
    assert "4 problem(s)" in err
    assert "launched" not in err  # the browser starting is not news here

    fixed = BROKEN.replace("button[[[", "role=button[name='New chat']").replace("role=buton", "role=button") \
        .replace("xpath=//input[", "xpath=//input").replace("nope=h1", "h1")
    assert main(["validate", "-c", str(write(tmp_path, fixed))]) == 0
    assert "OK (1 browser, 1 http)" in capsys.readouterr().out

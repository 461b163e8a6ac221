"""The demo's thread lifecycle as a multistep check: log in, create a thread, read it, delete it (always)."""

from __future__ import annotations

READ_OK = '''
name = "read thread"
url = "/api/threads/{{ id }}"
expect = { json = { title = "probe" } }'''


def lifecycle(url: str, read: str = READ_OK, delete_headers: str = 'Authorization = "Bearer {{ token }}"',
              timeout: str = "5s", interval: str = "1m") -> str:
    """The config a team would write for the demo at `url`; `read` is the third step's keys."""
    return f'''
[[checks]]
name = "thread-lifecycle"
type = "multistep"
interval = "{interval}"
timeout = "{timeout}"

[[checks.steps]]
name = "log in"
method = "POST"
url = "{url}/api/login"
extract = {{ token = "json:token" }}

[[checks.steps]]
name = "create thread"
method = "POST"
url = "/api/threads"
json = {{ title = "probe" }}
expect = {{ status = [201] }}
extract = {{ id = "json:id" }}

[[checks.steps]]
{read}

[[checks.steps]]
name = "delete thread"
method = "DELETE"
url = "/api/threads/{{{{ id }}}}"
headers = {{ {delete_headers} }}
expect = {{ status = [204] }}
always = true
'''

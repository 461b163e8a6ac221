"""config.toml writers that several test modules share; each returns the file's path.

    checks_config(tmp_path, target.url, names=("api", "other"))    # http checks on {url}/{name}, every second
    threads_and_health_config(tmp_path, demo_url)                   # the incident's two checks

Modules with a config of their own shape keep their writer beside their tests;
`tests/monitor_process.py` has the many-checks config of `monitor run` processes
and `tests/alerts_harness.py` the alerts one.
"""

from __future__ import annotations

from pathlib import Path


def checks_config(folder: Path, url: str, names=("api",), monitor: str = "", listen: str = "127.0.0.1:0",
                  interval: str = "1s") -> Path:
    """An http check per name, GET {url}/{name} every `interval`; `monitor` adds lines to [monitor]."""
    path = folder / "config.toml"
    path.write_text(
        f'[monitor]\ndatabase = "monitor.db"\nartifacts_dir = "artifacts"\nlisten = "{listen}"\n{monitor}\n'
        + "".join(f'[[checks]]\nname = "{n}"\nurl = "{url}/{n}"\ninterval = "{interval}"\ntimeout = "2s"\n'
                  for n in names))
    return path


def threads_and_health_config(folder: Path, url: str, extra: str = "") -> Path:
    """The incident's checks: threads-api (GET {url}/api/threads, expecting 200) and health ({url}/api/health)."""
    path = folder / "config.toml"
    path.write_text(f"""
[monitor]
database = "monitor.db"

[[checks]]
name = "threads-api"
url = "{url}/api/threads"
[checks.expect]
status = [200]

[[checks]]
name = "health"
url = "{url}/api/health"
{extra}
""")
    return path

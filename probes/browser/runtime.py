"""One shared Chromium per monitor process: found, launched lazily, relaunched after a crash.

    runtime = BrowserRuntime(settings, telemetry)
    async with runtime.slot():              # at most [browser] max_concurrency journeys
        context = await runtime.new_context()   # fresh cookies and storage for every run
        ...
    await runtime.close()

Which browser (`find_browser`): `[browser] executable_path` if set; else
Playwright's own Chromium if `playwright install chromium` put one there;
else a system Chromium on PATH. Nothing found raises `BrowserNotFound`, whose
message lists the three fixes.

Errors:

    Exception
     └── BrowserError            the browser could not be used for this run
          ├── BrowserNotFound    no executable: the message says how to get one
          └── BrowserCrashed     it died or disconnected mid-run; the next run relaunches it
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from monitor.core.telemetry import NO_TELEMETRY, Telemetry
from probes.browser import process_tree
from probes.browser.settings import BrowserSettings

if TYPE_CHECKING:  # Playwright itself is imported at the first launch
    from playwright.async_api import Browser, BrowserContext, BrowserType, Playwright

log = logging.getLogger("monitor.browser")

SYSTEM_BROWSERS = ("chromium", "chromium-browser", "google-chrome")

# What a container needs, and nothing that phones home or updates itself mid-run.
BASE_ARGS = ("--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--disable-gpu")

LAUNCH_TIMEOUT_MS = 30_000
CLOSE_TIMEOUT = 5.0


class BrowserError(Exception):
    """The browser could not be used for this run."""


class BrowserNotFound(BrowserError):
    """No Chromium to launch; the message says how to get one."""


class BrowserCrashed(BrowserError):
    """The browser died or disconnected while a journey used it."""


def not_found_message(configured: str | None = None) -> str:
    head = (f"[browser] executable_path {configured!r} does not exist or is not executable"
            if configured else "no Chromium found")
    return (f"{head}. Fix one of: (1) set [browser] executable_path = \"/path/to/chromium\" in the config; "
            f"(2) run `playwright install chromium` (downloads Playwright's own build; needs internet); "
            f"(3) install the system's Chromium so that {', '.join(SYSTEM_BROWSERS)} is on PATH "
            f"(Debian/Ubuntu: `apt-get install chromium`, or run scripts/setup)")


def find_browser(configured: str | None, bundled: str | None,
                 which: Callable[[str], str | None] = shutil.which) -> str:
    """Return the Chromium executable to launch, or raise BrowserNotFound.

    `configured` is [browser] executable_path (it wins, and must exist);
    `bundled` is where Playwright's own Chromium would be.
    """
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise BrowserNotFound(not_found_message(configured))
    if bundled and os.path.isfile(bundled) and os.access(bundled, os.X_OK):
        return bundled
    for name in SYSTEM_BROWSERS:
        path = which(name)
        if path:
            return path
    raise BrowserNotFound(not_found_message())


def launch_args(settings: BrowserSettings, marker: str) -> list[str]:
    return [*BASE_ARGS, *settings.args, marker]


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class BrowserRuntime:
    """The process's shared browser. Safe to use from many tasks of one event loop."""

    def __init__(self, settings: BrowserSettings, telemetry: Telemetry = NO_TELEMETRY, *,
                 headless: bool | None = None, slow_mo_ms: float | None = None):
        self.settings = settings
        self.telemetry = telemetry
        self.headless = settings.headless if headless is None else headless
        self.slow_mo_ms = slow_mo_ms
        self.executable: str | None = None
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._launches = 0
        # Lets us find this browser's processes: Chromium ignores unknown switches.
        self._marker = f"--synthetic-monitor={uuid.uuid4().hex}"

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the `max_concurrency` journey slots."""
        async with self._slots:
            yield

    async def browser(self) -> Browser:
        """The connected browser, launching (or relaunching) it when needed."""
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._browser is not None:
                log.warning("the browser crashed or disconnected; launching it again")
                self.telemetry.browser_restarted()
                await self._quietly(self._browser.close())
                self._browser = None
            self._browser = await self._launch()
            return self._browser

    async def new_context(self, **options: Any) -> BrowserContext:
        """A fresh, isolated browser context (its own cookies, storage and cache).

        `options` go to Playwright's `Browser.new_context` as they are."""
        browser = await self.browser()
        try:
            return await browser.new_context(**options)
        except Exception as exc:
            if not browser.is_connected():
                raise BrowserCrashed(f"browser crashed: {first_line(exc)}") from exc
            raise

    def is_connected(self) -> bool:
        return self._browser is not None and self._browser.is_connected()

    def pids(self) -> list[int]:
        """This browser's processes (main, zygotes, renderers, helpers)."""
        return process_tree.with_descendants(process_tree.processes_with_arg(self._marker))

    def main_pids(self) -> list[int]:
        """The browser's main process (the one to kill to simulate a crash)."""
        return process_tree.processes_with_arg(self._marker)

    async def close(self) -> None:
        async with self._lock:
            if self._browser is not None:
                await self._quietly(self._browser.close())
                self._browser = None
            if self._playwright is not None:
                await self._quietly(self._playwright.stop())
                self._playwright = None

    async def _launch(self) -> Browser:
        from playwright.async_api import async_playwright

        _driver_in_own_session()
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        executable = find_browser(self.settings.executable_path, _bundled_path(self._playwright.chromium))
        self.executable = executable
        try:
            browser = await self._launch_with(self._playwright.chromium, executable)
        except Exception as exc:
            # A dead Playwright driver cannot launch anything: start a new one once.
            log.warning("launching %s failed (%s); restarting Playwright", executable, first_line(exc))
            await self._quietly(self._playwright.stop())
            self._playwright = await async_playwright().start()
            try:
                browser = await self._launch_with(self._playwright.chromium, executable)
            except Exception as again:
                raise BrowserError(f"could not launch {executable}: {first_line(again)}") from again
        self._launches += 1
        log.info("launched %s (version %s)", executable, browser.version)
        return browser

    async def _launch_with(self, chromium: BrowserType, executable: str) -> Browser:
        return await chromium.launch(
            executable_path=executable, headless=self.headless,
            args=launch_args(self.settings, self._marker),
            # Playwright adds --no-sandbox unless asked for the sandbox; only root needs it off.
            chromium_sandbox=not running_as_root(), timeout=LAUNCH_TIMEOUT_MS,
            handle_sigint=False, handle_sigterm=False, handle_sighup=False,
            slow_mo=self.slow_mo_ms or None,  # None: Playwright's default, no slowing down
        )

    @staticmethod
    async def _quietly(awaitable: Awaitable[object]) -> None:
        try:
            await asyncio.wait_for(awaitable, CLOSE_TIMEOUT)
        except Exception:  # closing what already died is expected to fail
            pass


class _DriverInOwnSession:
    """`asyncio` as Playwright's transport module sees it, but the driver it spawns starts a session of its own.

    A signal sent to the monitor's whole process group (a terminal's Ctrl-C,
    systemd stopping a unit, `timeout`) would otherwise kill Playwright's
    driver, and with it the browser, under the journeys the monitor is still
    finishing: a false failed run, and the driver's broken pipe in the log.
    The monitor stops its browser itself, after its runs (the driver exits
    on its own when the monitor dies: its stdin closes). Playwright offers no
    option for this, so its transport gets this stand-in for `asyncio`.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def create_subprocess_exec(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(*args, start_new_session=True, **kwargs)


def _driver_in_own_session() -> None:
    """Make Playwright start its driver in a session of its own (see `_DriverInOwnSession`), where it can."""
    try:
        from playwright._impl import transport
    except ImportError:  # a Playwright laid out otherwise: its driver shares our process group, as before
        return
    if os.name == "posix" and getattr(transport, "asyncio", None) is asyncio:
        vars(transport)["asyncio"] = _DriverInOwnSession()


def _bundled_path(chromium: BrowserType) -> str | None:
    try:
        return chromium.executable_path
    except Exception:  # Playwright raises when it has no build recorded for this platform
        return None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = ["BrowserRuntime", "BrowserError", "BrowserNotFound", "BrowserCrashed", "find_browser",
           "not_found_message"]

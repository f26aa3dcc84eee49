"""Running ``callsheet serve`` and a real headless Chromium (Debian's) driven by Playwright.

No browser can be downloaded here, so Playwright drives ``/usr/bin/chromium``
(``apt-get install chromium``; ``.ci/run`` installs it) with the flags this
machine's closed network needs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.e2e.cli_support import CLI

CHROMIUM = os.environ.get("CALLSHEET_CHROMIUM", "/usr/bin/chromium")
_INSTALLED = Path(CHROMIUM).exists()
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Server:
    """A ``callsheet serve`` process; ``url`` once it said it is ready."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--port", "0", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        seen = []
        for line in self.proc.stderr:
            seen.append(line)
            found = re.search(r"dashboard at (http://\S+)/ ready", line)
            if found:
                self.url = found.group(1)
                return
        raise AssertionError(f"callsheet serve exited: {''.join(seen)}")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return code


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not _INSTALLED:
        raise AssertionError(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    async with async_playwright() as pw:
        # Playwright gives the browser a new empty profile of its own.
        found = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield found
        finally:
            await found.close()


def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: the test's folder, and ``CALLSHEET_SCREENSHOTS`` if set."""
    folder = tmp_path / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


def keep_screenshot(path: Path) -> Path:
    """Copy a screenshot to ``CALLSHEET_SCREENSHOTS`` when set (e.g. for docs/); returns it."""
    target = os.environ.get("CALLSHEET_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
    return path

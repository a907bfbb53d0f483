"""Headless Chromium for page tests: dump the DOM after scripts ran, take a
screenshot, and collect the console messages Chromium logs to stderr.
Flags keep Chromium offline (no component updates, sync or QUIC) and in a
fresh profile."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (Debian package `chromium`)")
    return exe


def _run(exe: str, url: str, extra: list[str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="symmap-chromium-") as ud:
        return subprocess.run([exe, *FLAGS, f"--user-data-dir={ud}", *extra, url],
                              capture_output=True, text=True, timeout=120)


def console_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "CONSOLE" in ln]


def dump_dom(page: Path, fragment: str = "") -> tuple[str, list[str]]:
    """(the DOM after load, console lines)."""
    r = _run(chromium(), page.resolve().as_uri() + fragment, ["--dump-dom"])
    return r.stdout, console_lines(r.stderr)


def screenshot(page: Path, png: Path, fragment: str = "", size: tuple[int, int] = (1400, 1000)) -> list[str]:
    r = _run(chromium(), page.resolve().as_uri() + fragment,
             [f"--window-size={size[0]},{size[1]}", f"--screenshot={png}"])
    return console_lines(r.stderr)

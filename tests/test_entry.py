"""The console entry's --version fast path: same answer as click's, without click."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=str(ROOT))


def test_version_fast_path_matches_click_and_skips_click() -> None:
    code = ("import sys; sys.argv = ['symmap', '--version']; from symmap.entry import main; main();"
            "print('click' in sys.modules)")
    fast = _run("-c", code)
    assert fast.returncode == 0, fast.stderr
    line, loaded = fast.stdout.splitlines()
    assert loaded == "False"
    slow = _run("-c", "import sys; sys.argv = ['symmap', '--version']; from symmap.cli import main; main()")
    assert slow.stdout.splitlines() == [line] == ["symmap, version " + __import__("symmap").__version__]


def test_other_command_lines_still_go_through_click() -> None:
    r = _run("-m", "symmap", "--version", "--nonsense")
    assert r.returncode == 2 and "Usage:" in r.stderr

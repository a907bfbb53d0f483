"""Live test children for the Linux source: build fixtures/linux/maps_child.c
with `cc` at test time (skip when absent) and run it, reading back the
addresses it prints."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHILD_SRC = ROOT / "fixtures" / "linux" / "maps_child.c"

_built: dict[str, Path] = {}


def build_child(out_dir: Path | None = None, name: str = "maps_child") -> Path:
    """Compile maps_child.c (cached per output name); skip without a C compiler."""
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the test child")
    key = f"{out_dir}/{name}"
    if key in _built and _built[key].exists():
        return _built[key]
    d = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="symmap-child-"))
    exe = d / name
    # -Wl,--build-id: the test compares the image's uuid with the file's note.
    r = subprocess.run([cc, "-O1", "-g0", "-Wl,--build-id", "-o", str(exe), str(CHILD_SRC)],
                       capture_output=True, text=True)
    if r.returncode:
        # A compiler without libc headers (no libc6-dev) is an environment gap, not a bug.
        pytest.skip(f"cannot build the test child with {cc}: {r.stderr.strip()[:200]}")
    _built[key] = exe
    return exe


class Child:
    def __init__(self, proc: subprocess.Popen, ranges: dict[str, tuple[int, int]]) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.ranges = ranges


@contextmanager
def run_child(exe: Path, *args: str, argv0: str | None = None,
              timeout: float = 20.0) -> Iterator[Child]:
    """Start exe with args, wait for "ready", yield the Child; stop it after."""
    proc = subprocess.Popen([argv0 or str(exe), *args], executable=str(exe),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ranges: dict[str, tuple[int, int]] = {}
    try:
        assert proc.stdout is not None
        while True:
            line = proc.stdout.readline().decode()
            if not line:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"test child exited early: {err.strip()}")
            if line.strip() == "ready":
                break
            label, s, e = line.split()
            ranges[label] = (int(s, 16), int(e, 16))
        yield Child(proc, ranges)
    finally:
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=timeout)
        except Exception:
            proc.kill()
            proc.wait()

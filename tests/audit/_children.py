"""Build and run fixtures/audit/audit_child.c (skips without a C compiler)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "fixtures" / "audit" / "audit_child.c"
_exe: list[Path] = []


def audit_child() -> Path:
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    if _exe and _exe[0].exists():
        return _exe[0]
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the audit test child")
    exe = Path(tempfile.mkdtemp(prefix="symmap-audit-")) / "audit_child"
    subprocess.run([cc, "-O1", "-o", str(exe), str(SRC)], check=True, capture_output=True)
    _exe[:] = [exe]
    return exe


def data_file(tmp_path: Path, name: str = "payload.bin") -> Path:
    """A one-page non-ELF file (no loader would ever load it)."""
    p = tmp_path / name
    p.write_bytes(b"\xc3" * 4096 + b"\x90" * 4096)
    return p

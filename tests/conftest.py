"""Shared test helpers: locate ../shared/fixtures and external tools, or skip."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
OWN_FIXTURES = ROOT / "fixtures"


def shared_fixture(rel: str) -> Path:
    """Path of ../shared/fixtures/<rel>, or skip the test when it is absent."""
    p = SHARED_FIXTURES / rel
    if not p.exists():
        pytest.skip(f"shared fixture absent: {p}")
    return p


def need_tool(*names: str) -> str:
    """First of `names` found on PATH, or skip."""
    for n in names:
        found = shutil.which(n)
        if found:
            return found
    pytest.skip(f"tool not installed: {' or '.join(names)}")


@pytest.fixture
def shared():
    return shared_fixture


@pytest.fixture(scope="session")
def dwarf_programs(tmp_path_factory) -> Path:
    """The C++ programs of fixtures/dwarf/build.sh (-g -O2, a -fPIC library,
    a stripped copy with .gnu_debuglink), built once per test session."""
    import subprocess
    pytest.importorskip("symbolic")
    need_tool("g++")
    need_tool("objcopy")
    out = tmp_path_factory.mktemp("dwarf")
    subprocess.run(["sh", str(OWN_FIXTURES / "dwarf" / "build.sh"), str(out)], check=True,
                   capture_output=True)
    return out

"""Shared-cache ``unused`` rows keep their real segment in the summary (issue 13 §5):
only unused *data* rows fold into vmmap's ``unused but dirty shlib __DATA`` line."""
from __future__ import annotations

from click.testing import CliRunner

from symmap.cli import cli
from tests.conftest import shared_fixture


def _summary(name: str) -> list[str]:
    r = CliRunner().invoke(cli, ["map", str(shared_fixture(f"dyld-cache/{name}"))])
    assert r.exit_code == 0, r.stderr
    return r.stdout.split("==== Summary for process", 1)[1].split("\n")


def test_a_cache_without_data_has_no_unused_data_line():
    s = _summary("dyld_shared_cache_arm64-macOS-1042.1")
    assert not [ln for ln in s if "__DATA" in ln]
    assert [ln.split()[:3] for ln in s if ln.startswith("unused ")] == [["unused", "__TEXT", "16K"]]


def test_unused_text_and_data_are_told_apart():
    s = _summary("dyld_shared_cache_arm64-macOS")
    assert any(ln.startswith("unused __TEXT                       64K") for ln in s)
    assert any(ln.startswith("unused but dirty shlib __DATA       16K") for ln in s)

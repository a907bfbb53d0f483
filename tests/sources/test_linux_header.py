"""The live Linux header names what procfs knows: no ``???`` (issue 13 §4)."""
from __future__ import annotations

import os
import sys
from datetime import datetime

import pytest
from click.testing import CliRunner

from symmap.cli import cli
from symmap.sources.procfs_header import header_facts, os_version

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux procfs")


def test_live_header_has_launch_time_parent_os_and_no_unknowns():
    r = CliRunner().invoke(cli, ["map", str(os.getpid())])
    assert r.exit_code == 0, r.stderr
    head = r.stdout.split("----", 1)[0].splitlines()
    assert not [ln for ln in head if "???" in ln]
    labels = {ln.split(":", 1)[0] for ln in head if ":" in ln}
    assert {"Load Address", "Launch Time", "Parent Process", "OS Version", "Date/Time"} <= labels
    parent = next(ln for ln in head if ln.startswith("Parent Process:"))
    assert parent.endswith(f"[{os.getppid()}]")
    launch = next(ln for ln in head if ln.startswith("Launch Time:"))[17:]
    started = datetime.strptime(launch, "%Y-%m-%d %H:%M:%S.%f %z")
    assert 0 <= (datetime.now().astimezone() - started).total_seconds() < 7 * 86400


def test_launch_time_is_boot_time_plus_start_ticks(tmp_path):
    (tmp_path / "stat").write_text("cpu  1 2 3\nbtime 1000000000\nprocesses 5\n")
    hz = os.sysconf("SC_CLK_TCK")
    facts = header_facts(str(tmp_path), 250 * hz, "6.1.0")
    assert datetime.fromisoformat(facts["launch_time"]).timestamp() == 1000000250.0
    assert header_facts(str(tmp_path / "none"), 0, "6.1.0").get("launch_time") is None


def test_os_version_pairs_pretty_name_with_the_kernel(tmp_path):
    (tmp_path / "os-release").write_text('NAME="X"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    assert os_version("6.1.0", str(tmp_path)) == "Debian GNU/Linux 12 (bookworm) (Linux 6.1.0)"

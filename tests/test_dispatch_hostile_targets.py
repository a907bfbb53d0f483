"""TARGET dispatch and the CLI error path: inputs that hung,
raised a traceback, or were accepted as something they are not."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from symmap.cli import cli
from symmap.errors import BadTarget, NoSuchProcess
from symmap.sources import open_target, sniff_file


def run(*args, color=False):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, color=color)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_target_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # A subprocess with a timeout: the bug was open() blocking forever for a writer.
    p = subprocess.run([sys.executable, "-m", "symmap.cli", str(fifo)], capture_output=True,
                       text=True, timeout=20, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert p.returncode == 2 and p.stderr.startswith("symmap: ") and "regular file" in p.stderr


def test_a_character_device_is_refused():
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    with pytest.raises(BadTarget, match="regular file"):
        sniff_file("/dev/zero")


def test_a_non_ascii_digit_name_is_not_a_traceback():
    # "²".isdigit() is True but int("²") raises ValueError.
    with pytest.raises(NoSuchProcess):
        open_target("\u00b2")


def test_a_text_file_that_merely_mentions_process_is_not_a_crash_report(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("meeting notes\nthe Process: step failed, see Binary Images below\n")
    with pytest.raises(BadTarget):
        sniff_file(str(p))


def test_a_crash_header_is_still_sniffed(tmp_path):
    p = tmp_path / "c.crash"
    p.write_text("Process:               a.out [123]\nPath:                  /tmp/a.out\n")
    assert sniff_file(str(p)) == "crash"
    p.write_text("junk first\nBinary Images:\n       0x100ccc000 -        0x100feffff a.out <86100d72> /a\n")
    assert sniff_file(str(p)) == "crash"


def test_error_messages_cannot_carry_terminal_escapes(tmp_path):
    d = tmp_path / "x\x1b]0;owned\x07\r"
    d.mkdir()
    r = run(str(d), color=True)      # color=True: click would keep ANSI sequences, as on a tty
    assert r.exit_code == 2
    assert "\x1b" not in r.stderr and "\r" not in r.stderr and "\x07" not in r.stderr
    assert r.stderr.count("\n") == 1


def test_debug_flag_anywhere_before_double_dash_shows_the_traceback():
    for args in (["999999999", "--debug"], ["map", "--debug", "999999999"]):
        r = CliRunner().invoke(cli, args)
        assert isinstance(r.exception, NoSuchProcess), (args, r.output)
    r = CliRunner().invoke(cli, ["--", "--debug"])      # a process named --debug
    assert r.exit_code == 2 and "no process or file named '--debug'" in r.stderr


def test_a_target_closes_when_annotate_fails(monkeypatch):
    from symmap.commands import options as _common
    from symmap.errors import CorruptInput
    from symmap.model import Target
    closed = []
    t = Target(kind="binary")
    t.closers.append(lambda: closed.append(True))
    monkeypatch.setattr("symmap.sources.open_target", lambda spec, opts: t)

    def boom(target):
        raise CorruptInput("cache", "bad")
    monkeypatch.setattr("symmap.annotate.annotate", boom)
    with pytest.raises(CorruptInput):
        _common.open_annotated("x", _common.open_options())
    assert closed == [True]     # a stdin spool file is unlinked by such a closer


def test_a_json_crash_report_with_a_utf8_bom_is_sniffed_and_opened(tmp_path):
    from tests.conftest import shared_fixture
    src = shared_fixture("crash/pycrashreport-monterey-x86_64.ips")
    p = tmp_path / "bom.ips"
    p.write_bytes(b"\xef\xbb\xbf" + src.read_bytes())
    assert sniff_file(str(p)) == "crash"
    r = run(str(p))
    assert r.exit_code == 0 and "sleep" in r.stdout

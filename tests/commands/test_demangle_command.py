"""`symmap demangle`: names as arguments, or stdin filtered like c++filt;
what comes from the input is printed escaped."""
from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from symmap.cli import cli
from tests.conftest import ROOT


def _run(args, stdin=None):
    return CliRunner().invoke(cli, ["demangle", *args], input=stdin)


def test_names_as_arguments():
    r = _run(["_ZN3foo3barEv", "$s4main3FooV3baryyF", "-[Foo bar]", "+[A b:]", "main", "-x"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == ["foo::bar()", "main.Foo.bar() -> ()", "-[Foo bar]", "+[A b:]",
                                     "main", "-x"]


def test_stdin_filter_rewrites_words_in_lines():
    text = ("Thread 0 Crashed:\n"
            "0   libfoo.dylib  0x000000010000 __ZN3foo3barEv + 12\n"
            "1   app           0x000000020000 $s4main3FooV3baryyF + 4\n"
            "2   app           0x000000030000 _ZN3std2io5stdio6_print17h0123456789abcdefE\n"
            "no newline at the end _RNvCs1234_7mycrate3foo")
    for args in ([], ["-"]):
        r = _run(args, text)
        assert r.exit_code == 0, r.output
        assert r.output == ("Thread 0 Crashed:\n"
                            "0   libfoo.dylib  0x000000010000 foo::bar() + 12\n"
                            "1   app           0x000000020000 main.Foo.bar() -> () + 4\n"
                            "2   app           0x000000030000 std::io::stdio::_print\n"
                            "no newline at the end mycrate::foo")


def test_control_characters_and_bad_bytes_are_escaped():
    raw = b"_ZN3foo3barEv\x1b[31m red\r\n\xff\xfe _Z3f\x07v\n"
    p = subprocess.run([sys.executable, "-m", "symmap", "demangle"], input=raw, capture_output=True,
                       cwd=str(ROOT), check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"foo::bar()\\x1b[31m red\\r\n\\xff\\xfe _Z3f\\x07v\n"
    r = _run(["_Z\n3foo"])
    assert r.output == "_Z\\n3foo\n"


def test_listed_in_help():
    r = CliRunner().invoke(cli, ["--help"])
    assert "demangle" in r.output
    r = _run(["--help"])
    assert r.exit_code == 0 and "stdin" in r.output.replace("standard input", "stdin")

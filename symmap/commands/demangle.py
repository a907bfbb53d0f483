"""`symmap demangle [NAME...]`: demangle names, or filter text like c++filt."""
from __future__ import annotations

import sys
from typing import BinaryIO, TextIO

import click

EPILOG = """\b
Examples:
  symmap demangle _ZN4llvm5APIntC2Ejmb '$s4main3FooV3baryyF'
  symmap demangle < crash.txt           every mangled word in the text
  llvm-nm libfoo.so | symmap demangle -

\b
C++ (Itanium, Mach-O's __Z too), Rust (legacy without its hash, and v0)
and Swift; other words pass through.  Control characters and backslashes
from the input are printed escaped (\\n, \\x1b, \\\\).

\b
Exit codes: 0 ok; 2 the input cannot be read.
"""


@click.command("demangle", epilog=EPILOG, context_settings={"ignore_unknown_options": True})
@click.argument("names", nargs=-1, metavar="[NAME]...")
def command(names: tuple[str, ...]) -> None:
    """Print the demangled form of each NAME, one a line (a NAME that is not
    mangled prints as it is).  With no NAME, or with `-`, read standard
    input and rewrite the mangled names found inside each line.
    """
    from symmap.render.escape import escape
    from symmap.symbolize.demangle import demangle
    out = sys.stdout
    if not names:
        names = ("-",)
    for name in names:
        if name == "-":
            _filter(sys.stdin.buffer, out)
        else:
            out.write(escape(demangle(name)) + "\n")
    out.flush()


def _filter(src: BinaryIO, out: TextIO) -> None:
    """Each line of ``src``, its mangled words demangled, escaped; undecodable
    bytes come out as \\xNN."""
    from symmap.errors import BadTarget
    from symmap.render.escape import escape
    from symmap.symbolize.demangle import demangle_text
    interactive = src.isatty()
    try:
        for raw in src:
            line = raw.decode("utf-8", "surrogateescape")
            end = "\n" if line.endswith("\n") else ""
            out.write(escape(demangle_text(line[:-1] if end else line)) + end)
            if interactive:
                out.flush()
    except OSError as e:
        raise BadTarget(f"cannot read standard input: {e.strerror or e}") from None

"""The thin click front end: parse arguments, call the library, print.

``symmap [TARGET]`` means ``symmap map [TARGET]``.  Subcommands live in
symmap/commands/<name>.py and are imported only when run, so ``--version``
and ``--help`` stay cheap.  Every SymmapError becomes one ``symmap: ...``
line on stderr and its exit code (0 ok, 1 findings, 2 bad input,
3 permission denied, 4 process vanished); SYMMAP_DEBUG=1 or --debug shows
the traceback instead.
"""
from __future__ import annotations

import os
import sys
from importlib import import_module

import click

from symmap import __version__
from symmap.errors import SymmapError

COMMANDS = ("map", "lookup", "audit", "save", "diff", "demangle")

EPILOG = """\b
Examples:
  symmap                          map symmap's own process
  symmap 1234 --json              map process 1234 as JSON
  symmap lookup 1234 0x7f12a0b3c4d5
  symmap lookup ./libfoo.dylib 0x3f00 --slide 0x100000
  symmap audit 1234 --min-severity high
  symmap save 1234 -o before.json; symmap diff before.json 1234
  symmap demangle < crash.txt     demangle C++, Rust and Swift names in text

\b
Exit codes: 0 ok; 1 ran and found something (unmapped address,
audit finding, diff); 2 bad target or input; 3 permission denied;
4 the process vanished.
"""


class SymmapGroup(click.Group):
    """A group whose default command is ``map`` and whose commands load lazily."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        try:
            mod = import_module(f".commands.{name}", __package__)
        except ImportError:
            return None
        return getattr(mod, "command", None)

    def parse_args(self, ctx, args):
        # --debug is a group option, but users add it after the target or the
        # command ("symmap 1234 --debug"): move it to the front (not past "--",
        # where it would be a target's name).
        end = args.index("--") if "--" in args else len(args)
        if "--debug" in args[:end] and args[0] != "--debug":
            args = ["--debug"] + [a for a in args[:end] if a != "--debug"] + args[end:]
        if not args or (args[0] not in COMMANDS and args[0] not in ("--help", "-h", "--version", "--debug")):
            args = ["map", *args]
        elif args[0] == "--debug" and (len(args) == 1 or args[1] not in COMMANDS):
            args = ["--debug", "map", *args[1:]]
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SymmapError as e:
            if _debug(ctx):
                raise
            click.echo(f"symmap: {_one_line(str(e))}", err=True)
            for c in getattr(e, "candidates", []) or []:
                click.echo(f"  {_one_line(c)}", err=True)
            ctx.exit(e.exit_code)
        except BrokenPipeError:
            _quiet_broken_pipe()
            ctx.exit(0)


def _one_line(s: str) -> str:
    """Messages quote paths and names from the target: make control, bidi and
    undecodable characters visible so a file name cannot drive the terminal
    (ESC sequences) or fake a second line.  Backslashes stay as they are:
    messages often hold repr()-quoted names that are escaped already."""
    if s.isprintable() and s.isascii():
        return s
    from symmap.render.escape import escape
    return "".join(c if c == "\\" else escape(c) for c in s)


def _debug(ctx) -> bool:
    return bool(os.environ.get("SYMMAP_DEBUG")) or bool((ctx.obj or {}).get("debug"))


def _quiet_broken_pipe() -> None:
    # Point stdout at devnull so the interpreter's final flush doesn't raise again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


@click.group(cls=SymmapGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="symmap")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx, debug):
    """Map a process's memory: which image, segment, section and symbol owns
    every address, printed the way macOS vmmap prints it, or as JSON.

    Run `symmap COMMAND --help` for each command; `symmap TARGET` is short
    for `symmap map TARGET`.
    """
    ctx.obj = {"debug": debug}


def main() -> None:
    try:
        cli.main(prog_name="symmap")
    except BrokenPipeError:
        _quiet_broken_pipe()
        sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()

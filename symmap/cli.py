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

from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem    # imported when completing, not on every run

from symmap import __version__
from symmap.errors import SymmapError

COMMANDS = ("map", "lookup", "audit", "save", "diff", "demangle")

# Group flags users also type after the target or the command
# ("symmap 1234 --debug"): moved to the front before parsing.
_GLOBAL_FLAGS = ("--debug", "--quiet")
_GROUP_ONLY = ("--help", "-h", "--version", "--debug", "--quiet", "-q")

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
Shell completion (bash, zsh, fish):
  eval "$(_SYMMAP_COMPLETE=bash_source symmap)"    in ~/.bashrc
  eval "$(_SYMMAP_COMPLETE=zsh_source symmap)"     in ~/.zshrc
  _SYMMAP_COMPLETE=fish_source symmap | source     in config.fish

\b
Exit codes: 0 ok; 1 ran and found something (unmapped address,
audit finding, diff) or symmap itself is broken (a command failed to
load); 2 bad target or input; 3 permission denied; 4 the process vanished.
"""


class CommandLoadError(click.ClickException):
    """A command module failed to import: a broken install, not a missing
    command.  The message names the real error; --debug shows its traceback."""

    exit_code = 1

    def __init__(self, name: str, err: BaseException) -> None:
        super().__init__(f"cannot load the '{name}' command: {type(err).__name__}: {err}"
                         " (a broken install; --debug shows the traceback)")

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"symmap: {_one_line(self.format_message())}", err=True)


class SymmapGroup(click.Group):
    """A group whose default command is ``map`` and whose commands load lazily."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        modname = f"symmap.commands.{name}"
        try:
            mod = import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:
                return None            # not shipped in this tree: "No such command"
            if _debug(ctx):
                raise
            raise CommandLoadError(name, e) from e
        except Exception as e:
            if _debug(ctx):
                raise
            raise CommandLoadError(name, e) from e
        cmd = getattr(mod, "command", None)
        return cmd if isinstance(cmd, click.Command) else None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Move group flags to the front (not past "--", where they would be
        # a target's name).
        end = args.index("--") if "--" in args else len(args)
        flags = [a for a in args[:end] if a in _GLOBAL_FLAGS]
        if flags and args[:len(flags)] != flags:
            args = flags + [a for a in args[:end] if a not in _GLOBAL_FLAGS] + args[end:]
        n = 0
        while n < len(args) and args[n] in _GROUP_ONLY:
            n += 1
        if any(a in ("--help", "-h", "--version") for a in args[:n]):
            pass
        elif n < len(args) and args[n] in COMMANDS:
            pass
        elif n == len(args) and ctx.resilient_parsing:
            # Shell completion of "symmap <TAB>" / "symmap ma<TAB>": stay on
            # the group so it offers the command names (and TARGET files).
            pass
        else:
            args = [*args[:n], "map", *args[n:]]
        return super().parse_args(ctx, args)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """Commands, the group's options, and what the short form
        ``symmap TARGET`` takes: map's options and a file for TARGET."""
        from click.shell_completion import CompletionItem
        items = super().shell_complete(ctx, incomplete)
        if incomplete.startswith("-"):
            mapc = self._map_command(ctx)
            if mapc is not None:
                seen = {i.value for i in items}
                items += [i for i in mapc.shell_complete(ctx, incomplete) if i.value not in seen]
        else:
            items.append(CompletionItem(incomplete, type="file"))
        return items

    def _map_command(self, ctx: click.Context) -> click.Command | None:
        try:
            return self.get_command(ctx, "map")
        except CommandLoadError:
            return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            try:
                cmd = self.get_command(ctx, name)
            except CommandLoadError as e:
                rows.append((name, f"(cannot load: {e.__cause__})"))
                continue
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=formatter.width - 6 - 10)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_options(ctx, formatter)
        mapc = self._map_command(ctx)
        if mapc is None:
            return
        rows = [r for p in mapc.get_params(ctx) if p.name != "help"
                for r in [p.get_help_record(ctx)] if r is not None]
        with formatter.section("Options of the short form `symmap [TARGET]` (= `symmap map`)"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
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


def _debug(ctx: click.Context) -> bool:
    # ctx.params: a command is loaded before the group's callback fills ctx.obj.
    return (bool(os.environ.get("SYMMAP_DEBUG")) or bool((ctx.obj or {}).get("debug"))
            or bool(ctx.params.get("debug")))


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
@click.option("-q", "--quiet", is_flag=True, help="No progress bars on stderr (they show only on a terminal).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Map a process's memory: which image, segment, section and symbol owns
    every address, printed the way macOS vmmap prints it, or as JSON.

    Run `symmap COMMAND --help` for each command; `symmap TARGET` is short
    for `symmap map TARGET` and takes map's options (listed below).
    """
    ctx.obj = {"debug": debug, "quiet": quiet}
    if not ctx.resilient_parsing:
        from symmap.progress import set_quiet
        set_quiet(quiet)


def main() -> None:
    try:
        cli.main(prog_name="symmap")
    except BrokenPipeError:
        _quiet_broken_pipe()
        sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()

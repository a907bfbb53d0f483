"""CLI conventions: shell completion through click's env vars, help of the
short form, a broken command module's real error, exit codes in every
epilog, colour only on a terminal, progress only on a terminal."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from symmap.cli import COMMANDS, SymmapGroup, cli

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {"map", "lookup", "audit", "save", "diff", "demangle"}


def complete(line: str, shell: str = "bash") -> list[tuple[str, str]]:
    """Run `symmap` as the shell's completion script does: click's
    _SYMMAP_COMPLETE env var and the shell's own variables."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    env = dict(os.environ, _SYMMAP_COMPLETE=f"{shell}_complete", PYTHONPATH=str(ROOT))
    if shell == "bash":
        env.update(COMP_WORDS=line, COMP_CWORD=str(cword))
    elif shell == "zsh":
        env.update(COMP_WORDS=line, COMP_CWORD=str(cword))
    else:  # fish passes the command line and the current token
        env.update(COMP_WORDS=line, COMP_CWORD=words[-1] if not line.endswith(" ") else "")
    r = subprocess.run([sys.executable, "-c", "from symmap.cli import main; main()"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = []
    lines = r.stdout.splitlines()
    if lines and lines[0] in ("plain", "file", "dir"):      # zsh, fish (click 8.4): type/value/help triplets
        for i in range(0, len(lines) - 2, 3):
            out.append((lines[i], lines[i + 1]))
    else:                                                    # bash: "type,value"; older fish "type,value\thelp"
        for ln in lines:
            kind, _, rest = ln.partition(",")
            out.append((kind, rest.split("\t")[0]))
    return out


def values(items: list[tuple[str, str]]) -> set[str]:
    return {v for k, v in items if k == "plain"}


def test_commands_list_names_every_command():
    assert set(COMMANDS) == EXPECTED


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_tab_completes_commands_despite_the_default_command(shell):
    got = complete("symmap ", shell)
    assert EXPECTED <= values(got)
    assert ("file", "") in got                    # `symmap TARGET`: a file is valid too


def test_prefix_completes_one_command():
    got = complete("symmap ma")
    assert values(got) == {"map"}
    assert values(complete("symmap --debug au")) == {"audit"}


def test_options_and_option_values_complete():
    top = values(complete("symmap --"))
    assert {"--version", "--debug", "--quiet", "--help"} <= top
    assert {"--json", "--wide", "--arch", "--search-path"} <= top           # the short form's options
    assert {"--json", "--brief"} <= values(complete("symmap lookup --"))
    assert values(complete("symmap audit --min-severity ")) == {"info", "low", "medium", "high", "critical"}
    assert values(complete("symmap 1234 --arch arm")) >= {"arm64", "arm64e"}
    assert ("file", "/tm") in complete("symmap map --cache /tm")
    assert ("dir", "/tm") in complete("symmap --search-path /tm")


def test_completion_scripts_generate():
    for shell in ("bash", "zsh", "fish"):
        env = dict(os.environ, _SYMMAP_COMPLETE=f"{shell}_source", PYTHONPATH=str(ROOT))
        r = subprocess.run([sys.executable, "-c", "from symmap.cli import main; main()"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "_SYMMAP_COMPLETE" in r.stdout, shell


def test_short_form_help_shows_map_options():
    r = CliRunner().invoke(cli, ["--help"])
    assert r.exit_code == 0
    text = r.stdout
    section = text[text.index("Options of the short form"):]
    for opt in ("--json", "-w, --wide", "--interleaved", "--summary", "--arch", "--search-path"):
        assert opt in section


def test_every_help_lists_exit_codes():
    assert "Exit codes" in CliRunner().invoke(cli, ["--help"]).stdout
    for name in COMMANDS:
        g = SymmapGroup()
        try:
            cmd = g.get_command(click.Context(cli), name)
        except click.ClickException:
            cmd = None
        if cmd is None:
            continue         # a command not in this tree (merged later)
        r = CliRunner().invoke(cli, [name, "--help"])
        assert r.exit_code == 0 and "Exit codes:" in r.stdout, name


def test_broken_command_module_shows_its_real_error(tmp_path):
    # A shadowing package whose `map` command fails to import.
    pkg = tmp_path / "symmap" / "commands"
    pkg.mkdir(parents=True)
    code = ("import sys, importlib, types\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "import symmap.commands\n"
            f"symmap.commands.__path__.insert(0, {str(pkg)!r})\n"
            "from symmap.cli import main\n"
            "sys.argv = ['symmap'] + sys.argv[1:]\n"
            "main()\n")
    (pkg / "map.py").write_text("import no_such_module_xyz\n")
    r = subprocess.run([sys.executable, "-c", code, "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "No such command" not in r.stderr
    assert r.stderr.startswith("symmap: cannot load the 'map' command: ModuleNotFoundError")
    assert "no_such_module_xyz" in r.stderr and r.stderr.count("\n") == 1
    r = subprocess.run([sys.executable, "-c", code, "--debug", "1"], capture_output=True, text=True, timeout=60)
    assert "Traceback" in r.stderr and "no_such_module_xyz" in r.stderr


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_tty_without_no_color(monkeypatch):
    from symmap.render import color
    row = "VM_ALLOCATE  1000-2000 [ 4K 4K 0K 0K] rwx/rwx SM=PRV  x"
    plain = "__TEXT  1000-2000 [ 4K 4K 0K 0K] r-x/rwx SM=COW  /bin/x"
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert color.enabled(Tty()) and not color.enabled(io.StringIO())
    out = color.highlight_map(f"{plain}\n{row}\n").split("\n")
    assert out[0] == plain and out[1].startswith("\x1b[1;31m") and out[1].endswith("\x1b[0m")
    assert color.highlight_finding("HIGH x", "high") == "\x1b[31mHIGH x\x1b[0m"
    monkeypatch.setenv("NO_COLOR", "")
    assert not color.enabled(Tty())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not color.enabled(Tty())


def test_piped_output_has_no_escape_codes():
    r = subprocess.run([sys.executable, "-m", "symmap", "--wide"], capture_output=True, text=True,
                       timeout=120, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0 and "\x1b" not in r.stdout and r.stderr == ""


def test_progress_only_on_a_tty_and_not_quiet(monkeypatch):
    from symmap import progress
    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    progress.set_quiet(False, cli=False)
    with progress.progress("work", 100) as step:       # a library caller: nothing
        step(100)
    assert err.getvalue() == ""
    progress.set_quiet(True)
    with progress.progress("work", 100) as step:       # --quiet: nothing
        step(100)
    assert err.getvalue() == ""
    progress.set_quiet(False)
    try:
        with progress.progress("indexing", 100) as step:
            for _ in range(4):
                step(25)
        assert "indexing" in err.getvalue() and "100%" in err.getvalue()
        pipe = io.StringIO()
        monkeypatch.setattr(sys, "stderr", pipe)
        with progress.progress("indexing", 100) as step:   # not a tty: nothing
            step(100)
        assert pipe.getvalue() == ""
    finally:
        progress.set_quiet(False, cli=False)

"""The console entry point: ``symmap --version`` answers before click loads.

Importing click costs more than the interpreter's own start-up on a busy
host, and ``--version`` is what scripts call to probe for symmap; every
other command line goes to the click front end (symmap.cli) unchanged.
"""
from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from symmap import __version__
        sys.stdout.write(f"symmap, version {__version__}\n")   # click.version_option's wording
        return
    from symmap.cli import main as cli_main
    cli_main()

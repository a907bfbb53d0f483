"""Progress for long work (indexing a large cache or debug file, reading a
big core), on stderr, only when stderr is a terminal and ``--quiet`` is off.

Library code never prints: it asks for a callback and calls it with how many
units it finished.  The callback is a no-op unless the CLI said a person is
watching, so tests, pipes and API callers see nothing.  Drawing is click's
own progress bar.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Step", "progress", "set_quiet", "enabled"]

Step = Callable[[int], None]

# Off until the CLI turns it on: a library caller gets no bar on its stderr.
_state = {"cli": False, "quiet": False}

# Below this many units a bar would flash and vanish: not worth the noise.
MIN_UNITS = 1


def set_quiet(quiet: bool, cli: bool = True) -> None:
    """Called once by the CLI: ``quiet`` is --quiet; ``cli`` says a command
    (not a library caller) is running."""
    _state["quiet"] = quiet
    _state["cli"] = cli


def enabled() -> bool:
    """True when a bar would be drawn now."""
    if not _state["cli"] or _state["quiet"]:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def _noop(n: int) -> None:
    return None


@contextmanager
def progress(label: str, total: int, min_total: int = MIN_UNITS) -> Iterator[Step]:
    """``with progress("indexing symbols", n) as step: ... step(k)``.

    ``total`` is the real size of the work (bytes of a file, entries of a
    table already bounded by the data), ``step(k)`` adds k finished units.
    Yields a no-op when no bar is wanted or the work is smaller than
    ``min_total``."""
    if total < max(1, min_total) or not enabled():
        yield _noop
        return
    import click
    with click.progressbar(length=total, label=label, file=sys.stderr,
                           show_eta=True, show_percent=True) as bar:
        yield bar.update

"""The Python API: ``symmap.open(target, **options)``.

Returns a ``MappedTarget``: the annotated Target the CLI renders (same
pipeline, ``symmap.pipeline.open_annotated``), with its regions, images and
threads, and ``lookup(addr)`` through the same Symbolizer ``symmap lookup``
uses.  Close it (or use ``with``): live targets hold ports, files hold mmaps.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from symmap.model import Image, Region, SharedCache, Target, Thread
from symmap.symbolize.symbolizer import Lookup, Symbolizer

__all__ = ["MappedTarget", "open_target"]


class MappedTarget:
    """One opened, annotated target.

    ``target`` is the model object the renderers format (symmap.model.Target);
    the properties below are its fields.  ``lookup`` builds symbol indexes
    per image on first use and keeps them."""

    def __init__(self, target: Target, search_paths: Iterable[str] = ()) -> None:
        self.target = target
        self._search_paths = list(search_paths)
        self._symbolizer: Symbolizer | None = None

    @property
    def kind(self) -> str:
        """``live``, ``core``, ``crash``, ``cache``, ``binary`` or ``snapshot``."""
        return self.target.kind

    @property
    def pid(self) -> int | None:
        return self.target.pid

    @property
    def name(self) -> str | None:
        return self.target.name

    @property
    def arch(self) -> str | None:
        return self.target.arch

    @property
    def regions(self) -> list[Region]:
        """Every region, in address order, with its image and segment named."""
        return self.target.regions

    @property
    def images(self) -> list[Image]:
        """Loaded images (path, uuid, load address, slide, segments)."""
        return self.target.images

    @property
    def threads(self) -> list[Thread]:
        return self.target.threads

    @property
    def shared_cache(self) -> SharedCache | None:
        return self.target.shared_cache

    @property
    def notes(self) -> list[str]:
        """One-line caveats (why a task port was refused, what is partial)."""
        return self.target.notes

    def lookup(self, addr: int) -> Lookup:
        """Region, image, segment, section and symbol + offset of ``addr``
        (a runtime address); ``.mapped`` is False when no region holds it."""
        if self._symbolizer is None:
            self._symbolizer = Symbolizer(self.target, self._search_paths)
        return self._symbolizer.lookup(addr)

    def to_text(self, *, interleaved: bool = False, wide: bool = True) -> str:
        """The vmmap-style report, as ``symmap map`` prints it when piped."""
        from symmap.render.text import render_report
        return render_report(self.target, interleaved=interleaved, detail_width=None if wide else 80)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``symmap --json`` (schema 2), as Python values."""
        from symmap.render.json import to_dict
        return to_dict(self.target)

    def close(self) -> None:
        self.target.close()

    def __enter__(self) -> MappedTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<symmap.MappedTarget {self.kind} {self.name or self.target.path or ''}"
                f" pid={self.pid} regions={len(self.regions)} images={len(self.images)}>")


def open_target(target: str | int | None = None, *, arch: str | None = None, slide: int | None = None,
                load_address: int | None = None, cache: str | None = None,
                search_paths: Iterable[str] = (), symbolicate: bool = False) -> MappedTarget:
    """Open and annotate TARGET: a pid (int or str), a process name, a file
    path, ``"-"`` for stdin, or None for this process.  Options are the CLI's
    (``--arch``, ``--slide``, ``--load-address``, ``--cache``,
    ``--search-path``, ``--symbolicate``).  Raises symmap.errors.SymmapError
    subclasses on bad input (BadTarget, NoSuchProcess, CorruptInput,
    AccessDenied, ProcessVanished)."""
    from symmap.pipeline import OpenOptions, open_annotated
    paths = list(search_paths)
    opts = OpenOptions(arch=arch, slide=slide, load_address=load_address, cache=cache,
                       search_paths=paths, symbolicate=symbolicate)
    spec = None if target is None else str(target)
    return MappedTarget(open_annotated(spec, opts), paths)

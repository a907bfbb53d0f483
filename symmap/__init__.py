"""symmap: map a process's virtual memory and name what owns every address.

    >>> import symmap
    >>> with symmap.open(1234) as t:          # a pid, name, file, or None for self
    ...     print(t.lookup(t.regions[0].start).image)

``symmap.open`` returns a ``symmap.api.MappedTarget``; importing symmap
loads nothing else until it is called.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "open", "MappedTarget"]

if TYPE_CHECKING:
    from symmap.api import MappedTarget


def open(target: str | int | None = None, **options: Any) -> MappedTarget:  # noqa: A001 (psutil-style)
    """Open and annotate TARGET (pid, process name, file path, "-", or None
    for this process) with the CLI's options: arch, slide, load_address,
    cache, search_paths, symbolicate.  See symmap.api.open_target."""
    from symmap.api import open_target
    return open_target(target, **options)


def __getattr__(name: str) -> Any:
    if name == "MappedTarget":
        from symmap.api import MappedTarget
        return MappedTarget
    raise AttributeError(f"module 'symmap' has no attribute {name!r}")

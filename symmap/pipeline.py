"""The whole pipeline in one call: open a TARGET, annotate it, name its
threads' frames.  The CLI and the Python API both call ``open_annotated``,
so a library caller gets exactly the target the CLI renders."""
from __future__ import annotations

from symmap.errors import BadTarget
from symmap.model import Target
from symmap.sources import OpenOptions

__all__ = ["OpenOptions", "open_annotated"]


def open_annotated(spec: str | None, opts: OpenOptions | None = None) -> Target:
    """Open TARGET (pid, name, path, ``-`` or None for self) and annotate it.

    A core's threads (a handful) get their pc named here, once, so that the
    map, a saved snapshot of it and that snapshot's map all show the same.
    The caller closes the target (``with`` works too)."""
    from symmap.annotate import annotate
    from symmap.sources import open_target
    if opts is None:
        opts = OpenOptions()
    if spec is not None and spec == "":
        raise BadTarget("empty TARGET")
    t = open_target(spec, opts)
    try:
        if opts.all_split_libs:
            annotate(t, all_split_libs=True)
        else:
            annotate(t)
        if t.kind == "live" and t.os == "macos":
            from symmap.darwin.malloc_zones import attach_live
            attach_live(t)           # after annotate: it names MALLOC_* rows by their zone
        if t.kind == "core" and t.threads and t.memory is not None:
            from symmap.symbolize.frames import name_frames
            name_frames(t, opts.search_paths, dsym=opts.dsym, use_cache=not opts.no_cache)
    except BaseException:
        t.close()          # mmaps, ports, a stdin spool file: the caller never gets t to close
        raise
    return t

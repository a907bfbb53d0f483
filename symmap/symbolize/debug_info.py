"""Where an image's debug info (DWARF) lives, found offline, checked by id.

Mach-O: a ``--dsym`` bundle or file, ``BINARY.dSYM`` beside the binary, a
dSYM (bundle, or a DWARF file named ``NAME.dSYM…``) in a ``--search-path``
directory, then DWARF in the binary itself.  A candidate whose UUID is not
the image's is refused with a note naming both.

ELF: DWARF in the file itself, then the detached debug file by build-id
(``/usr/lib/debug/.build-id/ab/cdef….debug``), by ``.gnu_debuglink``, and
debuginfod's client cache (``$DEBUGINFOD_CACHE_PATH``, else
``~/.cache/debuginfod_client/BUILDID/debuginfo``).  Nothing is fetched.

Candidates are opened with Sentry's ``symbolic`` (imported here, lazily:
only when an image needs debug info).
"""
from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from typing import Any

from symmap.errors import SymmapError
from symmap.model import Image

__all__ = ["DebugObject", "find_debug_object", "norm_id"]

_MAX_DIR_ENTRIES = 2000          # a --search-path folder is scanned one level, this far


@dataclass
class DebugObject:
    """A symbolic Object that holds this image's debug info (or only its
    symbols, ``has_dwarf`` False), the file it came from, its id and how
    it was found ("dsym", "in-file", "build-id", "debuglink", "debuginfod")."""

    obj: Any
    archive: Any
    path: str
    image_id: str
    arch: str
    how: str
    has_dwarf: bool


def norm_id(s: str | None) -> str:
    """UUIDs and build-ids compared as bare lowercase hex."""
    return (s or "").replace("-", "").lower()


def _open_objects(path: str) -> list[Any]:
    from symbolic.debuginfo import Archive  # noqa: PLC0415 - lazy: heavy library
    try:
        arch = Archive.open(path)
        return [(o, arch) for o in arch.iter_objects()]
    except Exception:            # symbolic raises its own exception tree on bad files
        return []


def _object_id(o: Any, elf: bool) -> str:
    # symbolic: Mach-O debug_id = the LC_UUID; ELF code_id = the whole build-id.
    return norm_id(o.code_id if elf else o.debug_id)[:None if elf else 32]


def _dwarf(o: Any) -> bool:
    try:
        return "debug" in o.features
    except Exception:
        return False


def _dsym_files(p: str) -> list[str]:
    """DWARF files of a .dSYM bundle, or ``p`` itself when it is a file."""
    if os.path.isfile(p):
        return [p]
    d = os.path.join(p, "Contents", "Resources", "DWARF")
    try:
        names = sorted(os.listdir(d))[:64]
    except OSError:
        return []
    return [os.path.join(d, n) for n in names if os.path.isfile(os.path.join(d, n))]


def _macho_candidates(image: Image, search_paths: list[str], dsym: str | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if dsym:
        out += [(f, "dsym") for f in _dsym_files(dsym)]
    own = image.file_path or (image.path if os.path.isfile(image.path) else None)
    if own:
        out += [(f, "dsym") for f in _dsym_files(own + ".dSYM")] if os.path.isdir(own + ".dSYM") else []
    name = image.name
    for d in search_paths:
        try:
            entries = sorted(os.listdir(d))[:_MAX_DIR_ENTRIES]
        except OSError:
            continue
        for e in entries:
            if e.startswith(name + ".dSYM") or (e.endswith(".dSYM") and os.path.isdir(os.path.join(d, e))):
                out += [(f, "dsym") for f in _dsym_files(os.path.join(d, e))]
    if own:
        out.append((own, "in-file"))
    return out


def _debuglink(path: str) -> str | None:
    from symmap.symbolize.elf_symbols import debuglink_name
    from symmap.formats.elf.elffile import parse_elf
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return debuglink_name(parse_elf(m, path))
    except (OSError, ValueError, SymmapError):
        return None


def _may_have_dwarf(path: str) -> bool:
    """False when ``path`` is an ELF file none of whose sections is named
    like debug info (.debug_info, .zdebug_info): symbolic would find no
    DWARF there.  True when unsure (not ELF, unreadable)."""
    from symmap.formats.elf.elffile import parse_elf
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return any("debug_info" in s.name for s in parse_elf(m, path).sections)
    except (OSError, ValueError, SymmapError):
        return True


def _elf_candidates(image: Image) -> list[tuple[str, str]]:
    from symmap.symbolize.elf_symbols import DEBUG_DIRS
    out: list[tuple[str, str]] = []
    own = image.file_path or (image.path if not image.path.startswith("[") and os.path.isfile(image.path)
                              else None)
    if own:
        out.append((own, "in-file"))
    bid = norm_id(image.uuid)
    if len(bid) >= 4:
        out += [(f"{d}/.build-id/{bid[:2]}/{bid[2:]}.debug", "build-id") for d in DEBUG_DIRS]
    if own:
        link = _debuglink(own)
        if link:
            here = os.path.dirname(os.path.realpath(own))
            out += [(p, "debuglink") for p in (f"{here}/{link}", f"{here}/.debug/{link}",
                                               *(f"{d}{here}/{link}" for d in DEBUG_DIRS))]
    if bid:
        root = os.environ.get("DEBUGINFOD_CACHE_PATH") or os.path.join(
            os.path.expanduser("~"), ".cache", "debuginfod_client")
        out.append((os.path.join(root, bid, "debuginfo"), "debuginfod"))
    return out


def find_debug_object(image: Image, search_paths: list[str], dsym: str | None,
                      notes: list[str]) -> DebugObject | None:
    """The best object for ``image``: the first candidate with DWARF and the
    image's id, else the first with its id and only symbols; None if no
    candidate is this image.  Refusals are appended to ``notes``."""
    elf = (image.filetype or "").startswith("elf")
    want = norm_id(image.uuid)
    cands = _elf_candidates(image) if elf else _macho_candidates(image, search_paths, dsym)
    symbols_only: DebugObject | None = None
    seen: set[str] = set()
    for path, how in cands:
        real = os.path.realpath(path)
        if real in seen or not os.path.isfile(path):
            continue
        seen.add(real)
        if elf and how == "in-file" and not _may_have_dwarf(path):
            continue                   # symbolic (and its import) only for files that may have DWARF
        objs = _open_objects(path)
        if not objs:
            continue
        hit = None
        for o, ar in objs:
            oid = _object_id(o, elf)
            if (want and oid == want) or (not want and (not image.arch or o.arch == image.arch
                                                        or len(objs) == 1)):
                hit = (o, ar, oid)
                break
        if hit is None:
            if how != "in-file":
                ids = ", ".join(sorted({_object_id(o, elf) for o, _a in objs}))
                notes.append(f"debug info {path}: UUID {ids} does not match {image.name}'s "
                             f"UUID {want or 'unknown'}; not used")
            continue
        o, ar, oid = hit
        d = DebugObject(o, ar, path, oid or want, o.arch, how, _dwarf(o))
        if d.has_dwarf:
            return d
        if symbols_only is None:
            symbols_only = d
    return symbols_only

"""Where dyld would find a dylib named by an install name, applied to files
on this machine: ``@rpath``, ``@loader_path``, ``@executable_path``, the
target's ``DYLD_*`` variables and dyld's fallback directories.

Used when ``--symbolicate``/``--search-path`` look for a crash report's
binaries and dSYMs: a found executable's LC_LOAD_DYLIB/LC_RPATH lead to its
libraries the way dyld followed them, and a report's absolute image paths
are looked up under each search directory (a copied root or bundle).

The order follows dyld's own code (apple-oss-distributions/dyld,
dyld/DyldProcessConfig.cpp ``PathOverrides::forEachPathVariant``,
``forEachDylibFallback``, ``forEachFrameworkFallback``,
``getFrameworkPartialPath``, ``addSuffix``; dyld/Loader.cpp
``Loader::forEachPath``, ``forEachResolvedAtPathVar``,
``expandAtLoaderPath``, ``expandAtExecutablePath``):

1. DYLD_FRAMEWORK_PATH dirs + the framework partial path when the name is
   a framework, else DYLD_LIBRARY_PATH dirs + the leaf name;
2. the name itself, with ``@loader_path`` -> the loading image's directory,
   ``@executable_path`` -> the main executable's directory, ``@rpath/`` ->
   each LC_RPATH of the load chain (loading image first, main executable
   last; an LC_RPATH may itself start with @loader_path/@executable_path,
   relative to the image that declared it); a bare leaf name also tries
   ``@rpath/leaf`` first;
3. fallbacks: DYLD_FALLBACK_FRAMEWORK_PATH / DYLD_FALLBACK_LIBRARY_PATH,
   else the classic defaults /Library/Frameworks, /System/Library/Frameworks
   and /usr/local/lib, /usr/lib (dyld's code comments out $HOME/lib and
   /Network/Library/Frameworks, and has no /lib).
Each candidate also tries DYLD_IMAGE_SUFFIX variants first.

macholib.dyld (``dyld_find``) was the designated helper; checked against
those rules it gets too much wrong for this job, so symmap does not use it:
no ``@rpath`` at all, DYLD_LIBRARY_PATH tried for frameworks too, the old
man-page fallbacks ($HOME/lib, /lib, /Network/...), the *host's*
environment by default, on macOS the *host's* live shared cache as proof a
path exists, framework names limited to ``\\w+``, and one suffix only.  The
tests keep macholib as an oracle for the cases where it agrees.

Pure path computation plus ``os.path.isfile``; nothing is ever executed.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["LoadContext", "Rpath", "candidates", "resolve", "framework_partial_path"]

# Guards against hostile load commands: at most this many candidates per name.
MAX_CANDIDATES = 256

_CLASSIC_LIBRARY_FALLBACK = ("/usr/local/lib", "/usr/lib")
_CLASSIC_FRAMEWORK_FALLBACK = ("/Library/Frameworks", "/System/Library/Frameworks")


@dataclass(frozen=True)
class Rpath:
    """One LC_RPATH and the image (a path on this machine) that declared it."""

    path: str
    declared_by: str


@dataclass(frozen=True)
class LoadContext:
    """What dyld knew when it loaded a name.

    ``executable``: the main executable (a file here); ``loader``: the image
    whose load command names the dylib (a file here; the executable when
    None); ``rpaths``: the load chain's LC_RPATHs, loader first, main
    executable last; ``env``: the *target's* DYLD_* variables (never the
    host's); ``fallbacks``: also try the fallback directories."""

    executable: str | None = None
    loader: str | None = None
    rpaths: Sequence[Rpath] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    fallbacks: bool = True


def framework_partial_path(path: str, image_suffix: str | None = None) -> str | None:
    """``/p/Foo.framework/Versions/A/Foo`` -> ``Foo.framework/Versions/A/Foo``;
    None when the path is no framework's binary (dyld getFrameworkPartialPath:
    the last ``X.framework/`` whose leaf is X, or X + DYLD_IMAGE_SUFFIX)."""
    i = path.rfind(".framework/")
    if i < 0:
        return None
    start = path.rfind("/", 0, i) + 1
    name = path[start:i]
    leaf = path.rsplit("/", 1)[-1]
    if leaf == name or (image_suffix and leaf == name + image_suffix):
        return path[start:]
    return None


def _colon_list(env: Mapping[str, str], var: str) -> list[str]:
    v = env.get(var) or ""
    return [d for d in v.split(":") if d] if v else []


def _add_suffix(path: str, suffix: str) -> str:
    """dyld addSuffix: before the leaf's last dot (``bar.A.dylib`` -> ``bar.A_debug.dylib``)."""
    slash = path.rfind("/") + 1
    dot = path.rfind(".", slash)
    return path + suffix if dot < 0 else path[:dot] + suffix + path[dot:]


def _join(d: str, tail: str) -> str:
    return d.rstrip("/") + "/" + tail.lstrip("/")


def _expand_at(path: str, image: str | None, executable: str | None) -> str | None:
    """@loader_path (relative to ``image``) or @executable_path, else None."""
    for var, base in (("@loader_path", image), ("@executable_path", executable)):
        if path == var or path.startswith(var + "/"):
            if base is None or "/" not in base:
                return None
            return base.rsplit("/", 1)[0] + path[len(var):]
    return None


def _resolved_at(name: str, ctx: LoadContext) -> Iterator[tuple[str, bool]]:
    """dyld forEachResolvedAtPathVar: (path, on_disk) for one variant.
    ``on_disk``: derived from a file here (no search root applies)."""
    loader = ctx.loader or ctx.executable
    at = _expand_at(name, loader, ctx.executable) if not name.startswith("@rpath") else None
    if at is not None:
        yield at, True
        return
    if name.startswith("@loader_path") or name.startswith("@executable_path"):
        return          # nothing to expand it against
    if name.startswith("@rpath/"):
        tail = name[len("@rpath"):]
        for rp in ctx.rpaths:
            base = _expand_at(rp.path, rp.declared_by, ctx.executable)
            if base is not None:
                yield _join(base, tail), True
            elif rp.path.startswith("/"):
                yield _join(rp.path, tail), False
            elif not rp.path.startswith("@"):
                # dyld on macOS: a relative LC_RPATH is relative to the cwd; none here.
                continue
        return
    if not name.startswith("@"):
        yield name, False


def candidates(install_name: str, ctx: LoadContext | None = None) -> list[tuple[str, bool]]:
    """Every path dyld would try for ``install_name``, in dyld's order, as
    (path, on_disk): ``on_disk`` paths come from a file on this machine; the
    others are paths in the target's file system (see resolve's roots).
    At most MAX_CANDIDATES, duplicates dropped."""
    ctx = ctx or LoadContext()
    env = ctx.env
    suffixes = _colon_list(env, "DYLD_IMAGE_SUFFIX")
    fw = framework_partial_path(install_name, suffixes[0] if suffixes else None)
    leaf = install_name.rsplit("/", 1)[-1]
    out: list[tuple[str, bool]] = []
    seen: set[tuple[str, bool]] = set()

    def add(path: str, on_disk: bool) -> None:
        for p in [_add_suffix(path, s) for s in suffixes] + [path]:
            if len(out) < MAX_CANDIDATES and (p, on_disk) not in seen:
                seen.add((p, on_disk))
                out.append((p, on_disk))

    # 1. DYLD_FRAMEWORK_PATH (frameworks) or DYLD_LIBRARY_PATH (everything else).
    if fw is not None:
        for d in _colon_list(env, "DYLD_FRAMEWORK_PATH"):
            add(_join(d, fw), False)
    else:
        for d in _colon_list(env, "DYLD_LIBRARY_PATH"):
            add(_join(d, leaf), False)
    # 2. The name, its @ variables expanded; a bare leaf also as @rpath/leaf.
    if "/" not in install_name and not install_name.startswith("@"):
        for p, disk in _resolved_at("@rpath/" + install_name, ctx):
            add(p, disk)
    for p, disk in _resolved_at(install_name, ctx):
        add(p, disk)
    # 3. Fallbacks.
    if ctx.fallbacks:
        if fw is not None:
            dirs = _colon_list(env, "DYLD_FALLBACK_FRAMEWORK_PATH") or list(_CLASSIC_FRAMEWORK_FALLBACK)
            tail = fw
        else:
            dirs = _colon_list(env, "DYLD_FALLBACK_LIBRARY_PATH") or list(_CLASSIC_LIBRARY_FALLBACK)
            tail = leaf
        for d in dirs:
            p = _join(d, tail)
            if p != install_name:
                add(p, False)
    return out


def resolve(install_name: str, ctx: LoadContext | None = None, roots: Sequence[str] = (),
            exists: Callable[[str], bool] = os.path.isfile) -> str | None:
    """The first candidate that is a file here: on-disk candidates as they
    are, target paths under each of ``roots`` (search directories standing
    for the target's ``/``).  Target paths are never looked up on this
    machine's own ``/``: that is the analyst's system, not the target's."""
    for path, on_disk in candidates(install_name, ctx):
        if on_disk:
            if exists(path):
                return path
            continue
        if not path.startswith("/"):
            continue
        for r in roots:
            p = _join(r, path)
            if exists(p):
                return p
    return None

"""Source: a ``symmap save`` JSON snapshot (render/json.py schema 2; schema 1 still read).

The snapshot is rebuilt into the exact Target that was saved (regions with
their joined type/detail/image/segment, images with segments and sections,
the shared cache without a reader, threads, info, notes) and marked
annotated, so every command renders it byte for byte as it rendered the
original.  ``Target.kind`` stays the saved kind (``live``, ``core`` ...)
for the same reason: the report prints it.

The file is untrusted: every field is type- and range-checked and any
mismatch is one ``CorruptInput("snapshot", ...)``; nothing is allocated from
a count read out of the file (lists are as long as the JSON really is).
"""
from __future__ import annotations

import builtins
import json
import math
import re
from collections.abc import Callable
from typing import Any, Literal, overload

from symmap.errors import BadTarget, CorruptInput
from symmap.render.escape import json_unescape
from symmap.model import (CacheMapping, Frame, Image, Region, Section, Segment, SharedCache, Target,
                     Thread, parse_prot, TARGET_KINDS)

__all__ = ["open_file", "load", "from_dict", "SCHEMA"]

SCHEMA = 2
# Schema 1 wrote strings as they were, undecodable bytes as a visible "\\xNN"
# (lossy); schema 2 writes them with render/escape.json_safe (lossless).
_DECODERS: dict[int, Callable[[str], str]] = {1: lambda v: v, 2: json_unescape}
_U64 = 1 << 64

# Upper bounds on list lengths no real target comes near, checked on the
# parsed list before one model object is built, so a hostile snapshot (an
# image with a million segments) is refused at once instead of costing
# seconds and gigabytes.  Real maxima: a Mach-O has a few dozen segments and
# at most 255 sections per segment; an ELF file at most 65535 program headers
# and section headers (without extended numbering); crash reports stop at
# 512 frames per thread.
_MAX_SEGMENTS = 1 << 16
_MAX_SECTIONS = 1 << 16
_MAX_FRAMES = 1 << 16
# Parsed whole, JSON costs about 5x its size in memory (a real save), up to
# 30x (``[{},{},...]``).  So the big arrays (regions, images, threads) are
# read an element at a time and each element becomes its model object at
# once; what is parsed whole is bounded by a count of the values (commas
# and openers, string contents included: an overcount) before parsing.
# A save of a process with 60,000 regions and 2,000 images is about 26 MB
# and 1.5 M values.
MAX_SNAPSHOT_BYTES = 32 << 20
MAX_SNAPSHOT_VALUES = 2_500_000
_MISSING = object()


class _Bad(Exception):
    """Internal: a field failed validation; ``where`` is a JSON path."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")


class _Obj:
    """A JSON object being read, with typed, range-checked accessors."""

    __slots__ = ("d", "where", "dec")

    def __init__(self, d: Any, where: str, dec: Callable[[str], str]) -> None:
        if not isinstance(d, dict):
            raise _Bad(where, f"expected an object, got {_tname(d)}")
        self.d = d
        self.where = where
        self.dec = dec      # the schema's string decoding

    def text(self, v: builtins.str, where: builtins.str) -> builtins.str:
        try:
            return self.dec(v)
        except ValueError as e:
            raise _Bad(where, str(e)) from None

    def _get(self, key: str, nullable: bool) -> Any:
        v = self.d.get(key, _MISSING)
        if v is _MISSING:
            raise _Bad(f"{self.where}.{key}", "missing")
        if v is None and not nullable:
            raise _Bad(f"{self.where}.{key}", "must not be null")
        return v

    # Accessors are named for the JSON type they read; in this class body
    # those names shadow the builtins, so annotations say builtins.X.  The
    # overloads say what ``nullable`` means: False -> never None.
    @overload
    def int(self, key: builtins.str, nullable: Literal[False] = False,
            signed: builtins.bool = False) -> builtins.int: ...
    @overload
    def int(self, key: builtins.str, nullable: builtins.bool,
            signed: builtins.bool = False) -> builtins.int | None: ...

    def int(self, key: builtins.str, nullable: builtins.bool = False,
            signed: builtins.bool = False) -> builtins.int | None:
        v = self._get(key, nullable)
        if v is None:
            return None
        # bool is an int subclass in Python but never a valid address.
        if not isinstance(v, builtins.int) or isinstance(v, builtins.bool):
            raise _Bad(f"{self.where}.{key}", f"expected an integer, got {_tname(v)}")
        lo = -_U64 if signed else 0
        if not lo <= v < _U64:
            raise _Bad(f"{self.where}.{key}", "integer out of the 64-bit range")
        return v

    @overload
    def str(self, key: builtins.str, nullable: Literal[False]) -> builtins.str: ...
    @overload
    def str(self, key: builtins.str, nullable: builtins.bool = True) -> builtins.str | None: ...

    def str(self, key: builtins.str, nullable: builtins.bool = True) -> builtins.str | None:
        v = self._get(key, nullable)
        if v is not None and not isinstance(v, builtins.str):
            raise _Bad(f"{self.where}.{key}", f"expected a string, got {_tname(v)}")
        if v is None or "\\" not in v:      # no escape: the common case, kept cheap
            return v
        return self.text(v, f"{self.where}.{key}")

    def bool(self, key: builtins.str) -> builtins.bool:
        v = self._get(key, False)
        if not isinstance(v, builtins.bool):
            raise _Bad(f"{self.where}.{key}", f"expected true/false, got {_tname(v)}")
        return v

    @overload
    def prot(self, key: builtins.str, nullable: Literal[False]) -> builtins.int: ...
    @overload
    def prot(self, key: builtins.str, nullable: builtins.bool = True) -> builtins.int | None: ...

    def prot(self, key: builtins.str, nullable: builtins.bool = True) -> builtins.int | None:
        v = self.str(key, nullable)
        if v is None:
            return None
        if len(v) != 3:
            raise _Bad(f"{self.where}.{key}", f"bad protection {v[:16]!r}")
        try:
            return parse_prot(v)
        except ValueError:
            raise _Bad(f"{self.where}.{key}", f"bad protection {v!r}") from None

    @overload
    def list(self, key: builtins.str, nullable: Literal[False] = False) -> builtins.list[Any]: ...
    @overload
    def list(self, key: builtins.str, nullable: builtins.bool) -> builtins.list[Any] | None: ...

    def list(self, key: builtins.str, nullable: builtins.bool = False) -> builtins.list[Any] | None:
        v = self._get(key, nullable)
        if v is None:
            return None
        if not isinstance(v, builtins.list):
            raise _Bad(f"{self.where}.{key}", f"expected a list, got {_tname(v)}")
        return v

    @overload
    def obj(self, key: builtins.str, nullable: Literal[False] = False) -> _Obj: ...
    @overload
    def obj(self, key: builtins.str, nullable: builtins.bool) -> _Obj | None: ...

    def obj(self, key: builtins.str, nullable: builtins.bool = False) -> _Obj | None:
        v = self._get(key, nullable)
        if v is None:
            return None
        return _Obj(v, f"{self.where}.{key}", self.dec)

    def each(self, key: builtins.str, limit: builtins.int | None = None) -> builtins.list[_Obj]:
        items = self.list(key) or []
        if limit is not None and len(items) > limit:
            raise _Bad(f"{self.where}.{key}", f"{len(items)} entries, more than any real "
                       f"target has ({limit})")
        return [_Obj(x, f"{self.where}.{key}[{i}]", self.dec) for i, x in enumerate(items)]


def _tname(v: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null",
            int: "integer", float: "number"}.get(type(v), type(v).__name__)


def _section(o: _Obj) -> Section:
    return Section(name=o.str("name", False), segment=o.str("segment", False),
                   address=o.int("address"), size=o.int("size"),
                   file_offset=o.int("file_offset", True))


def _segment(o: _Obj) -> Segment:
    return Segment(name=o.str("name", False), address=o.int("address"), size=o.int("size"),
                   prot=o.prot("prot", False), max_prot=o.prot("max_prot", False),
                   file_offset=o.int("file_offset", True), file_size=o.int("file_size", True),
                   sections=[_section(s) for s in o.each("sections", _MAX_SECTIONS)])


def _image(o: _Obj) -> Image:
    return Image(path=o.str("path", False), load_address=o.int("load_address"),
                 uuid=o.str("uuid"), slide=o.int("slide", True, signed=True),
                 in_shared_cache=o.bool("in_shared_cache"), filetype=o.str("filetype"),
                 arch=o.str("arch"), size=o.int("size", True),
                 install_name=o.str("install_name"),
                 segments=[_segment(s) for s in o.each("segments", _MAX_SEGMENTS)])


def _region(o: _Obj) -> Region:
    r = Region(start=o.int("start"), end=o.int("end"), prot=o.prot("prot", False),
               max_prot=o.prot("max_prot"), share_mode=o.str("share_mode"),
               tag=o.int("tag", True), kind=o.str("kind"), resident=o.int("resident", True),
               dirty=o.int("dirty", True), swapped=o.int("swapped", True), path=o.str("path"),
               offset=o.int("offset", True), purgeable=o.str("purgeable"),
               depth=o.int("depth", True), type=o.str("type"), detail=o.str("detail"),
               image=o.str("image"), segment=o.str("segment"))
    if r.end < r.start:
        raise _Bad(o.where, "region ends before it starts")
    return r


def _cache(o: _Obj) -> SharedCache:
    maps = [CacheMapping(address=m.int("address"), size=m.int("size"),
                         file_offset=m.int("file_offset"), max_prot=m.prot("max_prot", False),
                         init_prot=m.prot("init_prot", False), name=m.str("name"),
                         subcache=m.int("subcache"))
            for m in o.each("mappings")]
    subs = []
    for i, s in enumerate(o.list("subcaches")):
        so = _Obj(s, f"{o.where}.subcaches[{i}]", o.dec)
        for k, v in so.d.items():
            if not (v is None or isinstance(v, (str, bool)) or
                    (isinstance(v, int) and -_U64 < v < _U64)):
                raise _Bad(f"{so.where}.{k}", f"unexpected {_tname(v)}")
        subs.append({so.text(k, so.where): (so.text(v, f"{so.where}.{k}") if isinstance(v, str) else v)
                     for k, v in so.d.items()})
    return SharedCache(uuid=o.str("uuid"), base=o.int("base"),
                       slide=o.int("slide", True, signed=True), size=o.int("size", True),
                       path=o.str("path"), mappings=maps, subcaches=subs)


def _frame(o: _Obj) -> Frame:
    f = Frame(address=o.int("address"), image=o.str("image"), symbol=o.str("symbol"),
              offset=o.int("offset", True, signed=True),
              image_offset=o.int("image_offset", True, signed=True))
    if "file" in o.d:          # snapshots written before issue 11 lack these keys
        f.file, f.line, f.inlined = o.str("file"), o.int("line", True), o.bool("inlined")
    return f


def _thread(o: _Obj) -> Thread:
    return Thread(index=o.int("index"), name=o.str("name"), pc=o.int("pc", True),
                  sp=o.int("sp", True), crashed=o.bool("crashed"),
                  frames=[_frame(f) for f in o.each("frames", _MAX_FRAMES)])


def _check_info(v: Any, where: str, o: _Obj) -> Any:
    """info holds plain JSON values; bound ints so renderers never meet bignums;
    strings (keys too) decoded as the schema says."""
    if isinstance(v, str):
        return o.text(v, where)
    if isinstance(v, dict):
        if not all(isinstance(k, str) for k in v):      # from_dict of a Python dict, not JSON
            raise _Bad(where, "keys must be strings")
        return {o.text(k, where): _check_info(x, f"{where}.{k}", o) for k, x in v.items()}
    if isinstance(v, list):
        return [_check_info(x, f"{where}[{i}]", o) for i, x in enumerate(v)]
    if isinstance(v, int) and not isinstance(v, bool) and not -_U64 < v < _U64:
        raise _Bad(where, "integer out of the 64-bit range")
    if isinstance(v, float) and not math.isfinite(v):
        raise _Bad(where, "not a finite number")
    return v


# info keys the renderers format as numbers (render/text.py _header): a wrong
# type there would be a TypeError at render time, so reject it at load time.
_INFO_INTS = ("load_address", "footprint", "footprint_peak")


def _check_known_info(info: dict[str, Any]) -> None:
    for k in _INFO_INTS:
        v = info.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise _Bad(f"$.target.info.{k}", f"expected an integer, got {_tname(v)}")
    p = info.get("parent")
    if p is not None and not isinstance(p, str) and not (
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], int)
            and not isinstance(p[0], bool) and isinstance(p[1], (str, type(None)))):
        raise _Bad("$.target.info.parent", "expected [pid, name] or a string")


def from_dict(d: Any) -> Target:
    """Rebuild the Target of a parsed snapshot; raises CorruptInput."""
    try:
        return _from_dict(d)
    except _Bad as e:
        raise CorruptInput("snapshot", str(e)) from None
    except RecursionError:
        raise CorruptInput("snapshot", "nested too deeply") from None


def _schema_decoder(schema: Any) -> Callable[[str], str] | None:
    return _DECODERS.get(schema) if isinstance(schema, int) and not isinstance(schema, bool) else None


def _from_dict(d: Any, done: dict[str, list[Any]] | None = None) -> Target:
    """``done``: arrays _parse_streaming already converted (absent from ``d``)."""
    if not isinstance(d, dict):
        raise _Bad("$", f"expected an object, got {_tname(d)}")
    done = done or {}
    schema = d.get("schema")
    dec = _schema_decoder(schema)
    if dec is None:
        raise _Bad("$.schema", f"unsupported schema {str(schema)[:16]!r} (this symmap reads "
                   f"{' and '.join(map(str, _DECODERS))})")
    top = _Obj(d, "$", dec)
    t = top.obj("target")
    kind = t.str("kind", False)
    if kind not in TARGET_KINDS:
        raise _Bad("$.target.kind", f"unknown kind {kind[:32]!r}")
    info = t.obj("info")
    _check_known_info(info.d)
    notes = top.list("notes")
    for i, n in enumerate(notes):
        if not isinstance(n, str):
            raise _Bad(f"$.notes[{i}]", f"expected a string, got {_tname(n)}")
    notes = [top.text(n, f"$.notes[{i}]") for i, n in enumerate(notes)]
    regions = done["regions"] if "regions" in done else [_region(r) for r in top.each("regions")]
    for a, b in zip(regions, regions[1:]):
        if b.start < a.start:
            raise _Bad("$.regions", "regions are not sorted by start address")
    cache = top.obj("shared_cache", True)
    return Target(
        kind=kind, name=t.str("name"), pid=t.int("pid", True), path=t.str("path"),
        arch=t.str("arch"), page_size=t.int("page_size", True), os=t.str("os"),
        os_version=t.str("os_version"), partial=t.bool("partial"),
        info=_check_info(info.d, "$.target.info", info), notes=notes, regions=regions,
        images=done["images"] if "images" in done else [_image(i) for i in top.each("images")],
        shared_cache=_cache(cache) if cache is not None else None,
        threads=done["threads"] if "threads" in done else [_thread(th) for th in top.each("threads")],
        annotated=True,
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def load(text: str | bytes, path: str | None = None) -> Target:
    """Parse snapshot JSON text into a Target; raises CorruptInput."""
    _check_size(len(text), path)
    if isinstance(text, bytes):
        text = _decode(text, path)
    values = text.count(",") + text.count("{") + text.count("[")
    if values > MAX_SNAPSHOT_VALUES:
        raise CorruptInput("snapshot", f"more than {MAX_SNAPSHOT_VALUES} JSON values, the most symmap reads",
                           path)
    try:
        return _from_dict(*_parse_streaming(text))
    except RecursionError:
        raise CorruptInput("snapshot", "nested too deeply", path) from None
    except _NotJSON as e:
        raise CorruptInput("snapshot", f"not JSON ({str(e)[:80]})", path) from None
    except _Bad as e:
        raise CorruptInput("snapshot", str(e), path) from None


def _decode(raw: bytes, path: str | None) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorruptInput("snapshot", f"not JSON ({str(e)[:80]})", path) from None


class _NotJSON(Exception):
    pass


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_WS = re.compile(r"[ \t\n\r]*")


def _skip(s: str, i: int) -> int:
    """Index of the first non-whitespace character at or after ``i``."""
    m = _WS.match(s, i)
    return m.end() if m is not None else i
# Top-level arrays read an element at a time: key -> (converter, element limit).
_STREAMED: dict[str, Callable[[_Obj], Any]] = {"regions": _region, "images": _image, "threads": _thread}


def _after_value(s: str, i: int, close: str) -> tuple[int, bool]:
    """Past the ',' or ``close`` that follows a value at ``i``: (the next
    index, True at ``close``); _NotJSON for anything else."""
    i = _skip(s, i)
    c = s[i:i + 1]
    if c != "," and c != close:
        raise _NotJSON(f"expected ',' or '{close}' at char {i}")
    return _skip(s, i + 1), c == close


def _parse_streaming(s: str) -> tuple[Any, dict[str, list[Any]]]:
    """The top-level object of ``s`` as json.loads would give it, except that
    the arrays named in _STREAMED come back converted, in the second dict,
    each element turned into its model object as soon as it is parsed (once
    the schema, which symmap writes first, is known).  Raises _NotJSON."""
    raw = _DECODER.raw_decode
    skip = _skip
    top: Any = {}
    done: dict[str, list[Any]] = {}
    try:
        i = skip(s, 0)
        if s[i:i + 1] != "{":
            return json.loads(s, parse_constant=_no_constant), done     # _from_dict names its type
        i = skip(s, i + 1)
        if s[i:i + 1] == "}":
            i += 1
        else:
            while True:
                if s[i:i + 1] != '"':
                    raise _NotJSON(f"expected a key at char {i}")
                key, i = raw(s, i)
                i = skip(s, i)
                if s[i:i + 1] != ":":
                    raise _NotJSON(f"expected ':' at char {i}")
                i = skip(s, i + 1)
                conv = _STREAMED.get(key)
                dec = _schema_decoder(top.get("schema")) if conv is not None else None
                if conv is not None and dec is not None and s[i:i + 1] == "[":
                    items: list[Any] = []
                    i = skip(s, i + 1)
                    if s[i:i + 1] == "]":
                        i += 1
                    else:
                        while True:
                            v, i = raw(s, i)
                            items.append(conv(_Obj(v, f"$.{key}[{len(items)}]", dec)))
                            i, end = _after_value(s, i, "]")
                            if end:
                                break
                    done[key] = items
                    top.pop(key, None)
                else:
                    top[key], i = raw(s, i)
                    done.pop(key, None)                 # a later duplicate key wins, as in json.loads
                i, end = _after_value(s, i, "}")
                if end:
                    break
        if skip(s, i) != len(s):
            raise _NotJSON(f"extra data at char {i}")
    except ValueError as e:
        # json's errors; also ints longer than sys.get_int_max_str_digits().
        raise _NotJSON(str(e)) from None
    return top, done


def _check_size(n: int, path: str | None) -> None:
    if n > MAX_SNAPSHOT_BYTES:
        raise CorruptInput("snapshot", f"larger than {MAX_SNAPSHOT_BYTES >> 20} MiB, the most symmap reads",
                           path)


def open_file(path: str, opts: Any = None) -> Target:
    """Open a ``symmap save`` file as a Target (already annotated)."""
    try:
        with open(path, "rb") as f:
            _check_size(f.seek(0, 2), path)         # by its size, unread
            f.seek(0)
            data = f.read(MAX_SNAPSHOT_BYTES + 1)
    except OSError as e:
        raise BadTarget(f"{path}: {e.strerror}") from None
    _check_size(len(data), path)
    text = _decode(data, path)
    del data                                        # the bytes and the text are not held together
    return load(text, path)

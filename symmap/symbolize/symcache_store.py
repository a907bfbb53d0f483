"""Built symcaches kept on disk, so a second run skips the DWARF parse.

Layout: ``$XDG_CACHE_HOME/symmap/symcache/<id>-<arch>.symcache`` (else
``~/.cache/…``), keyed by the image's UUID / build-id.  Each file is our
header, then symbolic's symcache bytes::

    b"SYMMAPSC" | u32 header length | header (JSON: source path, size,
    mtime_ns, symcache version, crc32 of the payload) | payload

A file whose header does not describe the debug file now at hand (rebuilt
binary, new debug package), whose checksum fails or that symbolic refuses,
is rebuilt rather than trusted.  Writes go to a temporary file in the same
folder, then ``os.replace`` (readers never see half a file).  The folder is
bounded (``MAX_BYTES``, oldest-used files go first).
"""
from __future__ import annotations

import json
import os
import tempfile
import zlib
from typing import Any

__all__ = ["cache_dir", "load_symcache", "MAX_BYTES"]

MAGIC = b"SYMMAPSC"
MAX_BYTES = 1 << 30
_MAX_HEADER = 1 << 16


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "symmap", "symcache")


def _fingerprint(path: str, version: int) -> dict[str, Any]:
    st = os.stat(path)
    return {"source": os.path.realpath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "version": version}


def _safe(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s)[:80] or "none"


def _read(file: str, want: dict[str, Any]) -> bytes | None:
    try:
        with open(file, "rb") as f:
            pre = f.read(12)
            if pre[:8] != MAGIC or len(pre) < 12:
                return None
            hlen = int.from_bytes(pre[8:12], "little")
            if hlen > _MAX_HEADER:
                return None
            raw = f.read(hlen)
            # The payload is read on its own (no slice copy of a whole-file read).
            payload = f.read()
    except OSError:
        return None
    if len(raw) < hlen:
        return None
    try:
        head = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(head, dict) or {k: head.get(k) for k in want} != want:
        return None
    if head.get("length") != len(payload) or head.get("crc32") != zlib.crc32(payload):
        return None
    return payload


def _write(file: str, head: dict[str, Any], payload: bytes) -> None:
    head = dict(head, crc32=zlib.crc32(payload), length=len(payload))
    raw = json.dumps(head, sort_keys=True).encode()
    d = os.path.dirname(file)
    try:
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + len(raw).to_bytes(4, "little") + raw)
                f.write(payload)
            os.replace(tmp, file)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _trim(d, keep=file)
    except OSError:
        pass                      # a read-only or full cache folder: answers still come


def _trim(d: str, keep: str, limit: int | None = None) -> None:
    """Delete the least recently used files until the folder fits ``limit``."""
    limit = MAX_BYTES if limit is None else limit
    files = []
    with os.scandir(d) as it:
        for e in it:
            if e.is_file() and e.name.endswith(".symcache"):
                st = e.stat()
                files.append((st.st_mtime_ns, st.st_size, e.path))
    total = sum(s for _m, s, _p in files)
    for _m, size, p in sorted(files):
        if total <= limit:
            break
        if p != keep:
            try:
                os.unlink(p)
                total -= size
            except OSError:
                pass


def load_symcache(obj: Any, source_path: str, image_id: str, arch: str,
                  use_cache: bool = True, notes: list[str] | None = None) -> tuple[Any, bytes]:
    """A symbolic SymCache for ``obj`` (from ``source_path``) and its bytes
    (what ``source_lines.LineTable`` reads directly): the one on disk when
    it matches, else built (and stored when ``use_cache``).  symbolic's
    errors propagate (the caller turns them into a note)."""
    from symbolic.symcache import SYMCACHE_LATEST_VERSION, SymCache  # noqa: PLC0415 - lazy
    if not use_cache or not image_id:
        sc = obj.make_symcache()
        return sc, _bytes_of(sc)
    file = os.path.join(cache_dir(), f"{_safe(image_id)}-{_safe(arch)}.symcache")
    want = _fingerprint(source_path, SYMCACHE_LATEST_VERSION)
    payload = _read(file, want) if os.path.exists(file) else None
    if payload is not None:
        try:
            # symbolic borrows ``payload`` (no copy); it stays alive with sc.
            sc = SymCache.from_bytes(payload)  # type: ignore[no-untyped-call]
            if sc.is_latest_version:
                try:
                    os.utime(file)             # most recently used: trimmed last
                except OSError:
                    pass
                return sc, payload
        except Exception:
            pass
    if os.path.exists(file) and notes is not None:
        notes.append(f"symcache {file}: stale or corrupt; rebuilt")
    sc = obj.make_symcache()
    payload = _bytes_of(sc)
    _write(file, want, payload)
    return sc, payload


def _bytes_of(sc: Any) -> bytes:
    buf = bytearray()
    stream = sc.open_stream()
    while chunk := stream.read(1 << 20):
        buf += chunk
    return bytes(buf)

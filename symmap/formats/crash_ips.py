"""The .ips crash report (macOS 12+, bug_type 309): a one-line metadata JSON
object, a newline, then the JSON body.

Field names follow Apple's "Interpreting the JSON format of a crash report"
(developer.apple.com/documentation/xcode) and the reports in
shared/fixtures/crash.  Every value is type-checked before use: a field of
the wrong type is skipped and noted (the report becomes ``partial``), never
a traceback.  Frame addresses are ``usedImages[imageIndex].base +
imageOffset``; an index outside usedImages leaves the frame without image.
"""
from __future__ import annotations

import json
from typing import Any

from ..errors import CorruptInput
from .crash_report import (
    ADDR_LIMIT, WHAT, CrashFrame, CrashImage, CrashReport, CrashThread,
    arch_from_code_type, fault_from_text, norm_uuid, parse_vm_region_info,
)

__all__ = ["parse_ips", "split_ips"]

MAX_REGISTERS = 96


def _int(v: Any) -> int | None:
    """An address-sized non-negative JSON integer, else None (bools are not ints here)."""
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < ADDR_LIMIT:
        return v
    return None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _dict(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _loads(s: str, what: str, path: str | None) -> Any:
    try:
        return json.loads(s)
    except json.JSONDecodeError as e:
        raise CorruptInput(WHAT, f"{what} is not valid JSON ({e.msg}, line {e.lineno} column {e.colno})",
                           path) from None
    except (ValueError, RecursionError) as e:
        # Deep nesting or an integer too long to convert.
        raise CorruptInput(WHAT, f"{what} is not usable JSON ({type(e).__name__})", path) from None


def split_ips(text: str, path: str | None = None) -> tuple[dict, dict | None]:
    """(metadata header, body or None for a header-only file).

    Also accepts a body alone, or one JSON object holding both (what some
    tools save when they re-serialise a report).
    """
    first, _, rest = text.lstrip().partition("\n")
    try:
        header = json.loads(first)
    except (ValueError, RecursionError):
        header = None
    if isinstance(header, dict):
        if not rest.strip():
            if any(k in header for k in ("usedImages", "threads", "procName")):
                return {}, header          # a body alone, on one line
            return header, None
        body = _loads(rest, "the report body", path)
        if not isinstance(body, dict):
            raise CorruptInput(WHAT, f"the report body is a JSON {type(body).__name__}, not an object", path)
        return header, body
    whole = _loads(text, "the report", path)
    if not isinstance(whole, dict):
        raise CorruptInput(WHAT, f"the report is a JSON {type(whole).__name__}, not an object", path)
    return {}, whole


def parse_ips(text: str, path: str | None = None) -> CrashReport:
    """Parse an .ips report; CorruptInput when it is not JSON or not a crash."""
    header, body = split_ips(text, path)
    rep = CrashReport("ips")
    bug = header.get("bug_type", (body or {}).get("bug_type"))
    rep.bug_type = str(bug) if isinstance(bug, (str, int)) and not isinstance(bug, bool) else None
    if body is None:
        if not any(k in header for k in ("bug_type", "app_name", "name", "os_version")):
            raise CorruptInput(WHAT, "JSON without any crash report field", path)
        rep.note("header only: the report body is missing")
        _header_facts(rep, header)
        return rep
    if not any(k in body for k in ("usedImages", "threads", "procName", "exception")):
        if rep.bug_type and rep.bug_type != "309":
            raise CorruptInput(WHAT, f"bug_type {rep.bug_type} is not a crash report (309)", path)
        raise CorruptInput(WHAT, "JSON without usedImages, threads, procName or exception", path)
    _header_facts(rep, header)
    _body_facts(rep, body)
    raw_bases, index_map = _images(rep, body.get("usedImages"))
    _shared_cache(rep, body.get("sharedCache"))
    _threads(rep, body.get("threads"), raw_bases, index_map)
    _fault(rep, body)
    if rep.arch is None:
        rep.arch = arch_from_code_type(rep.code_type)
    return rep


def _header_facts(rep: CrashReport, h: dict) -> None:
    rep.process = _str(h.get("name")) or _str(h.get("app_name"))
    rep.os_version = _str(h.get("os_version"))
    rep.date = _str(h.get("timestamp"))
    rep.incident = _str(h.get("incident_id"))
    rep.identifier = _str(h.get("bundleID"))
    v, b = _str(h.get("app_version")), _str(h.get("build_version"))
    if v:
        rep.version = f"{v} ({b})" if b else v


def _body_facts(rep: CrashReport, b: dict) -> None:
    rep.process = _str(b.get("procName")) or rep.process
    rep.pid = _int(b.get("pid"))
    rep.path = _str(b.get("procPath"))
    bundle = _dict(b.get("bundleInfo"))
    rep.identifier = _str(bundle.get("CFBundleIdentifier")) or rep.identifier or rep.process
    short, long_ = _str(bundle.get("CFBundleShortVersionString")), _str(bundle.get("CFBundleVersion"))
    if short:
        rep.version = f"{short} ({long_})" if long_ else short
    rep.code_type = _str(b.get("cpuType"))
    osv = _dict(b.get("osVersion"))
    if rep.os_version is None and _str(osv.get("train")):
        rep.os_version = osv["train"] + (f" ({osv['build']})" if _str(osv.get("build")) else "")
    rep.date = _str(b.get("captureTime")) or rep.date
    rep.parent = _str(b.get("parentProc"))
    rep.parent_pid = _int(b.get("parentPid"))
    rep.incident = _str(b.get("incident")) or rep.incident
    exc = _dict(b.get("exception"))
    for k in ("type", "signal", "codes", "subtype", "message"):
        if _str(exc.get(k)):
            rep.exception[k] = exc[k]
    raw = exc.get("rawCodes")
    if isinstance(raw, list):
        codes = [_int(c) for c in raw[:8]]
        if all(c is not None for c in codes):
            rep.exception["raw_codes"] = codes
    term = _dict(b.get("termination"))
    if _str(term.get("indicator")):
        rep.termination = term["indicator"]
    vmi = _str(b.get("vmRegionInfo")) or _str(b.get("vmregioninfo"))
    if vmi:
        rep.vm_region_info = parse_vm_region_info(vmi)
    rep.vm_summary = _str(b.get("vmSummary"))
    ft = _int(b.get("faultingThread"))
    rep.crashed_thread = ft


def _images(rep: CrashReport, used: Any) -> tuple[list[int | None], dict[int, int]]:
    """Fill rep.images.  Returns each usedImages entry's base (None if
    unusable), indexed like usedImages, and usedImages index -> rep.images
    index, for frame address computation."""
    bases: list[int | None] = []
    rep_index: dict[int, int] = {}
    if used is None:
        rep.note("no usedImages")
        return bases, rep_index
    if not isinstance(used, list):
        rep.note("usedImages is not a list")
        return bases, rep_index
    for i, e in enumerate(used):
        if not isinstance(e, dict):
            rep.note(f"usedImages[{i}] is not an object")
            bases.append(None)
            continue
        base, size = _int(e.get("base")), _int(e.get("size"))
        bases.append(base)
        uuid = norm_uuid(e.get("uuid"))
        # The "A" entry (base 0, size 0, zero uuid) stands for frames outside
        # any known image; it is not an image.
        if e.get("source") == "A" or (not size and uuid is None and not e.get("path")):
            continue
        if base is None:
            rep.note(f"usedImages[{i}] has no usable base")
            continue
        if size is not None and base + size > ADDR_LIMIT:
            size = None
        path = _str(e.get("path"))
        name = _str(e.get("name")) or (path.rsplit("/", 1)[-1] if path else None)
        short, long_ = _str(e.get("CFBundleShortVersionString")), _str(e.get("CFBundleVersion"))
        version = (f"{short} ({long_})" if long_ else short) if short else None
        rep_index[i] = len(rep.images)
        rep.images.append(CrashImage(base, size or None, uuid, path, name, _str(e.get("arch")),
                                     version, _str(e.get("CFBundleIdentifier"))))
        if rep.path and path == rep.path and rep.arch is None:
            rep.arch = _str(e.get("arch"))
    return bases, rep_index


def _shared_cache(rep: CrashReport, sc: Any) -> None:
    if sc is None:
        return
    if not isinstance(sc, dict) or _int(sc.get("base")) is None:
        rep.note("sharedCache has no usable base")
        return
    base, size = sc["base"], _int(sc.get("size"))
    if size is not None and base + size > ADDR_LIMIT:
        size = None
    rep.shared_cache = (base, size or None, norm_uuid(sc.get("uuid")))


_X_NAMES = tuple(f"x{i}" for i in range(29))


def _registers(state: Any) -> dict[str, int]:
    regs: dict[str, int] = {}
    if not isinstance(state, dict):
        return regs
    for k, v in list(state.items())[:MAX_REGISTERS]:
        if k == "x" and isinstance(v, list):
            for name, item in zip(_X_NAMES, v):
                val = _int(_dict(item).get("value"))
                if val is not None:
                    regs[name] = val
        elif isinstance(v, dict) and isinstance(k, str) and len(k) <= 16:
            val = _int(v.get("value"))
            if val is not None:
                regs[k] = val
    return regs


def _threads(rep: CrashReport, threads: Any, bases: list[int | None],
             index_map: dict[int, int]) -> None:
    if threads is None:
        rep.note("no threads")
        return
    if not isinstance(threads, list):
        rep.note("threads is not a list")
        return
    for ti, t in enumerate(threads):
        if not isinstance(t, dict):
            rep.note(f"threads[{ti}] is not an object")
            continue
        th = CrashThread(ti, _int(t.get("id")), _str(t.get("name")), _str(t.get("queue")),
                         crashed=t.get("triggered") is True, registers=_registers(t.get("threadState")))
        frames = t.get("frames")
        if not isinstance(frames, list):
            if frames is not None:
                rep.note(f"thread {ti}: frames is not a list")
            frames = []
        for fi, f in enumerate(frames):
            fr = _frame(rep, ti, fi, f, bases, index_map)
            if fr is not None:
                th.frames.append(fr)
        rep.threads.append(th)
    if rep.crashed_thread is None:
        rep.crashed_thread = next((t.index for t in rep.threads if t.crashed), None)
    elif rep.crashed_thread < len(rep.threads):
        rep.threads[rep.crashed_thread].crashed = True


def _frame(rep: CrashReport, ti: int, fi: int, f: Any, bases: list[int | None],
           index_map: dict[int, int]) -> CrashFrame | None:
    if not isinstance(f, dict):
        rep.note(f"thread {ti} frame {fi} is not an object")
        return None
    off, idx = _int(f.get("imageOffset")), f.get("imageIndex")
    if off is None:
        rep.note(f"thread {ti} frame {fi} has no usable imageOffset")
        return None
    idx = _int(idx)
    base = bases[idx] if idx is not None and idx < len(bases) else None
    if base is None:
        # Unknown image: the offset is all we have; say so rather than guess.
        rep.note(f"thread {ti} frame {fi}: imageIndex {f.get('imageIndex')!r} names no usable image")
        fr = CrashFrame(fi, off, None, None, None)
    else:
        addr = base + off
        if addr >= ADDR_LIMIT:
            rep.note(f"thread {ti} frame {fi}: address out of range")
            return None
        rep_i = index_map.get(idx)  # type: ignore[arg-type]
        fr = CrashFrame(fi, addr, rep_i, rep.images[rep_i].name if rep_i is not None else None,
                        off if rep_i is not None else None)
    sym = _str(f.get("symbol"))
    # Assertion messages stored as symbols end in "\n"; keep one line.
    fr.symbol = sym.strip() if sym is not None else None
    loc = _int(f.get("symbolLocation"))
    fr.symbol_offset = loc if fr.symbol is not None else None
    fr.source_file = _str(f.get("sourceFile"))
    fr.source_line = _int(f.get("sourceLine"))
    fr.inline = f.get("inline") is True
    return fr


def _fault(rep: CrashReport, b: dict) -> None:
    vmi = rep.vm_region_info
    if vmi is not None and vmi.address is not None:
        rep.fault_address = vmi.address
        return
    exc = rep.exception
    addr = fault_from_text(exc.get("subtype"), exc.get("codes"), exc.get("message"))
    if addr is None and exc.get("type") == "EXC_BAD_ACCESS":
        # For EXC_BAD_ACCESS the second code is the faulting address (xnu
        # osfmk/kern/exception.c passes the vm_fault address as code[1]).
        raw = exc.get("raw_codes")
        if isinstance(raw, list) and len(raw) >= 2:
            addr = raw[1]
    rep.fault_address = addr

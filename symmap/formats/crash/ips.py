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

from symmap.errors import CorruptInput
from symmap.formats.crash.model import (
    ADDR_LIMIT, MAX_FRAMES, MAX_FRAMES_PER_THREAD, MAX_IMAGES, MAX_THREADS, WHAT, CrashFrame, CrashImage, CrashReport,
    CrashThread,
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


def _dict(v: Any) -> dict[str, Any]:
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


def split_ips(text: str, path: str | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
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


def ips_text_body(text: str) -> tuple[dict[str, Any], str] | None:
    """(metadata, text body) when the first line is an .ips metadata object
    and what follows is not JSON but a text report; else None."""
    first, _, rest = text.lstrip().partition("\n")
    body = rest.lstrip()
    if not body or body[:1] in "{[":
        return None
    try:
        meta = json.loads(first)
    except (ValueError, RecursionError):
        return None
    if not isinstance(meta, dict) or not any(k in meta for k in ("bug_type", "incident_id", "app_name")):
        return None
    return meta, rest


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
    raw_bases, index_map = _images(rep, body.get("usedImages"),
                                   _dict(body.get("legacyInfo")).get("imageExtraInfo"))
    sc = body.get("sharedCache")
    if sc is None and isinstance(body.get("sharedCaches"), list):
        sc = _pick_cache(rep, body["sharedCaches"])
    _shared_cache(rep, sc)
    _threads(rep, body.get("threads"), raw_bases, index_map)
    top_state = body.get("threadState")
    if top_state is not None and rep.crashed_thread is not None:
        # The first .ips layout (2020-21, lldb D91130) kept the crashed
        # thread's registers at top level; D98219 moved them into threads[].
        for t in rep.threads:
            if t.index == rep.crashed_thread and not t.registers:
                t.registers = _registers(top_state)
    _fault(rep, body)
    if rep.arch is None:
        rep.arch = arch_from_code_type(rep.code_type)
    return rep


def header_facts(rep: CrashReport, h: dict[str, Any], fill_only: bool = False) -> None:
    """Facts of the .ips metadata line.  ``fill_only``: keep what the body
    already said (a bug_type 109 text body is more precise)."""
    bug = h.get("bug_type")
    if isinstance(bug, (str, int)) and not isinstance(bug, bool):
        rep.bug_type = rep.bug_type or str(bug)
    v, b = _str(h.get("app_version")), _str(h.get("build_version"))
    facts = {"process": _str(h.get("name")) or _str(h.get("app_name")),
             "os_version": _str(h.get("os_version")), "date": _str(h.get("timestamp")),
             "incident": _str(h.get("incident_id")), "identifier": _str(h.get("bundleID")),
             "version": (f"{v} ({b})" if b else v) if v else None}
    for k, val in facts.items():
        if not fill_only or getattr(rep, k) is None:
            setattr(rep, k, val)


_header_facts = header_facts


def _body_facts(rep: CrashReport, b: dict[str, Any]) -> None:
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
    # "translated" : false (lldb leb.txt) is a JSON bool; "isCorpse" : 1 is
    # an integer in real reports (pasted in GitHub issues), so take both.
    for key, attr in (("translated", "translated"), ("isCorpse", "is_corpse")):
        v = b.get(key)
        if isinstance(v, bool) or v in (0, 1):
            setattr(rep, attr, bool(v))
    rep.role = _str(b.get("procRole"))
    # asi: {"libsystem_c.dylib": ["abort() called"], ...} (lldb
    # Inputs/application_specific_info/leb.txt; zed ips_file.rs Asi).
    for owner, msgs in list(_dict(b.get("asi")).items())[:64]:
        if isinstance(msgs, list):
            rep.app_specific.extend(f"{owner}: {m}" for m in msgs[:64] if isinstance(m, str))


def _legacy_entry(e: list[Any], extra: Any, i: int) -> dict[str, Any]:
    """The first .ips layout wrote usedImages entries as [uuid, base, source]
    and their size/arch/path/name in legacyInfo.imageExtraInfo[i] (lldb
    crashlog.py before D98219; its test parser_json.test)."""
    d: dict[str, Any] = {"uuid": e[0] if len(e) > 0 else None, "base": e[1] if len(e) > 1 else None,
               "source": e[2] if len(e) > 2 else None}
    if isinstance(extra, list) and i < len(extra) and isinstance(extra[i], dict):
        for k in ("size", "arch", "path", "name"):
            d[k] = extra[i].get(k)
    return d


def _images(rep: CrashReport, used: Any, extra: Any = None) -> tuple[list[int | None], dict[int, int]]:
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
    for i, e in enumerate(used[:MAX_IMAGES + 1]):
        if isinstance(e, list):
            e = _legacy_entry(e, extra, i)
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


def _pick_cache(rep: CrashReport, caches: list[Any]) -> Any:
    """``sharedCaches`` (a list; macOS 26 OSAnalytics knows "sharedCaches"
    and a per-segment "sharedCacheIndex" for exclave caches): use the one
    holding the most listed images, else the first.  Noted, as no real
    report with this key was at hand to confirm its layout."""
    best, best_n = None, -1
    for c in caches[:16]:
        d = _dict(c)
        base, size = _int(d.get("base")), _int(d.get("size"))
        if base is None:
            continue
        n = sum(1 for im in rep.images if size and base <= im.base < base + size)
        if n > best_n:
            best, best_n = c, n
    if len(caches) > 1:
        rep.note(f"sharedCaches lists {len(caches)} caches; only one is used")
    return best if best is not None else (caches[0] if caches else None)


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


def _registers(state: Any, depth: int = 0) -> dict[str, int]:
    regs: dict[str, int] = {}
    if not isinstance(state, dict):
        return regs
    for k, v in list(state.items())[:MAX_REGISTERS]:
        if k == "x" and isinstance(v, list):
            for name, item in zip(_X_NAMES, v):
                val = _reg_value(item)
                if val is not None:
                    regs[name] = val
        elif k == "rosetta" and isinstance(v, dict) and depth == 0:
            # A translated thread's Rosetta scratch registers (tmp0..tmp2)
            # nest one level down; lldb crashlog.py flattens them likewise.
            for rk, rv in _registers(v, 1).items():
                regs.setdefault(rk, rv)
        elif isinstance(k, str) and len(k) <= 16:
            val = _reg_value(v)
            if val is not None:
                regs[k] = val
    return regs


def _reg_value(v: Any) -> int | None:
    """``{"value": N, ...}``; the first .ips layout wrote plain integers
    (lldb parser_json.test thread_state_json)."""
    return _int(v.get("value")) if isinstance(v, dict) else _int(v)


def _threads(rep: CrashReport, threads: Any, bases: list[int | None],
             index_map: dict[int, int]) -> None:
    if threads is None:
        rep.note("no threads")
        return
    if not isinstance(threads, list):
        rep.note("threads is not a list")
        return
    total = 0
    for ti, t in enumerate(threads[:MAX_THREADS + 1]):
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
        # One past each cap, so bound_report notes the cut.
        left = MAX_FRAMES + 1 - total
        for fi, f in enumerate(frames[:max(0, min(MAX_FRAMES_PER_THREAD + 1, left))]):
            fr = _frame(rep, ti, fi, f, bases, index_map)
            if fr is not None:
                th.frames.append(fr)
        total += min(len(th.frames), MAX_FRAMES_PER_THREAD)
        rep.threads.append(th)
    if rep.crashed_thread is None:
        rep.crashed_thread = next((t.index for t in rep.threads if t.crashed), None)
    elif rep.crashed_thread < len(rep.threads):
        rep.threads[rep.crashed_thread].crashed = True


def _frame(rep: CrashReport, ti: int, fi: int, f: Any, bases: list[int | None],
           index_map: dict[int, int]) -> CrashFrame | None:
    if isinstance(f, list) and len(f) == 2:
        # First .ips layout: [imageIndex, imageOffset] (lldb parser_json.test).
        f = {"imageIndex": f[0], "imageOffset": f[1]}
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


def _fault(rep: CrashReport, b: dict[str, Any]) -> None:
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

"""Text crash reports: legacy ones (Report Version 12, 104 …; macOS 10.x-11)
and the "Translated Report" rendering of an .ips (macOS 12+).

Layout (shared/reference/vmmap-format.md §9, fixtures/crash):
header ``Key:   value`` lines; ``Thread N[ Crashed]:[: name|Dispatch queue: q]``
blocks of frame lines ``i  image  0xADDR  symbol + off (file:line)`` or
``0xADDR 0xLOAD + off``; ``Thread N crashed with … Thread State …:`` register
lines; ``VM Region Info:`` (12+) or ``VM Regions Near 0x…:`` (≤11) tables;
``Binary Images:`` lines ``0xSTART - 0xEND [+]name [arch] (version) <uuid> path``
where END is inclusive.  A translated report may be followed by the JSON
original after a "Full Report" banner; parsing stops there so the text stays
an independent rendering.

Every regex is anchored on fixed tokens with bounded quantifiers so a hostile
line costs linear time; lines are cut at MAX_LINE.
"""
from __future__ import annotations

import bisect
import re

from symmap.errors import CorruptInput
from symmap.formats.crash.model import (
    ADDR_LIMIT, MAX_FRAMES, MAX_FRAMES_PER_THREAD, MAX_IMAGES, MAX_LINE, MAX_THREADS, WHAT, CrashFrame,
    CrashImage, CrashReport, CrashThread,
    arch_from_code_type, fault_from_text, norm_uuid, parse_vm_region_info,
)

__all__ = ["parse_text"]

_KNOWN_KEYS = {
    "Process", "Path", "Identifier", "Version", "Code Type", "Parent Process", "Date/Time",
    "OS Version", "Report Version", "Exception Type", "Exception Codes", "Exception Subtype",
    "Exception Note", "Exception Message", "Crashed Thread", "Triggered by Thread",
    "Incident Identifier", "Hardware Model", "Termination Reason", "Termination Signal",
    "Responsible Process", "Responsible", "Launch Time", "Role", "User ID", "Coalition",
}
_KV = re.compile(r"^([A-Z][A-Za-z /-]{0,40}):\s{0,64}(.*)$")
_THREAD = re.compile(r"^Thread (\d{1,7})( Crashed)?::?(.*)$")
_THREAD_NAME = re.compile(r"^Thread (\d{1,7}) name:(.*)$")
_STATE = re.compile(r"^Thread (\d{1,7}) crashed with .{0,80}Thread State")
_FRAME_NO = re.compile(r"^(\d{1,6})\s{1,64}")
# The pc is printed "0x%016llx" (32-bit: "0x%08x"); lldb's crashlog.py
# frame_regex wants 7+ digits, so an image name holding "0x1" is not taken
# for the address (its parser_text.test "3   He 0x1    0x000000019b0db3a8").
_FRAME_ADDR = re.compile(r"\s(0x[0-9a-fA-F]{7,16})(?=\s|$)")
_FRAME_ADDR_ANY = re.compile(r"\s(0x[0-9a-fA-F]{1,16})(?=\s|$)")
# FILE:LINE[:COLUMN]; the file ends at its first ":LINE" (lazy), as names go.
_SRC = re.compile(r"([^()]{1,1024}?):(\d{1,9})(?::\d{1,9})?")
_CONT = re.compile(r"^\s{0,8}\+ (\d{1,20})( \[inlined\])?\s*$")
_SYM_OFF = re.compile(r"(.*) \+ (\d{1,20})")
_REG = re.compile(r"\b([a-z][a-z0-9]{0,7}):\s{0,8}(0x[0-9a-fA-F]{1,16})\b")
_IMAGE = re.compile(r"^\s{0,32}0x([0-9a-fA-F]{1,16})\s{0,8}-\s{0,32}0x([0-9a-fA-F]{1,16})\s{1,8}(.*)$")
_SHORT_VERSION = re.compile(r"\d[0-9A-Za-z.]{0,31}")
_CODES = re.compile(r"(0x[0-9a-fA-F]{1,16}),\s{0,8}(0x[0-9a-fA-F]{1,16})")
_UUID = re.compile(r"<([0-9a-fA-F-]{32,36})>")
_NO_PATH_SPLIT = re.compile(r"\) (?=/)| (?=/)")
_ARCHES = {"x86_64", "x86_64h", "i386", "arm64", "arm64e", "arm64_32", "armv7", "armv7s",
           "armv7k", "ppc", "ppc64"}


def parse_text(text: str, path: str | None = None) -> CrashReport:
    """Parse a text report; CorruptInput when nothing in it is a crash report."""
    lines = text.split("\n")
    rep = CrashReport("text")
    head = "\n".join(lines[:6])
    if "Translated Report" in head:
        rep.report_format = "translated"
    hdr: dict[str, str] = {}
    thread_names: dict[int, str] = {}
    cur: CrashThread | None = None
    vm_address: int | None = None
    i, n = 0, len(lines)
    nframes = 0
    while i < n:
        line = lines[i][:MAX_LINE].rstrip("\r")
        i += 1
        s = line.strip()
        if s == "Full Report" and i >= 2 and lines[i - 2].startswith("---"):
            break
        if not s:
            cur = None
            continue
        if cur is not None:
            fr = _frame(line, len(cur.frames))
            if fr is not None:
                # Kept to one past each cap, so bound_report notes the cut.
                if len(cur.frames) <= MAX_FRAMES_PER_THREAD and nframes <= MAX_FRAMES:
                    nframes += len(cur.frames) < MAX_FRAMES_PER_THREAD
                    cur.frames.append(fr)
                continue
            c = _CONT.match(line)
            if c and cur.frames:
                # A symbol that ended in a newline (an assertion message the
                # .ips stored as the symbol) wraps its " + off" onto a new line.
                cur.frames[-1].symbol_offset = int(c.group(1))
                cur.frames[-1].inline = cur.frames[-1].inline or bool(c.group(2))
                continue
            cur = None
        m = _THREAD.match(line)
        if m:
            cur = CrashThread(int(m.group(1)), crashed=bool(m.group(2)))
            rest = m.group(3).strip()
            # "Thread 3:: NAME", "Thread 0:: Dispatch queue: Q" or both, "NAME  Dispatch queue: Q".
            name, dq, queue = rest.partition("Dispatch queue:")
            cur.name = name.strip() or None
            cur.queue = queue.strip() or None if dq else None
            if cur.name is None and cur.index in thread_names:
                nm = thread_names[cur.index]
                if nm.startswith("Dispatch queue:"):
                    cur.queue = nm[len("Dispatch queue:"):].strip() or None
                else:
                    cur.name = nm
            if len(rep.threads) <= MAX_THREADS:
                rep.threads.append(cur)
            continue
        m = _THREAD_NAME.match(line)
        if m:
            thread_names[int(m.group(1))] = m.group(2).strip()
            continue
        m = _STATE.match(line)
        if m:
            i = _registers(rep, int(m.group(1)), lines, i)
            continue
        if s == "Application Specific Information:":
            # Free text up to the next blank line (sentry parser's
            # ApplicationSpecificInformation state; .ips ``asi``).
            while i < n and lines[i].strip() and len(rep.app_specific) < 256:
                nxt = lines[i][:MAX_LINE].rstrip("\r")
                if _THREAD.match(nxt) or _THREAD_NAME.match(nxt) or nxt.startswith("Binary Images:"):
                    break       # packed reports (no blank line) go on with threads
                rep.app_specific.append(nxt.strip())
                i += 1
            continue
        if s.startswith("Binary Images:"):
            i = _images(rep, lines, i)
            continue
        if s.startswith("VM Region Info:") or s.startswith("VM Regions Near"):
            block = [s.split(":", 1)[1]] if s.startswith("VM Region Info:") else []
            if s.startswith("VM Regions Near"):
                a = re.match(r"VM Regions Near (?:0x)?([0-9a-fA-F]{1,16})", s)
                vm_address = int(a.group(1), 16) if a else None
            while i < n and lines[i].strip() and len(block) < 4096:
                block.append(lines[i][:MAX_LINE])
                i += 1
            rep.vm_region_info = parse_vm_region_info("\n".join(block), vm_address)
            continue
        m = _KV.match(line)
        if m and m.group(1) in _KNOWN_KEYS:
            if m.group(1) not in hdr:
                hdr[m.group(1)] = m.group(2).strip()
            elif m.group(1) == "Exception Codes" and "Exception Codes 2" not in hdr:
                # macOS 12+ prints two: "KERN_INVALID_ADDRESS at 0x60" (the
                # .ips subtype) then "0x0000000000000001, 0x0000000000000060"
                # (its codes) — reports pasted in GitHub issues.
                hdr["Exception Codes 2"] = m.group(2).strip()
    if not hdr and not rep.threads and not rep.images:
        raise CorruptInput(WHAT, "no crash report header, thread or Binary Images found", path)
    _header(rep, hdr)
    _link_frames(rep)
    if not rep.images:
        rep.note("no Binary Images")
    return rep


def _name_pid(v: str | None) -> tuple[str | None, int | None]:
    """``"launchd [1]"`` -> ("launchd", 1); ``"a.out [X]"`` -> ("a.out", None)."""
    if not v:
        return None, None
    name, br, rest = v.rpartition("[")
    if not br or not rest.endswith("]"):
        return v, None
    pid = rest[:-1].strip()
    return name.strip() or None, int(pid) if pid.isdigit() and len(pid) < 12 else None


def _header(rep: CrashReport, h: dict[str, str]) -> None:
    rep.process, rep.pid = _name_pid(h.get("Process"))
    rep.path = h.get("Path") or None
    rep.identifier = h.get("Identifier") or None
    rep.version = h.get("Version") or None
    rep.code_type = h.get("Code Type") or None
    rep.arch = arch_from_code_type(rep.code_type)
    if rep.code_type:
        # "X86-64 (Translated)" = Rosetta on Apple silicon; "(Native)" = not.
        ct = rep.code_type.lower()
        rep.translated = True if "(translated)" in ct else False if "(native)" in ct else None
    rep.role = h.get("Role") or None
    rep.os_version = h.get("OS Version") or None
    rep.date = h.get("Date/Time") or None
    rep.parent, rep.parent_pid = _name_pid(h.get("Parent Process"))
    rep.incident = h.get("Incident Identifier") or None
    rep.report_version = h.get("Report Version") or None
    et = h.get("Exception Type")
    if et:
        m = re.fullmatch(r"(\S{1,64}) \((\S{1,32})\)", et)
        if m:
            rep.exception["type"], rep.exception["signal"] = m.group(1), m.group(2)
        else:
            rep.exception["type"] = et
    if h.get("Exception Codes 2"):
        h = dict(h)
        h.setdefault("Exception Subtype", h["Exception Codes"])
        h["Exception Codes"] = h["Exception Codes 2"]
    for key, k in (("Exception Codes", "codes"), ("Exception Subtype", "subtype"),
                   ("Exception Message", "message"), ("Exception Note", "note")):
        if h.get(key):
            rep.exception[k] = h[key]
    rep.termination = h.get("Termination Reason") or h.get("Termination Signal") or None
    crashed = h.get("Crashed Thread") or h.get("Triggered by Thread")
    if crashed:
        m = re.match(r"\d{1,7}", crashed)
        rep.crashed_thread = int(m.group(0)) if m else None
    flagged = next((t.index for t in rep.threads if t.crashed), None)
    if rep.crashed_thread is None or (
            flagged is not None and all(t.index != rep.crashed_thread for t in rep.threads)):
        # No header, or a header naming a thread the report does not list:
        # trust the "Thread N Crashed:" block.
        rep.crashed_thread = flagged
    for t in rep.threads:
        if t.index == rep.crashed_thread:
            t.crashed = True
    m = _CODES.fullmatch(rep.exception.get("codes") or "")
    if m:
        # "Exception Codes: 0x0000000000000001, 0x0000000000000000" (lldb
        # crashlog.py exception_codes_regex -> rawCodes), as in an .ips.
        rep.exception["raw_codes"] = [int(m.group(1), 16), int(m.group(2), 16)]
    vmi = rep.vm_region_info
    if vmi is not None and vmi.address is not None:
        rep.fault_address = vmi.address
    else:
        rep.fault_address = fault_from_text(rep.exception.get("subtype"), rep.exception.get("codes"))
        if rep.fault_address is None and m and rep.exception.get("type") == "EXC_BAD_ACCESS":
            # code[1] of EXC_BAD_ACCESS is the faulting address (as crash_ips._fault).
            rep.fault_address = rep.exception["raw_codes"][1]


def _frame(line: str, expect: int) -> CrashFrame | None:
    m = _FRAME_NO.match(line)
    if not m:
        return None
    a = _FRAME_ADDR.search(line, m.end() - 1)
    if not a:
        # macOS 13+ right-aligns the pc ("  \t    0x7ff818b07f48"), so a
        # null pc prints as a bare "0x0": take the first hex token then.
        a = _FRAME_ADDR_ANY.search(line, m.end() - 1)
        if not a:
            return None
    addr = int(a.group(1), 16)
    fr = CrashFrame(int(m.group(1)), addr)
    name = line[m.end():a.start()].strip()
    head, _, last = name.rpartition(" ")
    if head and last in _ARCHES:
        # "2   MyApp Pro arm64    0x…" (lldb parser_text.test): the arch
        # column some iOS reports print after the image name.
        name = head.rstrip()
    # "<translation info unavailable>": a Rosetta frame with no image
    # (macOS 11 "X86-64 (Translated)" reports, dotnet/runtime#48877).
    fr.image_name = None if name in ("", "???") or name.startswith("<") else name
    rest = line[a.end():].strip()
    if rest.endswith(" [inlined]"):
        fr.inline, rest = True, rest[:-len(" [inlined]")].rstrip()
    if rest.endswith(")"):
        k = rest.rfind(" (")
        src = _SRC.fullmatch(rest[k + 2:-1]) if k >= 0 else None
        if src:
            fr.source_file, fr.source_line = src.group(1), int(src.group(2))
            rest = rest[:k].strip()
    so = _SYM_OFF.fullmatch(rest)
    sym, off = (so.group(1).strip(), int(so.group(2))) if so else (rest, None)
    if re.fullmatch(r"0x[0-9a-fA-F]{1,16}", sym) and off is not None:
        # "0xADDR 0xLOAD + off": an unsymbolicated frame naming its image's load address.
        load = int(sym, 16)
        if load and load + off == addr:
            fr.image_offset = off
        return fr
    if sym in ("", "???", "0") or re.fullmatch(r"\d{1,20}", sym):
        return fr
    fr.symbol = sym
    fr.symbol_offset = off
    return fr


def _registers(rep: CrashReport, tidx: int, lines: list[str], i: int) -> int:
    regs: dict[str, int] = {}
    while i < len(lines) and lines[i].strip() and len(regs) < 96:
        found = _REG.findall(lines[i][:MAX_LINE])
        if not found:
            # 10.8-era reports put "Binary Images:" right under the
            # registers, with no blank line (sentry fixture XCDYouTubeKit-54).
            break
        for name, val in found:
            regs.setdefault(name, int(val, 16))
        i += 1
    for t in rep.threads:
        if t.index == tidx:
            t.registers = regs
            break
    else:
        rep.threads.append(CrashThread(tidx, crashed=True, registers=regs))
    return i


def _images(rep: CrashReport, lines: list[str], i: int) -> int:
    n = len(lines)
    while i < n:
        line = lines[i][:MAX_LINE].rstrip("\r")
        if not line.strip():
            # A blank line ends the list unless image lines follow it
            # (sentry's parser keeps reading Binary Images across blanks).
            j = i + 1
            while j < n and j - i < 8 and not lines[j].strip():
                j += 1
            if j < n and _IMAGE.match(lines[j][:MAX_LINE]):
                i = j
                continue
            break
        m = _IMAGE.match(line)
        if not m:
            break       # the next section ends the list
        i += 1
        img = _image(m)
        if img is _PLACEHOLDER:
            continue
        if img is None:
            rep.note(f"unusable Binary Images line: {line.strip()[:80]}")
        elif len(rep.images) <= MAX_IMAGES:     # one past: bound_report notes the cut
            rep.images.append(img)
    return i


_PLACEHOLDER = CrashImage(0, None, None, None, None)


def _image(m: re.Match[str]) -> CrashImage | None:
    start, end = int(m.group(1), 16), int(m.group(2), 16)
    if end < start or end >= ADDR_LIMIT:
        return None
    rest = m.group(3)
    apple = None
    if rest.startswith("+"):
        apple, rest = False, rest[1:]
    u = _UUID.search(rest)
    uuid, path = None, None
    if u:
        uuid = norm_uuid(u.group(1))
        path = rest[u.end():].strip() or None
        rest = rest[:u.start()]
    else:
        # No <uuid> (images without LC_UUID): "libc++.1.dylib (400.9.4)
        # /usr/lib/libc++.1.dylib" (lldb parser_text.test), "+org.x.Sparkle
        # (1.1) /Applications/…" — the path is the first " /" part.
        p = _NO_PATH_SPLIT.search(rest)
        if p:
            path = rest[p.end():].strip() or None
            rest = rest[:p.end()]
        elif rest.rstrip().endswith(" ???"):
            rest = rest.rstrip()[:-4]
    rest = rest.strip()
    version = None
    arch = None
    if rest.endswith(")"):
        k = rest.rfind("(")
        if k >= 0:
            version = rest[k + 1:-1].strip() or None
            rest = rest[:k].strip()
    if version in _ARCHES:
        # 10.8: "+com.AlphaSoft.iTubeDownloader (x86_64)  <uuid>" (sentry
        # fixture XCDYouTubeKit-54; its snapshot reads the token as the arch).
        arch, version = version, None
    if version is not None and all(p.strip() in ("*", "???", "") for p in version.split(" - ")):
        version = None      # "(*)", "(???)", "(??? - ???)": not known
    name, _, last = rest.rpartition(" ")
    if name and last in _ARCHES:
        arch, rest = last, name.strip()
    base_name = path.rsplit("/", 1)[-1] if path else None
    head, _, short = rest.rpartition(" ")
    if (head and " " not in head and rest != base_name and _SHORT_VERSION.fullmatch(short)):
        # 10.6 (Report Version 6-9): "com.apple.CoreUI 2 (114) <uuid> path",
        # "libBLAS.dylib 219.0.0 (compatibility 1.0.0)": the short version
        # stands before the parenthesis (reports pasted in
        # remear/jewelrybox#51, quicksilver/Quicksilver#423).
        rest = head
        version = f"{short} ({version})" if version else short
    if rest == "???":
        rest = ""
    if path == "???":
        path = None
    if uuid is None and not path and not rest:
        # The .ips "A" entry rendered as "0x0 - 0xffffffffffffffff ??? (*) <0…0> ???":
        # it stands for frames outside any image, it is not an image.
        return _PLACEHOLDER
    # The name column is the bundle identifier when the image has one
    # ("com.transitapp.TransitX"); the file name comes from the path.
    ident = rest if (rest and path and "." in rest and rest != path.rsplit("/", 1)[-1]
                     and " " not in rest) else None
    name = path.rsplit("/", 1)[-1] if path else (rest or None)
    return CrashImage(start, end - start + 1, uuid, path, name, arch, version, ident, apple)


def _link_frames(rep: CrashReport) -> None:
    """Attach each frame to the image holding its address (by range, which
    works whatever name the frame column shows)."""
    order = sorted(range(len(rep.images)), key=lambda k: rep.images[k].base)
    starts = [rep.images[k].base for k in order]
    for t in rep.threads:
        for f in t.frames:
            j = bisect.bisect_right(starts, f.address) - 1
            if j >= 0:
                k = order[j]
                im = rep.images[k]
                if im.size and f.address < im.base + im.size:
                    f.image_index = k
                    f.image_offset = f.address - im.base
                    f.image_name = f.image_name or im.name

"""macOS crash reports: the parsed record shared by the .ips (JSON) and the
text parsers, and the VM Region Info table parser both formats carry
(``symmap.formats.crash.parse_crash_report`` picks a parser by content).

Formats (reference: shared/reference/vmmap-format.md §9 and "Crash reports
(.ips)"; Apple, "Interpreting the JSON format of a crash report"):

- ``.ips`` (macOS 12+): line 1 is a one-line metadata JSON object
  (``bug_type`` "309" for a crash), the rest is the JSON body.
- text reports: legacy ones (Report Version 12, 104 ...) and the
  "Translated Report" rendering of an .ips (which may end with the original
  JSON after a "Full Report" banner; only the text part is read, so the two
  renderings stay independent).

Everything here is pure parsing of untrusted text: no count read from the
input sizes an allocation, unparsable pieces are skipped and recorded in
``CrashReport.notes`` (``partial`` set), and only a file that is not a crash
report at all raises ``CorruptInput("crash report", ...)``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "WHAT", "MAX_REPORT_BYTES", "CrashImage", "VMRow", "VMRegionInfo", "CrashFrame",
    "CrashThread", "CrashReport",
    "parse_vm_region_info", "norm_uuid", "arch_from_code_type", "fault_from_text",
    "bound_report", "MAX_JSON_VALUES", "MAX_NAME", "MAX_IMAGES", "MAX_THREADS", "MAX_FRAMES_PER_THREAD", "MAX_FRAMES",
]

WHAT = "crash report"
# Real reports are well under 8 MiB (a 272-image text report is 90 KiB); a
# bound keeps a hostile file from costing unbounded memory in json.loads.
MAX_REPORT_BYTES = 8 << 20
# Parsed JSON costs up to 30x its size (``[{},{},...]``): values (commas and
# openers, counted on the text: an overcount) are capped before json.loads.
MAX_JSON_VALUES = 600_000
MAX_LINE = 1 << 16          # longer lines are cut before regex matching
ADDR_LIMIT = 1 << 64
# Each frame repeats its image's path in the output, so names are cut at
# macOS's MAXPATHLEN and frames are counted: output stays bounded however a
# report pairs one long path with many frames.  Real reports: a few hundred
# threads, Apple's backtraces stop at 512 frames.
MAX_NAME = 1024
MAX_IMAGES = 4096
MAX_THREADS = 4096
MAX_FRAMES_PER_THREAD = 1024
MAX_FRAMES = 16384


@dataclass(slots=True)
class CrashImage:
    """One loaded image as the report lists it.  ``size`` is the extent of
    its __TEXT segment (usedImages ``size``; Binary Images ``end - start + 1``)."""

    base: int
    size: int | None
    uuid: str | None                 # lowercase hex, no dashes
    path: str | None
    name: str | None
    arch: str | None = None
    version: str | None = None
    identifier: str | None = None    # CFBundleIdentifier when the report gives one
    apple: bool | None = None        # False for "+" (non-Apple) images in old text reports

    @property
    def end(self) -> int:
        return self.base + (self.size or 0)


@dataclass(slots=True)
class VMRow:
    """A row of the VM Region Info / VM Regions Near table.  Pseudo rows
    (``UNUSED SPACE AT START``, ``GAP OF 0x… BYTES``) have start/end None."""

    type: str
    start: int | None = None
    end: int | None = None
    prot: int | None = None
    max_prot: int | None = None
    share_mode: str | None = None
    detail: str | None = None
    fault: bool = False              # the row carried the ``--->``/``-->`` marker
    pseudo: bool = False


@dataclass(slots=True)
class VMRegionInfo:
    """``summary`` is the first sentence ("0x528 is not in any region. ...");
    ``address`` the address it names; ``marker_after`` is the index in
    ``rows`` after which a lone marker line stood (the fault lies in the gap
    between rows[i] and rows[i+1]), or None."""

    summary: str | None = None
    address: int | None = None
    rows: list[VMRow] = field(default_factory=list)
    marker_after: int | None = None

    @property
    def fault_row(self) -> VMRow | None:
        for r in self.rows:
            if r.fault and not r.pseudo:
                return r
        return None


@dataclass(slots=True)
class CrashFrame:
    """``address`` is absolute (image base + imageOffset in an .ips)."""

    index: int
    address: int
    image_index: int | None = None   # into CrashReport.images
    image_name: str | None = None    # as the report names it (text column)
    image_offset: int | None = None
    symbol: str | None = None
    symbol_offset: int | None = None
    source_file: str | None = None
    source_line: int | None = None
    inline: bool = False


@dataclass(slots=True)
class CrashThread:
    index: int
    id: int | None = None
    name: str | None = None
    queue: str | None = None
    crashed: bool = False
    frames: list[CrashFrame] = field(default_factory=list)
    registers: dict[str, int] = field(default_factory=dict)

    @property
    def pc(self) -> int | None:
        r = self.registers
        return r.get("pc", r.get("rip", r.get("eip")))

    @property
    def sp(self) -> int | None:
        r = self.registers
        return r.get("sp", r.get("rsp", r.get("esp")))


@dataclass(slots=True)
class CrashReport:
    """Everything read from one report.  Unknown facts are None.

    ``report_format``: "ips", "text" or "translated".  ``exception`` holds
    type, signal, codes, subtype (strings) when present.  ``shared_cache``
    is (base, size, uuid) with base the runtime (slid) address.
    """

    report_format: str
    process: str | None = None
    pid: int | None = None
    path: str | None = None
    identifier: str | None = None
    version: str | None = None
    code_type: str | None = None
    arch: str | None = None
    os_version: str | None = None
    date: str | None = None
    parent: str | None = None
    parent_pid: int | None = None
    incident: str | None = None
    bug_type: str | None = None
    report_version: str | None = None
    exception: dict[str, Any] = field(default_factory=dict)
    termination: str | None = None
    fault_address: int | None = None
    crashed_thread: int | None = None
    images: list[CrashImage] = field(default_factory=list)
    shared_cache: tuple[int, int | None, str | None] | None = None
    vm_region_info: VMRegionInfo | None = None
    vm_summary: str | None = None
    # Rosetta: an x86_64 process translated on Apple silicon (.ips
    # ``translated``; text "Code Type: X86-64 (Translated)").  None = not said.
    translated: bool | None = None
    role: str | None = None          # .ips ``procRole``; text "Role:"
    is_corpse: bool | None = None    # .ips ``isCorpse``
    # "Application Specific Information" lines (.ips ``asi``: {image: [lines]}).
    app_specific: list[str] = field(default_factory=list)
    threads: list[CrashThread] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    partial: bool = False

    def note(self, msg: str) -> None:
        """Record a skipped or unparsable piece; the report becomes partial."""
        self.partial = True
        if len(self.notes) < 32 and msg not in self.notes:
            self.notes.append(msg)

    def image_at(self, addr: int) -> int | None:
        """Index of the image whose __TEXT extent holds ``addr``, or None."""
        for i, im in enumerate(self.images):
            if im.size and im.base <= addr < im.base + im.size:
                return i
        return None


_HEX32 = re.compile(r"[0-9a-f]{32}")


def norm_uuid(s: Any) -> str | None:
    """``"E20C43E3-CEB9-…"`` -> ``"e20c43e3ceb9…"``; None for anything that
    is not 128 bits of hex, or for the all-zero placeholder uuid."""
    if not isinstance(s, str) or len(s) > 64:
        return None
    h = s.strip().replace("-", "").lower()
    if not _HEX32.fullmatch(h) or h == "0" * 32:
        return None
    return h


_CODE_TYPES = {"x86-64": "x86_64", "x86_64": "x86_64", "x86": "i386", "i386": "i386",
               "arm-64": "arm64", "arm64": "arm64", "arm64e": "arm64e", "arm-64e": "arm64e",
               "arm": "arm", "ppc": "ppc", "ppc-64": "ppc64", "arm64_32": "arm64_32",
               "arm-64_32": "arm64_32"}


def arch_from_code_type(code_type: str | None) -> str | None:
    """``"X86-64 (Native)"`` -> ``"x86_64"``; ``"ARM-64"`` -> ``"arm64"``."""
    if not code_type:
        return None
    word = code_type.strip().split(" ", 1)[0].lower()
    return _CODE_TYPES.get(word)


_AT_ADDR = re.compile(r"\bat (0x[0-9a-fA-F]{1,16})\b")


def fault_from_text(*texts: str | None) -> int | None:
    """The address in "KERN_INVALID_ADDRESS at 0x…" / "SEGV_MAPERR at 0x88"."""
    for t in texts:
        if isinstance(t, str):
            m = _AT_ADDR.search(t[:MAX_LINE])
            if m:
                return int(m.group(1), 16)
    return None


# --- VM Region Info -----------------------------------------------------

# "      __TEXT   105857000-10585b000    [   16K] r-x/r-x SM=COW  /bin/sleep"
# "--->  STACK GUARD  70000…-70000… [    4K] ---/rwx SM=NUL  stack guard for thread 1"
# The type column may contain spaces ("STACK GUARD", "MALLOC_NANO (reserved)"),
# so the row is found by its fixed core (start-end [vsize] prt/max SM=…) with
# bounded quantifiers: one search per line, linear on hostile input.
_VM_CORE = re.compile(
    r"(?<![0-9A-Za-z])(?P<start>[0-9a-fA-F]{1,16})-(?P<end>[0-9a-fA-F]{1,16})\s{1,64}"
    r"\[\s{0,16}(?P<vsize>[^\]]{0,16})\]\s{1,16}(?P<prot>[-rwx]{3})/(?P<max>[-rwx]{3})"
    r"\s{1,16}SM=(?P<sm>\S{1,8})")
_VM_MARK = re.compile(r"^-{2,3}>")
_VM_PSEUDO = re.compile(r"^(?P<mark>-{2,3}>)?\s{0,8}(?P<text>UNUSED SPACE AT (?:START|END)|GAP OF 0x[0-9a-fA-F]{1,16} BYTES)$")
_VM_HEADER = re.compile(r"^REGION TYPE\s{1,64}START\s{0,4}-\s{0,4}END")
_VM_SUMMARY_ADDR = re.compile(r"^(?:0x)?([0-9a-fA-F]{1,16}) is (?:not )?in ")


def _prot(s: str) -> int:
    return (1 if s[0] == "r" else 0) | (2 if s[1] == "w" else 0) | (4 if s[2] == "x" else 0)


def parse_vm_region_info(text: str, address: int | None = None) -> VMRegionInfo:
    """Parse the VM Region Info block (.ips ``vmRegionInfo`` string, or the
    text lines after "VM Region Info:" / "VM Regions Near 0x…:").

    The summary line's address is printed with ``%#llx``, which writes zero
    as ``0`` (no ``0x``): it is always hex.  Unrecognised lines are skipped.
    """
    info = VMRegionInfo(address=address)
    for raw in text.split("\n")[:4096]:
        line = raw[:MAX_LINE].strip()
        if not line:
            continue
        if info.summary is None and not info.rows and (" in any region" in line or " is in " in line):
            info.summary = line
            m = _VM_SUMMARY_ADDR.match(line)
            if m and info.address is None:
                info.address = int(m.group(1), 16)
            continue
        if _VM_HEADER.match(line):
            continue
        m = _VM_PSEUDO.match(line)
        if m:
            info.rows.append(VMRow(m.group("text"), fault=bool(m.group("mark")), pseudo=True))
            continue
        m = _VM_CORE.search(line)
        if m:
            start, end = int(m.group("start"), 16), int(m.group("end"), 16)
            prefix = line[:m.start()].strip()
            mark = _VM_MARK.match(prefix)
            if mark:
                prefix = prefix[mark.end():].strip()
            if start >= end or not prefix:
                continue
            info.rows.append(VMRow(
                prefix, start, end, _prot(m.group("prot")), _prot(m.group("max")),
                m.group("sm"), line[m.end():].strip() or None, fault=bool(mark)))
            continue
        m = _VM_MARK.match(line)
        if m and not line[m.end():].strip():
            # A lone marker: the address lies between the rows around it.
            info.marker_after = len(info.rows) - 1
    return info


def _cut(rep: CrashReport, s: str | None, what: str) -> str | None:
    if s is None or len(s) <= MAX_NAME:
        return s
    rep.note(f"{what} longer than {MAX_NAME} characters cut")
    return s[:MAX_NAME]


def bound_report(rep: CrashReport) -> CrashReport:
    """Cut names to MAX_NAME and threads/frames to their caps, with a note
    for each kind of cut (either dialect, after parsing)."""
    if len(rep.images) > MAX_IMAGES:
        rep.note(f"more than {MAX_IMAGES} images: only the first {MAX_IMAGES} kept")
        del rep.images[MAX_IMAGES:]
    for im in rep.images:
        im.path = _cut(rep, im.path, "an image path")
        im.name = _cut(rep, im.name, "an image name")
        im.version = _cut(rep, im.version, "an image version")
        im.identifier = _cut(rep, im.identifier, "an image identifier")
    rep.path = _cut(rep, rep.path, "the process path")
    if len(rep.threads) > MAX_THREADS:
        rep.note(f"more than {MAX_THREADS} threads: only the first {MAX_THREADS} kept")
        del rep.threads[MAX_THREADS:]
    left = MAX_FRAMES
    for th in rep.threads:
        th.name = _cut(rep, th.name, "a thread name")
        th.queue = _cut(rep, th.queue, "a queue name")
        keep = min(MAX_FRAMES_PER_THREAD, left)
        if len(th.frames) > keep:
            rep.note(f"thread {th.index}: more than {keep} frames, only the first {keep} kept "
                     f"({MAX_FRAMES_PER_THREAD} per thread, {MAX_FRAMES} in all)")
            del th.frames[keep:]
        left -= len(th.frames)
        for f in th.frames:
            f.image_name = _cut(rep, f.image_name, "a frame's image name")
            if f.image_index is not None and f.image_index >= len(rep.images):
                f.image_index = None        # an image past the cap
    return rep

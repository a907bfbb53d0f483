"""Parse a saved ``vmmap`` text report (formats 2.2 to 2.4, any macOS).

People paste vmmap output into bug reports; reading it back lets symmap
audit, diff and look up addresses in it.  Rows are matched with the regex
measured on real outputs (../shared/reference/vmmap-format.md §4), anchored
on the ``[ … ]`` size block, never on fixed columns, so every layout since
OS X 10.7 parses.  Sizes in the report are vmmap's rounded units (``11.9M``):
they are read back as the nearest byte count, which is what the report
knows; VSIZE is recomputed exactly from START-END.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from symmap.errors import CorruptInput

__all__ = ["VmmapReport", "VmmapRow", "parse_vmmap_text", "looks_like_vmmap", "parse_size"]

ROW_RE = re.compile(
    r"^(?P<type>\S.*?)\s+(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+)\s+\[(?P<sizes>[^\]]*)\]\s"
    r"(?P<cur>[-rwx]{3})/(?P<max>[-rwx]{3})\sSM=(?P<sm>\S+)(?:\s+PURGE=(?P<purge>\S))?(?:\s+(?P<detail>.*))?$")
_HEADER_RE = re.compile(r"^(?P<label>[A-Z][A-Za-z ()/]*?):\s+(?P<value>.*)$")
_PROCESS_RE = re.compile(r"^(?P<name>.*) \[(?P<pid>\d+)\]$")
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)$")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MAX_BYTES = 64 << 20          # the largest real report seen is under 1 MB
MAX_ROWS = 1_000_000


def parse_size(tok: str) -> int | None:
    """vmmap size token -> bytes (``3856``, ``32K``, ``11.9M``); None if not a size."""
    m = _SIZE_RE.match(tok)
    if m is None:
        return None
    return round(float(m.group(1)) * _UNITS[m.group(2)])


def looks_like_vmmap(head: bytes) -> bool:
    return (b"Virtual Memory Map of process" in head or b"==== Non-writable regions for process" in head
            or b"==== regions for process" in head)


@dataclass(slots=True)
class VmmapRow:
    type: str
    start: int
    end: int
    prot: str
    max_prot: str
    share_mode: str
    purge: str | None
    detail: str
    sizes: list[int | None]        # VSIZE, RSDNT, DIRTY, SWAP as given (missing columns absent)


@dataclass
class VmmapReport:
    """Header facts (``header``: label -> value), page size, format and rows."""

    header: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    pid: int | None = None
    page_size: int | None = None
    report_format: str | None = None
    rows: list[VmmapRow] = field(default_factory=list)
    skipped: int = 0               # lines that looked like rows but did not parse


def parse_vmmap_text(data: bytes, path: str | None = None) -> VmmapReport:
    if len(data) > MAX_BYTES:
        raise CorruptInput("vmmap report", f"{len(data)} bytes is larger than any vmmap report", path)
    text = data.decode("utf-8", "surrogateescape")
    rep = VmmapReport()
    in_regions = False
    for line in text.splitlines():
        if line.startswith("==== "):
            in_regions = "regions for process" in line
            continue
        if in_regions:
            if not line.strip() or line.startswith("REGION TYPE"):
                continue
            m = ROW_RE.match(line)
            if m is None:
                rep.skipped += 1
                continue
            if len(rep.rows) >= MAX_ROWS:
                raise CorruptInput("vmmap report", f"more than {MAX_ROWS} region rows", path)
            start, end = int(m["start"], 16), int(m["end"], 16)
            if end <= start or end >= 1 << 64:
                rep.skipped += 1
                continue
            rep.rows.append(VmmapRow(m["type"].rstrip(), start, end, m["cur"], m["max"], m["sm"], m["purge"],
                                     (m["detail"] or "").rstrip(),
                                     [parse_size(t) for t in m["sizes"].split()]))
            continue
        if line.startswith("Output report format:"):
            rep.report_format = line.split(":", 1)[1].split("--")[0].strip()
        elif line.startswith("VM page size:"):
            num = line.split(":", 1)[1].split()
            if num and num[0].isdigit() and len(num[0]) < 10:
                rep.page_size = int(num[0])
        elif not rep.rows:
            h = _HEADER_RE.match(line)
            if h and h["label"] not in rep.header:
                rep.header[h["label"]] = h["value"].strip()
    proc = _PROCESS_RE.match(rep.header.get("Process", ""))
    if proc:
        rep.name = proc["name"]
        rep.pid = int(proc["pid"]) if len(proc["pid"]) < 10 else None
    if not rep.rows and rep.report_format is None:
        raise CorruptInput("vmmap report", "no region rows and no report header", path)
    return rep

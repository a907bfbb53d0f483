"""Parse a saved ``vmmap`` text report (formats 2.2 to 2.4, any macOS).

People paste vmmap output into bug reports; reading it back lets symmap
audit, diff, look up addresses in it and print it again.  Rows are split on
the ``[ … ]`` size block, never on fixed columns, so every layout since
OS X 10.7 parses (../shared/reference/vmmap-format.md §4), in time linear in
the line (no backtracking regex over a line: a row of 40k spaces once took
a minute).  Sizes are vmmap's rounded units (``11.9M``), read back as the
nearest byte count; each row keeps vmmap's own VSIZE figure and column
shift, and the report keeps its header lines, its layout and its summary
tables (cells as printed), so a re-rendering can print what vmmap printed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from symmap.errors import CorruptInput

__all__ = [
    "SummaryTable",
    "TableRow",
    "VmmapReport",
    "VmmapRow",
    "looks_like_vmmap",
    "looks_like_vmmap_summary",
    "parse_row",
    "parse_size",
    "parse_summary_text",
    "parse_vmmap_text",
    "rule_columns",
]

_RANGE_RE = re.compile(r"([0-9a-f]{1,20})-([0-9a-f]{1,20})")
_TAIL_RE = re.compile(r" ([-rwx]{3})/([-rwx]{3}) SM=(\S+)(?: +PURGE=(\S))?(?:\s+(.*))?")
_HEADER_RE = re.compile(r"^(?P<label>[A-Z][A-Za-z ()/]*?):\s+(?P<value>.*)$")
_PROCESS_RE = re.compile(r"^(?P<name>.*) \[(?P<pid>\d+)\]$")
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)$")
_CELL_RE = re.compile(r"^(?:-|\d+(?:\.\d+)?[KMGT]?%?)$")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
# The largest real report seen is under 1 MB; these keep `map --json` of a
# report under 2 s and 100 MB (bench/bounded_cost.py).
MAX_BYTES = 4 << 20
MAX_ROWS = 32768
MAX_TABLE_COLUMNS = 16        # vmmap's widest table has 9 numeric columns


def parse_size(tok: str) -> int | None:
    """vmmap size token -> bytes (``3856``, ``32K``, ``11.9M``); None if not a size."""
    m = _SIZE_RE.match(tok)
    if m is None or len(tok) > 24:
        return None
    return round(float(m.group(1)) * _UNITS[m.group(2)])


_TOOL_RE = re.compile(rb"(?m)^Analysis Tool:[ \t]+[^\r\n]{0,200}vmmap")


def looks_like_vmmap(head: bytes) -> bool:
    # "Analysis Tool: …vmmap" names vmmap itself (a `vmmap -summary` has no region list).
    return (b"Virtual Memory Map of process" in head or b"==== Non-writable regions for process" in head
            or b"==== regions for process" in head or _TOOL_RE.search(head) is not None)


def looks_like_vmmap_summary(head: bytes) -> bool:
    """``vmmap -summary`` output, or a pasted summary table alone (checked after crash reports,
    whose "VM Region Summary" quotes the same table)."""
    return (b"COUNT (non-coalesced)" in head
            or (b"REGION TYPE" in head and b"VIRTUAL" in head and b"===========" in head))


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
    shift: int = 0                 # columns the row is printed right of vmmap's usual layout
    writable_section: bool | None = None   # listed under "==== Writable regions" (None: interleaved)


@dataclass(slots=True)
class TableRow:
    name: str
    cells: list[str]               # as printed: "512.0M", "173", "98%"
    tail: str                      # after the last cell, as printed ("         see MALLOC ZONE table below")


@dataclass
class SummaryTable:
    """A summary or MALLOC ZONE table; its column layout is its own ``====`` rule's."""

    head: list[str] = field(default_factory=list)
    rule: str = ""
    rows: list[TableRow] = field(default_factory=list)
    totals: list[TableRow] = field(default_factory=list)

    def columns(self) -> tuple[int, list[int]]:
        """(name width, numeric column widths) measured on the rule line."""
        return rule_columns(self.rule)


def rule_columns(rule: str) -> tuple[int, list[int]]:
    runs = [m.span() for m in re.finditer(r"=+", rule)][:MAX_TABLE_COLUMNS + 1]
    if len(runs) < 2:
        return len(rule), []
    widths = [runs[1][1] - runs[1][0]] + [runs[i][1] - runs[i - 1][1] for i in range(2, len(runs))]
    return runs[1][1] - widths[0], widths


@dataclass
class VmmapReport:
    """Header facts (``header``: label -> value), page size, format, rows and the layout as printed."""

    header: dict[str, str] = field(default_factory=dict)
    header_lines: list[str] = field(default_factory=list)    # "Process:" .. before "----", as printed
    preamble: list[str] = field(default_factory=list)        # "Virtual Memory Map …" .. first "====", as printed
    name: str | None = None
    pid: int | None = None
    page_size: int | None = None
    report_format: str | None = None
    rows: list[VmmapRow] = field(default_factory=list)
    submaps: list[VmmapRow] = field(default_factory=list)
    skipped: int = 0               # lines that looked like rows but did not parse
    interleaved: bool = False
    wide_addresses: bool = False   # 16-digit zero-padded addresses (≤ 10.14)
    size_columns: int = 4          # 1 in format 2.3
    trailing_spaces: bool = False  # vmmap's own trailing blanks survive (an editor strips them)
    summary: list[str | SummaryTable] = field(default_factory=list)   # text lines and tables, in order
    summary_titled: bool = False   # a "==== Summary for process" line opens the summary


def parse_row(line: str) -> VmmapRow | None:
    """One region row, or None; linear in ``len(line)``."""
    if not line or line[0].isspace():
        return None
    i = line.find("[")
    j = line.find("]", i + 1) if i >= 0 else -1
    if j < 0:
        return None
    left = line[:i]
    parts = left.rstrip().rsplit(None, 1)
    if len(parts) != 2:
        return None
    rng = _RANGE_RE.fullmatch(parts[1])
    if rng is None:
        return None
    m = _TAIL_RE.match(line, j + 1)
    if m is None:
        return None
    type_ = parts[0].rstrip()
    start, end = int(rng[1], 16), int(rng[2], 16)
    wide = len(rng[1]) == 16 and rng[1].startswith("0")
    usual = (23 if wide else 25) + (16 if wide else 12) * 2 + 2 - (0 if wide else len(f"{end:<12x}") - 12)
    # vmmap's row: "%-24s %12llx-%-12llx [" (2.4) or "%-22s %016llx-%016llx [" (2.3): how far
    # right of that this row's "[" sits (IOAccelerator rows print one column wider).
    shift = max(0, i - max(usual, len(type_) + 1 + len(parts[1]) + 1)) if len(type_) <= (22 if wide else 24) else 0
    sizes = line[i + 1:j].split()
    return VmmapRow(type_, start, end, m[1], m[2], m[3], m[4], (m[5] or "").rstrip(),
                    [parse_size(t) for t in sizes[:8]], shift)


def _table_row(line: str, name_width: int, widths: list[int]) -> TableRow | None:
    """Name, then up to len(widths) cells; the first cell must end at or right of its column."""
    toks = [(m.start(), m.end()) for m in re.finditer(r"\S+", line)]
    first_end = name_width + (widths[0] if widths else 0)
    for k in range(1, len(toks)):
        s, e = toks[k]
        if e < first_end:
            continue
        if not _CELL_RE.match(line[s:e]):
            return None
        cells = []
        last = toks[k - 1][1]
        for s2, e2 in toks[k:k + len(widths)]:
            if not _CELL_RE.match(line[s2:e2]):
                break
            cells.append(line[s2:e2])
            last = e2
        return TableRow(line[:s].rstrip(), cells, line[last:])
    return None


def _parse_summary(lines: list[str], rep: VmmapReport) -> None:
    table: SummaryTable | None = None
    name_w, widths = 0, list[int]()
    after_rule = 0
    for line in lines:
        if line.startswith("==========="):
            if table is None:
                table = SummaryTable(rule=line)
                name_w, widths = table.columns()      # once per table: a row costs its own length
                while rep.summary:
                    last = rep.summary[-1]
                    if not isinstance(last, str) or not last.strip():
                        break
                    table.head.insert(0, last)      # the column titles above the rule
                    rep.summary.pop()
                rep.summary.append(table)
                after_rule = 1
            else:
                after_rule = 2
            continue
        if table is not None and line.strip():
            row = _table_row(line, name_w, widths)
            if row is not None:
                (table.rows if after_rule == 1 else table.totals).append(row)
                continue
        table = None
        rep.summary.append(line)


def parse_summary_text(text: str) -> list[str | SummaryTable]:
    """A summary block alone (a crash report's ``vmSummary`` / "VM Region Summary")."""
    rep = VmmapReport()
    _parse_summary(text[:MAX_BYTES].splitlines(), rep)
    while rep.summary and isinstance(rep.summary[-1], str) and not rep.summary[-1].strip():
        rep.summary.pop()
    return rep.summary


def parse_vmmap_text(data: bytes, path: str | None = None) -> VmmapReport:
    if len(data) > MAX_BYTES:
        raise CorruptInput("vmmap report", f"{len(data)} bytes is larger than any vmmap report "
                           f"({MAX_BYTES >> 20} MiB at most)", path)
    text = data.decode("utf-8", "surrogateescape")
    rep = VmmapReport()
    lines = text.splitlines()
    rep.trailing_spaces = any(ln.endswith((" ", "\t")) for ln in lines if ln.strip())
    section: bool | None = None
    state = "top"               # top -> header -> preamble -> regions -> legend -> summary
    summary_lines: list[str] = []
    for line in lines:
        if line.startswith("==== "):
            if "regions for process" in line:
                state = "regions"
                rep.interleaved = line.startswith("==== regions for process")
                section = None if rep.interleaved else line.startswith("==== Writable")
            elif line.startswith("==== Legend"):
                state = "legend"
            elif line.startswith("==== Summary for process"):
                state, rep.summary_titled = "summary", True
            continue
        if state == "regions":
            if not line.strip() or line.startswith("REGION TYPE"):
                continue
            row = parse_row(line)
            if row is None or row.end <= row.start or row.end >= 1 << 64:
                rep.skipped += 1
                continue
            row.writable_section = section
            if len(rep.rows) + len(rep.submaps) >= MAX_ROWS:
                raise CorruptInput("vmmap report", f"more than {MAX_ROWS} region rows", path)
            rep.wide_addresses = rep.wide_addresses or (row.shift == 0 and _is_wide(line))
            rep.size_columns = len(row.sizes) if not rep.rows else rep.size_columns
            (rep.submaps if row.type == "Submap" else rep.rows).append(row)
            continue
        if state == "summary":
            summary_lines.append(line)
            continue
        if state == "legend":
            if "VIRTUAL" in line:           # an excerpt whose "==== Summary" line was cut
                state = "summary"
                summary_lines.append(line)
            continue
        if line.startswith("Process:") and state == "top":
            state = "header"
        if state == "header":
            if line.startswith("----"):
                state = "preamble"
                continue
            rep.header_lines.append(line)
            h = _HEADER_RE.match(line)
            if h and h["label"] not in rep.header:
                rep.header[h["label"]] = h["value"].strip()
            continue
        if state == "preamble" or line.startswith(("Virtual Memory Map of process", "Output report format:")):
            state = "preamble"
            if line.startswith("Output report format:"):
                rep.report_format = line.split(":", 1)[1].split("--")[0].strip()[:16]
            elif line.startswith("VM page size:"):
                num = line.split(":", 1)[1].split()
                if num and num[0].isdigit() and len(num[0]) < 10:
                    rep.page_size = int(num[0])
            rep.preamble.append(line)
            # `vmmap -summary` has no region list: the summary follows the header.
            if line.startswith(("ReadOnly portion of Libraries", "Writable regions:")) or "VIRTUAL" in line:
                rep.preamble.pop()
                state = "summary"
                summary_lines.append(line)
            continue
        if state == "top" and ("VIRTUAL" in line or line.startswith(("REGION TYPE", "ReadOnly portion"))):
            state = "summary"           # a pasted summary table alone
            summary_lines.append(line)
    _parse_summary(summary_lines, rep)
    while rep.preamble and not rep.preamble[-1].strip():
        rep.preamble.pop()
    if rep.report_format == "2.3":
        rep.size_columns = 1
    proc = _PROCESS_RE.match(rep.header.get("Process", ""))
    if proc:
        rep.name = proc["name"]
        rep.pid = int(proc["pid"]) if len(proc["pid"]) < 10 else None
    if not rep.rows and rep.report_format is None and not any(isinstance(s, SummaryTable) for s in rep.summary):
        raise CorruptInput("vmmap report", "no region rows, no report header and no summary table", path)
    return rep


def _is_wide(line: str) -> bool:
    parts = line[:line.find("[")].split()
    return bool(parts) and len(parts[-1]) == 33 and parts[-1][0] == "0"

"""The audit findings model: one Finding per (rule, region), ranked by severity.

A Finding copies the region facts it is about (range, protections, owning
image and segment) so that it can be printed, serialized and compared
between two snapshots without the Target it came from.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from symmap.model import Region, prot_str
from symmap.render.escape import escape, json_safe

__all__ = ["SEVERITIES", "severity_rank", "Finding", "finding_for"]

# Ordered low to high; --min-severity takes one of these.
SEVERITIES = ("info", "low", "medium", "high", "critical")
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def severity_rank(level: str) -> int:
    """Index of ``level`` in SEVERITIES; ValueError names the valid ones."""
    try:
        return _RANK[level]
    except KeyError:
        raise ValueError(f"unknown severity {level!r}; valid ones are {', '.join(SEVERITIES)}") from None


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule hit on one region.

    Attributes: severity (one of SEVERITIES), rule (stable id, e.g. ``wx``),
    start/end (runtime addresses), prot/max_prot (VM_PROT bits; max None when
    the source cannot know it, as on Linux), image/segment (owner, or None),
    type/path (the region's vmmap type and backing file), why (one sentence).
    """

    severity: str
    rule: str
    start: int
    end: int
    prot: int | None
    max_prot: int | None
    image: str | None
    segment: str | None
    type: str | None
    path: str | None
    why: str

    @property
    def rank(self) -> int:
        return _RANK[self.severity]

    @property
    def key(self) -> tuple[str, int, str | None, str | None, str | None]:
        """Identity used to match a finding across two snapshots."""
        return (self.rule, self.start, self.image, self.segment, self.path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity, "rule": self.rule,
            "start": self.start, "end": self.end,
            "prot": None if self.prot is None else prot_str(self.prot),
            "max_prot": None if self.max_prot is None else prot_str(self.max_prot),
            "image": json_safe(self.image), "segment": json_safe(self.segment),
            "type": json_safe(self.type), "path": json_safe(self.path),
            "why": json_safe(self.why),
        }

    def line(self) -> str:
        """One text row; every target-supplied string is escaped so a hostile
        path cannot forge a second row."""
        maxp = "???" if self.max_prot is None else prot_str(self.max_prot)
        where = escape(self.image or self.path or self.type or "") or "-"
        if self.image and self.segment:
            where = f"{escape(self.image)} {escape(self.segment)}"
        return (f"{self.severity.upper():<8} {self.rule:<20} {self.start:x}-{self.end:x} "
                f"{prot_str(self.prot)}/{maxp}  {where}: {escape(self.why)}")


def finding_for(region: Region, severity: str, rule: str, why: str) -> Finding:
    severity_rank(severity)  # reject typos in rule tables early
    return Finding(severity=severity, rule=rule, start=region.start, end=region.end,
                   prot=region.prot, max_prot=region.max_prot, image=region.image,
                   segment=region.segment, type=region.type, path=region.path, why=why)

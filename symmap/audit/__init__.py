"""Security audit of a target's memory (``symmap audit``) and target diffs
(``symmap diff``).  ``audit(target)`` returns ``Finding`` objects."""
from __future__ import annotations

from symmap.audit.findings import SEVERITIES, Finding, severity_rank
from symmap.audit.rules import RULES, audit

__all__ = ["audit", "Finding", "SEVERITIES", "severity_rank", "RULES"]

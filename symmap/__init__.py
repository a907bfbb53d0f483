"""symmap: map a process's virtual memory and name what owns every address."""
from __future__ import annotations

__version__ = "0.1.0"

"""The one annotator: joins regions to image segments and names region types.

Order: (1) the shared region is split per cached-library segment
(``shared_cache.split_shared_region``), (2) remaining regions are joined to
image segments by address (``join``), (3) regions no image owns get vmmap's
type names (``region_types``).  Sources may preset ``type``/``detail`` when
they know better (crash-report rows); only ``None`` fields are filled.
"""
from __future__ import annotations

from operator import attrgetter

from symmap.annotate.join import join_images
from symmap.annotate.region_types import name_regions
from symmap.model import Target

__all__ = ["annotate"]


def annotate(target: Target) -> Target:
    """Annotate ``target`` in place (idempotent) and return it."""
    if target.annotated:
        return target
    if target.shared_cache is not None:
        from symmap.annotate.shared_cache import split_shared_region
        split_shared_region(target)
    join_images(target)
    name_regions(target)
    target.regions.sort(key=attrgetter("start", "end"))    # C-level key: no lambda per region
    target.annotated = True
    return target

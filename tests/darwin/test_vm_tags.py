"""vmmap region-type names (pure data) and the special cases vmmap prints."""
from __future__ import annotations

import re
from pathlib import Path

from symmap.darwin.vm_tags import (SHARE_MODE_LETTERS, VM_TAG_NAMES, darwin_region_type,
                                   tag_name)
from symmap.model import Region
from tests.conftest import shared_fixture


def test_known_names_and_unknown_tags():
    assert tag_name(7) == "MALLOC_TINY" and tag_name(30) == "Stack"
    assert tag_name(60) == "dyld private memory" and tag_name(73) == "Kernel Alloc Once"
    assert tag_name(242) == "Memory Tag 242" and tag_name(200) == "Memory Tag 200"
    assert SHARE_MODE_LETTERS[4] == "ALI" and SHARE_MODE_LETTERS[6] == "ZER"
    assert len(VM_TAG_NAMES) >= 90        # every named tag in vm_statistics.h (xnu-11417)


def test_special_region_types():
    R = lambda **k: Region(start=0, end=0x4000, **k)  # noqa: E731
    assert darwin_region_type(R(prot=0, tag=30, share_mode="NUL")) == ("STACK GUARD", None)
    assert darwin_region_type(R(prot=3, tag=30, share_mode="PRV")) == ("Stack", None)
    assert darwin_region_type(R(prot=0, tag=1, share_mode="SHM")) == ("MALLOC guard page", None)
    assert darwin_region_type(R(prot=3, tag=1, share_mode="SHM")) == ("MALLOC metadata", None)
    assert darwin_region_type(R(prot=1, tag=0, share_mode="COW", path="/x")) == ("mapped file", "/x")
    assert darwin_region_type(R(prot=1, tag=0, share_mode="SHM")) == ("shared memory", None)
    assert darwin_region_type(R(prot=3, tag=0, share_mode="PRV")) == ("VM_ALLOCATE", None)


def test_every_type_in_real_vmmap_output_that_is_a_tag_name_is_spelled_the_same():
    text = shared_fixture("vmmap/01.txt").read_text()
    row = re.compile(r"^(?P<type>.+?)\s+[0-9a-f]+-[0-9a-f]+\s+\[")
    seen = {m["type"].strip() for line in text.splitlines() if (m := row.match(line))}
    ours = set(VM_TAG_NAMES.values()) | {"STACK GUARD", "MALLOC guard page", "MALLOC metadata",
                                         "shared memory", "mapped file", "VM_ALLOCATE"}
    tagish = {s for s in seen if not s.startswith(("__", "unused"))}
    # Types vmmap derives from malloc zone introspection are out of reach of tags alone.
    zone_only = {"MALLOC_SMALL (empty)"}
    assert tagish - zone_only <= ours, tagish - zone_only - ours
    assert Path  # keep import for type checkers

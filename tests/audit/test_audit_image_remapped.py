"""A loaded image's file mapped executable a second time, outside the image
(node/V8 remapping its built-in code), is a low finding, not a high one."""
from __future__ import annotations

from symmap.audit import audit
from symmap.model import Image, Region, Segment, Target


def _target(second_path: str) -> Target:
    img = Image("/usr/bin/node", 0x400000, segments=[Segment("text", 0x400000, 0x1000, 5, 5, 0, 0x1000)])
    return Target(kind="live", os="linux", images=[img], regions=[
        Region(0x400000, 0x401000, 5, 7, share_mode="PRV", kind="file", path="/usr/bin/node", offset=0),
        Region(0x7000000, 0x7001000, 5, 7, share_mode="PRV", kind="file", path=second_path, offset=0)])


def test_remapped_image_file_is_low():
    f = [(x.rule, x.severity, x.start) for x in audit(_target("/usr/bin/node"))]
    assert f == [("exec-image-remapped", "low", 0x7000000)]


def test_other_file_stays_high():
    f = [(x.rule, x.severity, x.start) for x in audit(_target("/tmp/payload.bin"))]
    assert f == [("exec-unloaded-file", "high", 0x7000000)]

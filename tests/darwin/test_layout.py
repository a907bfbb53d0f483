"""ctypes layouts against darwin-facts.md (sizes/offsets Apple's headers give under pack(4))."""
from __future__ import annotations

import ctypes
import struct

import pytest

from symmap.darwin import _mach as m
from symmap.darwin.dyld_image_list import FIELDS, SIZEOF


@pytest.mark.parametrize("st,size", [
    (m.VmRegionSubmapInfo64, 76), (m.TaskDyldInfo, 20), (m.ProcRegionInfo, 96),
    (m.VinfoStat, 136), (m.VnodeInfo, 152), (m.VnodeInfoPath, 1176),
    (m.ProcRegionWithPathInfo, 1272), (m.ProcBsdInfo, 136),
    (m.DyldAllImageInfos64, 368), (m.DyldAllImageInfos32, 224),
    (m.DyldImageInfo64, 24), (m.DyldImageInfo32, 12), (m.DyldUuidInfo64, 24), (m.DyldUuidInfo32, 20),
])
def test_sizes(st, size):
    assert ctypes.sizeof(st) == size


def test_submap_info_offsets():
    S = m.VmRegionSubmapInfo64
    want = dict(protection=0, max_protection=4, inheritance=8, offset=12, user_tag=0x14,
                pages_resident=0x18, pages_shared_now_private=0x1C, pages_swapped_out=0x20,
                pages_dirtied=0x24, ref_count=0x28, shadow_depth=0x2C, external_pager=0x2E,
                share_mode=0x2F, is_submap=0x30, behavior=0x34, object_id=0x38,
                user_wired_count=0x3C, pages_reusable=0x40, object_id_full=0x44)
    assert {k: getattr(S, k).offset for k in want} == want
    assert ctypes.sizeof(S) // 4 == 19            # VM_REGION_SUBMAP_INFO_COUNT_64
    # darwin-facts' independent struct encoding
    assert struct.calcsize("<iiIQIIIIIIHBBiiIH2xIQ") == ctypes.sizeof(S)


def test_task_dyld_info_offsets():
    S = m.TaskDyldInfo
    assert (S.all_image_info_addr.offset, S.all_image_info_size.offset,
            S.all_image_info_format.offset) == (0, 8, 16)
    assert ctypes.sizeof(S) // 4 == 5             # TASK_DYLD_INFO_COUNT


def test_proc_region_offsets():
    P = m.ProcRegionInfo
    assert (P.pri_offset.offset, P.pri_user_tag.offset, P.pri_share_mode.offset,
            P.pri_depth.offset, P.pri_address.offset, P.pri_size.offset) == (16, 32, 60, 76, 80, 88)
    W = m.ProcRegionWithPathInfo
    assert W.prp_vip.offset + m.VnodeInfoPath.vip_path.offset == 248
    assert W.prp_vip.offset + m.VinfoStat.vst_size.offset == 184
    B = m.ProcBsdInfo
    assert (B.pbi_ppid.offset, B.pbi_uid.offset, B.pbi_comm.offset, B.pbi_name.offset,
            B.pbi_start_tvsec.offset) == (16, 20, 48, 64, 120)


def test_all_image_infos_64_matches_facts_and_reader_table():
    A = m.DyldAllImageInfos64
    facts = dict(version=0, infoArrayCount=4, infoArray=8, notification=0x10,
                 processDetachedFromSharedRegion=0x18, libSystemInitialized=0x19,
                 dyldImageLoadAddress=0x20, uuidArrayCount=0x58, uuidArray=0x60,
                 dyldAllImageInfosAddress=0x68, sharedCacheSlide=0x98, sharedCacheUUID=0xA0,
                 sharedCacheBaseAddress=0xB0, infoArrayChangeTimestamp=0xB8, dyldPath=0xC0,
                 notifyPorts=0xC8, sharedCacheFSID=0x120, sharedCacheFSObjID=0x128,
                 compact_dyld_image_info_addr=0x130, platform=0x140, aotInfoCount=0x144,
                 aotInfoArray=0x148, aotInfoArrayChangeTimestamp=0x150,
                 aotSharedCacheBaseAddress=0x158, aotSharedCacheUUID=0x160)
    assert {k: getattr(A, k).offset for k in facts} == facts
    assert struct.calcsize("<IIQQBB6xQQQQQQQQQQQQQQQQ16sQQQ8I7QQQQQIIQQQ16s") == ctypes.sizeof(A)
    for name, (o64, _o32, _k, _v) in FIELDS.items():
        assert getattr(A, name).offset == o64, name
    assert SIZEOF[True] == ctypes.sizeof(A)


def test_all_image_infos_32_matches_facts_and_reader_table():
    A = m.DyldAllImageInfos32
    facts = dict(infoArray=8, notification=12, processDetachedFromSharedRegion=16,
                 dyldImageLoadAddress=20, uuidArrayCount=48, uuidArray=52,
                 dyldAllImageInfosAddress=56, sharedCacheSlide=80, sharedCacheUUID=84,
                 sharedCacheBaseAddress=100, infoArrayChangeTimestamp=104, dyldPath=112,
                 notifyPorts=116, sharedCacheFSID=152, compact_dyld_image_info_addr=168,
                 platform=176, aotInfoCount=180, aotInfoArray=184,
                 aotInfoArrayChangeTimestamp=188, aotSharedCacheBaseAddress=196,
                 aotSharedCacheUUID=200)
    assert {k: getattr(A, k).offset for k in facts} == facts
    for name, (_o64, o32, _k, _v) in FIELDS.items():
        assert getattr(A, name).offset == o32, name
    assert SIZEOF[False] == ctypes.sizeof(A)


def test_element_struct_offsets():
    assert m.DyldUuidInfo64.imageUUID.offset == 8
    assert m.DyldUuidInfo32.imageUUID.offset == 4
    assert m.DyldImageInfo64.imageFilePath.offset == 8

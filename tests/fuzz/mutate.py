"""Mutators: one input = a seed with 1..8 stacked mutations, all drawn from
``random.Random(f"{master}/{fmt}/{index}")``, so (master, format, index)
names an input exactly and any process can rebuild it.

Binary mutations aim at headers: Mach-O, fat, cache and core headers are
counts and offsets, so aligned 4/8-byte "interesting" integers land in the
first pages more often than elsewhere.  Text formats also get line-level
mutations (duplicate/delete lines, runs of spaces, huge numbers, invalid
UTF-8, long tokens, JSON values swapped).
"""
from __future__ import annotations

import json
import random
import re
import struct
from typing import Any

from tests.fuzz.seeds import JSON_FORMATS, TEXT_FORMATS, Seed

INTERESTING8 = (0, 1, 0x7F, 0x80, 0xFF)
INTERESTING32 = (0, 1, 2, 0x10, 0xFF, 0x100, 0x1000, 0x4000, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
                 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
INTERESTING64 = INTERESTING32 + (1 << 32, 0x7FFFFFFFFFFFFFFF, 1 << 63, 0xFFFFFFFFFFFFFFFF, 0x180000000)
HUGE_NUMBERS = (b"0", b"-1", b"4294967295", b"4294967296", b"18446744073709551615", b"18446744073709551616",
                b"9" * 40, b"1e999", b"-0", b"0x" + b"f" * 20, b"0xffffffffffffffff", b"NaN")
ODD_BYTES = (b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\x1b[31m", "\u2028".encode(), b"\r",
             b"\xef\xbb\xbf", b"\\", b'"', b"\t")
JSON_VALUES = (b"null", b"true", b"[]", b"{}", b'""', b"-1", b"1e308", b"18446744073709551616",
               b'"' + b"A" * 3000 + b'"', b'"\\u0000\\n\\u2028"', b"[[[[[[[[]]]]]]]]", b"0.5")
HEADER_BYTES = 8192         # where aligned integer writes go half of the time
MAX_GROWTH = 1 << 16        # an input is at most its seed + 64 KiB (line copies aside)
MAX_TEXT_BYTES = 2 << 20    # text inputs are capped at 2 MiB

_JSON_SCALAR = re.compile(rb':\s*("(?:[^"\\\n]|\\.)*"|-?\d[\d.eE+-]*|true|false|null)')
_DIGITS = re.compile(rb"\d+")
_WORD = re.compile(rb"[^\s]+")


def input_rng(master: int, fmt: str, index: int) -> random.Random:
    return random.Random(f"{master}/{fmt}/{index}")


def _offset(rng: random.Random, n: int, align: int = 1) -> int:
    if n <= 0:
        return 0
    lim = min(n, HEADER_BYTES) if rng.random() < 0.5 else n
    return (rng.randrange(lim) // align) * align


# -- byte-level -----------------------------------------------------------

def bit_flip(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        if b:
            i = _offset(rng, len(b))
            b[i] ^= 1 << rng.randrange(8)
    return b


def byte_set(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    if b:
        b[_offset(rng, len(b))] = rng.choice(INTERESTING8)
    return b


def int_set(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    width = rng.choice((4, 8))
    if len(b) < width:
        return b
    i = min(_offset(rng, len(b), width), len(b) - width)
    v = rng.choice(INTERESTING32 if width == 4 else INTERESTING64)
    fmt = ("<" if rng.random() < 0.85 else ">") + ("I" if width == 4 else "Q")   # fat headers are big-endian
    struct.pack_into(fmt, b, i, v)
    return b


def int_add(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    if len(b) < 4:
        return b
    i = min(_offset(rng, len(b), 4), len(b) - 4)
    (v,) = struct.unpack_from("<I", b, i)
    struct.pack_into("<I", b, i, (v + rng.choice((-1, 1)) * rng.randint(1, 64)) & 0xFFFFFFFF)
    return b


def truncate(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    if not b:
        return b
    return b[:_offset(rng, len(b))]


def chunk_delete(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    if len(b) < 2:
        return b
    i = rng.randrange(len(b))
    n = rng.randint(1, min(4096, len(b) - i))
    del b[i:i + n]
    return b


def chunk_duplicate(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    if not b:
        return b
    i = rng.randrange(len(b))
    chunk = b[i:i + rng.randint(1, 4096)]
    j = rng.randrange(len(b) + 1)
    if rng.random() < 0.5:
        b[j:j] = chunk                        # insert
    else:
        b[j:j + len(chunk)] = chunk           # overwrite
    return b


def splice(rng: random.Random, b: bytearray, others: list[bytes]) -> bytearray:
    """A run of another seed of the same format, at the same offset (headers line up)."""
    if not others:
        return b
    o = rng.choice(others)
    if not o:
        return b
    i = _offset(rng, min(len(o), len(b) or 1))
    n = rng.randint(1, 4096)
    b[i:i + n] = o[i:i + n]
    return b


def append_junk(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    n = rng.randint(1, 4096)
    b += bytes(n) if rng.random() < 0.5 else rng.randbytes(n)
    return b


BINARY = (bit_flip, byte_set, int_set, int_set, int_set, int_add, truncate, chunk_delete,
          chunk_duplicate, splice, append_junk)

# -- line-level (text formats) ---------------------------------------------


def _lines(b: bytearray) -> list[bytes]:
    return bytes(b).split(b"\n")


def line_duplicate(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    ls = _lines(b)
    i = rng.randrange(len(ls))
    times = min(rng.choice((1, 2, 10, 100, 1000)), MAX_TEXT_BYTES // (len(ls[i]) + 1))   # a long line: fewer copies
    ls[i:i + 1] = [ls[i]] * (times + 1)
    return bytearray(b"\n".join(ls))


def line_delete(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    ls = _lines(b)
    i = rng.randrange(len(ls))
    del ls[i:i + rng.choice((1, 1, 3, 20))]
    return bytearray(b"\n".join(ls))


def line_swap(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    ls = _lines(b)
    i, j = rng.randrange(len(ls)), rng.randrange(len(ls))
    ls[i], ls[j] = ls[j], ls[i]
    return bytearray(b"\n".join(ls))


def spaces(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    i = rng.randrange(len(b) + 1)
    b[i:i] = b" " * rng.choice((1, 17, 200, 5000, 60000))
    return b


def huge_number(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    ms = list(_DIGITS.finditer(b))
    if not ms:
        return b
    m = rng.choice(ms)
    b[m.start():m.end()] = rng.choice(HUGE_NUMBERS)
    return b


def odd_bytes(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    i = rng.randrange(len(b) + 1)
    b[i:i] = rng.choice(ODD_BYTES)
    return b


def long_token(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    ms = list(_WORD.finditer(b))
    if not ms:
        return b
    m = rng.choice(ms)
    b[m.end():m.end()] = (b"/" + m.group()[:8]) * rng.choice((10, 300, 3000))
    return b


def json_value(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    ms = list(_JSON_SCALAR.finditer(b))
    if not ms:
        return b
    m = rng.choice(ms)
    b[m.start(1):m.end(1)] = rng.choice(JSON_VALUES)
    return b


def line_splice(rng: random.Random, b: bytearray, others: list[bytes]) -> bytearray:
    """A few lines of another seed of the same format, inserted."""
    if not others:
        return b
    ols = rng.choice(others).split(b"\n")
    i = rng.randrange(len(ols))
    ls = _lines(b)
    j = rng.randrange(len(ls) + 1)
    ls[j:j] = ols[i:i + rng.randint(1, 30)]
    return bytearray(b"\n".join(ls))


def _json_parts(b: bytes) -> tuple[bytes, Any] | None:
    """(prefix, document): the whole input, or an .ips body after its header line."""
    for cut in (0, b.find(b"\n") + 1):
        try:
            return b[:cut], json.loads(b[cut:])
        except (ValueError, RecursionError):       # deeply nested: left to the other mutators
            continue
    return None


def json_amplify(rng: random.Random, b: bytearray, _o: list[bytes]) -> bytearray:
    """One list made much longer (an element repeated) or one string much
    longer, the JSON still valid: counts times lengths a reader may multiply
    (frames x image paths, rows x strings)."""
    parts = _json_parts(bytes(b))
    if parts is None:
        return b
    prefix, doc = parts
    lists: list[list[Any]] = []
    strings: list[tuple[Any, Any]] = []
    todo, seen = [doc], 0
    while todo and seen < 20000:
        node = todo.pop()
        seen += 1
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
        if isinstance(node, list) and node:
            lists.append(node)
        for k, v in items:
            if isinstance(v, str) and v:
                strings.append((node, k))
            elif isinstance(v, (dict, list)):
                todo.append(v)
    budget = MAX_TEXT_BYTES - len(b)
    if lists and (not strings or rng.random() < 0.5):
        lst = rng.choice(lists)
        elem = lst[rng.randrange(len(lst))]
        size = len(json.dumps(elem)) + 2
        lst.extend([elem] * min(rng.choice((10, 100, 1000, 10000)), max(0, budget // size)))
    elif strings:
        node, k = rng.choice(strings)
        n = min(rng.choice((300, 5000, 60000)), max(0, budget // 4))
        node[k] = (node[k] * (n // len(node[k]) + 1))[:n]
    try:
        return bytearray(prefix + json.dumps(doc).encode())
    except RecursionError:
        return b


TEXT = (line_duplicate, line_delete, line_swap, spaces, huge_number, huge_number, odd_bytes, long_token,
        json_value, json_value, line_splice)
JSON_TEXT = TEXT + (json_amplify, json_amplify)


def mutate_bytes(rng: random.Random, data: bytes, others: list[bytes], text: bool, is_json: bool = False) -> bytes:
    b = bytearray(data)
    text_ops = JSON_TEXT if is_json else TEXT
    cap = MAX_TEXT_BYTES if text else len(data) + MAX_GROWTH
    n = 1
    while n < 8 and rng.random() < 0.5:
        n += 1
    for _ in range(n):
        pool = text_ops if text and rng.random() < 0.7 else BINARY
        b = rng.choice(pool)(rng, b, others)
        del b[cap:]                 # after every step: stacked copies must not grow without bound
    return bytes(b)


def make_input(seeds: list[Seed], fmt: str, master: int, index: int) -> tuple[str, tuple[tuple[str, bytes], ...], int]:
    """(seed name, files, k) of input ``index``: file k of one seed mutated
    (the TARGET, k = 0, nine times in ten), the seed's other files as they are."""
    rng = input_rng(master, fmt, index)
    seed = rng.choice(seeds)
    k = 0 if len(seed.files) == 1 or rng.random() < 0.9 else rng.randrange(1, len(seed.files))
    others = [s.files[0][1] for s in seeds if s is not seed]
    files = list(seed.files)
    name, data = files[k]
    files[k] = (name, mutate_bytes(rng, data, others, fmt in TEXT_FORMATS, fmt in JSON_FORMATS))
    return seed.name, tuple(files), k

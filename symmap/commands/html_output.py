"""`--html FILE` for map, audit and diff: gather findings and embeddable
symbols, render the page (symmap/render/html.py) and write it atomically."""
from __future__ import annotations

import os
from typing import Any, Callable

import click

from symmap.errors import BadTarget

__all__ = ["html_option", "write_html", "embeddable_symbols"]


def html_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--html", "html_file", metavar="FILE", default=None,
                        help="Also write one self-contained HTML page of the map to FILE ('-': stdout).")(f)


def embeddable_symbols(t: Any) -> tuple[dict[int, tuple[list[int], list[str]]], list[str]]:
    """Symbol names per image (offsets from the load address), for images with
    at most SYMBOLS_PER_IMAGE symbols, until SYMBOLS_TOTAL are taken."""
    from symmap.render.html import SYMBOLS_PER_IMAGE, SYMBOLS_TOTAL
    from symmap.symbolize import Symbolizer
    sym = Symbolizer(t)
    out: dict[int, tuple[list[int], list[str]]] = {}
    big = over = 0
    total = 0
    for k, im in enumerate(t.images):
        try:
            idx, _src = sym.index_for(im)
        except Exception:      # a damaged file on disk: this image simply has no names
            continue
        if idx is None or not len(idx):
            continue
        if len(idx) > SYMBOLS_PER_IMAGE:
            big += 1
            continue
        if total + len(idx) > SYMBOLS_TOTAL:
            over += 1
            continue
        slide = im.slide if im.slide is not None else 0
        offs, names = [], []
        for s in idx.starts:
            nm = idx.name_of(s)
            offs.append(s + slide - im.load_address)
            names.append(nm if nm is not None else f"{idx.image_name}+{s - idx.image_base:#x}")
        out[k] = (offs, names)
        total += len(idx)
    notes = [f"{len(out)} images have names here ({total:,} symbols)."]
    if big:
        notes.append(f"{big} images have more than the per-image limit and are left out.")
    if over:
        notes.append(f"{over} images are left out because the total limit was reached.")
    return out, notes


def write_html(path: str, t: Any, findings: Any, command: str, diff: Any = None, before: Any = None) -> None:
    from symmap.render.html import render_html
    syms, notes = embeddable_symbols(t)
    page = render_html(t, findings, symbols=syms, symbol_notes=notes, diff=diff, before=before,
                       command=command)
    if path == "-":
        click.echo(page, nl=False)
        return
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise BadTarget(f"cannot write {path}: {e.strerror}") from None

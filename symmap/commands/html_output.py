"""`--html FILE` for map, audit and diff: gather findings and embeddable
symbols, render the page (symmap/render/html.py) and write it as `save`
writes (commands/safe_write.py: atomic, never over a read-only file)."""
from __future__ import annotations

from typing import Any, Callable

import click


__all__ = ["html_option", "write_html", "embeddable_symbols"]


def _check_writable(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # Refused before the target is read, not after (as `save -o`).
    if value is not None and value != "-":
        from symmap.commands.safe_write import check
        check(value, force=None)
    return value


def html_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--html", "html_file", metavar="FILE", default=None, callback=_check_writable,
                        help="Also write one self-contained HTML page of the map to FILE ('-': stdout); "
                             "a read-only FILE is refused.")(f)


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
    # As `save -o` writes: atomically, never over a read-only file, mode kept.
    from symmap.commands.safe_write import write_text
    write_text(path, page, force=None, encoding="utf-8")

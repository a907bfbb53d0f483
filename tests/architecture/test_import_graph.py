"""The layering holds: no import circles between symmap's modules (imports
inside functions count too) and no module imports another's _private names."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "symmap"


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(mod: str, path: Path, mods: dict[str, Path]) -> list[tuple[str, str | None]]:
    """(imported module, imported name or None) for every import in the file."""
    tree = ast.parse(path.read_text())
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.append((sub, None) if sub in mods else (base, a.name))
    return [(m, n) for m, n in found if m.split(".")[0] == "symmap"]


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    g: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps = set()
        for m, _ in _imports(mod, path, mods):
            while m not in mods and "." in m:
                m = m.rpartition(".")[0]
            # importing a package runs its __init__; a submodule importing its own
            # package's __init__ is how Python works, not a circle of ours
            if m != mod and not mod.startswith(m + "."):
                deps.add(m)
        g[mod] = deps
    return g


def _cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Every back edge of a depth-first walk, as the circle it closes."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(g, WHITE)
    found: list[list[str]] = []

    def visit(n: str, stack: list[str]) -> None:
        color[n] = GREY
        stack.append(n)
        for d in sorted(g.get(n, ())):
            if d not in color:
                continue
            if color[d] == GREY:
                found.append(stack[stack.index(d):] + [d])
            elif color[d] == WHITE:
                visit(d, stack)
        stack.pop()
        color[n] = BLACK

    for n in sorted(g):
        if color[n] == WHITE:
            visit(n, [])
    return found


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_names_across_modules() -> None:
    mods = _modules()
    bad = []
    for mod, path in mods.items():
        for m, name in _imports(mod, path, mods):
            if name and name.startswith("_") and not name.startswith("__") and m != mod:
                bad.append(f"{mod} imports {m}.{name}")
    assert not bad, "\n".join(bad)


def test_checker_sees_circles() -> None:
    """The checks can fail: a circle through a function-level import is found."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# Modules that may unpack bytes (ARCHITECTURE.md "Bounded reads"): the format
# parsers, dyld's in-memory structs, and the ELF symbol-table column reader.
PARSERS = ("symmap.formats.", "symmap.darwin.dyld_image_list", "symmap.symbolize.elf_symbols")


def test_only_parsers_unpack_bytes() -> None:
    bad = []
    for mod, path in _modules().items():
        if mod.startswith(PARSERS):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("unpack_from", "iter_unpack", "unpack"):
                bad.append(f"{mod}:{node.lineno} .{node.attr}")
    assert not bad, "byte parsing outside formats/:\n" + "\n".join(bad)

"""Coverage-guided fuzzing with atheris (libFuzzer) of one format's parser
through the same pipeline as the mutation harness (exercise.exercise).

    python -m tests.fuzz.atheris_macho [libFuzzer flags] [CORPUS_DIR ...]

Without a corpus directory the format's seeds (tests/fuzz/seeds.py) are
written to a temp dir and used; crash artifacts go to a temp dir unless
-artifact_prefix is given (never into the checkout).  Only SymmapError may
escape the pipeline: any other exception is a libFuzzer crash.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import tempfile
from pathlib import Path

# Input file name per format: sniffing is by content; a dyld cache keeps the
# name its sub-caches and .symbols file are found by.
DEFAULT_NAME = {"macho": "input.bin", "dyld_cache": "dyld_shared_cache_arm64", "core": "input.core",
                "ips": "input.ips"}


def _import_symmap() -> None:
    """Import every symmap module, so the instrumentation covers the ones the
    pipeline imports lazily (inside functions) too."""
    import symmap
    for m in pkgutil.walk_packages(symmap.__path__, "symmap."):
        if m.name.endswith("__main__"):         # runs the CLI
            continue
        try:
            importlib.import_module(m.name)
        except Exception:  # noqa: BLE001 - a platform-only module (darwin) may not import here
            pass


def main(fmt: str, argv: list[str] | None = None) -> None:
    import atheris
    with atheris.instrument_imports(include=["symmap"]):
        _import_symmap()
    from symmap.errors import SymmapError
    from tests.fuzz.exercise import exercise
    from tests.fuzz.seeds import load_seeds

    args = list(sys.argv if argv is None else argv)
    work = Path(tempfile.mkdtemp(prefix=f"symmap-atheris-{fmt}-"))
    seeds = load_seeds((fmt,))[fmt]
    name = DEFAULT_NAME.get(fmt, "input.bin")
    # A seed with companion files (the built cache): they sit beside every input.
    for s in seeds:
        if len(s.files) > 1:
            name = s.files[0][0]
            for n, data in s.files[1:]:
                (work / n).write_bytes(data)
            break
    if not any(not a.startswith("-") for a in args[1:]):
        corpus = work / "corpus"
        corpus.mkdir()
        for i, s in enumerate(seeds):
            (corpus / f"{i:03d}-{s.name}").write_bytes(s.files[0][1])
        args.append(str(corpus))
    if not any(a.startswith("-artifact_prefix=") for a in args):
        art = work / "artifacts"
        art.mkdir()
        args.append(f"-artifact_prefix={art}/")
    target = str(work / name)

    def one_input(data: bytes) -> None:
        with open(target, "wb") as f:
            f.write(data)
        try:
            exercise(target)
        except SymmapError:
            pass

    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] in DEFAULT_NAME:
    main(sys.argv[1], [sys.argv[0]] + sys.argv[2:])

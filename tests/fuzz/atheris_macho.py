"""atheris target: the macho format (see tests/fuzz/atheris_target.py).

    python -m tests.fuzz.atheris_macho -runs=100000 [-max_total_time=600] [CORPUS_DIR]
"""
from tests.fuzz.atheris_target import main

if __name__ == "__main__":
    main("macho")

"""`python -m bench [SECTION ...]`: run benchmark sections; each writes bench/results/<section>.md.

A section is a module `bench/<name>.py` with `run(results_dir: Path) -> Path`. Sections run in the order
below; the generated order lines they share are cached in bench/data (git-ignored).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

SECTIONS = ("loading", "features", "segments", "models", "value", "scoring", "performance")
OPTIONAL = ("spark",)  # run only when named: needs the `spark` extra (make bench SECTIONS=spark installs it)
RESULTS = Path(__file__).parent / "results"


def main(argv: list[str]) -> int:
    """Run the named sections (all when none is named) and print where each wrote its results."""
    unknown = [name for name in argv if name not in SECTIONS + OPTIONAL]
    if unknown:
        print(f"unknown section(s) {unknown}; choose from {list(SECTIONS + OPTIONAL)}", file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    for name in argv or SECTIONS:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"bench {name}: not built yet, skipped", file=sys.stderr)
            continue
        print(f"bench {name}: {module.run(RESULTS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Benchmark the paper-faithful path against ours; the same as ``aurora bench``.

    python scripts/bench.py --n 1000            # table with the targets
    python scripts/bench.py --n 20 --json       # smoke run, JSON
"""

import sys

from marsaurora.bench.compare import main

if __name__ == "__main__":
    sys.exit(main())

"""Time and memory of each path against N; writes docs/scaling.json and two plots.

    python scripts/bench_scaling.py --sizes 100,1000,5000
    python scripts/bench_scaling.py --sizes 10,20 --distinct 10 --out /tmp/scaling   # smoke
"""

import sys

from marsaurora.bench.scaling import main

if __name__ == "__main__":
    sys.exit(main())
